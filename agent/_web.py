"""The person's history and receipts as one page with no script: the app serves it at
``/plain`` (behind the app's guards), and the tests read it. ``intentcast web`` itself now
opens the app (``_app``), served by the running agent."""

from __future__ import annotations

import html
from collections import Counter

import schemas

from ._agent import Agent
from ._render import receipt_rows
from ._screen import shown

__all__ = ["page"]

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}.ok{color:#176b2c}.bad{color:#a4161a}.muted{color:#777}h2{margin-top:2rem}"""


def page(agent: Agent) -> str:
    e = html.escape
    parts = [
        f"<!doctype html><meta charset=utf-8><title>intentcast: your agent</title><style>{_STYLE}</style>",
        "<h1>Your intentcast agent</h1><p class=muted>Everything here is on your own disk. Nothing on this page was sent anywhere.</p>",
    ]
    receipts = receipt_rows(agent.receipts())
    parts.append("<h2>Receipts</h2>")
    if receipts:
        parts.append("<table><tr><th>receipt<th>vendor<th>item<th>total<th>date<th>signatures")
        for r in receipts:
            ok = (
                "<span class=ok>verify</span>"
                if r["signatures_verify"]
                else "<span class=bad>DO NOT VERIFY</span>"
            )
            parts.append(
                f"<tr><td><code>{e(r['receipt'][:8])}</code><td>{e(shown(r['vendor']))}<td>{e(shown(r['item']))}<td>{e(r['total'])}<td>{e(r['created'][:10])}<td>{ok}"
            )
        parts.append("</table>")
    else:
        parts.append("<p class=muted>No receipts yet.</p>")
    parts.append("<h2>Intents and offers</h2>")
    for h in reversed(agent.history()):
        i = h.intent
        parts.append(
            f"<h3>{e(shown(i.description))} <span class=muted>({e(i.category)}, {e(i.created[:16])})</span></h3>"
        )
        mine = sorted(h.offers, key=lambda o: (o.rank is None, o.rank or 0))
        if mine:
            parts.append("<table><tr><th>#<th>offer<th>vendor<th>total<th>why")
            for o in mine:
                why = "; ".join(shown(x) for x in o.reasons)
                parts.append(
                    f"<tr><td>{o.rank or '-'}<td><code>{e(o.id[:8])}</code><td>{e(shown(o.vendor_name))}<td>{e(str(schemas.Money(o.total_amount, o.currency)))}<td>{e(why)}"
                )
            parts.append("</table>")
        dropped = h.dropped
        if dropped:
            unverified: Counter[str] = Counter()  # drops are kept as counts by reason
            for d in dropped:
                if d.reason.startswith("unverified:"):
                    unverified[d.reason] += d.count
            parts.append(
                "<p>Dropped:</p><ul>"
                + "".join(
                    f"<li>{e(shown(d.vendor_name or 'unknown sender'))}: {e(d.reason)}: <span class=muted>{e(shown(d.detail, 200))}</span>"
                    for d in dropped
                    if not d.reason.startswith("unverified:")
                )
                + "".join(
                    f"<li>{n} {e(reason)} (not shown: it did not verify)"
                    for reason, n in sorted(unverified.items())
                )
                + "</ul>"
            )
    return "".join(parts)
