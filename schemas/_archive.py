"""Archive: re-reading stored frames, years later, against the key each must come from.

A stored frame proves nothing when it is checked against the key it names itself: anyone can
re-sign edited bytes with a key of their own. So nothing here takes "whatever key the frame
names". An order is re-read from the one anchor its holder has:

- the intent, against the public key of the per-intent seed the person holds
  (``intent_key``); a vendor, which holds no seed, passes ``None`` and the intent stands on
  its own signature, as it did when it arrived;
- the vendor's profile, self-signed by its identity key, which must be the ``vendor_id`` the
  holder dealt with (kept beside the offer when it was verified);
- the offer and the receipt, against that profile's key ring (revoked keys stay refused);
- the acceptance, the countersignature and the person's cancellation, against the intent's
  key; a vendor's cancellation answer, against the vendor's ring;

and every hash that binds them (receipt -> intent, offer, acceptance; countersignature ->
receipt) is checked again. Times are not: an archived order stays valid after it expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.signing import SigningKey, VerifyKey

from ._envelope import KeyResolver, Verified, verify
from ._errors import Rebound, UnknownSigner
from ._identity import KeyRing, ProfileCache
from ._messages import (
    Accept,
    Cancel,
    Countersignature,
    Intent,
    Offer,
    Receipt,
    VendorProfile,
)
from ._offering import open_intent
from ._sealing import unpack

__all__ = ["ArchivedOrder", "intent_key_of_seed", "reread_order"]


@dataclass(frozen=True)
class ArchivedOrder:
    """An order's frames, each verified against the key it must come from."""

    intent: Verified[Intent]
    profile: Verified[VendorProfile]
    offer: Verified[Offer]
    accept: Verified[Accept]
    receipt: Verified[Receipt]
    countersignature: Verified[Countersignature] | None
    cancel: Verified[Cancel] | None


def intent_key_of_seed(seed: bytes) -> str:
    """The public key (hex) of a per-intent signing seed: what its intent must be signed by."""
    return bytes(SigningKey(seed).verify_key).hex()


def _only(key_hex: str, who: str) -> KeyResolver:
    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        if kid != key_hex:
            raise UnknownSigner(f"{who} {key_hex[:16]}...", f"key {kid[:16]}...", "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve


def _bound(found: dict[str, str], wanted: dict[str, str], what: str, where: str) -> None:
    for field, value in wanted.items():
        if found[field] != value:
            raise Rebound(
                f"{what} ({field} {value[:16]}...)", f"{field} {found[field][:16]}...",
                f"{where}.msg.{field}",
            )  # fmt: skip


def reread_order(
    *,
    intent_wire: bytes,
    intent_key: str | None,
    offer_bundle: bytes,
    vendor_id: str,
    accept_wire: bytes,
    receipt_wire: bytes,
    countersignature_wire: bytes | None = None,
    cancel_wire: bytes | None = None,
) -> ArchivedOrder:
    """Verify one stored order from its anchors (see the module's docstring); raises
    :class:`ProtocolError` naming the first frame or binding that does not hold."""
    intent = open_intent(intent_wire, now=None, replay=None, where="$.intent")
    if intent_key is not None and intent.msg.keys.sign != intent_key:
        raise UnknownSigner(
            f"an intent signed by the key you hold ({intent_key[:16]}...)",
            f"one signed by {intent.msg.keys.sign[:16]}...",
            "$.intent.msg.keys.sign",
        )
    person = _only(intent.msg.keys.sign, "the intent's key")
    profile_wire, offer_wire = unpack(offer_bundle, 2, "$.bundle")
    profile = ProfileCache().open(profile_wire, None, "$.profile")
    if profile.msg.vendor_id != vendor_id:
        raise UnknownSigner(
            f"the profile of the vendor you dealt with ({vendor_id[:16]}...)",
            f"one of {profile.msg.vendor_id[:16]}...",
            "$.profile.msg.vendor_id",
        )
    ring = KeyRing.from_profile(profile.msg)
    offer = verify(offer_wire, Offer, key=ring, now=None, where="$.offer")
    _bound(
        {"intent_id": offer.msg.intent_id, "vendor_id": offer.msg.vendor_id},
        {"intent_id": intent.msg.id, "vendor_id": vendor_id},
        "an offer for this intent by this vendor",
        "$.offer",
    )
    accept = verify(accept_wire, Accept, key=person, now=None, where="$.accept")
    a = accept.msg
    _bound(
        {"offer_id": a.offer_id, "offer_hash": a.offer_hash, "intent_hash": a.intent_hash},
        {"offer_id": offer.msg.id, "offer_hash": offer.digest, "intent_hash": intent.digest},
        "an acceptance of this offer for this intent",
        "$.accept",
    )
    receipt = verify(receipt_wire, Receipt, key=ring, now=None, where="$.receipt")
    r = receipt.msg
    _bound(
        {
            "intent_hash": r.intent_hash, "offer_hash": r.offer_hash,
            "accept_hash": r.accept_hash, "vendor_id": r.vendor_id, "offer_id": r.offer_id,
        },
        {
            "intent_hash": intent.digest, "offer_hash": offer.digest,
            "accept_hash": accept.digest, "vendor_id": vendor_id, "offer_id": offer.msg.id,
        },
        "a receipt binding this intent, offer and acceptance",
        "$.receipt",
    )  # fmt: skip
    if (r.total_price, r.quantity, r.item) != (
        offer.msg.total_price,
        offer.msg.quantity,
        offer.msg.item,
    ):
        raise Rebound(
            f"a receipt for the offer's {offer.msg.quantity} x {offer.msg.item.sku} at "
            f"{offer.msg.total_price}",
            f"{r.quantity} x {r.item.sku} at {r.total_price}",
            "$.receipt.msg.total_price",
        )
    cs = None
    if countersignature_wire is not None:
        cs = verify(
            countersignature_wire, Countersignature, key=person, now=None,
            where="$.countersignature",
        )  # fmt: skip
        _bound(
            {"receipt_hash": cs.msg.receipt_hash, "receipt_id": cs.msg.receipt_id},
            {"receipt_hash": receipt.digest, "receipt_id": r.id},
            "a countersignature of this receipt",
            "$.countersignature",
        )
    cancel = None
    if cancel_wire is not None:

        def either(kid: str, at: datetime | None) -> VerifyKey:
            return person(kid, at) if kid == intent.msg.keys.sign else ring(kid, at)

        cancel = verify(cancel_wire, Cancel, key=either, now=None, where="$.cancel")
        signed_by = "person" if cancel.kid == intent.msg.keys.sign else "vendor"
        if cancel.msg.by != signed_by:
            raise UnknownSigner(
                f"a cancellation by the {cancel.msg.by} signed by the {cancel.msg.by}",
                f"one signed by the {signed_by}",
                "$.cancel.msg.by",
            )
        _bound(
            {"order_id": cancel.msg.order_id, "offer_id": cancel.msg.offer_id},
            {"order_id": r.order_id, "offer_id": offer.msg.id},
            "a cancellation of this order",
            "$.cancel",
        )
    return ArchivedOrder(intent, profile, offer, accept, receipt, cs, cancel)
