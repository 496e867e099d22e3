"""The right to erasure: a signed request per order a vendor holds the person's details for,
stored before it is sent and re-sent until the vendor's signed confirmation verifies; the
confirmation is kept as evidence, and until it comes the vendor's trust pays for it
(``_trust``, via :func:`._relationships.unconfirmed_erasures`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

import schemas

from ._relationships import Holding, ask_vendor, holdings, seal_to
from ._session import AgentSession, utcnow
from ._store import AgentStore

__all__ = ["ask_erasures", "forget_vendor"]

log = structlog.get_logger("intentcast.agent")


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
            seal_to=seal_to(h), now=now,
        )  # fmt: skip
        store.outcomes_changed += 1  # an input to trust changes (see _trust)
        with store.transaction():
            store.db.execute(
                "INSERT OR REPLACE INTO relationship_erasures (order_id, vendor_id, request_wire,"
                " sealed, created) VALUES (?, ?, ?, ?, ?)",
                (h.order_id, vendor_id, wire, sealed, now.isoformat()),
            )
    by_order = {h.order_id: h for h in holdings(store)}
    await ask_erasures(session, store, by_order, per_try_seconds=per_try_seconds, clock=clock)
    return [h for h in holdings(store) if h.vendor_id == vendor_id and h.fields]


async def ask_erasures(
    session: AgentSession,
    store: AgentStore,
    by_order: dict[str, Holding],
    *,
    per_try_seconds: float,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[int, int]:
    """Send every erasure request not yet confirmed (the same bytes again); a verified
    confirmation is stored. (asked, confirmed)."""
    asked = answered = 0
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
    reply = await ask_vendor(session, schemas.vendor_subject(h.vendor_id, "erase"), sealed, per_try)
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
    store.outcomes_changed += 1
    with store.transaction():
        store.db.execute(
            "UPDATE relationship_erasures SET status = ?, reason = ?, confirmation_wire = ?"
            " WHERE order_id = ?",
            (conf.msg.status, conf.msg.reason, conf.wire, h.order_id),
        )
    log.info("erasure.confirmed", order=h.order_id, status=conf.msg.status)
    return conf.msg.status == "erased"
