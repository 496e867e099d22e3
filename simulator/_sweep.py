"""Sweeps and batches on every core: a grid of scenario settings x seeds, one run per process.

Each run is a whole market over the real protocol in a process of its own, with its own
embedded nats-server and stores, so runs never share state and a grid uses every core. A
setting names a key of the scenario file by its dotted path (``vendors.1.count``,
``persons.0.trust.threshold``) and takes TOML values (``4``, ``0.2``, ``"bait"``, ``[1, 2]``).
Results are tidy: one row per run in ``runs.csv``, and per setting the mean of each figure
with its 95% confidence interval over the seeds (Student's t) in ``summary.csv``.
"""

from __future__ import annotations

import copy
import csv
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

from ._scenario import Scenario, ScenarioError, one_line

__all__ = ["Job", "ci95", "parse_setting", "run_grid", "scenario_with", "summarize_grid"]

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


def _worker_init() -> None:
    from runtime import configure_logging

    configure_logging(json=False, level="error")


def run_grid(
    jobs: Sequence[Job],
    run_one: RunOne,
    *,
    rounds: int | None,
    processes: int | None = None,
    on_done: Callable[[int, int, Job, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every job, ``processes`` at a time (default: every core); the summaries, in the
    order of ``jobs``. ``run_one`` must be a module-level function (it crosses processes)."""
    width = max(1, min(processes or os.cpu_count() or 1, len(jobs)))
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=width, initializer=_worker_init) as pool:
        pending: dict[Future[dict[str, Any]], int] = {
            pool.submit(run_one, j.scenario, j.seed, rounds, j.out): i for i, j in enumerate(jobs)
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                results[i] = {**fut.result(), "settings": jobs[i].settings}
                if on_done is not None:
                    on_done(len(results), len(jobs), jobs[i], results[i])
    return [results[i] for i in range(len(jobs))]


def _figures(summary: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "seed"
    }


def summarize_grid(summaries: Sequence[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Write ``runs.csv`` (one row per run) and ``summary.csv`` (per setting: mean and 95%
    interval of each figure over its seeds) under ``out``; return the summary rows."""
    keys = sorted({k for s in summaries for k in s["settings"]})
    figures = list(_figures(summaries[0]))
    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*keys, "seed", *figures])
        for s in summaries:
            w.writerow([*(s["settings"].get(k) for k in keys), s["seed"], *(s[x] for x in figures)])
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for s in summaries:
        groups.setdefault(tuple(repr(s["settings"].get(k)) for k in keys), []).append(s)
    rows = []
    for members in groups.values():
        row: dict[str, Any] = {k: members[0]["settings"].get(k) for k in keys}
        row["seeds"] = len(members)
        for x in figures:
            m, lo, hi = ci95([float(s[x]) for s in members])
            row[x], row[f"{x}_ci95_low"], row[f"{x}_ci95_high"] = (
                round(m, 3),
                round(lo, 3),
                round(hi, 3),
            )
        rows.append(row)
    with (out / "summary.csv").open("w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=list(rows[0]))
        table.writeheader()
        table.writerows(rows)
    return rows
