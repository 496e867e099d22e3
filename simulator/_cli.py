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

from ._fast import FastMarket
from ._market import MARKER, Market, RoundRecord
from ._report import (
    batch_table,
    format_table,
    summarize,
    write_batch_plot,
    write_plot,
    write_rounds,
    write_summary,
    write_sweep_plot,
)
from ._scenario import Scenario, ScenarioError, check_fits, load_scenario
from ._sweep import Job, parse_setting, run_grid, scenario_with, summarize_grid

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

A scenario is a TOML file (see simulator/scenarios/*.toml) or the name of a bundled one.
Each run writes rounds.csv (one row per intent), summary.json and market.png to --out;
--out/work holds the run's stores (people's agents, vendors' orders) and is replaced on the
next run, so every run starts from empty histories. batch and sweep run one market per
process, --jobs at a time (default: every core), each on an embedded bus of its own; sweep
runs every combination of its --set values with every seed and writes runs.csv (one row per
run) and summary.csv (per combination: the mean of each figure and its 95% interval).
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
    check_fits(sc)
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
) -> dict[str, object]:
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
    sub.add_parser("batch", parents=[common, many], help="the same scenario over many seeds")
    sweep = sub.add_parser("sweep", parents=[common, many],
                           help="every combination of --set values, over many seeds")  # fmt: skip
    sweep.add_argument("--set", action="append", default=[], required=True, metavar="KEY=V1,V2",
                       help="a scenario key by its dotted path and the values to try (repeatable)")  # fmt: skip
    return ap


def _run_job(sc: Scenario, seed: int, rounds: int | None, out: Path) -> dict[str, object]:
    """One run in a worker process: its own event loop, its own embedded bus."""
    out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run_one(sc, seed, rounds, out, None, "", quiet=True))


def _jobs(args: argparse.Namespace) -> int | None:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"expected --jobs of at least 1; got {args.jobs}")
    if args.bus and args.jobs not in (None, 1):
        raise UsageError("expected --jobs 1 with --bus: markets sharing one bus hear each other")
    return 1 if args.bus else args.jobs


def _announce(done: int, total: int, job: Job, summary: dict[str, object]) -> None:
    print(f"[{done}/{total}] {job.label}: {summary['accepted']} orders, "
          f"{summary['not_delivered']} not delivered", file=sys.stderr, flush=True)  # fmt: skip


def _grid(args: argparse.Namespace, sc_path: Path, out: Path) -> list[Job]:
    import itertools
    import tomllib

    raw = tomllib.loads(sc_path.read_text())
    axes = [parse_setting(s) for s in args.set]
    names = [k for k, _ in axes]
    if len(set(names)) != len(names):
        raise UsageError(f"expected each --set key once; got {names}")
    jobs = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        settings = dict(zip(names, combo, strict=True))
        sc = _mode(scenario_with(raw, settings), args.mode)
        check_fits(sc)
        tag = "_".join(f"{k}={v}" for k, v in settings.items()).replace("/", "-") or "base"
        jobs += [Job(settings, sc, seed, out / tag / f"seed-{seed}") for seed in _seeds(args.seeds)]
    return jobs


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
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "sweep":
        jobs = _grid(args, _scenario_path(args.scenario), out)
        summaries = run_grid(jobs, _run_job, rounds=args.rounds, processes=_jobs(args),
                             on_done=_announce)  # fmt: skip
        rows = summarize_grid(summaries, out)
        write_sweep_plot(rows, [k for k, _ in (parse_setting(s) for s in args.set)],
                         out / "sweep.png", f"{sc.name}, seeds {args.seeds}")  # fmt: skip
        if any(s["hostile_shown"] for s in summaries):
            print(
                "\nWARNING: a hostile offer reached a person. This is a defect; please report it."
            )
        print(f"\nwrote {out}/runs.csv, summary.csv, sweep.png and one folder per run")
        return 0
    jobs = [Job({}, sc, seed, out / f"seed-{seed}") for seed in _seeds(args.seeds)]
    if args.bus:  # one market at a time on the given bus, in this process
        summaries = []
        for j in jobs:
            j.out.mkdir(parents=True, exist_ok=True)
            summaries.append(
                asyncio.run(_run_one(sc, j.seed, args.rounds, j.out, args.bus, j.label))
            )
    else:
        summaries = run_grid(jobs, _run_job, rounds=args.rounds, processes=_jobs(args),
                             on_done=_announce)  # fmt: skip
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
