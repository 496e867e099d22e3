"""The app's charts, as inline SVG made here (no script, no library, nothing fetched):
spending and savings over time, and offers per intent. Every label is escaped.

- **Spending**: the running total of what the person's confirmed orders cost, by day; a
  cancelled order does not count. **Savings**: the running total of how far under the
  intent's limit (``max_price``) each of those orders came. One currency per chart: the one
  most orders were in (the others are named under it, not converted).
- **Offers per intent**: for the last 12 intents, offers shown (filled) and dropped (hatched).
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

import schemas

from ._store import AgentStore

__all__ = ["offers_chart", "spending_chart"]

W, H, PAD = 560, 200, 36


def _frame(title: str, body: str, legend: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img"'
        f' aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 8}" y2="{H - PAD}" class="axis"/>'
        f'<line x1="{PAD}" y1="8" x2="{PAD}" y2="{H - PAD}" class="axis"/>'
        f"{body}{legend}</svg>"
    )


def spending_chart(receipts: list[dict[str, Any]], store: AgentStore) -> str:
    points: list[tuple[str, int, int, str]] = []  # day, spent, saved, currency
    for r in receipts:
        if r["status"] == "cancelled" or not r["signatures_verify"]:
            continue
        rec = next((x for x in store.receipts() if x.receipt_id == r["receipt"]), None)
        offer = store.offer(rec.offer_id) if rec else None
        intent = store.intent(rec.intent_id) if rec else None
        if offer is None or intent is None:
            continue
        limit = schemas.open_intent(intent.wire, now=None, replay=None).msg.max_price
        saved = limit.amount - offer.total_amount if limit.currency == offer.currency else 0
        points.append((r["created"][:10], offer.total_amount, max(saved, 0), offer.currency))
    title = "Spending and savings over time"
    if not points:
        return _frame(
            title, f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no orders yet</text>', ""
        )
    currency = Counter(p[3] for p in points).most_common(1)[0][0]
    days: dict[str, list[int]] = {}
    for day, spent, saved, cur in sorted(points):
        if cur == currency:
            d = days.setdefault(day, [0, 0])
            d[0] += spent
            d[1] += saved
    spent_total = saved_total = 0
    series: list[tuple[str, int, int]] = []
    for day, (s, v) in days.items():
        spent_total += s
        saved_total += v
        series.append((day, spent_total, saved_total))
    top = max(1, max(s for _, s, _ in series))
    n = len(series)

    def xy(i: int, value: int) -> str:
        x = PAD + (W - PAD - 16) * (i / max(1, n - 1) if n > 1 else 0.5)
        y = (H - PAD) - (H - PAD - 16) * value / top
        return f"{x:.1f},{y:.1f}"

    spent_line = " ".join(xy(i, s) for i, (_, s, _) in enumerate(series))
    saved_line = " ".join(xy(i, v) for i, (_, _, v) in enumerate(series))
    top_label = escape(str(schemas.Money(top, currency)))
    dots = "".join(
        f'<circle cx="{xy(i, s).split(",")[0]}" cy="{xy(i, s).split(",")[1]}" r="4" class="spent-dot"/>'
        f'<circle cx="{xy(i, v).split(",")[0]}" cy="{xy(i, v).split(",")[1]}" r="4" class="saved-dot"/>'
        for i, (_, s, v) in enumerate(series)
    )
    body = (
        dots + f'<polyline points="{spent_line}" class="spent" fill="none"/>'
        f'<polyline points="{saved_line}" class="saved" fill="none"/>'
        f'<text x="{PAD + 4}" y="18" class="label">{top_label}</text>'
        f'<text x="{PAD}" y="{H - PAD + 16}" class="label">{escape(series[0][0])}</text>'
        f'<text x="{W - 8}" y="{H - PAD + 16}" text-anchor="end" class="label">{escape(series[-1][0])}</text>'
    )
    others = sorted({p[3] for p in points} - {currency})
    legend = (
        f'<text x="{PAD}" y="{H - 6}" class="label"><tspan class="spent-key">■ spent</tspan>'
        f' <tspan class="saved-key">■ saved under your limit</tspan> ({escape(currency)}'
        f"{'; also ' + escape(', '.join(others)) + ', not shown' if others else ''})</text>"
    )
    return _frame(title, body, legend)


def offers_chart(intents: list[dict[str, Any]]) -> str:
    title = "Offers per intent"
    last = list(reversed(intents[:12]))
    if not last:
        return _frame(
            title, f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no intents yet</text>', ""
        )
    top = max(1, max(len(i["offers"]) + len(i["dropped"]) for i in last))
    slot = (W - PAD - 16) / len(last)
    bars = []
    for k, i in enumerate(last):
        shown_n, dropped_n = len(i["offers"]), len(i["dropped"])
        x = PAD + 4 + k * slot
        w = min(48.0, max(4.0, slot * 0.6))
        hs = (H - PAD - 16) * shown_n / top
        hd = (H - PAD - 16) * dropped_n / top
        y0 = H - PAD
        label = escape(f"{i['description']}: {shown_n} shown, {dropped_n} dropped")
        bars.append(
            f"<g><title>{label}</title>"
            f'<rect x="{x:.1f}" y="{y0 - hs:.1f}" width="{w:.1f}" height="{hs:.1f}" class="shown"/>'
            f'<rect x="{x:.1f}" y="{y0 - hs - hd:.1f}" width="{w:.1f}" height="{hd:.1f}" class="dropped"/>'
            f'<text x="{x + w / 2:.1f}" y="{y0 + 14}" text-anchor="middle" class="label">{shown_n}</text></g>'
        )
    legend = (
        f'<text x="{PAD}" y="{H - 6}" class="label"><tspan class="spent-key">■ shown</tspan>'
        f' <tspan class="dropped-key">■ dropped</tspan> (most: {top})</text>'
    )
    return _frame(title, "".join(bars), legend)
