"""Ordering: the person accepts one offer, the vendor confirms (with a receipt) or rejects,
the person countersigns the receipt and the vendor stores that countersignature.

:func:`make_accept` (person) -> :func:`open_accept` (vendor) -> :func:`make_confirmation`
(vendor) -> :func:`open_confirmation` (person) -> :func:`countersign` (person) ->
:func:`open_countersignature` (vendor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from nacl.signing import VerifyKey

from ._answers import check_bound
from ._envelope import (
    Audience,
    KeyResolver,
    Verified,
    digest,
    new_id,
    self_signed,
    sign,
    verify,
)
from ._errors import Expired, Rebound, UnknownSigner
from ._identity import IntentSecrets, KeyRing, VendorSigner, seal_key_for
from ._messages import (
    Accept,
    Countersignature,
    Disclosure,
    Intent,
    Message,
    Offer,
    OrderConfirmation,
    Receipt,
)
from ._offering import OpenedOffer, open_intent
from ._replay import ReplayCache
from ._sealing import pack, seal, unpack, unseal
from ._subjects import new_reply_subject

__all__ = [
    "OpenedAccept",
    "OpenedConfirmation",
    "countersign",
    "make_accept",
    "make_confirmation",
    "open_accept",
    "open_confirmation",
    "open_countersignature",
]

T = TypeVar("T", bound=Message)


def make_accept(
    *,
    intent_wire: bytes,
    intent: Intent,
    secrets: IntentSecrets,
    offer: OpenedOffer,
    disclosure: Disclosure,
    payment_method: str,
    now: datetime,
    ttl: timedelta = timedelta(minutes=10),
) -> tuple[Verified[Accept], bytes]:
    """The acceptance, signed by the intent's key and sealed to the offering vendor alone.
    Returns the verified acceptance (to keep) and the sealed bytes (to send). Its times are
    whole seconds, as an intent's are (finer digits fingerprint the machine's clock)."""
    now = now.replace(microsecond=0)
    o = offer.offer
    accept = Accept(
        id=new_id(),
        intent_id=intent.id,
        offer_id=o.msg.id,
        vendor_id=o.msg.vendor_id,
        intent_hash=digest(intent_wire[64:]),
        offer_hash=o.digest,
        payment_method=payment_method,
        disclosure=disclosure,
        reply_subject=new_reply_subject(),
    )
    wire = sign(
        accept,
        secrets.sign,
        created=now,
        expires=now + ttl,
        intent=intent.id,
        vendor=o.msg.vendor_id,
    )
    mine = verify(wire, Accept, key=self_signed, now=None)
    sealed = seal(seal_key_for(offer.profile.msg, o.kid), pack(wire, intent_wire, o.wire))
    return mine, sealed


@dataclass(frozen=True)
class OpenedAccept:
    accept: Verified[Accept]
    intent: Verified[Intent]
    offer: Verified[Offer]
    offer_expired: bool = False  # both only ever true when the caller allowed it
    accept_expired: bool = False


def open_accept(
    sealed: bytes,
    *,
    signer: VendorSigner,
    now: datetime,
    replay: ReplayCache | None,
    allow_expired: bool = False,
) -> OpenedAccept:
    """Verify an acceptance with the intent and the (our own, unexpired) offer it binds.

    With ``allow_expired`` an authentic acceptance or offer past its expiry still opens,
    flagged ``accept_expired`` / ``offer_expired``: a vendor answers a repeated acceptance
    of an order it already made whenever it comes, but takes no new order on either."""
    bundle = unseal([signer.seal], sealed)
    accept_wire, intent_wire, offer_wire = unpack(bundle, 3, "$.bundle")
    # The intent's window bounds when offers are asked for, not when they may be taken: an
    # acceptance is good while the (vendor's own, unexpired) offer is.
    intent = open_intent(intent_wire, now=None, replay=None, where="$.intent")
    sign_key = intent.msg.keys.sign

    def intent_key(kid: str, at: datetime | None) -> VerifyKey:
        if kid != sign_key:
            raise UnknownSigner(f"the intent's key {sign_key[:16]}...", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    vid = signer.vendor_id
    aud = Audience(intent=intent.msg.id, vendor=vid)
    accept, accept_expired = _verify_maybe_expired(
        accept_wire, Accept, intent_key, now, aud, replay, allow_expired, "$"
    )
    offer, offer_expired = _verify_maybe_expired(
        offer_wire, Offer, signer.ring, now, aud, None, allow_expired, "$.offer"
    )
    a = accept.msg
    bound = {"offer_id": a.offer_id, "offer_hash": a.offer_hash, "intent_hash": a.intent_hash}
    want = {"offer_id": offer.msg.id, "offer_hash": offer.digest, "intent_hash": intent.digest}
    if bound != want:
        field = next(f for f in bound if bound[f] != want[f])
        raise Rebound(
            f"an acceptance bound to this offer and intent ({field} {want[field][:16]}...)",
            f"{field} {bound[field][:16]}...",
            f"$.msg.{field}",
        )
    return OpenedAccept(accept, intent, offer, offer_expired, accept_expired)


def _verify_maybe_expired(
    wire: bytes,
    expect: type[T],
    key: KeyResolver,
    now: datetime,
    aud: Audience,
    replay: ReplayCache | None,
    allow_expired: bool,
    where: str,
) -> tuple[Verified[T], bool]:
    try:
        return verify(
            wire, expect, key=key, now=now, audience=aud, replay=replay, where=where
        ), False
    except Expired:
        if not allow_expired:
            raise
        return verify(wire, expect, key=key, now=None, audience=aud, where=where), True


def make_confirmation(
    opened: OpenedAccept,
    *,
    signer: VendorSigner,
    order_id: str,
    status: str,
    reason: str,
    now: datetime,
) -> tuple[bytes, bytes | None, bytes]:
    """(confirmation frame, receipt frame or None, sealed reply)."""
    a, o = opened.accept.msg, opened.offer.msg
    common = dict(intent=a.intent_id, vendor=signer.vendor_id)
    exp = now + timedelta(minutes=10)
    conf = OrderConfirmation(
        order_id=order_id, intent_id=a.intent_id, offer_id=a.offer_id, vendor_id=signer.vendor_id,
        status="confirmed" if status == "confirmed" else "rejected", reason=reason,
        request_hash=opened.accept.digest,
    )  # fmt: skip
    conf_wire = sign(conf, signer.signing, created=now, expires=exp, **common)
    receipt_wire: bytes | None = None
    if status == "confirmed":
        receipt = Receipt(
            id=new_id(), order_id=order_id, intent_id=a.intent_id, offer_id=a.offer_id,
            vendor_id=signer.vendor_id, intent_hash=a.intent_hash, offer_hash=a.offer_hash,
            accept_hash=opened.accept.digest, item=o.item, quantity=o.quantity,
            total_price=o.total_price, delivery_by=o.delivery_by, payment_method=a.payment_method,
        )  # fmt: skip
        receipt_wire = sign(receipt, signer.signing, created=now, expires=exp, **common)
    # A rejection carries its confirmation twice so every reply is a bundle of two frames.
    sealed = seal(opened.intent.msg.keys.seal, pack(conf_wire, receipt_wire or conf_wire))
    return conf_wire, receipt_wire, sealed


@dataclass(frozen=True)
class OpenedConfirmation:
    confirmation: Verified[OrderConfirmation]
    receipt: Verified[Receipt] | None


def open_confirmation(
    sealed: bytes,
    *,
    secrets: IntentSecrets,
    accept: Verified[Accept],
    ring: KeyRing,
    now: datetime,
    replay: ReplayCache | None,
) -> OpenedConfirmation:
    """Believe the vendor's answer to ``accept`` (and the receipt if it confirmed), or raise
    why not: see ``_answers`` for the rule, ``request_hash`` included."""
    a = accept.msg
    bundle = unseal(secrets.seal, sealed)
    frames = unpack(bundle, 2, "$.bundle")
    aud = Audience(intent=a.intent_id, vendor=a.vendor_id)
    conf = verify(frames[0], OrderConfirmation, key=ring, now=now, audience=aud, replay=replay)
    c = conf.msg
    got = {"offer_id": c.offer_id, "intent_id": c.intent_id, "vendor_id": c.vendor_id}
    want = {"offer_id": a.offer_id, "intent_id": a.intent_id, "vendor_id": a.vendor_id}
    if got != want:
        field = next(f for f in got if got[f] != want[f])
        raise Rebound(
            f"a confirmation of offer {a.offer_id} ({field} {want[field][:16]}...)",
            f"{field} {got[field][:16]}...",
            f"$.msg.{field}",
        )
    check_bound(c.request_hash, accept)
    if c.status != "confirmed":
        return OpenedConfirmation(conf, None)
    # The confirmation's times say the answer is live; the receipt's only bounded its first
    # delivery (a repeated acceptance gets the same receipt bytes, with a fresh confirmation).
    receipt = verify(frames[1], Receipt, key=ring, now=None, audience=aud, where="$.receipt")
    r = receipt.msg
    binds = {
        "intent_hash": (r.intent_hash, a.intent_hash),
        "offer_hash": (r.offer_hash, a.offer_hash),
        "accept_hash": (r.accept_hash, accept.digest),
        "order_id": (r.order_id, c.order_id),
        "offer_id": (r.offer_id, a.offer_id),
    }
    for field, (found, wanted) in binds.items():
        if found != wanted:
            raise Rebound(
                f"a receipt binding this intent, offer and acceptance ({field} {wanted[:16]}...)",
                f"{field} {found[:16]}...",
                f"$.receipt.msg.{field}",
            )
    return OpenedConfirmation(conf, receipt)


def countersign(
    receipt: Verified[Receipt], secrets: IntentSecrets, seal_to: str, now: datetime
) -> tuple[bytes, bytes]:
    """The person's signature on the receipt: (frame to keep, sealed bytes to send), its
    times in whole seconds."""
    now = now.replace(microsecond=0)
    r = receipt.msg
    cs = Countersignature(
        receipt_id=r.id, receipt_hash=receipt.digest, intent_id=r.intent_id, vendor_id=r.vendor_id
    )
    wire = sign(
        cs, secrets.sign, created=now, expires=now + timedelta(minutes=10),
        intent=r.intent_id, vendor=r.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


def open_countersignature(
    sealed: bytes,
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[Countersignature]:
    """Verify the person's countersignature; ``intent_key`` resolves only intent keys of
    orders this vendor holds."""
    (wire,) = unpack(unseal([signer.seal], sealed), 1, "$.bundle")
    return verify(
        wire, Countersignature, key=intent_key, now=now,
        audience=Audience(vendor=signer.vendor_id), replay=replay,
    )  # fmt: skip
