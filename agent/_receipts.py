"""Receipts after the order: the person's countersignature delivered to the vendor (and
re-delivered on sync), and every stored receipt re-read for the person to look at."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

import schemas

from ._answers import AnswerCheck, VendorTooOld, ask_vendor
from ._records import ReceiptRow
from ._rereading import CheckedReceipt, check_receipt, person_key
from ._session import AcceptError, AgentSession, utcnow
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
    session: AgentSession,
    store: AgentStore,
    receipt: ReceiptRow,
    per_try_seconds: float = 5.0,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Send the stored countersignature to the vendor (sealed afresh) and record its signed
    acknowledgement. Safe to repeat: the vendor answers a copy it already keeps. A receipt
    that does not verify is not delivered (there is no vendor key to seal it to). Only the
    vendor's own signed answer to this very countersignature is believed; anything else on
    the inbox is counted and ignored until the timeout. Raises :class:`VendorTooOld` when
    only an older vendor's unsigned ``{"stored": true}`` came."""
    checked = check_receipt(store, receipt)
    if checked.order is None:
        log.warning(
            "countersignature.withheld", receipt=receipt.receipt_id, problem=checked.problem
        )
        return False
    order = checked.order
    profile, r = order.profile.msg, order.receipt
    cs = schemas.verify(
        receipt.countersignature_wire, schemas.Countersignature,
        key=person_key(order.intent.msg), now=None,
    )  # fmt: skip
    secrets = store.intent_secrets(receipt.intent_id)
    ring = schemas.KeyRing.from_profile(profile)

    def open_answer(data: bytes) -> schemas.Verified[schemas.CountersignatureAck]:
        return schemas.open_acknowledgement(
            data, secrets=secrets, countersignature=cs, ring=ring, now=clock()
        )

    sealed = schemas.seal(schemas.seal_key_for(profile, r.kid), schemas.pack(cs.wire))
    check = AnswerCheck(open_answer, what="countersignature", about=receipt.receipt_id)
    try:
        ack = await ask_vendor(
            session, schemas.vendor_subject(profile.vendor_id, "receipt"), sealed, check,
            profile.name, attempts=1, per_try_seconds=per_try_seconds,
            then="`intentcast sync` delivers it later",
        )  # fmt: skip
    except VendorTooOld:
        log.warning("countersignature.vendor_too_old", receipt=receipt.receipt_id)
        raise
    except AcceptError as exc:
        log.warning("countersignature.unacknowledged", receipt=receipt.receipt_id, error=str(exc))
        return False
    stored = ack.msg.status == "stored"
    if stored:
        store.mark_acknowledged(receipt.receipt_id)
    else:
        log.warning(
            "countersignature.refused", receipt=receipt.receipt_id, reason=ack.msg.reason[:40]
        )
    return stored


async def sync_receipts(
    session: AgentSession,
    store: AgentStore,
    per_try_seconds: float = 5.0,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[int, int]:
    """Re-send every countersignature a vendor has not acknowledged: (sent, acknowledged)."""
    pending = [r for r in store.receipts() if not r.vendor_acknowledged]
    acked = 0
    for r in pending:
        with contextlib.suppress(VendorTooOld):  # logged; the next receipt may be another's
            acked += await deliver_countersignature(session, store, r, per_try_seconds, clock)
    return len(pending), acked
