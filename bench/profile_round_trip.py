"""Where a round trip's time goes: cProfile in the bench's own processes, the agent (this
process: cast, collect, open, rank, store) and the vendor farm (its own process, profiled
from just before the first timed intent to just after the last: ``farm.profile``), for one
intent to N vendors repeated R times.

    .venv/bin/python bench/profile_round_trip.py -n 50 -r 40
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run_bench as rb  # noqa: E402

from agent import AgentSession  # noqa: E402
from runtime import Bus, EmbeddedServer, NatsTransport, configure_logging  # noqa: E402


def _top(stats: pstats.Stats, n: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(n)
    return out.getvalue()


async def main(n: int, repeat: int, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="profile-") as d:
        tmp = Path(d)
        async with EmbeddedServer(tmp / "nats", jetstream=False) as server:
            farm_prof = tmp / "farm.prof"
            with rb.farm(server.url, n, "product"):
                async with (
                    Bus(server.url, name="agent") as bus,
                    AgentSession(NatsTransport(bus)) as session,
                    rb._person(tmp / "agent", session) as agent,
                ):
                    for _ in range(3):  # warm up
                        await agent.cast(rb.cast(), window=30, expect=n)
                    prof = cProfile.Profile()
                    await bus.nc.request("farm.profile.product", b"start", timeout=10)
                    t0, c0 = time.perf_counter(), time.process_time()
                    prof.enable()
                    for _ in range(repeat):
                        got = await agent.cast(rb.cast(), window=30, expect=n)
                        assert len(got.ranked) == n
                    prof.disable()
                    wall = (time.perf_counter() - t0) / repeat * 1e3
                    cpu = (time.process_time() - c0) / repeat * 1e3
                    await bus.nc.request(
                        "farm.profile.product", str(farm_prof).encode(), timeout=30
                    )
            print(f"{n} vendors: {wall:.1f} ms wall, {cpu:.1f} ms agent CPU per intent (profiled)")
            print("== agent process, by own time ==")
            print(_top(pstats.Stats(prof), top))
            print("== vendor farm process, by own time ==")
            print(_top(pstats.Stats(str(farm_prof)), top))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("-r", type=int, default=40)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    configure_logging(json=True, level="error")
    asyncio.run(main(args.n, args.r, args.top))
