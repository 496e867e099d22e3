"""Where a round trip's time goes: cProfile in the bench's own processes, the agent (this
process: cast, collect, open, rank, store) and the vendor farm (its own process, profiled
from just before the first timed intent to just after the last: ``farm.profile``), for one
intent to N vendors repeated R times.

``--phases`` profiles nothing: it times each intent's phases instead, the product's and the
crypto bound's taking turns. A listener on a connection of its own hears every offer (the
reply subject is known before the cast), so it marks when the first and the last arrive;
the rest of the wall time is the agent opening, ranking and storing them. Medians in ms.

    .venv/bin/python bench/profile_round_trip.py -n 50 -r 40
    .venv/bin/python bench/profile_round_trip.py -n 50 -r 40 --phases
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


async def _phases_of_product(agent: Any, listener: Bus, n: int) -> tuple[float, float, float]:
    """(first offer, last offer, list returned), ms after the cast began."""
    c = rb.cast()
    marks: list[float] = []
    heard = asyncio.Event()

    async def mark(_: Any) -> None:
        marks.append(time.perf_counter())
        if len(marks) == n:
            heard.set()

    sub = await listener.nc.subscribe(c.intent.reply_subject, cb=mark, pending_msgs_limit=4096)
    await listener.nc.flush()
    t0 = time.perf_counter()
    got = await agent.cast(c, window=30, expect=n)
    end = time.perf_counter()
    assert len(got.ranked) == n
    await asyncio.wait_for(heard.wait(), 10)  # the listener's copies may trail the agent's
    await sub.unsubscribe()
    return (marks[0] - t0) * 1e3, (marks[-1] - t0) * 1e3, (end - t0) * 1e3


async def phases(n: int, repeat: int) -> None:
    """The product's phases against the crypto bound's, taking turns intent by intent."""
    with tempfile.TemporaryDirectory(prefix="phases-") as d:
        tmp = Path(d)
        async with EmbeddedServer(tmp / "nats", jetstream=False) as server:
            with rb.farm(server.url, n, "product"), rb.farm(server.url, n, "sealed"):
                async with (
                    Bus(server.url, name="agent") as bus,
                    Bus(server.url, name="listener") as listener,
                    Bus(server.url, name="floor-requester") as req,
                    AgentSession(NatsTransport(bus)) as session,
                    rb._person(tmp / "agent", session) as agent,
                ):
                    bound = rb.bare_fanout(req, n, sealed=True)
                    product: list[tuple[float, float, float]] = []
                    floor: list[float] = []
                    for i in range(repeat + 3):  # the first 3 warm up
                        p = await _phases_of_product(agent, listener, n)
                        t0 = time.perf_counter()
                        await bound()
                        if i >= 3:
                            product.append(p)
                            floor.append((time.perf_counter() - t0) * 1e3)
    first, last, end = (statistics.median(x) for x in zip(*product, strict=True))
    bw = statistics.median(floor)
    print(
        f"{n} vendors, medians of {repeat}: first offer at {first:.2f} ms, last at {last:.2f},"
        f" ranked list at {end:.2f} (the agent's tail after the last offer: {end - last:.2f});"
        f" crypto bound {bw:.2f} ms; ratio {end / bw:.2f}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("-r", type=int, default=40)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--phases", action="store_true", help="time the phases; profile nothing")
    args = ap.parse_args()
    configure_logging(json=True, level="error")
    asyncio.run(phases(args.n, args.r) if args.phases else main(args.n, args.r, args.top))
