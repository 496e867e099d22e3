"""Tidy tables for a paper: one row per (run, people group), per (run, vendor group) and per
(run, people group, window of rounds), summaries per (setting, group) with the mean and its
95% interval over seeds, written as CSV and, when pyarrow imports, Parquet.

A run's group tables are made where the run ran (a worker process, or a Dask worker on another
machine) from its round records and its scenario, and travel back as plain rows; the rows
here are the single source of both the files and the DataFrames of the Python API.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._market import RoundRecord
from ._scenario import Scenario
from ._sweep import ci95

__all__ = [
    "PARQUET_HINT",
    "Row",
    "is_figure",
    "person_group_rows",
    "rate_rows",
    "run_tables",
    "summary_rows",
    "table_value",
    "vendor_group_rows",
    "window_size",
    "write_table",
]

Row = dict[str, Any]

PARQUET_HINT = "Parquet tables skipped: pip install 'intentcast[sim]' (pyarrow) to write them"

# Columns that say which run and group a row is about; every other number is a figure.
LABELS = frozenset(
    {"seed", "person_group", "people", "agreement", "trust_mode", "choice", "trust_threshold",
     "vendor_group",
     "kind", "vendors", "window", "round_from", "round_to", "seeds"}
)  # fmt: skip
WINDOWS = 20  # windows of rounds per run in rates.csv, unless told otherwise


def table_value(value: Any) -> Any:
    """A cell: numbers and strings as they are, anything else (a list, a table) as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _mean(values: Sequence[float], places: int = 2) -> float | None:
    return round(statistics.fmean(values), places) if values else None


def _figures(records: Sequence[RoundRecord]) -> Row:
    """What the people of one group got from ``records`` (their intents only)."""
    orders = [r for r in records if r.winner_kind]
    paid = [r.saving_pct for r in records if r.paid]
    return {
        "intents": len(records),
        "orders": len(orders),
        "orders_per_intent": _share(len(orders), len(records)),
        "delivered": sum(r.outcome == "delivered" for r in records),
        "not_delivered": sum(r.outcome == "not_delivered" for r in records),
        "bad_share": _share(sum(r.outcome == "not_delivered" for r in orders), len(orders)),
        "mean_saving_pct": _mean(paid),
        "terms_honoured_share": _share(sum(r.winner_kind != "breach" for r in orders), len(orders)),
        "mean_rank_taken": _mean([float(r.chosen_rank) for r in orders if r.chosen_rank >= 0]),
        "mean_shown": _mean([float(r.shown) for r in records]),
    }


def person_group_rows(records: Sequence[RoundRecord], sc: Scenario) -> list[Row]:
    """One row per group of people in ``sc``, whether or not its people cast an intent."""
    return [
        {
            "person_group": i,
            "people": g.count,
            "agreement": g.agreement or "",
            "trust_mode": table_value(g.trust_mode),
            "choice": table_value(g.choice),
            "trust_threshold": g.trust.threshold,
            **_figures([r for r in records if r.group == i]),
        }
        for i, g in enumerate(sc.persons)
    ]


def vendor_group_rows(records: Sequence[RoundRecord], sc: Scenario) -> list[Row]:
    """One row per group of vendors in ``sc``: the orders it won and how they ended."""
    total = sum(1 for r in records if r.winner_kind)
    rows = []
    for i, g in enumerate(sc.vendors):
        won = [r for r in records if r.winner_group == i and r.winner_kind]
        rows.append({
            "vendor_group": i,
            "kind": g.kind,
            "vendors": g.count,
            "orders_won": len(won),
            "share_of_orders": _share(len(won), total),
            "not_delivered": sum(r.outcome == "not_delivered" for r in won),
            "bad_share": _share(sum(r.outcome == "not_delivered" for r in won), len(won)),
            "revenue": sum(r.paid for r in won),
            "identities_won": len({r.winner_vendor for r in won}),
        })  # fmt: skip
    return rows


def window_size(rounds: int, windows: int = WINDOWS) -> int:
    return max(1, math.ceil(rounds / windows))


def rate_rows(records: Sequence[RoundRecord], sc: Scenario, window: int) -> list[Row]:
    """Per group of people and window of ``window`` rounds: that window's rates (not running
    totals). A rate with no order to divide by is empty."""
    last = max((r.round for r in records), default=-1)
    buckets: dict[tuple[int, int], list[RoundRecord]] = {}
    for r in records:
        buckets.setdefault((r.group, r.round // window), []).append(r)
    rows = []
    for i in range(len(sc.persons)):
        for w, start in enumerate(range(0, last + 1, window)):
            f = _figures(buckets.get((i, w), []))
            rows.append({
                "person_group": i, "window": w, "round_from": start,
                "round_to": min(start + window, last + 1) - 1,
                **{k: f[k] for k in ("intents", "orders", "bad_share", "mean_saving_pct",
                                     "terms_honoured_share")},
            })  # fmt: skip
    return rows


def run_tables(records: Sequence[RoundRecord], sc: Scenario, window: int | None = None) -> Row:
    """A run's group tables, as they leave the process that ran it."""
    return {
        "groups": person_group_rows(records, sc),
        "vendor_groups": vendor_group_rows(records, sc),
        "rates": rate_rows(records, sc, window or window_size(len(records))),
    }


def is_figure(key: str, value: Any) -> bool:
    return key not in LABELS and isinstance(value, int | float) and not isinstance(value, bool)


def summary_rows(rows: Sequence[Row], by: Sequence[str], places: int = 3) -> list[Row]:
    """Per distinct value of the ``by`` columns (in order of first appearance): ``seeds`` (the
    rows pooled), the other label columns they share, and for every figure its mean over the
    rows and the 95% interval of that mean (Student's t), ``<figure>_ci95_low/high``. Empty
    cells are left out of a figure's mean; a figure empty in every row stays empty."""
    if not rows:
        return []
    figures = [k for k in rows[0] if k not in by and is_figure(k, rows[0][k])]
    figures += [
        k for k in dict.fromkeys(k for r in rows for k in r)
        if k not in figures and k not in by and k not in LABELS
        and any(is_figure(k, r.get(k)) for r in rows)
    ]  # fmt: skip
    kept = [k for k in rows[0] if k in LABELS and k not in by and k != "seed"]
    pooled: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        pooled.setdefault(tuple(repr(r.get(k)) for k in by), []).append(r)
    out = []
    for members in pooled.values():
        row: Row = {k: members[0].get(k) for k in by}
        row["seeds"] = len(members)
        row.update({k: members[0][k] for k in kept if len({repr(m[k]) for m in members}) == 1})
        for x in figures:
            values = [float(m[x]) for m in members if m.get(x) is not None]
            if values:
                m, lo, hi = ci95(values)
                row[x], row[f"{x}_ci95_low"], row[f"{x}_ci95_high"] = (
                    round(m, places), round(lo, places), round(hi, places)
                )  # fmt: skip
            else:
                row[x] = row[f"{x}_ci95_low"] = row[f"{x}_ci95_high"] = None
        out.append(row)
    return out


def _columns(rows: Iterable[Row]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def write_table(
    rows: Sequence[Row], out: Path, name: str, columns: Sequence[str] | None = None
) -> bool:
    """``out/name.csv`` and, when pyarrow imports, ``out/name.parquet``; True when the Parquet
    file was written. Empty cells are None in the rows, empty in the CSV, null in Parquet.
    ``columns``: their order (default: as they first appear in the rows)."""
    columns = list(columns or _columns(rows))
    with (out / f"{name}.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c) for c in columns])
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        return False
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]),
                   out / f"{name}.parquet")  # fmt: skip
    return True
