"""Rating: the buyer of a real order tells the market how it went, without saying who they are.

A rating travels as a bundle of four frames, so that anyone can check it with no key but the
vendor's own:

    [Rating, Receipt, Intent, VendorProfile]

- the vendor's profile, self-signed by its identity key, which must be the vendor rated;
- the receipt, signed by a key of that profile: the vendor itself says the order happened;
- the intent, whose SHA-256 the receipt binds: it names the per-intent key of the buyer;
- the rating, signed by that per-intent key and bound to the receipt by its hash.

So only the holder of the intent's key, the buyer of a vendor-signed order, can rate it, and
the rating says nothing about the buyer that the intent did not already say in public: its
key is used for that one intent only. One rating per receipt counts; a later one (by its
header's ``created``, in whole seconds) replaces an earlier one. What a receipt cannot prove is that the buyer
is not the vendor itself (a vendor can sign both sides of an order of its own making): the
trust that reads ratings weighs them with that in mind (docs/trust.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.signing import SigningKey, VerifyKey

from ._document import CLOCK_SKEW, MAX_LIFETIME
from ._envelope import Audience, Verified, sign, verify
from ._errors import NotYetValid, Rebound, UnknownSigner
from ._friends import FriendIdentity, cover_seal, friend_seal
from ._identity import KeyRing, ProfileCache
from ._messages import CertifiedRating, Intent, Rating, Receipt, VendorProfile
from ._offering import open_intent
from ._sealing import pack, unpack

__all__ = [
    "RATING_OUTCOMES",
    "OpenedRating",
    "certified_copy",
    "latest_per_receipt",
    "make_rating",
    "open_certified",
    "open_rating",
    "rating_subject",
]

RATING_OUTCOMES = ("delivered", "late", "not_delivered", "not_as_described", "returned")


def rating_subject(vendor_id: str) -> str:
    """Where ratings of one vendor are published (and kept, in the ratings stream)."""
    return f"ic.v1.rating.{vendor_id}"


@dataclass(frozen=True)
class OpenedRating:
    rating: Verified[Rating]
    receipt: Verified[Receipt]
    intent: Verified[Intent]
    profile: Verified[VendorProfile]

    @property
    def created(self) -> datetime:
        return self.rating.header.created


def make_rating(
    *,
    receipt_wire: bytes,
    intent_wire: bytes,
    profile_wire: bytes,
    intent_seed: bytes,
    score: int,
    outcome: str,
    now: datetime,
    comment: str = "",
    friend: FriendIdentity | None = None,
) -> bytes:
    """The bundle that rates the order of ``receipt_wire``, signed with the intent's seed;
    with ``friend``, sealed so that the person's followers recognise it (``_friends``), and
    without, carrying a random seal of the same size."""
    receipt, intent = _parts(receipt_wire, intent_wire, profile_wire)[:2]
    r = receipt.msg
    now = now.replace(microsecond=0)  # published: finer digits fingerprint the person's clock
    seal = cover_seal()
    if friend is not None:
        seal = friend_seal(
            friend, receipt_hash=receipt.digest, intent_key=intent.msg.keys.sign,
            vendor_id=r.vendor_id,
        )  # fmt: skip
    msg = Rating(
        receipt_hash=receipt.digest, vendor_id=r.vendor_id, score=score,
        outcome=outcome,  # type: ignore[arg-type]  # checked by the decoder on the way back
        comment=comment, friend_seal=seal,
    )  # fmt: skip
    wire = sign(
        msg, SigningKey(intent_seed), created=now, expires=now + MAX_LIFETIME["rating"],
        intent=r.intent_id, vendor=r.vendor_id,
    )  # fmt: skip
    return pack(wire, receipt_wire, intent_wire, profile_wire)


def _parts(
    receipt_wire: bytes,
    intent_wire: bytes,
    profile_wire: bytes,
    vendor_id: str | None = None,
    profiles: ProfileCache | None = None,
) -> tuple[Verified[Receipt], Verified[Intent], Verified[VendorProfile]]:
    profile = (profiles or ProfileCache()).open(profile_wire, None, "$.profile")
    if vendor_id is not None and profile.msg.vendor_id != vendor_id:
        raise UnknownSigner(
            f"the profile of the vendor rated ({vendor_id[:16]}...)",
            f"one of {profile.msg.vendor_id[:16]}...",
            "$.profile.msg.vendor_id",
        )
    receipt = verify(
        receipt_wire, Receipt, key=KeyRing.from_profile(profile.msg), now=None,
        audience=Audience(vendor=profile.msg.vendor_id), where="$.receipt",
    )  # fmt: skip
    intent = open_intent(intent_wire, now=None, replay=None, where="$.intent")
    if intent.digest != receipt.msg.intent_hash or intent.msg.id != receipt.msg.intent_id:
        raise Rebound(
            f"the intent the receipt binds ({receipt.msg.intent_hash[:16]}...)",
            f"intent {intent.digest[:16]}...",
            "$.intent",
        )
    return receipt, intent, profile


def open_rating(
    bundle: bytes, *, vendor_id: str, now: datetime, profiles: ProfileCache | None = None
) -> OpenedRating:
    """Verify a rating bundle of ``vendor_id`` read from the ratings stream (any age, but not
    from the future); raises :class:`ProtocolError` naming what does not hold. ``profiles``
    lets a reader of many ratings of one vendor verify its profile once."""
    rating_wire, receipt_wire, intent_wire, profile_wire = unpack(bundle, 4, "$.bundle")
    receipt, intent, profile = _parts(receipt_wire, intent_wire, profile_wire, vendor_id, profiles)
    buyer = intent.msg.keys.sign

    def buyer_key(kid: str, at: datetime | None) -> VerifyKey:
        if kid != buyer:
            raise UnknownSigner(f"the buyer's intent key {buyer[:16]}...", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    rating = verify(
        rating_wire, Rating, key=buyer_key, now=None,
        audience=Audience(intent=intent.msg.id, vendor=vendor_id), where="$.rating",
    )  # fmt: skip
    if rating.header.created > now + CLOCK_SKEW:
        raise NotYetValid(
            f"a rating made by {now.isoformat()}",
            rating.header.created.isoformat(),
            "$.rating.hdr.created",
        )
    if rating.msg.receipt_hash != receipt.digest or rating.msg.vendor_id != vendor_id:
        raise Rebound(
            f"a rating of receipt {receipt.digest[:16]}... of {vendor_id[:16]}...",
            f"one of {rating.msg.receipt_hash[:16]}... of {rating.msg.vendor_id[:16]}...",
            "$.rating.msg.receipt_hash",
        )
    return OpenedRating(rating, receipt, intent, profile)


def certified_copy(bundle: bytes) -> CertifiedRating:
    """What a vendor attaches to an offer for one rating bundle of itself from the board."""
    rating_wire, receipt_wire, intent_wire, _ = unpack(bundle, 4, "$.bundle")
    return CertifiedRating(rating=rating_wire, receipt=receipt_wire, intent=intent_wire)


def open_certified(
    copy: CertifiedRating,
    *,
    profile_wire: bytes,
    vendor_id: str,
    now: datetime,
    profiles: ProfileCache | None = None,
) -> OpenedRating:
    """Verify a rating an offer carries, with the profile that came with the offer: the same
    checks as a rating from the board (:func:`open_rating`), for ``vendor_id`` only."""
    return open_rating(
        pack(copy.rating, copy.receipt, copy.intent, profile_wire), vendor_id=vendor_id, now=now,
        profiles=profiles,
    )  # fmt: skip


def latest_per_receipt(ratings: list[OpenedRating]) -> list[OpenedRating]:
    """One rating per receipt: the one made last (in whole seconds; of two made in one
    second, the later in ``ratings``, which is the order the board published them in)."""
    best: dict[str, OpenedRating] = {}
    for r in ratings:
        key = r.rating.msg.receipt_hash
        if key not in best or r.created >= best[key].created:
            best[key] = r
    return list(best.values())
