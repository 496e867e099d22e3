"""What each vendor the person bought from holds about them, changed once for all, and
erased on request.

What a vendor holds is read from the person's own verified records: the disclosure inside
each order's signed acceptance, kept until the retention both sides' terms allow (the
shorter of the intent's ``data_retention_days`` and the vendor's, counted from the receipt).
Updates and erasure requests, and the vendors' signed answers, are kept in two tables of
the agent's store beside the order they are bound to (``relationship_updates``,
``relationship_erasures``, in the export too); each request is stored before it is sent,
and re-sent as the same bytes until its answer verifies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

import schemas
from runtime import NoResponders

from ._home import PersonDetails
from ._profile import DETAIL_FIELDS
from ._rereading import check_receipt, person_key
from ._session import AgentSession, utcnow
from ._store import AgentStore, KeysNotHeld

__all__ = [
    "Holding",
    "forget_vendor",
    "has_pending",
    "holdings",
    "relationship_problems",
    "retry_pending",
    "send_updates",
    "unconfirmed_erasures",
]

log = structlog.get_logger("intentcast.agent")


@dataclass
class Holding:
    """One order's details as a vendor holds them."""

    vendor_id: str
    vendor_name: str
    order_id: str
    intent_id: str
    fields: list[str]
    held_until: datetime
    order: schemas.ArchivedOrder
    held: dict[str, object] = field(default_factory=dict)  # the values it holds, as we know
    updates: list[str] = field(default_factory=list)  # status of each update sent
    erasure: str = ""  # "", asked, erased, refused; purged: the vendor said it holds nothing


def holdings(store: AgentStore) -> list[Holding]:
    """Every verified order's disclosed details, oldest first."""
    out = []
    for row in store.receipts():
        checked = check_receipt(store, row)
        if checked.order is None:
            continue
        o = checked.order
        disclosed = o.accept.msg.disclosure
        fields = [f for f in DETAIL_FIELDS if getattr(disclosed, f)]
        days = o.offer.msg.terms.data_retention_days
        if (clause := o.intent.msg.terms.data_retention_days) is not None:
            days = min(days, clause.value)
        h = Holding(
            row.vendor_id, row.vendor_name, row.order_id, row.intent_id, fields,
            o.receipt.header.created + timedelta(days=days), o,
        )  # fmt: skip
        h.held = {f: getattr(disclosed, f) for f in fields}
        updates = store.db.execute(
            "SELECT status, update_wire FROM relationship_updates WHERE order_id = ? ORDER BY id",
            (row.order_id,),
        ).fetchall()
        h.updates = [status for status, _ in updates]
        gone = store.db.execute(
            "SELECT 1 FROM relationship_updates WHERE order_id = ? AND status = 'refused'"
            " AND reason = 'erased' LIMIT 1",
            (row.order_id,),
        ).fetchone()
        for status, wire in updates:
            if status == "applied":  # our own frame, read back against this order's key
                u = _own_update(wire, o)
                if u is not None:
                    h.held.update({f: getattr(u.details, f) for f in u.changed if f in h.held})
        e = store.db.execute(
            "SELECT status FROM relationship_erasures WHERE order_id = ?", (row.order_id,)
        ).fetchone()
        h.erasure = e[0] if e else ("purged" if gone else "")
        out.append(h)
    return out


def _own_update(wire: bytes, o: schemas.ArchivedOrder) -> schemas.DetailsUpdate | None:
    """A stored update, verified against the intent key of its order and bound to it."""
    try:
        u = schemas.verify(wire, schemas.DetailsUpdate, key=person_key(o.intent.msg), now=None)
    except schemas.ProtocolError as err:
        log.warning("details_update.unreadable", order=o.receipt.msg.order_id, code=err.code)
        return None
    m = u.msg
    ok = (m.order_id, m.receipt_hash) == (o.receipt.msg.order_id, o.receipt.digest)
    return m if ok else None


def relationship_problems(store: AgentStore) -> list[str]:
    """What does not verify in the stored updates, erasure requests and their answers (each
    against the key it must come from, bound to its order and request): for an import."""
    by_order = {h.order_id: h for h in holdings(store)}
    problems = []
    rows: list[tuple[str, str, bytes, bytes | None, type[Any], type[Any]]] = [
        ("update", r["order_id"], r["update_wire"], r["ack_wire"], schemas.DetailsUpdate,
         schemas.DetailsAck)
        for r in store.rows("relationship_updates")
    ] + [
        ("erasure", r["order_id"], r["request_wire"], r["confirmation_wire"],
         schemas.ErasureRequest, schemas.ErasureConfirmation)
        for r in store.rows("relationship_erasures")
    ]  # fmt: skip
    for kind, order_id, wire, answer, request_type, answer_type in rows:
        h = by_order.get(order_id)
        if h is None:
            problems.append(f"{kind} of order {order_id[:8]}: no verified receipt for that order")
            continue
        try:
            req = schemas.verify(wire, request_type, key=person_key(h.order.intent.msg), now=None)
            if (req.msg.order_id, req.msg.receipt_hash) != (order_id, h.order.receipt.digest):
                raise ValueError("it is bound to another order")
            if answer is not None:
                got = schemas.verify(
                    answer, answer_type, key=schemas.KeyRing.from_profile(h.order.profile.msg),
                    now=None, audience=schemas.Audience(intent=h.intent_id, vendor=h.vendor_id),
                )  # fmt: skip
                m = got.msg
                bound = m.update_hash if kind == "update" else m.request_hash
                if bound != req.digest:
                    raise ValueError("its answer is bound to another request")
        except (schemas.ProtocolError, ValueError) as exc:
            problems.append(f"{kind} of order {order_id[:8]}: {exc}")
    return problems


def _seal_to(h: Holding) -> str:
    return schemas.seal_key_for(h.order.profile.msg, h.order.receipt.kid)


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
            secrets=secrets, seal_to=_seal_to(h), now=now,
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


async def _ask(session: AgentSession, subject: str, sealed: bytes, per_try: float) -> bytes | None:
    try:
        async with asyncio.timeout(per_try):
            return await session.live().request(subject, sealed)
    except (TimeoutError, NoResponders) as exc:
        log.info("relationship.no_answer", subject=subject, error=type(exc).__name__)
        return None


def has_pending(store: AgentStore) -> bool:
    """Whether an update or erasure request still waits for its vendor's answer."""
    q = (
        "SELECT 1 FROM relationship_updates WHERE status = 'pending' UNION ALL"
        " SELECT 1 FROM relationship_erasures WHERE status = 'asked' LIMIT 1"
    )
    return store.db.execute(q).fetchone() is not None


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
        reply = await _ask(
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
    erasures = store.db.execute(
        "SELECT order_id, request_wire, sealed FROM relationship_erasures WHERE status = 'asked'"
    ).fetchall()
    for order_id, wire, sealed in erasures:
        h = by_order.get(order_id)
        if h is None:
            continue
        asked += 1
        if await _erase_one(session, store, h, wire, sealed, per_try_seconds, clock):
            answered += 1
    return asked, answered


async def _erase_one(
    session: AgentSession,
    store: AgentStore,
    h: Holding,
    wire: bytes,
    sealed: bytes,
    per_try: float,
    clock: Callable[[], datetime],
) -> bool:
    reply = await _ask(session, schemas.vendor_subject(h.vendor_id, "erase"), sealed, per_try)
    if reply is None:
        return False
    try:
        conf = schemas.open_erasure_confirmation(
            reply, secrets=store.intent_secrets(h.intent_id), request_wire=wire,
            intent_id=h.intent_id, vendor_id=h.vendor_id,
            ring=schemas.KeyRing.from_profile(h.order.profile.msg), now=clock(),
        )  # fmt: skip
    except schemas.ProtocolError as err:
        log.warning("erasure_confirmation.rejected", order=h.order_id, code=err.code)
        return False
    with store.transaction():
        store.db.execute(
            "UPDATE relationship_erasures SET status = ?, reason = ?, confirmation_wire = ?"
            " WHERE order_id = ?",
            (conf.msg.status, conf.msg.reason, conf.wire, h.order_id),
        )
    log.info("erasure.confirmed", order=h.order_id, status=conf.msg.status)
    return conf.msg.status == "erased"


async def forget_vendor(
    session: AgentSession,
    store: AgentStore,
    vendor_id: str,
    *,
    per_try_seconds: float,
    clock: Callable[[], datetime] = utcnow,
) -> list[Holding]:
    """Store, then send, a signed erasure request for each order ``vendor_id`` holds details
    of (not already erased); the holdings afterwards, with their erasure status."""
    now = clock()
    mine = [h for h in holdings(store) if h.vendor_id == vendor_id and h.fields]
    for h in mine:
        if h.erasure in ("asked", "erased"):
            continue
        wire, sealed = schemas.make_erasure_request(
            order_id=h.order_id, intent_id=h.intent_id, vendor_id=vendor_id,
            receipt_hash=h.order.receipt.digest, secrets=store.intent_secrets(h.intent_id),
            seal_to=_seal_to(h), now=now,
        )  # fmt: skip
        with store.transaction():
            store.db.execute(
                "INSERT OR REPLACE INTO relationship_erasures (order_id, vendor_id, request_wire,"
                " sealed, created) VALUES (?, ?, ?, ?, ?)",
                (h.order_id, vendor_id, wire, sealed, now.isoformat()),
            )
    await retry_pending(session, store, per_try_seconds=per_try_seconds, clock=clock)
    return [h for h in holdings(store) if h.vendor_id == vendor_id and h.fields]


def unconfirmed_erasures(store: AgentStore) -> dict[str, int]:
    """Per vendor, erasure requests it has not confirmed (not answered, or refused): an
    input to trust, for as long as it lasts (a later confirmation removes it)."""
    rows = store.db.execute(
        "SELECT vendor_id, COUNT(*) FROM relationship_erasures WHERE status != 'erased'"
        " GROUP BY vendor_id"
    ).fetchall()
    return {v: int(n) for v, n in rows}
