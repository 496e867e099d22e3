"""The simulator's rows of ``make bench`` (issue 14): a fast-mode market of 10,000 people and 100
vendors, its speed and what it projects for issue 14's 200,000 rounds; a full-mode market of
2,000 people set up and run without running out of open files; and a sweep of 5 values x 5
seeds on one process and on two, with the speed-up. Run alone with
``python bench/sim_bench.py [--quick] [--only fast|full|sweep] [--fast-rounds 200000]``."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import configure_logging  # noqa: E402
from simulator import FastMarket, Market, Scenario  # noqa: E402

Record = Callable[..., None]


def _scenario(people: int, rounds: int, name: str = "bench") -> Scenario:
    return Scenario.model_validate(
        {
            "name": name, "seed": 1, "rounds": rounds, "window_seconds": 2.0,
            "categories": {"outdoor/tents": 14000, "outdoor/sleeping-bags": 8000},
            "persons": [{"count": min(people, 1000), "trust_mode": "network"}]
            + ([{"count": people - 1000, "trust_mode": "own"}] if people > 1000 else []),
            "vendors": [
                {"kind": "honest", "count": 6},
                {"kind": "bait", "count": 4, "price_factor": [0.75, 0.8], "delivery_days": [1, 2]},
            ],
        }
    )  # fmt: skip


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


TARGET_ROUNDS, TARGET_SECONDS = 200_000, 600.0  # issue 14: under 10 minutes


def _fast_scenario(people: int, vendors: int) -> Scenario:
    """Groups of at most 1,000 people (a group's limit), own trust; a quarter of the vendors
    bait, priced under the rest."""
    groups = [min(1000, people - i) for i in range(0, people, 1000)]
    return Scenario.model_validate(
        {
            "name": "bench-fast", "mode": "fast", "seed": 1, "rounds": 1,
            "categories": {"outdoor/tents": 14000, "outdoor/sleeping-bags": 8000},
            "persons": [{"count": n, "trust_mode": "own"} for n in groups],
            "vendors": [
                {"kind": "honest", "count": vendors - vendors // 4},
                {"kind": "bait", "count": vendors // 4, "price_factor": [0.75, 0.8]},
            ],
        }
    )  # fmt: skip


async def fast_market(tmp: Path, people: int, vendors: int, rounds: int, record: Record) -> None:
    """A short run of the target market's size; the 200,000 rounds are projected from it
    (set-up plus rounds at the measured pace: a round's cost grows with the vendors who
    answer, not with the people, whose histories stay short)."""
    t0, c0 = time.perf_counter(), time.process_time()
    async with FastMarket(_fast_scenario(people, vendors), tmp / f"fast-{people}") as market:
        setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        records = await market.run(rounds)
        run = time.perf_counter() - t1
    cpu = time.process_time() - c0
    per_round = run / len(records)
    size = f"{people}x{vendors}"
    record(f"sim_fast_{size}_setup", setup, "s", 1, None,
           f"{people} people (in-memory stores), {vendors} vendors (in-memory order stores)")  # fmt: skip
    record(f"sim_fast_{size}_per_round", per_round * 1e3, "ms", 1, None,
           f"{rounds} rounds: {vendors} vendors choose, rank_offers, choice, outcome")  # fmt: skip
    record(f"sim_fast_{size}_cells_per_second", people * vendors * rounds / (setup + run) / 1e6,
           "M/s", 1, None, "people x vendors x rounds per second, set-up included")  # fmt: skip
    record(f"sim_fast_{size}_cpu_share", cpu / (setup + run), "", 1, None,
           "ratio: this process's CPU time over its wall time (under 1: it waited for a core)")  # fmt: skip
    if rounds >= TARGET_ROUNDS:
        record(f"sim_fast_{size}_{rounds}_rounds", setup + run, "s", TARGET_SECONDS,
               TARGET_SECONDS, f"ratio: measured, set-up included, over issue 14's {TARGET_SECONDS:.0f} s target")  # fmt: skip
        return
    projected = setup + TARGET_ROUNDS * per_round
    record(f"sim_fast_{size}_projected_{TARGET_ROUNDS}_rounds", projected, "s", TARGET_SECONDS,
           TARGET_SECONDS, f"ratio: projected over issue 14's {TARGET_SECONDS:.0f} s target")  # fmt: skip


async def full_market(tmp: Path, people: int, rounds: int, record: Record) -> None:
    before = _open_files()
    t0 = time.perf_counter()
    async with Market(_scenario(people, rounds), tmp / f"full-{people}") as market:
        setup = time.perf_counter() - t0
        during = _open_files()
        t1 = time.perf_counter()
        records = await market.run()
        per_round = (time.perf_counter() - t1) / len(records) * 1000
    record(f"sim_full_{people}_people_setup", setup, "s", 1, None,
           f"{people} agents with their own stores, 10 vendors, one embedded bus")  # fmt: skip
    record(f"sim_full_{people}_people_open_files", during - before, "files", people, None,
           "ratio: open files per person")  # fmt: skip
    record(f"sim_full_{people}_people_per_round", per_round, "ms", 1, None,
           f"{rounds} rounds: cast, collect 10 offers, rank, accept, rate, publish")  # fmt: skip


SWEEP_TOML = """
name = "bench-sweep"
rounds = {rounds}
window_seconds = 2.0
[categories]
"outdoor/tents" = 14000
[[persons]]
count = 10
trust_mode = "network"
[[vendors]]
kind = "honest"
count = 6
[[vendors]]
kind = "bait"
count = 4
price_factor = [0.75, 0.8]
"""


def _grid_seconds(
    tmp: Path, processes: int, values: int, seeds: int, rounds: int, mode: str = "full"
) -> float:
    """Wall time of ``intentcast-sim sweep`` over ``values`` x ``seeds`` on ``processes``."""
    scenario = tmp / "bench-sweep.toml"
    scenario.write_text(SWEEP_TOML.format(rounds=rounds))
    counts = ",".join(str(10 * (i + 1)) for i in range(values))
    cmd = [sys.executable, "-m", "simulator", "sweep", str(scenario), "--set",
           f"persons.0.count={counts}", "--seeds", f"1-{seeds}", "--jobs", str(processes),
           "--mode", mode, "--out", str(tmp / f"sweep-{mode}-{processes}")]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600, cwd=ROOT)
    return time.perf_counter() - t0


async def sweep_rows(tmp: Path, quick: bool, record: Record) -> None:
    """The same grid on one process and on two, in full mode (each market already keeps
    more than one core busy: its Python process and its nats-server) and in fast mode (one
    core per market: the sweep's own scaling)."""
    values, seeds = (2, 2) if quick else (5, 5)
    for mode, rounds in (("full", 20 if quick else 60), ("fast", 200 if quick else 1500)):
        one = await asyncio.to_thread(_grid_seconds, tmp, 1, values, seeds, rounds, mode)
        two = await asyncio.to_thread(_grid_seconds, tmp, 2, values, seeds, rounds, mode)
        name = f"sim_sweep_{values}x{seeds}" + ("" if mode == "full" else "_fast")
        record(f"{name}_two_processes", two, "s", one, None,
               f"ratio: wall time on 2 processes over 1 ({one / two:.2f} x speed-up); {mode} mode, {rounds} rounds each")  # fmt: skip


async def simulator_rows(
    tmp: Path, quick: bool, record: Record, only: str = "", fast_rounds: int = 0
) -> None:
    """``only`` is one of fast, full and sweep (empty: all three); ``fast_rounds`` replaces the
    fast market's measured rounds (200,000 runs issue 14's whole market, not a projection)."""
    print("The simulator:")
    if only in ("", "fast"):
        await fast_market(tmp, 10_000, 100, fast_rounds or (500 if quick else 5000), record)
    if only in ("", "full"):
        await full_market(tmp, 500 if quick else 2000, 50 if quick else 200, record)
    if only in ("", "sweep"):
        await sweep_rows(tmp, quick, record)


def _print_record(name: str, value: float, unit: str, floor: float, target: Any = None,
                  note: str = "") -> None:  # fmt: skip
    print(f"  {name:<40} {value:>10.2f} {unit:<6} ratio {value / floor:>6.2f}  {note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="500 fast rounds, 500 people in full mode, a 2 x 2 sweep")  # fmt: skip
    ap.add_argument("--only", choices=["fast", "full", "sweep"], help="only one of the three rows")
    ap.add_argument("--fast-rounds", type=int, default=0, metavar="N",
                    help="rounds of the fast market (200000: the whole of issue 14's market)")  # fmt: skip
    args = ap.parse_args()
    configure_logging(json=True, level="error")
    with tempfile.TemporaryDirectory(prefix="intentcast-sim-bench-") as d:
        asyncio.run(
            simulator_rows(Path(d), args.quick, _print_record, args.only or "", args.fast_rounds)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
