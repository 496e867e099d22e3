"""What each vendor the person bought from holds about them, changed once for all, and
erased on request.

What a vendor holds is read from the person's own verified records: the disclosure inside
each order's signed acceptance, kept until the retention both sides' terms allow (the
shorter of the intent's ``data_retention_days`` and the vendor's, counted from the receipt).
Updates and erasure requests, and the vendors' signed answers, are kept in two tables of
the agent's store beside the order they are bound to (``relationship_updates``,
``relationship_erasures``, in the export too); each request is stored before it is sent,
and re-sent as the same bytes until its answer verifies. The exchanges are ``_updating``
and ``_forgetting``; this module reads what they stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

import schemas
from runtime import NoResponders

from ._profile import DETAIL_FIELDS
from ._rereading import check_receipt, person_key
from ._session import AgentSession
from ._store import AgentStore

__all__ = [
    "Holding",
    "ask_vendor",
    "has_pending",
    "holdings",
    "relationship_problems",
    "seal_to",
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


def seal_to(h: Holding) -> str:
    """The vendor's seal key for this order: the one that goes with its receipt's signer."""
    return schemas.seal_key_for(h.order.profile.msg, h.order.receipt.kid)


async def ask_vendor(
    session: AgentSession, subject: str, sealed: bytes, per_try: float
) -> bytes | None:
    """One request to a vendor, bounded by ``per_try`` seconds; None when nobody answers."""
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


def unconfirmed_erasures(store: AgentStore) -> dict[str, int]:
    """Per vendor, erasure requests it has not confirmed (not answered, or refused): an
    input to trust, for as long as it lasts (a later confirmation removes it)."""
    rows = store.db.execute(
        "SELECT vendor_id, COUNT(*) FROM relationship_erasures WHERE status != 'erased'"
        " GROUP BY vendor_id"
    ).fetchall()
    return {v: int(n) for v, n in rows}
