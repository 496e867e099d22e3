"""The counter: what a vendor does with an order after it is confirmed. Ship it, say it was
delivered, or cancel it (freeing its stock), each as one named transition of
:class:`CounterState`, stored before anything is sent.

The order's state is the ``status`` column of ``orders`` (its name; ``open`` is the stored
``confirmed`` while a hold waits for the person's countersignature, or ``unheld``).
A transition, in one transaction of the order store (``OrderStore.transition``, which locks
the order's row on PostgreSQL): check it is legal (:data:`TRANSITIONS`, the one place that
says so), sign the :class:`schemas.OrderStatus` with the next ``seq`` of that order and seal
it to the intent (:func:`decide`, here), update the order, and keep the status as the exact
signed bytes with its sealed box and mailbox subject in ``order_statuses`` (unsent). The
running adapter's outbox (``_feed.Outbox``) leaves it in the person's mailbox and marks it
sent.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from nacl.signing import VerifyKey

import schemas
from runtime import failpoint

if TYPE_CHECKING:  # the store imports this module for its schema
    from ._order_store import OrderStore

__all__ = [
    "STATUS_SCHEMA",
    "TRANSITIONS",
    "CounterAction",
    "CounterState",
    "Decide",
    "IllegalTransition",
    "StatusChange",
    "Transition",
    "UnknownOrder",
    "apply_action",
    "counter_state",
]

log = structlog.get_logger("intentcast.vendor")

# Every status the vendor signed, as the exact bytes, and the box for the person's mailbox;
# ``sent`` once the mailbox stream acknowledged it.
STATUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS order_statuses (
    order_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
    wire BLOB NOT NULL, sealed BLOB NOT NULL, mailbox_days INTEGER, subject TEXT,
    sent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (order_id, seq)
);
CREATE INDEX IF NOT EXISTS order_statuses_unsent ON order_statuses(created)
    WHERE sent = 0 AND subject IS NOT NULL;
"""


class CounterState(enum.StrEnum):
    OPEN = "open"  # confirmed to the person, waiting for their countersignature
    CONFIRMED = "confirmed"  # countersigned: the vendor's to fulfil
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"  # by the person or by the vendor (``reason`` says which)
    LAPSED = "lapsed"  # never countersigned; its hold ended
    REJECTED = "rejected"  # never an order: refused when accepted


class CounterAction(enum.StrEnum):
    SHIP = "ship"
    DELIVER = "deliver"
    CANCEL = "cancel"


# (state, action) -> new state. Anything else is an IllegalTransition. A vendor may say an
# order was delivered without shipping it first (handed over at the counter); an order that
# shipped is no longer the vendor's to cancel (that is a return).
TRANSITIONS: dict[tuple[CounterState, CounterAction], CounterState] = {
    (CounterState.CONFIRMED, CounterAction.SHIP): CounterState.SHIPPED,
    (CounterState.CONFIRMED, CounterAction.DELIVER): CounterState.DELIVERED,
    (CounterState.SHIPPED, CounterAction.DELIVER): CounterState.DELIVERED,
    (CounterState.OPEN, CounterAction.CANCEL): CounterState.CANCELLED,
    (CounterState.CONFIRMED, CounterAction.CANCEL): CounterState.CANCELLED,
}
_WIRE_STATE = {
    CounterAction.SHIP: "shipped",
    CounterAction.DELIVER: "delivered",
    CounterAction.CANCEL: "cancelled",
}


def counter_state(status: str, held_until: str | None) -> CounterState:
    """The state an order's stored ``status`` (and hold) names."""
    if status == "unheld" or (status == "confirmed" and held_until is not None):
        return CounterState.OPEN
    return CounterState(status)


class IllegalTransition(Exception):
    """An action the order's state does not allow; the message says which and why."""


class UnknownOrder(LookupError):
    """No order, or more than one, starts with what was typed."""


@dataclass(frozen=True)
class StatusChange:
    order_id: str
    before: CounterState
    after: CounterState
    seq: int
    mailbox: str | None  # the subject it waits on; None: the terms allow no mailbox


@dataclass(frozen=True)
class Transition:
    """What one action writes, in the transaction that read the order: the order's new
    ``status``, ``reason``, ``carrier`` and ``tracking`` (``held_until`` becomes NULL), and
    the status row (``change.seq``, ``created``, ``wire``, ``sealed``, ``mailbox_days``,
    ``change.mailbox`` as its subject)."""

    change: StatusChange
    reason: str
    carrier: str
    tracking: str
    created: str
    wire: bytes
    sealed: bytes
    mailbox_days: int | None


# (the order's row, the last seq of its statuses) -> what to write; raises to write nothing.
Decide = Callable[[Any, int], Transition]


def apply_action(
    store: OrderStore,
    order_id: str,
    action: CounterAction,
    *,
    signer: schemas.VendorSigner,
    retention_days: int,
    now: datetime,
    carrier: str = "",
    tracking: str = "",
    reason: str = "",
) -> StatusChange:
    """Make one transition and keep its signed status, in one committed transaction."""

    def decide(row: Any, last: int) -> Transition:
        return _decide(
            row, last, order_id, action, signer=signer, retention_days=retention_days,
            now=now, carrier=carrier, tracking=tracking, reason=reason,
        )  # fmt: skip

    change = store.transition(order_id, decide).change
    failpoint("vendor.counter.committed")
    log.info(
        "order.status", order=order_id, state=str(change.after), seq=change.seq,
        mailbox=change.mailbox is not None,
    )  # fmt: skip
    return change


def _decide(
    row: Any,
    last: int,
    order_id: str,
    action: CounterAction,
    *,
    signer: schemas.VendorSigner,
    retention_days: int,
    now: datetime,
    carrier: str,
    tracking: str,
    reason: str,
) -> Transition:
    before = counter_state(row["status"], row["held_until"])
    after = TRANSITIONS.get((before, action))
    if after is None:
        raise IllegalTransition(
            f"order {order_id[:8]} is {before}: expected an order that can {action}"
            f" ({_allowed(action)}), got one that is {before}"
        )
    receipt = schemas.verify(bytes(row["receipt_wire"]), schemas.Receipt, key=signer.ring, now=None)
    intent = _stored_intent(bytes(row["intent_wire"]), row["intent_key"])
    # The retention the offer promised (what the person's agent reads too), not today's config.
    try:
        offer = schemas.verify(bytes(row["offer_wire"]), schemas.Offer, key=signer.ring, now=None)
        keep = offer.msg.terms.data_retention_days
    except schemas.ProtocolError:  # signed with a key we no longer hold
        keep = retention_days
    if intent.terms.data_retention_days is not None:
        keep = min(keep, intent.terms.data_retention_days.value)
    days = schemas.mailbox_days(keep)
    wire, sealed = schemas.make_status(
        receipt, signer=signer, seal_to=intent.keys.seal, seq=last + 1,
        state=_WIRE_STATE[action], now=now, ttl=timedelta(days=days or 1),
        carrier=carrier, tracking=tracking, reason=reason,
    )  # fmt: skip
    subject = None
    if days is not None:
        token = schemas.mailbox_token(signer.seal, intent.keys.seal, receipt.digest)
        subject = schemas.mailbox_subject(days, token)
    why = {
        CounterAction.CANCEL: f"cancelled by the vendor: {reason}",
        CounterAction.SHIP: "",
        CounterAction.DELIVER: "",
    }[action]
    return Transition(
        StatusChange(order_id, before, after, last + 1, subject),
        reason=why[:200],
        carrier=carrier[:200] or row["carrier"],
        tracking=tracking[:200] or row["tracking"],
        created=now.isoformat(),
        wire=wire,
        sealed=sealed,
        mailbox_days=days,
    )


def _allowed(action: CounterAction) -> str:
    froms = sorted(str(s) for (s, a) in TRANSITIONS if a is action)
    return "one that is " + " or ".join(froms)


def _stored_intent(wire: bytes, intent_key: str) -> schemas.Intent:
    """The intent kept with the order, read against the key the order was made with."""

    def only(kid: str, at: datetime | None) -> VerifyKey:
        if kid != intent_key:
            raise schemas.UnknownSigner(f"the order's intent key {intent_key[:16]}...", kid, "$")
        return VerifyKey(bytes.fromhex(kid))

    return schemas.verify(wire, schemas.Intent, key=only, now=None).msg
