"""`intentcast-sim`: seeded market simulations over the real protocol, for research."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from nats.errors import NoServersError

from runtime import NatsServerNotFound, configure_logging

from ._market import MARKER, Market, RoundRecord
from ._report import (
    batch_table,
    format_table,
    summarize,
    write_batch_plot,
    write_plot,
    write_rounds,
    write_summary,
)
from ._scenario import Scenario, ScenarioError, load_scenario

BUNDLED = Path(__file__).resolve().parent / "scenarios"

EXAMPLES = """
examples:
  intentcast-sim list
  intentcast-sim run adversarial --rounds 40 --out results/adv
  intentcast-sim run ./my-market.toml --seed 7
  intentcast-sim batch adversarial --seeds 1-5 --out results/adv-batch

A scenario is a TOML file (see simulator/scenarios/*.toml) or the name of a bundled one.
Each run writes rounds.csv (one row per intent), summary.json and market.png to --out;
--out/work holds the run's stores (people's agents, vendors' orders) and is replaced on the
next run, so every run starts from empty histories.
"""


class UsageError(Exception):
    pass


def _scenario(name: str) -> Scenario:
    path = Path(name)
    if not path.exists() and (BUNDLED / f"{name}.toml").exists():
        path = BUNDLED / f"{name}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BUNDLED.glob("*.toml")))
        raise UsageError(f"expected a scenario file or one of: {known}; got {name!r}")
    return load_scenario(path)


def _seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"expected seeds like 1-5 or 1,4,9; got {text!r}") from None
    if not seeds or len(seeds) > 1000:
        raise UsageError(f"expected between 1 and 1000 seeds; got {len(seeds)} from {text!r}")
    return seeds


def _progress(label: str) -> object:
    tty = sys.stderr.isatty()

    def show(done: int, total: int, rec: RoundRecord) -> None:
        step = max(1, total // (50 if tty else 10))
        if done == total or done % step == 0:
            bar = "#" * (30 * done // total)
            line = f"{label} [{bar:<30}] {done}/{total} rounds"
            if tty:
                print("\r" + line, end="\n" if done == total else "", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)

    return show


def _fresh_work(out: Path) -> Path:
    """``out/work``, emptied if an earlier run made it; refused if something else is there."""
    work = out / "work"
    if work.exists():
        if not (work / MARKER).exists():
            raise UsageError(f"expected {work} to be a simulator work folder; move it aside")
        shutil.rmtree(work)
    return work


async def _run_one(
    sc: Scenario, seed: int, rounds: int | None, out: Path, bus: str | None, label: str
) -> dict[str, object]:
    work = _fresh_work(out)
    async with Market(sc, work, seed=seed, bus_url=bus, progress=_progress(label)) as m:  # type: ignore[arg-type]
        records = await m.run(rounds)
        summary = summarize(records, m.hostile_sent())
    write_rounds(records, out / "rounds.csv")
    write_summary(summary, out / "summary.json")
    write_plot(records, out / "market.png", f"{sc.name}, seed {seed}")
    return summary


def _print_summary(summary: dict[str, object]) -> None:
    print(format_table([(k, v) for k, v in summary.items()]))
    if summary["hostile_shown"]:
        print("\nWARNING: a hostile offer reached a person. This is a defect; please report it.")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="intentcast-sim",
        description="Seeded market simulations over the real intentcast protocol: real "
        "nats-server, real vendor adapters, real personal agents.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the bundled scenarios")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("scenario", help="a scenario TOML file or a bundled scenario's name")
    common.add_argument("--rounds", type=int, help="intents to cast (default: the scenario's)")
    common.add_argument("--out", type=Path, help="where to write results (default: ./sim-<name>)")
    common.add_argument("--bus", help="a NATS URL to use instead of the embedded server")
    run = sub.add_parser("run", parents=[common], help="one seeded run")
    run.add_argument("--seed", type=int, help="default: the scenario's seed")
    batch = sub.add_parser("batch", parents=[common], help="the same scenario over many seeds")
    batch.add_argument("--seeds", default="1-5", help="a range (1-5) or a list (1,4,9)")
    return ap


def _main(args: argparse.Namespace) -> int:
    if args.command == "list":
        for p in sorted(BUNDLED.glob("*.toml")):
            sc = load_scenario(p)
            print(f"{p.stem:<14} {sc.description}")
        return 0
    sc = _scenario(args.scenario)
    if args.rounds is not None and args.rounds < 1:
        raise UsageError(f"expected --rounds of at least 1; got {args.rounds}")
    out: Path = args.out or Path(f"sim-{sc.name}")
    if args.command == "run":
        seed = sc.seed if args.seed is None else args.seed
        out.mkdir(parents=True, exist_ok=True)
        summary = asyncio.run(_run_one(sc, seed, args.rounds, out, args.bus, f"seed {seed}"))
        _print_summary(summary)
        print(f"\nwrote {out}/rounds.csv, summary.json and market.png")
        return 0
    summaries = []
    for seed in _seeds(args.seeds):
        d = out / f"seed-{seed}"
        d.mkdir(parents=True, exist_ok=True)
        summaries.append(asyncio.run(_run_one(sc, seed, args.rounds, d, args.bus, f"seed {seed}")))
    print(format_table(batch_table(summaries, out / "batch.csv")))
    write_batch_plot(summaries, out / "batch.png", f"{sc.name}, seeds {args.seeds}")
    if any(s["hostile_shown"] for s in summaries):
        print("\nWARNING: a hostile offer reached a person. This is a defect; please report it.")
    print(f"\nwrote {out}/batch.csv, batch.png and one folder per seed")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json=False, level="error")
    try:
        return _main(args)
    except (UsageError, ScenarioError, NatsServerNotFound) as exc:
        print(f"intentcast-sim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (OSError, NoServersError) as exc:
        print(
            f"intentcast-sim: error: {exc}; is the bus reachable? (--bus, or leave it out for "
            "the embedded one)",
            file=sys.stderr,
        )
        return 1
