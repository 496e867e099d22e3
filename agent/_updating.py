"""Changing the person's details once for all: a signed update per order whose vendor still
holds the old values, stored before it is sent, re-sent as the same bytes until the
vendor's signed acknowledgement verifies (``retry_pending`` also asks again the erasures
``_forgetting`` is waiting on)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import structlog

import schemas

from ._forgetting import ask_erasures
from ._home import PersonDetails
from ._profile import DETAIL_FIELDS
from ._relationships import Holding, ask_vendor, holdings, seal_to
from ._session import AgentSession, utcnow
from ._store import AgentStore, KeysNotHeld

__all__ = ["retry_pending", "send_updates"]

log = structlog.get_logger("intentcast.agent")


async def send_updates(
    session: AgentSession,
    store: AgentStore,
    details: PersonDetails,
    *,
    per_try_seconds: float,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[list[Holding], list[Holding]]:
    """Store, then send, a signed update to each order whose vendor still holds (within its
    retention, not erased) a field whose value is no longer ``details``'s: of those fields
    only, and superseding an update of that order still unanswered. The holdings sent to, and
    those that needed one but whose intent keys this home does not hold."""
    now = clock()
    new = schemas.Disclosure(**{f: getattr(details, f) for f in DETAIL_FIELDS})
    sent: list[Holding] = []
    unsigned: list[Holding] = []
    for h in holdings(store):
        fields = [f for f in h.fields if h.held[f] != getattr(new, f)]
        if not fields or h.held_until <= now or h.erasure in ("erased", "purged"):
            continue
        r = h.order.receipt
        try:
            secrets = store.intent_secrets(h.intent_id)
        except KeysNotHeld:  # imported without keys: this home cannot sign for that order
            log.warning("details.unsigned", order=h.order_id, vendor=h.vendor_id)
            unsigned.append(h)
            continue
        wire, sealed = schemas.make_details_update(
            order_id=h.order_id, intent_id=h.intent_id, vendor_id=h.vendor_id,
            receipt_hash=r.digest, changed=fields,
            details=schemas.Disclosure(**{f: getattr(new, f) for f in fields}),
            secrets=secrets, seal_to=seal_to(h), now=now,
        )  # fmt: skip
        with store.transaction():
            store.db.execute(
                "UPDATE relationship_updates SET status = 'superseded'"
                " WHERE order_id = ? AND status = 'pending'",
                (h.order_id,),
            )
            store.db.execute(
                "INSERT INTO relationship_updates (order_id, vendor_id, fields, update_wire,"
                " sealed, created) VALUES (?, ?, ?, ?, ?, ?)",
                (h.order_id, h.vendor_id, json.dumps(fields), wire, sealed, now.isoformat()),
            )
        sent.append(h)
    await retry_pending(session, store, per_try_seconds=per_try_seconds, clock=clock)
    return sent, unsigned


async def retry_pending(
    session: AgentSession,
    store: AgentStore,
    *,
    per_try_seconds: float,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[int, int]:
    """Send every update and erasure request not yet answered (the same bytes again); a
    verified answer is stored. (asked, answered)."""
    by_order = {h.order_id: h for h in holdings(store)}
    asked = answered = 0
    pending = store.db.execute(
        "SELECT id, order_id, update_wire, sealed FROM relationship_updates"
        " WHERE status = 'pending' ORDER BY id"
    ).fetchall()
    for uid, order_id, wire, sealed in pending:
        h = by_order.get(order_id)
        if h is None:
            continue
        asked += 1
        reply = await ask_vendor(
            session, schemas.vendor_subject(h.vendor_id, "details"), sealed, per_try_seconds
        )
        if reply is None:
            continue
        try:
            ack = schemas.open_details_ack(
                reply, secrets=store.intent_secrets(h.intent_id), update_wire=wire,
                intent_id=h.intent_id, vendor_id=h.vendor_id,
                ring=schemas.KeyRing.from_profile(h.order.profile.msg), now=clock(),
            )  # fmt: skip
        except schemas.ProtocolError as err:
            log.warning("details_ack.rejected", order=order_id, code=err.code, error=str(err))
            continue
        with store.transaction():
            store.db.execute(
                "UPDATE relationship_updates SET status = ?, reason = ?, ack_wire = ? WHERE id = ?",
                (ack.msg.status, ack.msg.reason, ack.wire, uid),
            )
        answered += 1
        log.info("details.acknowledged", order=order_id, status=ack.msg.status)
    more_asked, more_answered = await ask_erasures(
        session, store, by_order, per_try_seconds=per_try_seconds, clock=clock
    )
    return asked + more_asked, answered + more_answered
