"""Offering: the person casts an intent, vendors open it and answer with sealed offers, the
person opens each offer with the profile that travels beside it.

:func:`cast_intent` (person) -> :func:`open_intent` (vendor) -> :func:`make_offer` (vendor)
-> :func:`open_offer` / :func:`open_offer_bundle` (person).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ._envelope import Audience, Verified, new_id, self_signed, sign, verify
from ._errors import Malformed, Rebound
from ._identity import IntentSecrets, KeyRing, ProfileCache, VendorSigner
from ._messages import (
    CertifiedRating,
    Intent,
    IntentKeys,
    Item,
    Need,
    Offer,
    Region,
    VendorProfile,
    Want,
)
from ._money import Money
from ._replay import ReplayCache
from ._sealing import pack, seal, unpack, unseal
from ._subjects import REPLY_ROOT, intent_subject, is_reply_subject, new_reply_subject
from ._terms import Terms, VendorTerms
from ._watching import watch_lifetime

__all__ = [
    "INTENT_LIFETIMES",
    "CastIntent",
    "OpenedOffer",
    "cast_intent",
    "intent_lifetime",
    "make_offer",
    "open_intent",
    "open_offer",
    "open_offer_bundle",
]


# The only lifetimes an intent has, so that its lifetime says nothing about how long its
# person chose to wait (or which agent, with which defaults, cast it).
INTENT_LIFETIMES = tuple(
    timedelta(minutes=m) for m in (1, 5, 15, 60, 24 * 60)
)  # fmt: skip


def intent_lifetime(wait_seconds: float) -> timedelta:
    """The smallest of :data:`INTENT_LIFETIMES` that covers a wait of ``wait_seconds`` (the
    largest, a day, for anything longer)."""
    for lifetime in INTENT_LIFETIMES:
        if wait_seconds <= lifetime.total_seconds():
            return lifetime
    return INTENT_LIFETIMES[-1]


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
    to any other intent of the same person. ``created`` is ``now`` to the second (finer
    digits would fingerprint the machine's clock) and the lifetime is ``ttl`` rounded up to
    one of :data:`INTENT_LIFETIMES`, or of :data:`WATCH_LIFETIMES` for a ``ttl`` over a day
    (a watched intent, see ``_watching``)."""
    now = now.replace(microsecond=0)
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
    seconds = ttl.total_seconds()
    day = INTENT_LIFETIMES[-1].total_seconds()
    expires = now + (watch_lifetime(seconds) if seconds > day else intent_lifetime(seconds))
    wire = sign(intent, secrets.sign, created=now, expires=expires, intent=intent.id)
    return CastIntent(wire, intent, secrets, intent_subject(category), now, expires)


def open_intent(
    wire: bytes, *, now: datetime | None, replay: ReplayCache | None, where: str = "$"
) -> Verified[Intent]:
    """Verify a broadcast intent: self-signed by the key it names, bound to its own id, and
    asking for replies on a reply subject (:func:`is_reply_subject`), not on an order
    endpoint or an intent subject where honest vendors would publish what it provokes.
    ``now=None`` skips the time checks (an acceptance may come after the intent's window)."""
    v = verify(wire, Intent, key=self_signed, now=now, replay=replay, where=where)
    if v.kid != v.msg.keys.sign:
        raise Rebound(
            f"an intent signed by its own key {v.msg.keys.sign[:16]}...", v.kid[:16], f"{where}.tag"
        )
    if v.header.intent != v.msg.id:
        raise Rebound(
            f"header bound to intent {v.msg.id}",
            v.header.intent or "(none)",
            f"{where}.hdr.intent",
        )
    if not is_reply_subject(v.msg.reply_subject):
        raise Malformed(
            f"a reply subject {REPLY_ROOT}.<32 hex>[.<32 hex>]",
            v.msg.reply_subject[:80],
            f"{where}.msg.reply_subject",
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
    certified: list[CertifiedRating] | None = None,
    delivers_to: list[Region] | None = None,
    needs: list[Need] | None = None,
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
        certified=certified or [],
        delivers_to=delivers_to or [],
        needs=needs or [],
    )
    wire = sign(
        offer, signer.signing, created=now, expires=now + ttl,
        intent=intent.msg.id, vendor=signer.vendor_id,
    )  # fmt: skip
    return offer, seal(intent.msg.keys.seal, pack(signer.profile_wire, wire))


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
            "$.offer.msg.intent_id"
            if offer.msg.intent_id != intent.id
            else "$.offer.msg.vendor_id",
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
