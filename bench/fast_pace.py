"""Fast mode's pace by trust model, as the board fills: a market of 10,000 people (groups of
1,000) and 100 vendors (a quarter bait, priced under the rest), every person on one trust
model, run ``--rounds`` rounds; prints the set-up time, the ms a round of every ``--window``
rounds (500 by default) and the process's CPU share (``time.process_time()`` over wall: below
1 when other work on the machine took the cores). On a shared machine, run the models in turn
more than once and report ranges::

    python bench/fast_pace.py --trust own --rounds 2000
    python bench/fast_pace.py --trust network --rounds 20000 --window 2000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import configure_logging  # noqa: E402
from simulator import FastMarket, Scenario  # noqa: E402


def _scenario(trust: str, people: int, vendors: int) -> Scenario:
    groups = [min(1000, people - i) for i in range(0, people, 1000)]
    return Scenario.model_validate(
        {
            "name": "fast-pace", "mode": "fast", "seed": 1, "rounds": 1,
            "categories": {"outdoor/tents": 14000, "outdoor/sleeping-bags": 8000},
            "persons": [{"count": n, "trust_mode": trust} for n in groups],
            "vendors": [
                {"kind": "honest", "count": vendors - vendors // 4},
                {"kind": "bait", "count": vendors // 4, "price_factor": [0.75, 0.8]},
            ],
        }
    )  # fmt: skip


async def pace(trust: str, people: int, vendors: int, rounds: int, window: int) -> None:
    with tempfile.TemporaryDirectory(prefix="intentcast-fast-pace-") as d:
        t0, cpu0 = time.perf_counter(), time.process_time()
        async with FastMarket(_scenario(trust, people, vendors), Path(d) / "m") as market:
            setup = time.perf_counter() - t0
            segments, bait = [], 0
            t1, cpu1 = time.perf_counter(), time.process_time()
            for start in range(0, rounds, window):
                t = time.perf_counter()
                for r in range(start, min(start + window, rounds)):
                    bait += (await market.run_round(r)).winner_kind == "bait"
                done = min(start + window, rounds) - start
                segments.append((time.perf_counter() - t) / done * 1e3)
            wall, cpu = time.perf_counter() - t1, time.process_time() - cpu1
    per = " ".join(f"{ms:.2f}" for ms in segments)
    print(f"{trust}: set-up {setup:.1f} s; ms a round, each {window} rounds: {per}; "
          f"rounds {wall:.1f} s at CPU share {cpu / wall:.2f} (set-up {(cpu1 - cpu0) / setup:.2f}); "
          f"bait won {bait / rounds:.1%}", flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trust", default="own", help="the people's trust_mode (own, network, ...)")
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--vendors", type=int, default=100)
    ap.add_argument("--window", type=int, default=500, help="rounds per ms-a-round figure")
    args = ap.parse_args()
    configure_logging(json=True, level="error")
    asyncio.run(pace(args.trust, args.people, args.vendors, args.rounds, args.window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
