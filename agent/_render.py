"""What the person reads: ranked offers with reasons, what was dropped and why, receipts."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import msgspec

import schemas

from ._accepting import AcceptResult
from ._collecting import Collected
from ._records import AcceptState, IntentHistory
from ._rereading import CheckedReceipt
from ._screen import shown

__all__ = ["receipt_rows", "render_accept", "render_history", "render_ranked", "render_receipts"]

_DROPS_LISTED = 20  # verified offers dropped, listed one by one; the rest as a count
_DROP_WORDS = {
    "breach": "in breach of your must-have terms",
    "over_budget": "over your budget",
    "untrusted": "below your trust threshold",
    "too_late": "arrives after your deadline",
    "duplicate": "duplicate",
    "unregistered": "not registered with a registrar you trust",
    "currency": "wrong currency",
    "wrong_quantity": "wrong quantity",
    "inconsistent": "inconsistent prices",
    "free": "priced at nothing",
    "implausible_date": "delivery date before the offer was made",
    "outside_delivery_area": "does not deliver to your region",
    "too_many_offers": "beyond the offers kept for one intent",
}


def _unverified(reason: str) -> bool:
    """Nothing of a reply that did not verify is shown: not its sender's name, not its text."""
    return reason.startswith("unverified:")


def _drop_json(
    reason: str, vendor: str | None, vendor_id: str | None, detail: str, count: int
) -> dict[str, Any]:
    if _unverified(reason):
        return {"reason": reason, "vendor": None, "vendor_id": None, "detail": "", "count": count}
    return {
        "reason": reason,
        "vendor": vendor and shown(vendor),
        "vendor_id": vendor_id,
        "detail": shown(detail, 200),
        "count": count,
    }


def _drop_label(reason: str) -> str:
    if _unverified(reason):
        return f"unverified ({reason.split(':', 1)[1].replace('_', ' ')})"
    return _DROP_WORDS.get(reason, reason)


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


def render_ranked(got: Collected, *, show: int, as_json: bool) -> str:
    intent = got.cast.intent
    if as_json:
        return json.dumps({
            "intent": intent.id,
            "offers": [
                {"rank": i + 1, "offer": r.offer.id, "vendor": shown(r.vendor_name), "vendor_id": r.offer.vendor_id,
                 "item": shown(r.offer.item.title), "total": str(r.offer.total_price),
                 "total_minor": r.offer.total_price.amount, "currency": r.offer.total_price.currency,
                 "delivery_by": r.offer.delivery_by.isoformat(), "trust": round(r.trust.value, 3),
                 "new_vendor": r.trust.new, "score": round(r.score, 4), "reasons": [shown(x, 200) for x in r.reasons]}
                for i, r in enumerate(got.ranked)
            ],
            "no_responders": got.no_responders,
            "dropped": [_drop_json(d.reason, d.vendor_name, d.vendor_id, d.detail, d.count) for d in got.dropped],
        }, indent=2)  # fmt: skip
    out = [
        f'Offers for "{shown(intent.want.description)}" (intent {intent.id[:8]}, up to {intent.max_price}, by {intent.wanted_by}):'
    ]
    if got.ranked:
        rows = [
            [
                str(i + 1),
                r.offer.id[:8],
                shown(r.vendor_name, 24),
                str(r.offer.total_price),
                str(r.offer.delivery_by),
                r.trust.describe(),
            ]
            for i, r in enumerate(got.ranked[:show])
        ]
        out.append(_table(rows, ["#", "offer", "vendor", "total", "arrives", "trust"]))
        out.append("")
        out.append("Why this order:")
        for i, r in enumerate(got.ranked[:show]):
            out.append(
                f"  {i + 1}. {shown(r.vendor_name)}: {shown(r.offer.item.title)}; "
                + "; ".join(shown(x) for x in r.reasons)
            )
        if len(got.ranked) > show:
            out.append(f"  ({len(got.ranked) - show} more; `intentcast history` lists all)")
        out.append("")
        out.append(f"Accept one with: intentcast accept {got.ranked[0].offer.id[:8]}")
    elif got.no_responders:
        out.append(
            f"  No vendor on this bus serves {intent.category} right now. Check --bus (or $INTENTCAST_BUS) names the shared bus."
        )
    else:
        out.append(
            "  No acceptable offers arrived. Try a longer --wait, a higher --max-price, or a later --by."
        )
    if got.dropped:
        out.append("")
        counts: Counter[str] = Counter()
        for d in got.dropped:
            counts[_drop_label(d.reason)] += d.count
        out.append(
            "Dropped (never shown as offers): " + ", ".join(f"{n} {k}" for k, n in counts.items())
        )
        listed = [d for d in got.dropped if not _unverified(d.reason)]
        for d in listed[:_DROPS_LISTED]:
            who = shown(d.vendor_name or "unknown sender", 24)
            times = f" (x{d.count})" if d.count > 1 else ""
            out.append(f"  - {who}: {_drop_label(d.reason)}{times}: {shown(d.detail, 200)}")
        if len(listed) > _DROPS_LISTED:
            out.append(
                f"  ({len(listed) - _DROPS_LISTED} more; `intentcast history --json` lists all)"
            )
    return "\n".join(out)


def render_accept(res: AcceptResult, *, as_json: bool) -> str:
    if as_json:
        r = res.receipt
        return json.dumps({
            "status": res.status, "reason": res.reason, "vendor": res.vendor_name,
            "repeated": res.repeated, "vendor_acknowledged": res.vendor_acknowledged,
            "countersignature_problem": shown(res.problem, 400),
            "receipt": None if r is None else {
                "id": r.msg.id, "order_id": r.msg.order_id, "item": r.msg.item.title,
                "quantity": r.msg.quantity, "total": str(r.msg.total_price),
                "delivery_by": r.msg.delivery_by.isoformat(), "hash": r.digest,
            },
        }, indent=2)  # fmt: skip
    who = shown(res.vendor_name)
    if res.status is not AcceptState.CONFIRMED or res.receipt is None:
        why = shown(res.reason, 200) if res.reason else "no reason given"
        return f"{who} declined the order: {why}. Pick another offer from `intentcast history`."
    rm = res.receipt.msg
    lines = [
        (
            "Already accepted; your receipt:"
            if res.repeated
            else f"Order confirmed by {who}. Receipt:"
        ),
        f"  receipt   {rm.id}",
        f"  order     {rm.order_id}",
        f"  item      {shown(rm.item.title)} (sku {shown(rm.item.sku, 40)}) x {rm.quantity}",
        f"  total     {rm.total_price}, paid by {shown(rm.payment_method, 40)}",
        f"  arrives   by {rm.delivery_by}",
        f"  binds     intent {rm.intent_hash[:12]}…, offer {rm.offer_hash[:12]}…, acceptance {rm.accept_hash[:12]}…",
        f"  signed    by {who} and by you; "
        + (
            "the vendor holds your countersignature."
            if res.vendor_acknowledged
            else "the vendor has not yet confirmed it holds your countersignature."
        ),
    ]
    if res.problem:
        lines.append(f"  note      {shown(res.problem, 400)}")
    return "\n".join(lines)


def receipt_rows(receipts: list[CheckedReceipt]) -> list[dict[str, Any]]:
    """Receipts as the person reads them; what is shown of one comes from its verified bytes,
    and nothing of one that does not verify but that it does not."""
    out = []
    for c in receipts:
        row, order = c.row, c.order
        r = order.receipt.msg if order is not None else None
        out.append(
            {
                "receipt": row.receipt_id,
                "order": row.order_id,
                "vendor": shown(row.vendor_name),
                "item": shown(r.item.title) if r is not None else "?",
                "total": str(r.total_price) if r is not None else "?",
                "created": row.created,
                "signatures_verify": c.verifies,
                "vendor_acknowledged": bool(row.vendor_acknowledged),
                "status": str(row.status),
            }
        )
    return out


def render_receipts(receipts: list[CheckedReceipt], *, as_json: bool) -> str:
    rows = receipt_rows(receipts)
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "No receipts yet. Accept an offer with `intentcast accept OFFER`."
    return _table(
        [
            [
                r["receipt"][:8],
                shown(r["vendor"], 24),
                shown(r["item"], 30),
                r["total"],
                r["created"][:10],
                r["status"],
                "yes" if r["signatures_verify"] else "NO",
            ]
            for r in rows
        ],
        ["receipt", "vendor", "item", "total", "date", "order", "verifies"],
    )


def render_history(history: list[IntentHistory], *, as_json: bool) -> str:
    if as_json:
        return json.dumps([
            {"intent": h.intent.id, "created": h.intent.created, "category": h.intent.category, "description": h.intent.description,
             "offers": [{"offer": o.id, "vendor": shown(o.vendor_name), "total_minor": o.total_amount, "currency": o.currency, "rank": o.rank, "reasons": [shown(x, 200) for x in o.reasons]} for o in h.offers],
             "dropped": [_drop_json(d.reason, d.vendor_name, d.vendor_id, d.detail, d.count) for d in h.dropped],
             "statuses": [{**msgspec.to_builtins(s), "carrier": shown(s.carrier, 60), "tracking": shown(s.tracking, 60), "reason": shown(s.reason, 200)} for s in h.statuses]}
            for h in history
        ], indent=2)  # fmt: skip
    if not history:
        return "No intents yet. Cast one with `intentcast want ...`."
    out = []
    for h in history:
        i = h.intent
        out.append(f"{i.created[:16]}  intent {i.id[:8]}  {i.category}: {shown(i.description)}")
        for o in sorted(h.offers, key=lambda o: (o.rank is None, o.rank or 0)):
            rank = f"#{o.rank}" if o.rank else "  -"
            out.append(
                f"    {rank:>3} offer {o.id[:8]}  {shown(o.vendor_name, 24):<24} {schemas.Money(o.total_amount, o.currency)!s:>14}"
            )
        if h.dropped:
            out.append(f"        {sum(d.count for d in h.dropped)} dropped")
        for st in h.statuses:
            said = " ".join(shown(x, 60) for x in (st.carrier, st.tracking, st.reason) if x)
            out.append(
                f"    order of receipt {st.receipt_id[:8]}: {st.state} {st.received[:16]}  {said}"
            )
    return "\n".join(out)
