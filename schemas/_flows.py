"""The conversation, step by step, as pure functions: each builds or opens one message.

Agent: :func:`cast_intent` -> :func:`open_offer` -> :func:`make_accept` ->
:func:`open_confirmation` -> :func:`countersign`.
Vendor: :func:`open_intent` -> :func:`make_offer` -> :func:`open_accept` ->
:func:`make_confirmation` -> :func:`open_countersignature`.
Every ``open_*`` verifies before it trusts and raises a :class:`ProtocolError` subclass.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from ._envelope import (
    Audience,
    KeyResolver,
    ReplayCache,
    Verified,
    check_times,
    digest,
    self_signed,
    sign,
    verify,
)
from ._errors import Expired, Rebound, UnknownSigner
from ._keys import IntentSecrets, KeyRing
from ._messages import (
    Accept,
    Cancel,
    Countersignature,
    Disclosure,
    Intent,
    IntentKeys,
    Item,
    Message,
    Offer,
    OrderConfirmation,
    Receipt,
    Region,
    VendorKey,
    VendorProfile,
    Want,
)
from ._money import Money
from ._sealing import pack, seal, unpack, unseal
from ._subjects import REPLY_ROOT, intent_subject, new_reply_subject
from ._terms import Terms, VendorTerms

__all__ = [
    "CastIntent",
    "OpenedAccept",
    "OpenedConfirmation",
    "OpenedOffer",
    "ProfileCache",
    "VendorSigner",
    "cast_intent",
    "confirm_cancel",
    "countersign",
    "make_accept",
    "make_cancel",
    "make_confirmation",
    "make_offer",
    "make_profile",
    "new_id",
    "open_accept",
    "open_cancel",
    "open_cancel_answer",
    "open_confirmation",
    "open_countersignature",
    "open_intent",
    "open_offer",
    "open_offer_bundle",
    "seal_key_for",
]


T = TypeVar("T", bound=Message)


def new_id() -> str:
    return os.urandom(16).hex()


# --- the person's side -----------------------------------------------------------------


@dataclass(frozen=True)
class CastIntent:
    wire: bytes
    intent: Intent
    secrets: IntentSecrets
    subject: str
    created: datetime
    expires: datetime


def cast_intent(
    *,
    category: str,
    want: Want,
    quantity: int,
    max_price: Money,
    wanted_by: date,
    region: Region,
    terms: Terms,
    now: datetime,
    ttl: timedelta,
    reply_prefix: str = REPLY_ROOT,
) -> CastIntent:
    """A new intent with fresh keys, a fresh id and a fresh reply subject: nothing in it links
    to any other intent of the same person."""
    secrets = IntentSecrets.generate()
    intent = Intent(
        id=new_id(),
        category=category,
        want=want,
        quantity=quantity,
        max_price=max_price,
        wanted_by=wanted_by,
        region=region,
        terms=terms,
        keys=IntentKeys(sign=secrets.sign_public, seal=secrets.seal_public),
        reply_subject=new_reply_subject(reply_prefix),
    )
    expires = now + ttl
    wire = sign(intent, secrets.sign, created=now, expires=expires, intent=intent.id)
    return CastIntent(wire, intent, secrets, intent_subject(category), now, expires)


class ProfileCache:
    """Verified vendor profiles, so a profile that travels with every offer is checked once,
    and its key ring built once. Found by signature, then compared byte for byte with the
    frame that was checked: only those exact bytes hit. Times are re-checked on every use."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._cache: OrderedDict[bytes, tuple[Verified[VendorProfile], KeyRing]] = OrderedDict()
        self._lock = threading.Lock()  # safe to share between threads opening offers

    def open(self, wire: bytes, now: datetime | None, where: str = "$") -> Verified[VendorProfile]:
        return self.open_with_ring(wire, now, where)[0]

    def open_with_ring(
        self, wire: bytes, now: datetime | None, where: str = "$"
    ) -> tuple[Verified[VendorProfile], KeyRing]:
        key = wire[:64]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0].wire != wire:
                hit = None  # same signature bytes, other frame: verify it afresh
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            v = verify(wire, VendorProfile, key=self_signed, now=None, where=where)
            if v.msg.vendor_id != v.kid:
                raise Rebound(
                    f"a profile signed by its vendor {v.msg.vendor_id[:16]}...",
                    f"one signed by {v.kid[:16]}...",
                    where,
                )
            hit = (v, KeyRing.from_profile(v.msg))
            with self._lock:
                self._cache[key] = hit
                if len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        if now is not None:
            check_times(hit[0].header, now, where=where)
        return hit


@dataclass(frozen=True)
class OpenedOffer:
    offer: Verified[Offer]
    profile: Verified[VendorProfile]
    bundle: bytes  # the unsealed bundle, kept so the offer can be re-verified and accepted later


def open_offer_bundle(
    bundle: bytes,
    *,
    intent: Intent,
    now: datetime | None,
    replay: ReplayCache | None,
    profiles: ProfileCache,
    revoked: frozenset[str] = frozenset(),
) -> OpenedOffer:
    """Verify a vendor's profile and its offer for ``intent``."""
    profile_wire, offer_wire = unpack(bundle, 2, "$.bundle")
    profile, ring = profiles.open_with_ring(profile_wire, now, "$.profile")
    if revoked:  # the receiver's own revocations: a ring of its own, not the shared one
        ring = KeyRing.from_profile(profile.msg, revoked)
        if profile.msg.vendor_id in revoked:
            ring.revoked |= {k.sign for k in profile.msg.keys}
    offer = verify(
        offer_wire,
        Offer,
        key=ring,
        now=now,
        audience=Audience(intent=intent.id, vendor=profile.msg.vendor_id),
        replay=replay,
        where="$.offer",
    )
    if offer.msg.intent_id != intent.id or offer.msg.vendor_id != profile.msg.vendor_id:
        raise Rebound(
            f"an offer by {profile.msg.vendor_id[:16]}... for intent {intent.id}",
            f"one by {offer.msg.vendor_id[:16]}... for intent {offer.msg.intent_id}",
            "$.offer.msg",
        )
    return OpenedOffer(offer, profile, bundle)


def open_offer(
    sealed: bytes,
    *,
    intent: Intent,
    secrets: IntentSecrets,
    now: datetime,
    replay: ReplayCache | None,
    profiles: ProfileCache,
    revoked: frozenset[str] = frozenset(),
) -> OpenedOffer:
    """Unseal, then verify, one reply to an intent."""
    bundle = unseal(secrets.seal, sealed)
    return open_offer_bundle(
        bundle, intent=intent, now=now, replay=replay, profiles=profiles, revoked=revoked
    )


def seal_key_for(profile: VendorProfile, kid: str) -> str:
    """The sealing key listed beside signing key ``kid`` in a vendor's profile."""
    for k in profile.keys:
        if k.sign == kid:
            return k.seal
    raise UnknownSigner(f"a key listed in {profile.vendor_id[:16]}...'s profile", kid[:16], "$")


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
    Returns the verified acceptance (to keep) and the sealed bytes (to send)."""
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
    """Verify the vendor's answer to an acceptance, and the receipt if it confirmed."""
    a = accept.msg
    bundle = unseal(secrets.seal, sealed)
    frames = unpack(bundle, 2, "$.bundle")
    aud = Audience(intent=a.intent_id, vendor=a.vendor_id)
    conf = verify(frames[0], OrderConfirmation, key=ring, now=now, audience=aud, replay=replay)
    c = conf.msg
    if (c.offer_id, c.intent_id, c.vendor_id) != (a.offer_id, a.intent_id, a.vendor_id):
        raise Rebound(f"a confirmation of offer {a.offer_id}", f"one of {c.offer_id}", "$.msg")
    if c.status != "confirmed":
        return OpenedConfirmation(conf, None)
    receipt = verify(frames[1], Receipt, key=ring, now=now, audience=aud, where="$.receipt")
    r = receipt.msg
    bound = (r.intent_hash, r.offer_hash, r.accept_hash, r.order_id, r.offer_id)
    want = (a.intent_hash, a.offer_hash, accept.digest, c.order_id, a.offer_id)
    if bound != want:
        raise Rebound(
            "a receipt binding this intent, offer and acceptance", "other hashes", "$.receipt"
        )
    return OpenedConfirmation(conf, receipt)


def countersign(
    receipt: Verified[Receipt], secrets: IntentSecrets, seal_to: str, now: datetime
) -> tuple[bytes, bytes]:
    """The person's signature on the receipt: (frame to keep, sealed bytes to send)."""
    r = receipt.msg
    cs = Countersignature(
        receipt_id=r.id, receipt_hash=receipt.digest, intent_id=r.intent_id, vendor_id=r.vendor_id
    )
    wire = sign(
        cs, secrets.sign, created=now, expires=now + timedelta(minutes=10),
        intent=r.intent_id, vendor=r.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


# --- the vendor's side -----------------------------------------------------------------


@dataclass(frozen=True)
class VendorSigner:
    """A vendor's live keys: its identity (which signs its profile) and its current signing
    and sealing keys (listed in the profile)."""

    identity: SigningKey
    signing: SigningKey
    seal: PrivateKey
    profile_wire: bytes
    profile: VendorProfile

    @property
    def vendor_id(self) -> str:
        return bytes(self.identity.verify_key).hex()

    @property
    def ring(self) -> KeyRing:
        return KeyRing.from_profile(self.profile)


def make_profile(
    *,
    identity: SigningKey,
    signing: SigningKey,
    seal_key: PrivateKey,
    name: str,
    categories: list[str],
    terms: VendorTerms,
    now: datetime,
    ttl: timedelta = timedelta(days=365),
) -> VendorSigner:
    vid = bytes(identity.verify_key).hex()
    profile = VendorProfile(
        vendor_id=vid,
        name=name,
        keys=[
            VendorKey(
                sign=bytes(signing.verify_key).hex(),
                seal=bytes(seal_key.public_key).hex(),
                not_before=now - timedelta(minutes=5),
                not_after=now + ttl,
            )
        ],
        categories=categories,
        terms=terms,
    )
    wire = sign(profile, identity, created=now, expires=now + ttl, vendor=vid)
    return VendorSigner(identity, signing, seal_key, wire, profile)


def open_intent(
    wire: bytes, *, now: datetime | None, replay: ReplayCache | None
) -> Verified[Intent]:
    """Verify a broadcast intent: self-signed by the key it names, bound to its own id.
    ``now=None`` skips the time checks (an acceptance may come after the intent's window)."""
    v = verify(wire, Intent, key=self_signed, now=now, replay=replay)
    if v.kid != v.msg.keys.sign:
        raise Rebound(
            f"an intent signed by its own key {v.msg.keys.sign[:16]}...", v.kid[:16], "$.tag"
        )
    if v.header.intent != v.msg.id:
        raise Rebound(
            f"header bound to intent {v.msg.id}", v.header.intent or "(none)", "$.hdr.intent"
        )
    return v


def make_offer(
    *,
    intent: Verified[Intent],
    signer: VendorSigner,
    item: Item,
    quantity: int,
    unit_price: Money,
    total_price: Money,
    delivery_by: date,
    terms: VendorTerms,
    now: datetime,
    ttl: timedelta,
    evidence: list[str] | None = None,
) -> tuple[Offer, bytes]:
    """A signed offer bundled with the vendor's profile, sealed to the intent alone."""
    offer = Offer(
        id=new_id(),
        intent_id=intent.msg.id,
        vendor_id=signer.vendor_id,
        item=item,
        quantity=quantity,
        unit_price=unit_price,
        total_price=total_price,
        delivery_by=delivery_by,
        terms=terms,
        evidence=evidence or [],
    )
    wire = sign(
        offer, signer.signing, created=now, expires=now + ttl,
        intent=intent.msg.id, vendor=signer.vendor_id,
    )  # fmt: skip
    return offer, seal(intent.msg.keys.seal, pack(signer.profile_wire, wire))


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
    intent = open_intent(intent_wire, now=None, replay=None)
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
    if (a.offer_id, a.offer_hash, a.intent_hash) != (offer.msg.id, offer.digest, intent.digest):
        raise Rebound(
            "an acceptance bound to this offer and intent", "other ids or hashes", "$.msg"
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


# --- cancelling a confirmed order ------------------------------------------------------


def make_cancel(
    receipt: Verified[Receipt], secrets: IntentSecrets, seal_to: str, reason: str, now: datetime
) -> tuple[bytes, bytes]:
    """The person cancels the order a receipt records: (frame to keep, sealed bytes to send).
    Signed by the intent's key, like every word the person says about that intent."""
    r = receipt.msg
    cancel = Cancel(
        order_id=r.order_id, intent_id=r.intent_id, offer_id=r.offer_id, vendor_id=r.vendor_id,
        by="person", reason=reason[:200],
    )  # fmt: skip
    wire = sign(
        cancel, secrets.sign, created=now, expires=now + timedelta(minutes=10),
        intent=r.intent_id, vendor=r.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


def open_cancel(
    sealed: bytes,
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[Cancel]:
    """Verify a person's cancellation; ``intent_key`` resolves only intent keys of orders this
    vendor holds. The caller checks that the order belongs to that key."""
    (wire,) = unpack(unseal([signer.seal], sealed), 1, "$.bundle")
    v = verify(
        wire, Cancel, key=intent_key, now=now,
        audience=Audience(vendor=signer.vendor_id), replay=replay,
    )  # fmt: skip
    if v.msg.by != "person" or v.msg.vendor_id != signer.vendor_id:
        raise Rebound("a cancellation by the person, to this vendor", f"by {v.msg.by}", "$.msg")
    return v


def confirm_cancel(
    cancel: Verified[Cancel],
    *,
    signer: VendorSigner,
    seal_to: str,
    status: str,
    reason: str,
    now: datetime,
) -> bytes:
    """The vendor's signed answer to a cancellation, sealed to the intent: status
    ``rejected`` with reason ``cancelled`` when the order is off, else ``confirmed`` with the
    reason it still stands."""
    c = cancel.msg
    conf = OrderConfirmation(
        order_id=c.order_id, intent_id=c.intent_id, offer_id=c.offer_id, vendor_id=signer.vendor_id,
        status="rejected" if status == "rejected" else "confirmed", reason=reason,
    )  # fmt: skip
    wire = sign(
        conf, signer.signing, created=now, expires=now + timedelta(minutes=10),
        intent=c.intent_id, vendor=signer.vendor_id,
    )  # fmt: skip
    return seal(seal_to, pack(wire, wire))


def open_cancel_answer(
    sealed: bytes, *, secrets: IntentSecrets, cancel: Verified[Cancel], ring: KeyRing, now: datetime
) -> Verified[OrderConfirmation]:
    """Verify the vendor's answer to one's own cancellation."""
    c = cancel.msg
    frames = unpack(unseal(secrets.seal, sealed), 2, "$.bundle")
    aud = Audience(intent=c.intent_id, vendor=c.vendor_id)
    conf = verify(frames[0], OrderConfirmation, key=ring, now=now, audience=aud)
    m = conf.msg
    if (m.order_id, m.offer_id) != (c.order_id, c.offer_id):
        raise Rebound(f"an answer about order {c.order_id}", f"one about {m.order_id}", "$.msg")
    return conf
