"""From round records to what a researcher reads: a summary, CSV tables and plots."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ._market import RoundRecord
from ._tables import write_table

__all__ = [
    "batch_table",
    "format_table",
    "pyplot",
    "save_figure",
    "summarize",
    "write_batch_plot",
    "write_plot",
    "write_rounds",
    "write_summary",
    "write_sweep_plot",
]

KINDS = ("honest", "bait", "breach", "hostile", "unknown")


def _pct(n: float, d: float) -> float:
    return round(100 * n / d, 1) if d else 0.0


def _bad_share(records: Sequence[RoundRecord]) -> float:
    """Orders that never arrived, as a share of the orders placed."""
    orders = sum(1 for r in records if r.winner_kind)
    return round(sum(r.outcome == "not_delivered" for r in records) / orders, 4) if orders else 0.0


def summarize(
    records: Sequence[RoundRecord],
    hostile_sent: dict[str, int],
    attacks: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One run's figures. ``hostile_shown`` must be 0: it counts hostile offers a person saw.
    ``attacks``: what the market's attacks made and cost (``Market.attack_summary``)."""
    n = len(records)
    half = n // 2
    wins = Counter(r.winner_kind for r in records if r.winner_kind)
    bait_early = sum(r.winner_kind == "bait" for r in records[:half])
    bait_late = sum(r.winner_kind == "bait" for r in records[half:])
    collect = sorted(r.collect_ms for r in records)
    paid = [r.saving_pct for r in records if r.paid]
    return {
        "seed": records[0].seed if records else None,
        "rounds": n,
        "intents_with_offers_pct": _pct(sum(r.offers > 0 for r in records), n),
        "mean_offers": round(statistics.fmean(r.offers for r in records), 2) if n else 0.0,
        "mean_shown": round(statistics.fmean(r.shown for r in records), 2) if n else 0.0,
        "accepted": sum(wins.values()),
        "wins_by_kind": dict(sorted(wins.items())),
        "wins_by_group": {
            str(g): dict(
                sorted(
                    Counter(
                        r.winner_kind for r in records if r.group == g and r.winner_kind
                    ).items()
                )
            )
            for g in sorted({r.group for r in records})
        },
        "bad_share": _bad_share(records),
        **{
            f"bad_share_q{q + 1}": _bad_share(records[q * n // 4 : (q + 1) * n // 4])
            for q in range(4)
        },
        "by_group": {
            str(g): {
                "orders": sum(1 for r in records if r.group == g and r.winner_kind),
                "bad_orders": sum(
                    1 for r in records if r.group == g and r.outcome == "not_delivered"
                ),
                "bad_share": _bad_share([r for r in records if r.group == g]),
                **{
                    f"bad_share_q{q + 1}": _bad_share(
                        [r for r in records[q * n // 4 : (q + 1) * n // 4] if r.group == g]
                    )
                    for q in range(4)
                },
            }
            for g in sorted({r.group for r in records})
        },
        "delivered": sum(r.outcome == "delivered" for r in records),
        "not_delivered": sum(r.outcome == "not_delivered" for r in records),
        "bait_win_pct_first_half": _pct(bait_early, half),
        "bait_win_pct_second_half": _pct(bait_late, n - half),
        "mean_saving_pct": round(statistics.fmean(paid), 2) if paid else 0.0,
        "dropped_unverified": sum(r.dropped_unverified for r in records),
        "dropped_terms": sum(r.dropped_terms for r in records),
        "hostile_sent": sum(hostile_sent.values()),
        "hostile_sent_by_kind": dict(sorted(hostile_sent.items())),
        "hostile_shown": sum(r.hostile_shown for r in records),
        "collect_ms_p50": round(collect[n // 2], 2) if n else 0.0,
        "collect_ms_p95": round(collect[min(n - 1, int(n * 0.95))], 2) if n else 0.0,
        "identities_won": len({r.winner_vendor for r in records if r.winner_vendor}),
        "newest_generation": max((r.winner_generation for r in records), default=-1),
        **(attacks or {"fake_praise": 0, "smears": 0, "smear_spent": 0}),
    }


def write_rounds(records: Sequence[RoundRecord], path: Path) -> None:
    """``path`` (rounds.csv) and, when pyarrow imports, its Parquet twin beside it."""
    write_table([msgspec.structs.asdict(r) for r in records], path.parent, path.stem,
                columns=list(RoundRecord.__struct_fields__))  # fmt: skip


def format_table(rows: Sequence[tuple[str, object]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def batch_table(summary: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Per figure of a batch's one summary row: the mean over the seeds and the half-width of
    its 95% confidence interval (Student's t)."""
    row = summary[0]
    return [
        (k, f"{v:.2f} ± {v - row[f'{k}_ci95_low']:.2f}  (95% CI over {row['seeds']} seeds)")
        for k, v in row.items()
        if not k.endswith(("_ci95_low", "_ci95_high")) and k != "seeds" and v is not None
    ]


def pyplot() -> Any:
    """matplotlib's pyplot on a file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plot(records: Sequence[RoundRecord], path: Path, title: str) -> bool:
    """Cumulative wins by vendor kind, and collection latency, against rounds. Returns False
    (and writes nothing) when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False

    rounds = [r.round + 1 for r in records]
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    for kind in KINDS:
        cum, series = 0, []
        for r in records:
            cum += r.winner_kind == kind
            series.append(cum)
        if cum:
            ax[0].plot(rounds, series, label=kind)
    ax[0].set(xlabel="round", ylabel="orders won (cumulative)", title="Who wins the orders")
    ax[0].legend(loc="upper left", fontsize=8)
    ax[1].plot(rounds, [r.collect_ms for r in records], ".", alpha=0.6)
    ax[1].set(xlabel="round", ylabel="ms", title="Intent to ranked list")
    for a in ax:
        a.grid(alpha=0.3)
    save_figure(plt, fig, path, title)
    return True


def write_batch_plot(summaries: Sequence[dict[str, Any]], path: Path, title: str) -> bool:
    """Per seed: orders won by each kind of vendor (stacked), and the bait's share of orders
    in the first and second half of the run. False (nothing written) without matplotlib."""
    plt = pyplot()
    if plt is None:
        return False

    seeds = [str(s["seed"]) for s in summaries]
    x = range(len(seeds))
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    bottom = [0.0] * len(seeds)
    for kind in KINDS:
        counts = [float(s["wins_by_kind"].get(kind, 0)) for s in summaries]
        if any(counts):
            ax[0].bar(x, counts, bottom=bottom, label=kind)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax[0].set(xlabel="seed", ylabel="orders won", title="Who wins the orders, per seed")
    ax[1].bar([i - 0.2 for i in x], [s["bait_win_pct_first_half"] for s in summaries], 0.4,
              label="first half")  # fmt: skip
    ax[1].bar([i + 0.2 for i in x], [s["bait_win_pct_second_half"] for s in summaries], 0.4,
              label="second half")  # fmt: skip
    ax[1].set(xlabel="seed", ylabel="% of orders", title="Orders won by the bait vendor")
    for a in ax:
        a.set_xticks(list(x), seeds)
        a.grid(alpha=0.3, axis="y")
        a.legend(fontsize=8)
    save_figure(plt, fig, path, title)
    return True


def write_summary(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")


SWEEP_FIGURES = (
    ("accepted", "orders"),
    ("not_delivered", "orders not delivered"),
    ("bait_win_pct_second_half", "% of orders to bait, second half"),
    ("mean_saving_pct", "mean saving, %"),
)


def write_sweep_plot(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], path: Path, title: str
) -> bool:
    """One panel per figure: the first swept key on the x-axis, the mean over seeds with its
    95% interval as error bars, one line per value of the other keys. False without
    matplotlib."""
    plt = pyplot()
    if plt is None:
        return False
    x_key, others = keys[0], list(keys[1:])
    xs = list(dict.fromkeys(r[x_key] for r in rows))
    fig, axes = plt.subplots(1, len(SWEEP_FIGURES), figsize=(4.2 * len(SWEEP_FIGURES), 4))
    lines = list(dict.fromkeys(tuple(r[k] for k in others) for r in rows))
    for ax, (fig_key, label) in zip(axes, SWEEP_FIGURES, strict=True):
        for line in lines:
            mine = {r[x_key]: r for r in rows if tuple(r[k] for k in others) == line}
            at = [i for i, x in enumerate(xs) if x in mine]
            mean = [mine[xs[i]][fig_key] for i in at]
            low = [m - mine[xs[i]][f"{fig_key}_ci95_low"] for i, m in zip(at, mean, strict=True)]
            high = [mine[xs[i]][f"{fig_key}_ci95_high"] - m for i, m in zip(at, mean, strict=True)]
            name = ", ".join(f"{k}={v}" for k, v in zip(others, line, strict=True)) or None
            ax.errorbar(at, mean, yerr=[low, high], marker="o", capsize=3, label=name)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set(xlabel=x_key, title=label)
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
    save_figure(plt, fig, path, title + " (mean and 95% interval over seeds)")
    return True
