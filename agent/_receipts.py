"""Receipts after the order: the person's countersignature delivered to the vendor (and
re-delivered on sync), and every stored receipt re-read for the person to look at."""

from __future__ import annotations

import asyncio
import json

import structlog

import schemas
from runtime import NoResponders

from ._records import ReceiptRow
from ._rereading import CheckedReceipt, check_receipt
from ._session import AgentSession
from ._store import AgentStore

__all__ = ["check_all", "deliver_countersignature", "sync_receipts"]

log = structlog.get_logger("intentcast.agent")


def check_all(store: AgentStore) -> list[CheckedReceipt]:
    """Every stored receipt, re-read; those that do not verify stop counting for trust."""
    checked = [check_receipt(store, r) for r in store.receipts()]
    store.set_unverified(frozenset(c.row.receipt_id for c in checked if not c.verifies))
    for c in checked:
        if not c.verifies:
            log.warning("receipt.unverified", receipt=c.row.receipt_id, problem=c.problem)
    return checked


async def deliver_countersignature(
    session: AgentSession, store: AgentStore, receipt: ReceiptRow, per_try_seconds: float = 5.0
) -> bool:
    """Send the stored countersignature to the vendor (sealed afresh) and record its
    acknowledgement. Safe to repeat: the vendor answers a copy it already keeps. A receipt
    that does not verify is not delivered (there is no vendor key to seal it to)."""
    checked = check_receipt(store, receipt)
    if checked.order is None:
        log.warning(
            "countersignature.withheld", receipt=receipt.receipt_id, problem=checked.problem
        )
        return False
    profile, r = checked.order.profile.msg, checked.order.receipt
    seal_to = schemas.seal_key_for(profile, r.kid)
    sealed = schemas.seal(seal_to, schemas.pack(receipt.countersignature_wire))
    subject = schemas.vendor_subject(profile.vendor_id, "receipt")
    bus = session.live()
    try:
        async with asyncio.timeout(per_try_seconds):
            ack = await bus.request(subject, sealed)
        stored = bool(json.loads(ack).get("stored"))
    except (TimeoutError, NoResponders, ValueError) as exc:
        log.warning(
            "countersignature.unacknowledged",
            receipt=receipt.receipt_id,
            error=type(exc).__name__,
        )
        return False
    if stored:
        store.mark_acknowledged(receipt.receipt_id)
    return stored


async def sync_receipts(
    session: AgentSession, store: AgentStore, per_try_seconds: float = 5.0
) -> tuple[int, int]:
    """Re-send every countersignature a vendor has not acknowledged: (sent, acknowledged)."""
    pending = [r for r in store.receipts() if not r.vendor_acknowledged]
    acked = 0
    for r in pending:
        acked += await deliver_countersignature(session, store, r, per_try_seconds)
    return len(pending), acked
