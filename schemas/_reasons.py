"""The reason codes an agent acts on, with what each means. A vendor in any language puts
exactly these strings in ``OrderConfirmation.reason`` (and ``Decline.reason``); free text
goes elsewhere. schemas/README.md lists them ("Reason codes"), generated from this table."""

from __future__ import annotations

__all__ = [
    "ACK_REASONS",
    "CANCEL_REASONS",
    "DECLINE_REASONS",
    "REJECTION_REASONS",
    "RELATIONSHIP_REASONS",
    "vendor_queue_group",
]

# OrderConfirmation with status "rejected", answering an acceptance
REJECTION_REASONS: dict[str, str] = {
    "out_of_stock": "the vendor cannot hold the quantity any more; the person may pick another offer",
    "offer_expired": "the offer's validity ended before the acceptance arrived; nothing is held",
    "acceptance_expired": "the acceptance itself expired; the agent may send a fresh one, once",
    "missing_details": "the acceptance lacks details the offer's needs asked for; nothing is held",
}
# OrderConfirmation answering a Cancel: status "rejected" + "cancelled" means the order is off;
# status "confirmed" means it still stands and the reason says why.
CANCEL_REASONS: dict[str, str] = {
    "cancelled": "the order is off and its stock is released (status rejected)",
}
# CountersignatureAck with status "refused": why the vendor did not keep a countersignature
ACK_REASONS: dict[str, str] = {
    "out_of_stock": "the order's hold had lapsed and its stock was sold since; it stands unconfirmed",
    "unknown_receipt": "the vendor holds no receipt with this id and hash",
}
# Decline: why a vendor that heard an intent makes no offer
DECLINE_REASONS: dict[str, str] = {
    "no_match": "nothing in the catalog matches the intent",
    "out_of_stock": "matching items, none with the quantity in stock",
    "currency": "matching items, none in the intent's currency",
    "over_budget": "matching items, none within max_price even at the vendor's floor",
    "too_late": "matching items, none deliverable by wanted_by",
    "breach": "the vendor will not meet one of the person's must-have terms",
}

# DetailsAck or ErasureConfirmation with status "refused"
RELATIONSHIP_REASONS: dict[str, str] = {
    "erased": "the order's details are gone already (erased on request, or purged when their retention passed); there is nothing to update",
}


def vendor_queue_group(vendor_id: str) -> str:
    """The NATS queue group every replica of one vendor joins, in any language, so each
    intent and each request is answered once: ``vendor-`` and the first 16 hex of its id."""
    return f"vendor-{vendor_id[:16]}"
