"""Sweeps and batches on every core: a grid of scenario settings x seeds, one run per process.

Each run is a whole market over the real protocol in a process of its own, with its own
embedded nats-server and stores, so runs never share state and a grid uses every core; or,
for grids past one machine, on a Dask cluster (``engine="dask"``), the same jobs unchanged.
A setting names a key of the scenario file by its dotted path (``vendors.1.count``,
``persons.0.trust.threshold``) and takes TOML values (``4``, ``0.2``, ``"bait"``, ``[1, 2]``).
The runs' tables are made by ``_results.tabulate``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import math
import os
import statistics
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._scenario import Scenario, ScenarioError, check_fits, one_line

__all__ = [
    "ENGINES",
    "EngineError",
    "Job",
    "ci95",
    "grid_jobs",
    "parse_setting",
    "run_grid",
    "scenario_with",
]

# Student's t at 97.5% for 1..30 degrees of freedom; beyond that the normal 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% confidence interval of the mean; a single value is its
    own interval."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, m, m
    t = _T975[len(values) - 2] if len(values) - 1 <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """``key=v1,v2,...`` -> (key, [values]); each value read as TOML, else as a string."""
    key, sep, rest = text.partition("=")
    if not sep or not key or not rest:
        raise ScenarioError(
            f"--set: expected key=value1,value2 such as vendors.1.count=2,4; got {text!r}"
        )
    values = []
    for part in _split_values(rest):
        try:
            values.append(tomllib.loads(f"v = {part}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(part)
    return key.strip(), values


def _split_values(text: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            yield text[start:i].strip()
            start = i + 1
    yield text[start:].strip()


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    node: Any = raw
    parts = key.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    f"--set {key}: expected an index below {len(node)} at {where}, got {part!r}"
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ScenarioError(f"--set {key}: {'.'.join(parts[:i])} is a value, not a table")


def scenario_with(raw: dict[str, Any], settings: dict[str, Any]) -> Scenario:
    """The scenario ``raw`` (as read from its TOML) with ``settings`` applied, checked."""
    changed = copy.deepcopy(raw)
    for key, value in settings.items():
        _set(changed, key, value)
    try:
        return Scenario.model_validate(changed)
    except ValidationError as exc:
        told = ", ".join(f"{k}={v!r}" for k, v in settings.items())
        raise ScenarioError(f"--set {told}: {one_line(exc)}") from None


@dataclass(frozen=True)
class Job:
    settings: dict[str, Any]
    scenario: Scenario
    seed: int
    out: Path

    @property
    def label(self) -> str:
        told = " ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{told} seed {self.seed}".strip()


RunOne = Callable[[Scenario, int, int | None, Path], dict[str, Any]]
OnDone = Callable[[int, int, Job, dict[str, Any]], None]

ENGINES = ("processes", "dask")


class EngineError(Exception):
    """The engine asked for is not installed (the line names the extra), or its scheduler
    cannot be reached."""


def grid_jobs(
    raw: dict[str, Any],
    axes: Sequence[tuple[str, Sequence[Any]]],
    seeds: Sequence[int],
    out: Path,
    mode: str | None = None,
    *,
    raise_limit: bool = False,
) -> list[Job]:
    """Every combination of the ``axes`` values with every seed, on the scenario ``raw`` (as
    read from its TOML; ``mode`` overrides its mode), each run in a folder of its own."""
    names = [k for k, _ in axes]
    if len(set(names)) != len(names):
        raise ScenarioError(f"--set: expected each key once; got {names}")
    jobs = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        settings = dict(zip(names, combo, strict=True))
        sc = scenario_with(raw, settings)
        if mode is not None:
            sc = sc.model_copy(update={"mode": mode})
        check_fits(sc, raise_limit=raise_limit)  # before the pool: its processes inherit it
        tag = "_".join(f"{k}={v}" for k, v in settings.items()).replace("/", "-") or "base"
        jobs += [Job(settings, sc, seed, out / tag / f"seed-{seed}") for seed in seeds]
    return jobs


def _worker_init() -> None:
    from runtime import configure_logging

    configure_logging(json=False, level="error")


def _on_dask_worker(
    run_one: RunOne, sc: Scenario, seed: int, rounds: int | None, out: Path
) -> dict[str, Any]:
    _worker_init()
    return run_one(sc, seed, rounds, out)


def run_grid(
    jobs: Sequence[Job],
    run_one: RunOne,
    *,
    rounds: int | None,
    processes: int | None = None,
    on_done: OnDone | None = None,
    engine: str = "processes",
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Run every job, ``processes`` at a time (default: every core); the summaries, in the
    order of ``jobs``, each with its ``settings``. ``run_one`` must be a module-level function
    (it crosses processes). ``engine="dask"`` runs the jobs on the Dask ``scheduler``
    (``tcp://host:8786``) or, with none, on a loopback ``LocalCluster`` of ``processes``
    single-threaded worker processes."""
    width = max(1, min(processes or os.cpu_count() or 1, len(jobs)))
    results: dict[int, dict[str, Any]] = {}

    def done(i: int, summary: dict[str, Any]) -> None:
        results[i] = {**summary, "settings": jobs[i].settings}
        if on_done is not None:
            on_done(len(results), len(jobs), jobs[i], results[i])

    if engine == "dask":
        _run_on_dask(jobs, run_one, rounds, width, scheduler, done)
    else:
        with ProcessPoolExecutor(max_workers=width, initializer=_worker_init) as pool:
            pending: dict[Future[dict[str, Any]], int] = {
                pool.submit(run_one, j.scenario, j.seed, rounds, j.out): i
                for i, j in enumerate(jobs)
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done(pending.pop(fut), fut.result())
    return [results[i] for i in range(len(jobs))]


DASK_CONNECT_TIMEOUT = "30s"


def _run_on_dask(
    jobs: Sequence[Job],
    run_one: RunOne,
    rounds: int | None,
    width: int,
    scheduler: str | None,
    done: Callable[[int, dict[str, Any]], None],
) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise EngineError(
            "--engine dask: expected Dask installed; pip install 'intentcast[dask]'"
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=width, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
            )  # fmt: skip
            client = stack.enter_context(Client(cluster, timeout=DASK_CONNECT_TIMEOUT))  # type: ignore[no-untyped-call]
        else:
            try:
                client = stack.enter_context(
                    Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
                )
            except (OSError, TimeoutError, ValueError) as exc:
                raise EngineError(
                    f"--scheduler: expected a Dask scheduler at {scheduler!r}; "
                    f"{' '.join(str(exc).split())[:200]}"
                ) from None
        futures = {
            client.submit(
                _on_dask_worker, run_one, j.scenario, j.seed, rounds, j.out, pure=False,
                key=f"intentcast-sim-{i}-seed-{j.seed}",
            ): i
            for i, j in enumerate(jobs)
        }  # fmt: skip
        try:
            for fut in as_completed(futures):  # type: ignore[no-untyped-call]
                done(futures[fut], fut.result())
        finally:
            client.cancel(list(futures))
