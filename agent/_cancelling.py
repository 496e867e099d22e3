"""Cancelling an order: the person's signed request, kept before it is sent, and the
vendor's signed answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import schemas

from ._answers import AnswerCheck, ask_vendor
from ._records import OrderState, ReceiptRow
from ._rereading import check_receipt, person_key
from ._session import AgentSession, CancelError, utcnow
from ._store import AgentStore

__all__ = ["cancel_order"]


async def cancel_order(
    session: AgentSession,
    store: AgentStore,
    row: ReceiptRow,
    *,
    reason: str = "",
    per_try_seconds: float = 5.0,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[str, str]:
    """Ask the vendor to cancel the order a receipt records: (status, vendor's reason).
    ``("rejected", "cancelled")`` means the order is off. Safe to repeat."""
    session.live()
    checked = check_receipt(store, row)
    if checked.order is None:
        raise CancelError(
            f"receipt {row.receipt_id[:8]} does not verify ({checked.problem}); it cannot be"
            " cancelled through this agent"
        )
    secrets = store.intent_secrets(row.intent_id)
    profile, receipt = checked.order.profile.msg, checked.order.receipt
    seal_to = schemas.seal_key_for(profile, receipt.kid)
    cancel_wire, sealed = schemas.make_cancel(receipt, secrets, seal_to, reason, clock())
    store.set_cancel(row.receipt_id, cancel_wire, OrderState.CANCELLING)
    cancel = schemas.verify(
        cancel_wire, schemas.Cancel, key=person_key(checked.order.intent.msg), now=None
    )
    ring = schemas.KeyRing.from_profile(profile)

    def open_answer(data: bytes) -> schemas.Verified[schemas.OrderConfirmation]:
        return schemas.open_cancel_answer(
            data, secrets=secrets, cancel=cancel, ring=ring, now=clock()
        )

    check = AnswerCheck(open_answer, what="cancellation", about=row.receipt_id)
    answer = await ask_vendor(
        session, schemas.vendor_subject(profile.vendor_id, "cancel"), sealed, check,
        profile.name, attempts=3, per_try_seconds=per_try_seconds,
        then="your cancellation is saved, run the same `intentcast cancel` again later",
        error=CancelError,
    )  # fmt: skip
    a = answer.msg
    done = a.status == "rejected" and a.reason == "cancelled"
    state = OrderState.CANCELLED if done else OrderState.CONFIRMED
    store.set_cancel(row.receipt_id, cancel_wire, state)
    return a.status, a.reason
