"""The simulator from Python (a notebook, a script): ``run``, ``batch`` and ``sweep`` return
the tables the commands write, as pandas DataFrames. pandas is imported only here, when one
of them is called, so the command line works without it.

Each call runs what the command runs (the same jobs, the same worker function, the same
tables), so a seed gives the same rows as ``intentcast-sim`` does, wall-clock timings apart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._cli import MODES, UsageError, _run_one, _scenario_path, run_job
from ._results import Tables, tabulate
from ._scenario import Scenario, ScenarioError, check_fits, load_scenario
from ._sweep import ENGINES, Job, grid_jobs, run_grid

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["Results", "batch", "run", "sweep"]


@dataclass(frozen=True)
class Results:
    """The tables of a run, batch or sweep, one DataFrame each (see ``Tables`` for what a
    row is): ``rounds`` (one row per intent of every run, with its settings and seed),
    ``runs``, ``groups``, ``vendor_groups``, ``rates``, and the summaries over seeds
    ``summary``, ``group_summary``, ``vendor_group_summary`` (each figure's mean with
    ``<figure>_ci95_low`` and ``_high``). ``out``: where the runs' folders are, if kept."""

    rounds: pd.DataFrame
    runs: pd.DataFrame
    groups: pd.DataFrame
    vendor_groups: pd.DataFrame
    rates: pd.DataFrame
    summary: pd.DataFrame
    group_summary: pd.DataFrame
    vendor_group_summary: pd.DataFrame
    out: Path | None


def _frames(tables: Tables, out: Path | None) -> Results:
    import pandas as pd

    def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return pd.DataFrame.from_records([[r.get(c) for c in columns] for r in rows],
                                         columns=columns)  # fmt: skip

    return Results(**{f.name: frame(getattr(tables, f.name)) for f in fields(tables)}, out=out)


ScenarioLike = str | Path | Scenario


def _path(scenario: str | Path) -> Path:
    try:
        return _scenario_path(str(scenario))
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None


def _scenario(scenario: ScenarioLike) -> Scenario:
    """From a file, a bundled name, or a ``Scenario`` made in Python (which can say what a
    TOML file cannot, such as ``agreement=None``)."""
    return scenario if isinstance(scenario, Scenario) else load_scenario(_path(scenario))


def _raw(scenario: ScenarioLike) -> dict[str, Any]:
    """The scenario as its TOML reads, for settings to land on."""
    if isinstance(scenario, Scenario):
        return scenario.model_dump(mode="json")
    return tomllib.loads(_path(scenario).read_text())


def _checked_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in MODES:
        raise ScenarioError(f"mode: expected one of {', '.join(MODES)}; got {mode!r}")
    return mode


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    listed = [seeds] if isinstance(seeds, int) else list(seeds)
    if not listed:
        raise ScenarioError("seeds: expected at least one seed; got none")
    return listed


def _grid(
    jobs: Sequence[Job],
    keys: Sequence[str],
    rounds: int | None,
    jobs_at_once: int | None,
    engine: str,
    scheduler: str | None,
    window: int | None,
) -> Tables:
    if engine not in ENGINES:
        raise ScenarioError(f"engine: expected one of {', '.join(ENGINES)}; got {engine!r}")
    run_one = functools.partial(run_job, keep_rounds=True, window=window)
    results = run_grid(jobs, run_one, rounds=rounds, processes=jobs_at_once, engine=engine,
                       scheduler=scheduler)  # fmt: skip
    return tabulate(results, keys)


def _in(out: Path | str | None, make: Any) -> Results:
    """Run ``make(folder)`` in ``out`` (kept) or in a temporary folder (removed after)."""
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        return _frames(make(folder), folder)
    with tempfile.TemporaryDirectory(prefix="intentcast-sim-") as tmp:
        return _frames(make(Path(tmp)), None)


def run(
    scenario: ScenarioLike,
    *,
    seed: int | None = None,
    rounds: int | None = None,
    mode: str | None = None,
    out: Path | str | None = None,
    window: int | None = None,
) -> Results:
    """One seeded run in this process (in a thread of its own when an event loop is already
    running, as in a notebook). ``scenario``: a TOML file, a bundled scenario's name or a
    ``Scenario``;
    ``seed`` and ``mode`` default to the scenario's; ``out`` keeps the run's files there."""
    sc = _scenario(scenario)
    if (m := _checked_mode(mode)) is not None:
        sc = sc.model_copy(update={"mode": m})
    check_fits(sc)
    chosen = sc.seed if seed is None else seed

    def make(folder: Path) -> Tables:
        work = folder / f"seed-{chosen}"
        work.mkdir(parents=True, exist_ok=True)
        coro = functools.partial(_run_one, sc, chosen, rounds, work, None, "", quiet=True,
                                 tables=True, keep_rounds=True, window=window)  # fmt: skip
        summary = _run_here(lambda: asyncio.run(coro()))
        return tabulate([{**summary, "settings": {}}], [])

    return _in(out, make)


def _run_here(call: Any) -> dict[str, Any]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result: dict[str, Any] = call()
        return result
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="intentcast-sim") as pool:
        return pool.submit(call).result()  # type: ignore[no-any-return]


def batch(
    scenario: ScenarioLike,
    *,
    seeds: int | Iterable[int] = range(1, 6),
    rounds: int | None = None,
    mode: str | None = None,
    out: Path | str | None = None,
    jobs: int | None = None,
    engine: str = "processes",
    scheduler: str | None = None,
    window: int | None = None,
) -> Results:
    """The scenario over many seeds, one market per process (``jobs`` at a time, default
    every core) or on Dask (``engine="dask"``, ``scheduler`` as for ``sweep``)."""
    return sweep(scenario, settings={}, seeds=seeds, rounds=rounds, mode=mode, out=out,
                 jobs=jobs, engine=engine, scheduler=scheduler, window=window)  # fmt: skip


def sweep(
    scenario: ScenarioLike,
    *,
    settings: Mapping[str, Sequence[Any]],
    seeds: int | Iterable[int] = range(1, 6),
    rounds: int | None = None,
    mode: str | None = None,
    out: Path | str | None = None,
    jobs: int | None = None,
    engine: str = "processes",
    scheduler: str | None = None,
    window: int | None = None,
) -> Results:
    """Every combination of ``settings`` (a scenario key by its dotted path -> the values to
    try, as ``--set`` takes them) with every seed. ``engine="dask"`` runs on the Dask
    ``scheduler`` (``"tcp://host:8786"``) or, with none, a loopback ``LocalCluster``."""
    _scenario(scenario)  # the base scenario's own faults first, as the command reports them
    raw = _raw(scenario)
    axes = [(k, list(v)) for k, v in settings.items()]
    chosen = _seeds(seeds)
    m = _checked_mode(mode)

    def make(folder: Path) -> Tables:
        grid = grid_jobs(raw, axes, chosen, folder, m)
        if not settings:  # a batch: its runs sit in seed-N, as the command puts them
            grid = [Job({}, j.scenario, j.seed, folder / f"seed-{j.seed}") for j in grid]
        return _grid(grid, [k for k, _ in axes], rounds, jobs, engine, scheduler, window)

    return _in(out, make)
