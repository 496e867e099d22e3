"""The app after the order: what vendors said of each receipt (statuses, with the person's
one-click "it arrived"), and the relationships panel (per vendor what it holds, until when,
whether it acknowledged the person's last update and confirmed an erasure), with the two
changes the person makes there: new details once for all, and erasure.

``POST /api/profile`` (the details, checked by ``PersonDetails``), ``/api/forget``
(``{"vendor": id}``), ``/api/delivered`` (``{"receipt": id}``); every one a state change
behind the session's CSRF token (``_app``'s ``api(changes=True)``). Strings that came over
the bus are screened here (``shown``); the page sets them as text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import schemas

from ._agent import Agent
from ._app_guard import GuardError
from ._daemon import AgentDaemon
from ._home import HomeError
from ._profile import DETAIL_FIELDS, validated_details
from ._relationships import Holding
from ._screen import shown
from ._status import statuses_of

__all__ = ["aftercare_endpoints", "aftercare_state"]

Body = Callable[[Any], Awaitable[dict[str, Any]]]
_UPDATE = {"applied": "acknowledged", "pending": "NOT acknowledged", "": "none sent"}
_ERASURE = {
    "": "not asked",
    "asked": "asked, NOT confirmed",
    "erased": "confirmed",
    "purged": "the vendor holds nothing any more",
}


def _confirmation(agent: Agent, h: Holding) -> dict[str, str] | None:
    """The vendor's signed erasure confirmation, verified again against its key for the
    order: who signed it, when, and the digest of what it signed."""
    row = agent.store.db.execute(
        "SELECT confirmation_wire FROM relationship_erasures WHERE order_id = ?", (h.order_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    try:
        got = schemas.verify(
            bytes(row[0]), schemas.ErasureConfirmation,
            key=schemas.KeyRing.from_profile(h.order.profile.msg), now=None,
            audience=schemas.Audience(intent=h.intent_id, vendor=h.vendor_id),
        )  # fmt: skip
    except schemas.ProtocolError as err:
        return {"verifies": "no", "problem": shown(str(err), 200)}
    return {
        "verifies": "yes",
        "key": got.kid[:16],
        "signed": got.header.created.isoformat(),
        "digest": got.digest[:16],
    }


def _relationships(agent: Agent, now: datetime) -> list[dict[str, Any]]:
    vendors: dict[str, dict[str, Any]] = {}
    for h in agent.relationships():
        v = vendors.setdefault(
            h.vendor_id, {"vendor_id": h.vendor_id, "vendor": shown(h.vendor_name), "orders": []}
        )
        last = h.updates[-1] if h.updates else ""
        v["orders"].append(
            {
                "order": h.order_id,
                "fields": list(h.fields),
                "held_until": h.held_until.date().isoformat(),
                "passed": h.held_until <= now,
                "update": _UPDATE.get(last, last),
                "erasure": _ERASURE.get(h.erasure, h.erasure),
                "confirmation": _confirmation(agent, h) if h.erasure == "erased" else None,
            }
        )
    for v in vendors.values():
        v["holds"] = any(o["fields"] and o["erasure"] != "confirmed" for o in v["orders"])
    return sorted(vendors.values(), key=lambda v: str(v["vendor"]).lower())


def aftercare_state(agent: Agent, receipts: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The relationships panel, the person's details, and each receipt's statuses (added
    to ``receipts`` in place, as ``news``)."""
    news: dict[str, list[dict[str, Any]]] = {}
    for s in statuses_of(agent.store):
        news.setdefault(s.receipt_id, []).append(
            {
                "seq": s.seq, "state": s.state, "carrier": shown(s.carrier, 60),
                "tracking": shown(s.tracking, 60), "reason": shown(s.reason, 200),
                "received": s.received,
            }
        )  # fmt: skip
    for r in receipts:
        r["news"] = news.get(r["receipt"], [])
    p = agent.config.person
    return {
        "relationships": _relationships(agent, now),
        "person": {f: getattr(p, f) for f in DETAIL_FIELDS},
        "pending": agent.relationships_pending(),
    }


def aftercare_endpoints(
    daemon: AgentDaemon, body: Body, field_of: Callable[..., Any]
) -> dict[str, Callable[[Any], Awaitable[dict[str, Any]]]]:
    """The handlers, by path, for ``_app`` to wrap as state-changing API calls."""
    agent = daemon.agent

    async def profile(request: Any) -> dict[str, Any]:
        data = await body(request)
        fields = agent.config.person.model_dump()
        given = {k: v for k, v in data.items() if k in DETAIL_FIELDS}
        if not given or set(data) - set(DETAIL_FIELDS):
            raise GuardError(400, f"expected some of {list(DETAIL_FIELDS)}, got {sorted(data)}")
        if isinstance(given.get("address"), str):
            given["address"] = [ln.strip() for ln in given["address"].splitlines() if ln.strip()]
        if isinstance(given.get("country"), str):
            given["country"] = given["country"].strip().upper()
        try:
            details = validated_details({**fields, **given})
        except HomeError as exc:
            raise GuardError(400, str(exc)) from None
        got = await agent.change_details(details)
        daemon.rounds.backoff.reset()  # what stays unanswered is retried soon
        return {
            "changed": got.fields,
            "sent": len(got.sent),
            "acknowledged": sum(1 for h in got.sent if h.updates and h.updates[-1] == "applied"),
            "unsigned": len(got.unsigned),
        }

    async def forget(request: Any) -> dict[str, Any]:
        got = await agent.forget(field_of(await body(request), "vendor"))
        daemon.rounds.backoff.reset()
        return {"vendor": shown(got.vendor_name), "confirmed": got.confirmed}

    async def delivered(request: Any) -> dict[str, Any]:
        got = agent.confirm_delivered(field_of(await body(request), "receipt"))
        return {
            "vendor": shown(got.rated.receipt.vendor_name),
            "trust": got.rated.trust.describe(),
            "vendor_said": got.vendor_said,
        }

    return {"/api/profile": profile, "/api/forget": forget, "/api/delivered": delivered}
