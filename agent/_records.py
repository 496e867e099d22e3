"""What the agent keeps, as typed records: one frozen struct per table, its fields exactly
the table's columns, and the states an acceptance and an order go through.

The store returns these instead of rows addressed by column-name strings, and the export
format is these same structs (so a column added to a table and not here fails loudly in
both). The states are stored by name."""

from __future__ import annotations

import enum

import msgspec

__all__ = [
    "AcceptRow",
    "AcceptState",
    "DropRow",
    "IntentHistory",
    "IntentRow",
    "OfferRow",
    "OrderState",
    "OutcomeRow",
    "ReceiptRow",
    "RelationshipErasureRow",
    "RelationshipUpdateRow",
    "StatusRow",
]


class AcceptState(enum.StrEnum):
    """An acceptance's life (transitions: ``_accepting.transition``)."""

    SENT = "sent"  # stored and sent; no answer held yet (an order may exist)
    RENEWED = "renewed"  # the vendor found it expired; a fresh one was stored and sent, once
    CONFIRMED = "confirmed"  # the vendor's receipt is stored
    REJECTED = "rejected"  # the vendor signed a refusal


class OrderState(enum.StrEnum):
    """A confirmed order's life, as the person's receipt records it."""

    CONFIRMED = "confirmed"
    CANCELLING = "cancelling"  # the signed cancellation is stored; its answer is not
    CANCELLED = "cancelled"  # the vendor signed that the order is off
    SHIPPED = "shipped"  # the vendor's signed status says so (``_status``)
    DELIVERED = "delivered"  # likewise


class _Row(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class IntentRow(_Row, frozen=True):
    id: str
    created: str
    expires: str
    category: str
    description: str
    wire: bytes  # the signed intent frame


class OfferRow(_Row, frozen=True):
    id: str
    intent_id: str
    vendor_id: str
    vendor_name: str
    bundle: bytes  # the vendor's signed profile and signed offer, as received (unsealed)
    total_amount: int
    currency: str
    delivery_by: str
    expires: str
    rank: int | None  # its place in the list shown; None: judged and dropped, never shown
    score: float
    reasons: list[str]
    received: str


class DropRow(_Row, frozen=True):
    id: int
    intent_id: str
    vendor_id: str | None
    vendor_name: str | None
    reason: str
    detail: str
    received: str
    count: int = 1  # replies dropped alike (see agent._collecting)


class AcceptRow(_Row, frozen=True):
    offer_id: str
    intent_id: str
    vendor_id: str
    accept_wire: bytes  # the person's signed acceptance
    sealed: bytes  # that acceptance and the disclosure, sealed to the vendor
    created: str
    status: AcceptState


class ReceiptRow(_Row, frozen=True):
    receipt_id: str
    order_id: str
    intent_id: str
    offer_id: str
    vendor_id: str
    vendor_name: str
    receipt_wire: bytes
    confirmation_wire: bytes
    countersignature_wire: bytes
    vendor_acknowledged: int
    created: str
    status: OrderState
    cancel_wire: bytes | None


class OutcomeRow(_Row, frozen=True):
    id: int
    vendor_id: str
    kind: str  # receipt | rating | rejected
    positive: float
    negative: float
    at: str
    ref: str


class StatusRow(msgspec.Struct, frozen=True):
    """A vendor's signed word on an order, as kept (``_status``): verified, applied once."""

    receipt_id: str
    seq: int
    state: str  # shipped | delivered | cancelled (by the vendor; ``reason`` says why)
    carrier: str
    tracking: str
    reason: str
    received: str


class IntentHistory(msgspec.Struct, frozen=True):
    """One intent as the person's history shows it: the offers ranked for it (best first)
    and judged but dropped (rank None), what was dropped and why, and what the vendors said
    since of its orders (by receipt and ``seq``)."""

    intent: IntentRow
    offers: list[OfferRow]
    dropped: list[DropRow]
    statuses: list[StatusRow] = []


class RelationshipUpdateRow(_Row, frozen=True):
    """A signed update of the person's details for one order, and the vendor's answer."""

    id: int
    order_id: str
    vendor_id: str
    fields: str  # JSON list of the fields it replaces
    update_wire: bytes  # the signed details_update frame
    sealed: bytes  # that frame sealed to the vendor, re-sent as it is until answered
    created: str
    status: str  # pending | applied | refused | superseded
    reason: str
    ack_wire: bytes | None  # the vendor's signed details_ack


class RelationshipErasureRow(_Row, frozen=True):
    """A signed erasure request for one order, and the vendor's signed confirmation."""

    order_id: str
    vendor_id: str
    request_wire: bytes
    sealed: bytes
    created: str
    status: str  # asked | erased | refused
    reason: str
    confirmation_wire: bytes | None
