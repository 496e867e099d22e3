"""A grid's results as one set of tidy tables: what ``batch`` and ``sweep`` write, and what
the Python API hands back as DataFrames, built once from the runs' summaries and rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ._plots import write_rates_plot, write_sweep_group_plot
from ._report import write_batch_plot, write_sweep_plot
from ._tables import Row, is_figure, summary_rows, table_value, write_table

__all__ = ["Tables", "parquet_available", "tabulate", "write_outputs", "write_tables"]


@dataclass(frozen=True)
class Tables:
    """Each field a table, a list of rows with the same columns.

    - ``rounds``: one row per intent of every run (only when the runs sent their rounds);
    - ``runs``: one row per run, its settings, seed and every figure of its summary;
    - ``groups``: one row per (run, group of people); ``vendor_groups``: per (run, group of
      vendors); ``rates``: per (run, group of people, window of rounds);
    - ``summary``, ``group_summary``, ``vendor_group_summary``: per setting (and group), the
      mean of each figure over the seeds with its 95% interval.
    """

    rounds: list[Row]
    runs: list[Row]
    groups: list[Row]
    vendor_groups: list[Row]
    rates: list[Row]
    summary: list[Row]
    group_summary: list[Row]
    vendor_group_summary: list[Row]


def tabulate(results: Sequence[dict[str, Any]], keys: Sequence[str]) -> Tables:
    """``results``: what ``run_grid`` returned (a run's summary, its ``settings``, its
    ``tables`` and, if kept, its ``rounds``); ``keys``: the swept settings, in order."""

    def tagged(r: dict[str, Any], rows: Sequence[Row]) -> list[Row]:
        head = {k: table_value(r["settings"].get(k)) for k in keys}
        return [{**head, "seed": r["seed"], **row} for row in rows]

    figures = [k for k, v in results[0].items() if is_figure(k, v)] if results else []
    runs = [
        {**{k: table_value(r["settings"].get(k)) for k in keys}, "seed": r["seed"],
         **{x: r[x] for x in figures}}
        for r in results
    ]  # fmt: skip
    groups = [row for r in results for row in tagged(r, r["tables"]["groups"])]
    vendor_groups = [row for r in results for row in tagged(r, r["tables"]["vendor_groups"])]
    return Tables(
        rounds=[row for r in results for row in tagged(r, r.get("round_rows", []))],
        runs=runs,
        groups=groups,
        vendor_groups=vendor_groups,
        rates=[row for r in results for row in tagged(r, r["tables"]["rates"])],
        summary=summary_rows(runs, keys),
        group_summary=summary_rows(groups, [*keys, "person_group"]),
        vendor_group_summary=summary_rows(vendor_groups, [*keys, "vendor_group"]),
    )


def write_tables(tables: Tables, out: Path, runs_name: str = "runs") -> list[str]:
    """Every table but ``rounds`` (each run wrote its own) under ``out``, as CSV and, when
    pyarrow imports, Parquet; the file names written, without their suffix."""
    names = []
    for f in fields(tables):
        if f.name == "rounds":
            continue
        name = runs_name if f.name == "runs" else f.name
        write_table(getattr(tables, f.name), out, name)
        names.append(name)
    return names


def parquet_available() -> bool:
    try:
        import pyarrow  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def write_outputs(
    tables: Tables,
    results: Sequence[dict[str, Any]],
    keys: Sequence[str],
    out: Path,
    title: str,
    *,
    groups: int,
) -> str:
    """What ``batch`` (no ``keys``) or ``sweep`` writes under ``out``: the tables and their
    plots (per group of people when there are ``groups`` > 1); says what it wrote."""
    names = ", ".join(write_tables(tables, out, runs_name="runs" if keys else "batch"))
    if keys:
        write_sweep_plot(tables.summary, keys, out / "sweep.png", title)
        plots = "sweep.png"
        if groups > 1:
            write_sweep_group_plot(tables.group_summary, keys, out / "sweep_groups.png", title)
            plots += ", sweep_groups.png"
    else:
        write_batch_plot(results, out / "batch.png", title)
        write_rates_plot(tables.rates, tables.groups, out / "rates.png", title)
        plots = "batch.png, rates.png"
    kinds = ".csv and .parquet" if parquet_available() else ".csv"
    return f"{names} (as {kinds}); {plots}"
