"""Plots per group of people, from the tidy tables: rates over time with interval bands
across seeds (``batch``), and a sweep's figures against its parameter (``sweep``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._report import pyplot, save_figure
from ._sweep import ci95
from ._tables import Row

__all__ = ["group_labels", "write_rates_plot", "write_sweep_group_plot"]

RATE_PANELS = (
    ("bad_share", 100, "orders not delivered, %"),
    ("mean_saving_pct", 1, "saving against budget, %"),
    ("terms_honoured_share", 100, "orders on terms that honour theirs, %"),
)
SWEEP_GROUP_PANELS = (
    ("orders", 1, "orders"),
    ("bad_share", 100, "orders not delivered, %"),
    ("mean_saving_pct", 1, "saving against budget, %"),
    ("terms_honoured_share", 100, "terms honoured, %"),
)
DESCRIBED_BY = ("agreement", "trust_mode", "trust_threshold", "choice")


def group_labels(groups: Sequence[Row]) -> dict[int, str]:
    """A short name per group of people: its index and the settings that tell it apart from
    the other groups (its agreement, trust mode and threshold, choice model), leaving out any
    a sweep changes within a group."""
    seen: dict[str, dict[int, set[str]]] = {k: {} for k in DESCRIBED_BY}
    for r in groups:
        for k in DESCRIBED_BY:
            seen[k].setdefault(int(r["person_group"]), set()).add(_said(r.get(k)))
    differ = [
        k for k, by_group in seen.items()
        if all(len(v) == 1 for v in by_group.values())
        and len({next(iter(v)) for v in by_group.values()}) > 1
    ]  # fmt: skip
    labels: dict[int, str] = {}
    for g in sorted(seen[DESCRIBED_BY[0]]):
        told = ", ".join(f"{k.replace('_', ' ')} {next(iter(seen[k][g]))}" for k in differ)
        labels[g] = f"people {g}" + (f" ({told})" if told else "")
    return labels


def _said(value: Any) -> str:
    return "none" if value in (None, "") else str(value)


def _within(share_pct: float) -> float:
    return share_pct if math.isnan(share_pct) else min(100.0, max(0.0, share_pct))


def _interval(values: Sequence[float]) -> tuple[float, float, float]:
    return ci95(values) if values else (math.nan, math.nan, math.nan)


def write_rates_plot(rates: Sequence[Row], groups: Sequence[Row], path: Path, title: str) -> bool:
    """One panel per rate, per window of rounds: each group's mean over the seeds, with its
    95% interval as a band (a window in which a group placed no order leaves a gap). False
    (nothing written) without matplotlib."""
    plt = pyplot()
    if plt is None or not rates:
        return False
    labels = group_labels(groups)
    seeds = len({r["seed"] for r in rates})
    fig, axes = plt.subplots(1, len(RATE_PANELS), figsize=(5 * len(RATE_PANELS), 4.2))
    for ax, (key, scale, name) in zip(axes, RATE_PANELS, strict=True):
        for g, label in labels.items():
            mine = [r for r in rates if r["person_group"] == g]
            windows = sorted({(r["window"], r["round_from"], r["round_to"]) for r in mine})
            xs, means, lows, highs = [], [], [], []
            for w, start, end in windows:
                values = [scale * r[key] for r in mine if r["window"] == w and r[key] is not None]
                m, lo, hi = _interval(values)
                xs.append((start + end) / 2 + 1)
                means.append(m)
                lows.append(lo)
                highs.append(hi)
            (line,) = ax.plot(xs, means, marker=".", label=label)
            if scale == 100:  # a share's interval is drawn within what a share can be
                lows, highs = [_within(x) for x in lows], [_within(x) for x in highs]
            ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set(xlabel="round (middle of its window)", title=name)
        ax.grid(alpha=0.3)
        if key != "mean_saving_pct":
            ax.set_ylim(-5, 105)
    axes[0].legend(fontsize=8)
    window = rates[0]["round_to"] - rates[0]["round_from"] + 1
    save_figure(plt, fig, path, f"{title}: rates per window of {window} rounds, mean and 95% "
                f"interval over {seeds} seeds")  # fmt: skip
    return True


def write_sweep_group_plot(
    rows: Sequence[Row], keys: Sequence[str], path: Path, title: str
) -> bool:
    """A sweep per group of people: one panel per figure, the first swept key on the x-axis,
    one line per group (and value of the other keys), the mean over seeds with its 95%
    interval as error bars. False without matplotlib."""
    plt = pyplot()
    if plt is None or not rows:
        return False
    x_key, others = keys[0], list(keys[1:])
    xs = list(dict.fromkeys(repr(r[x_key]) for r in rows))
    ticks = list(dict.fromkeys(str(r[x_key]) for r in rows))
    labels = group_labels(rows)
    lines = list(dict.fromkeys((r["person_group"], *(repr(r[k]) for k in others)) for r in rows))
    fig, axes = plt.subplots(1, len(SWEEP_GROUP_PANELS),
                             figsize=(4.4 * len(SWEEP_GROUP_PANELS), 4.2))  # fmt: skip
    for ax, (key, scale, name) in zip(axes, SWEEP_GROUP_PANELS, strict=True):
        for n, line in enumerate(lines):
            mine = {
                repr(r[x_key]): r for r in rows
                if (r["person_group"], *(repr(r[k]) for k in others)) == line
                and r[key] is not None
            }  # fmt: skip
            at = [i for i, x in enumerate(xs) if x in mine]
            picked: list[Any] = [mine[xs[i]] for i in at]
            mean = [scale * r[key] for r in picked]
            low = [m - scale * r[f"{key}_ci95_low"] for m, r in zip(mean, picked, strict=True)]
            high = [scale * r[f"{key}_ci95_high"] - m for m, r in zip(mean, picked, strict=True)]
            told = ", ".join(f"{k}={v}" for k, v in zip(others, line[1:], strict=True))
            name_of = labels[int(line[0])] + (f", {told}" if told else "")
            dodge = 0.06 * (n - (len(lines) - 1) / 2)  # so that intervals do not hide others
            ax.errorbar([i + dodge for i in at], mean, yerr=[low, high], marker="o", capsize=3,
                        label=name_of)  # fmt: skip
        ax.set_xticks(range(len(xs)), ticks)
        ax.set(xlabel=x_key, title=name)
        ax.grid(alpha=0.3)
        if scale == 100:
            ax.set_ylim(-5, 105)
    axes[0].legend(fontsize=7)
    save_figure(plt, fig, path, title + ", per group of people (mean and 95% interval over seeds)")
    return True
