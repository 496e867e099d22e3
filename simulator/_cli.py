"""`intentcast-sim`: seeded market simulations over the real protocol, for research."""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import msgspec
from nats.errors import NoServersError

from runtime import NatsServerNotFound, configure_logging

from ._fast import FastMarket
from ._market import MARKER, Market, RoundRecord
from ._report import (
    batch_table,
    format_table,
    summarize,
    write_plot,
    write_rounds,
    write_summary,
)
from ._results import parquet_available, tabulate, write_outputs
from ._scenario import Scenario, ScenarioError, check_fits, load_scenario
from ._sweep import ENGINES, EngineError, Job, grid_jobs, parse_setting, run_grid
from ._tables import PARQUET_HINT, run_tables

BUNDLED = Path(__file__).resolve().parent / "scenarios"

EXAMPLES = """
examples:
  intentcast-sim list
  intentcast-sim run adversarial --rounds 40 --out results/adv
  intentcast-sim run ./my-market.toml --seed 7
  intentcast-sim batch adversarial --seeds 1-5 --out results/adv-batch
  intentcast-sim sweep adversarial --set vendors.1.count=1,2,4 --seeds 1-5 --out results/sweep
  intentcast-sim sweep trust-policies --set persons.0.trust.threshold=0.1,0.3 \
      --set persons.0.ranking.trust=0.1,0.4 --seeds 1-3 --jobs 2
  intentcast-sim sweep bait-40 --mode fast --set vendors.1.count=1,2 --engine dask \
      --scheduler tcp://10.0.0.5:8786

A scenario is a TOML file (see simulator/scenarios/*.toml) or the name of a bundled one.
Each run writes rounds.csv (one row per intent), summary.json and market.png to --out;
--out/work holds the run's stores (people's agents, vendors' orders) and is replaced on the
next run, so every run starts from empty histories. batch and sweep run one market per
process, --jobs at a time (default: every core), each on an embedded bus of its own, or on
Dask with --engine dask (a loopback cluster, or --scheduler tcp://host:8786). Both write
tidy tables, as CSV and (with pyarrow) Parquet: one row per run (batch.csv for batch,
runs.csv for sweep), per run and group of people (groups), per run and group of vendors
(vendor_groups), per run, group and window of rounds (rates), and per setting (and group)
the mean of each figure with its 95% interval (summary, group_summary,
vendor_group_summary); batch plots rates.png, sweep sweep.png and sweep_groups.png.
"""


class UsageError(Exception):
    pass


def _scenario_path(name: str) -> Path:
    path = Path(name)
    if not path.exists() and (BUNDLED / f"{name}.toml").exists():
        path = BUNDLED / f"{name}.toml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BUNDLED.glob("*.toml")))
        raise UsageError(f"expected a scenario file or one of: {known}; got {name!r}")
    return path


MODES = ("full", "fast")


def _mode(sc: Scenario, mode: str | None) -> Scenario:
    """``sc`` in the mode ``--mode`` names (default: the scenario's own ``mode``)."""
    if mode is None:
        return sc
    if mode not in MODES:
        raise UsageError(f"--mode: expected one of {', '.join(MODES)}; got {mode!r}")
    return sc.model_copy(update={"mode": mode})


def _scenario(name: str, mode: str | None = None) -> Scenario:
    sc = _mode(load_scenario(_scenario_path(name)), mode)
    check_fits(sc, raise_limit=True)
    return sc


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
    sc: Scenario,
    seed: int,
    rounds: int | None,
    out: Path,
    bus: str | None,
    label: str,
    *,
    quiet: bool = False,
    tables: bool = False,
    keep_rounds: bool = False,
    window: int | None = None,
) -> dict[str, object]:
    """One run; its summary, with its group tables (``tables``) and its round records as
    rows (``keep_rounds``) when asked, for a grid to gather."""
    work = _fresh_work(out)
    progress = None if quiet else _progress(label)
    market = (
        FastMarket(sc, work, seed=seed, progress=progress)  # type: ignore[arg-type]
        if sc.mode == "fast"
        else Market(sc, work, seed=seed, bus_url=bus, progress=progress)  # type: ignore[arg-type]
    )
    async with market as m:
        records = await m.run(rounds)
        summary = summarize(records, m.hostile_sent(), m.attack_summary())
    write_rounds(records, out / "rounds.csv")
    write_summary(summary, out / "summary.json")
    write_plot(records, out / "market.png", f"{sc.name}, seed {seed}")
    if tables:
        summary = {**summary, "tables": run_tables(records, sc, window)}
    if keep_rounds:
        summary["round_rows"] = [msgspec.structs.asdict(r) for r in records]
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
    common.add_argument("--mode", help="full (the real bus, crypto and stores) or fast (the "
                        "same decisions in memory); default: the scenario's mode, else full")  # fmt: skip
    run = sub.add_parser("run", parents=[common], help="one seeded run")
    run.add_argument("--seed", type=int, help="default: the scenario's seed")
    many = argparse.ArgumentParser(add_help=False)
    many.add_argument("--seeds", default="1-5", help="a range (1-5) or a list (1,4,9)")
    many.add_argument(
        "--jobs", type=int, help="markets at once, one per process (default: every core)"
    )
    many.add_argument("--engine", choices=ENGINES, default="processes",
                      help="where the runs run: processes on this machine (default) or a Dask "
                      "cluster (pip install 'intentcast[dask]')")  # fmt: skip
    many.add_argument("--scheduler", metavar="tcp://HOST:8786",
                      help="with --engine dask: an existing scheduler (default: a local cluster "
                      "of --jobs workers on loopback)")  # fmt: skip
    many.add_argument("--window", type=int, metavar="ROUNDS",
                      help="rounds per window in rates.csv (default: a twentieth of the run)")  # fmt: skip
    sub.add_parser("batch", parents=[common, many], help="the same scenario over many seeds")
    sweep = sub.add_parser("sweep", parents=[common, many],
                           help="every combination of --set values, over many seeds")  # fmt: skip
    sweep.add_argument("--set", action="append", default=[], required=True, metavar="KEY=V1,V2",
                       help="a scenario key by its dotted path and the values to try (repeatable)")  # fmt: skip
    return ap


def run_job(
    sc: Scenario,
    seed: int,
    rounds: int | None,
    out: Path,
    *,
    keep_rounds: bool = False,
    window: int | None = None,
) -> dict[str, object]:
    """One run of a grid in a worker process: its own event loop, its own embedded bus; its
    summary with its group tables (and its rounds, if ``keep_rounds``)."""
    out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run_one(sc, seed, rounds, out, None, "", quiet=True, tables=True,
                                keep_rounds=keep_rounds, window=window))  # fmt: skip


def _jobs(args: argparse.Namespace) -> int | None:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"expected --jobs of at least 1; got {args.jobs}")
    if args.bus and args.jobs not in (None, 1):
        raise UsageError("expected --jobs 1 with --bus: markets sharing one bus hear each other")
    if args.window is not None and args.window < 1:
        raise UsageError(f"expected --window of at least 1 round; got {args.window}")
    if args.bus and args.engine != "processes":
        raise UsageError("--bus: markets on a given bus run here, one at a time; leave out "
                         "--engine or --bus")  # fmt: skip
    if args.scheduler and args.engine != "dask":
        raise UsageError("--scheduler: expected --engine dask with it")
    return 1 if args.bus else args.jobs


def _announce(done: int, total: int, job: Job, summary: dict[str, object]) -> None:
    print(f"[{done}/{total}] {job.label}: {summary['accepted']} orders, "
          f"{summary['not_delivered']} not delivered", file=sys.stderr, flush=True)  # fmt: skip


def _main(args: argparse.Namespace) -> int:
    if args.command == "list":
        for p in sorted(BUNDLED.glob("*.toml")):
            sc = load_scenario(p)
            print(f"{p.stem:<14} {sc.description}")
        return 0
    sc = _scenario(args.scenario, args.mode)
    if sc.mode == "fast" and args.bus:
        raise UsageError("--bus: fast mode uses no bus; leave --bus out or use --mode full")
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
    processes = _jobs(args)
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "sweep":
        axes = [parse_setting(s) for s in args.set]
        keys = [k for k, _ in axes]
        raw = tomllib.loads(_scenario_path(args.scenario).read_text())
        jobs = grid_jobs(raw, axes, _seeds(args.seeds), out, args.mode, raise_limit=True)
    else:
        keys, jobs = [], [Job({}, sc, seed, out / f"seed-{seed}") for seed in _seeds(args.seeds)]
    if args.bus:  # one market at a time on the given bus, in this process
        results = []
        for j in jobs:
            j.out.mkdir(parents=True, exist_ok=True)
            summary = asyncio.run(_run_one(j.scenario, j.seed, args.rounds, j.out, args.bus, j.label,
                                           tables=True, window=args.window))  # fmt: skip
            results.append({**summary, "settings": j.settings})
    else:
        results = run_grid(jobs, functools.partial(run_job, window=args.window),
                           rounds=args.rounds, processes=processes, on_done=_announce,
                           engine=args.engine, scheduler=args.scheduler)  # fmt: skip
    tables = tabulate(results, keys)
    if args.command == "batch":
        print(format_table(batch_table(tables.summary)))
    written = write_outputs(tables, results, keys, out, f"{sc.name}, seeds {args.seeds}",
                            groups=len(sc.persons))  # fmt: skip
    if any(s["hostile_shown"] for s in results):
        print("\nWARNING: a hostile offer reached a person. This is a defect; please report it.")
    print(f"\nwrote to {out}: {written}, and one folder per run")
    if not parquet_available():
        print(PARQUET_HINT, file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json=False, level="error")
    try:
        return _main(args)
    except (UsageError, ScenarioError, EngineError, NatsServerNotFound) as exc:
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
