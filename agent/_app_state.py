"""What the app shows, as JSON: intents with their offers (rank, score, reasons) and what was
dropped and why, receipts with their verification and state, each vendor's trust with its
evidence, the standing terms, notices, and the charts (``_charts``).

Every string that came over the bus goes through :func:`shown` here; the page then puts
text in with ``textContent`` only (never as HTML), and the charts escape what they draw, so
a vendor's name can neither forge a line nor inject markup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

import schemas

from ._agent import Agent
from ._app_aftercare import aftercare_state
from ._charts import offers_chart, spending_chart
from ._render import receipt_rows
from ._screen import shown
from ._watching import WatchBook

__all__ = ["app_state"]


def _offer(o: Any, accepted: set[str], now: datetime) -> dict[str, Any]:
    return {
        "expired": datetime.fromisoformat(o.expires) <= now,
        "id": o.id,
        "vendor": shown(o.vendor_name),
        "vendor_id": o.vendor_id,
        "total": str(schemas.Money(o.total_amount, o.currency)),
        "delivery_by": o.delivery_by,
        "expires": o.expires,
        "rank": o.rank,
        "score": round(o.score, 3),
        "reasons": [shown(r, 200) for r in o.reasons],
        "received": o.received,
        "accepted": o.id in accepted,
    }


def _trust(agent: Agent, now: datetime) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    for o in agent.store.offers():
        names[o.vendor_id] = shown(o.vendor_name)
    evidence: dict[str, list[dict[str, Any]]] = {}
    for r in agent.store.all_outcomes():
        evidence.setdefault(r["vendor_id"], []).append(
            {"kind": r["kind"], "positive": r["positive"], "negative": r["negative"], "at": r["at"]}
        )
    out = []
    for vid in sorted(names, key=lambda v: names[v].lower()):
        t = agent.trust.score(vid, now)
        out.append(
            {
                "vendor_id": vid,
                "vendor": names[vid],
                "score": round(t.value, 3),
                "new": t.new,
                "describe": shown(t.describe(), 300),
                "evidence": evidence.get(vid, []),
            }
        )
    return out


def app_state(agent: Agent, book: WatchBook | None, now: datetime) -> dict[str, Any]:
    store = agent.store
    accepted = {a["offer_id"] for a in store.rows("accepts")}
    watches = (
        {
            w.intent_id: w.state
            for w in book.watches(
                ("casting", "open", "fulfilled", "expired", "cancelled", "failed")
            )
        }
        if book
        else {}
    )
    intents = []
    for h in reversed(agent.history()):
        i = h.intent
        offers = sorted(h.offers, key=lambda o: (o.rank is None, -o.score))
        intents.append(
            {
                "id": i.id,
                "description": shown(i.description),
                "category": i.category,
                "created": i.created,
                "expires": i.expires,
                "watch": watches.get(i.id),
                "open": watches.get(i.id) in ("casting", "open"),
                "offers": [
                    {**_offer(o, accepted, now), "rank": n}  # its place as the list stands now
                    for n, o in enumerate((o for o in offers if o.rank), 1)
                ],
                "dropped": [
                    {
                        "vendor": shown(d.vendor_name or "unknown sender"),
                        "reason": shown(d.reason, 80),
                        "detail": shown(d.detail, 200),
                    }
                    for d in h.dropped
                ],
            }
        )
    receipts = receipt_rows(agent.receipts())
    after = aftercare_state(agent, receipts, now)
    cfg = agent.config
    return {
        **after,
        "now": now.isoformat(),
        "categories": list(schemas.CATEGORIES),
        "intents": intents,
        "receipts": receipts,
        "trust": _trust(agent, now),
        "terms": {
            "agreement": cfg.agreement,
            "disclose": list(cfg.disclose),
            "roster": sorted(schemas.ROSTER),
            "clauses": msgspec.to_builtins(
                schemas.expand_terms(schemas.Terms(agreement=cfg.agreement))
            )
            if cfg.agreement
            else {},
        },
        "notices": [
            {"id": n.id, "at": n.at, "intent": n.intent_id, "kind": n.kind, "body": n.body}
            for n in (book.notices() if book else [])
        ][-50:],
        "charts": {
            "spending": spending_chart(receipts, store),
            "offers": offers_chart(intents),
        },
    }
