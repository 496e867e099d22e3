"""Re-reading what the agent stored, against the key each frame must come from: the intent
against the public key of the seed the person holds, the offer and receipt against the key
ring of the vendor profile kept with the offer, and the person's own frames against the
intent's key (``schemas.reread_order``). Never against the key a frame names itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.signing import VerifyKey

import schemas

from ._records import ReceiptRow
from ._store import AgentStore

__all__ = ["CheckedReceipt", "check_receipt", "person_key", "stored_intent", "stored_offer"]


def person_key(intent: schemas.Intent) -> schemas.KeyResolver:
    """What the person signs about an intent must be signed by that intent's key."""
    sign = intent.keys.sign

    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        if kid != sign:
            raise schemas.UnknownSigner(f"the intent's key {sign[:16]}...", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve


def _intent_key(store: AgentStore, intent_id: str) -> str | None:
    """The key the stored intent must be signed by: that of the seed held. None when the
    home was imported without keys (then the intent stands on its own signature)."""
    seed = store.sign_seed(intent_id)
    return schemas.intent_key_of_seed(bytes.fromhex(seed)) if seed else None


def stored_intent(store: AgentStore, intent_id: str) -> schemas.Verified[schemas.Intent]:
    """A stored intent, verified against the key of the seed it was cast with."""
    row = store.intent(intent_id)
    if row is None:
        raise schemas.Malformed(f"intent {intent_id[:8]} in this store", "none", "$.intent")
    v = schemas.open_intent(row.wire, now=None, replay=None, where="$.intent")
    key = _intent_key(store, intent_id)
    if key is not None and v.msg.keys.sign != key:
        raise schemas.UnknownSigner(
            f"an intent signed by the key you hold ({key[:16]}...)",
            f"one signed by {v.msg.keys.sign[:16]}...",
            "$.intent.msg.keys.sign",
        )
    return v


def stored_offer(store: AgentStore, offer_id: str, intent: schemas.Intent) -> schemas.OpenedOffer:
    """A stored offer and its vendor's profile, verified (no time checks: see the caller)."""
    row = store.offer(offer_id)
    if row is None:
        raise schemas.Malformed(f"offer {offer_id[:8]} in this store", "none", "$.offer")
    o = schemas.open_offer_bundle(
        row.bundle, intent=intent, now=None, replay=None, profiles=schemas.ProfileCache()
    )
    if o.profile.msg.vendor_id != row.vendor_id:
        raise schemas.UnknownSigner(
            f"the profile of the vendor stored with the offer ({row.vendor_id[:16]}...)",
            f"one of {o.profile.msg.vendor_id[:16]}...",
            "$.profile.msg.vendor_id",
        )
    return o


@dataclass(frozen=True)
class CheckedReceipt:
    """A stored receipt and what re-reading it found: the verified order, or why not."""

    row: ReceiptRow
    order: schemas.ArchivedOrder | None
    problem: str = ""  # why it does not verify; "" when it does

    @property
    def verifies(self) -> bool:
        return self.order is not None


def check_receipt(store: AgentStore, row: ReceiptRow) -> CheckedReceipt:
    """Re-read one stored order from its anchors; a receipt whose frames, keys or bindings
    do not hold comes back with ``order`` None and the reason."""
    offer, accept = store.offer(row.offer_id), store.accept(row.offer_id)
    intent = store.intent(row.intent_id)
    if offer is None or accept is None or intent is None:
        return CheckedReceipt(row, None, "its intent, offer or acceptance is not in this store")
    try:
        order = schemas.reread_order(
            intent_wire=intent.wire,
            intent_key=_intent_key(store, row.intent_id),
            offer_bundle=offer.bundle,
            vendor_id=offer.vendor_id,
            accept_wire=accept.accept_wire,
            receipt_wire=row.receipt_wire,
            countersignature_wire=row.countersignature_wire,
            cancel_wire=row.cancel_wire,
        )
    except schemas.ProtocolError as err:
        return CheckedReceipt(row, None, f"{err.code}: {err}")
    r = order.receipt.msg
    held = (row.receipt_id, row.order_id, row.intent_id, row.vendor_id)
    if (r.id, r.order_id, r.intent_id, r.vendor_id) != held or offer.intent_id != intent.id:
        return CheckedReceipt(row, None, "its row disagrees with its signed bytes")
    return CheckedReceipt(row, order)
