"""Certified reputation: the ratings a vendor carries on its offers (FIRE's certified
reputation), verified and kept as evidence the vendor selected.

Each copy (``Offer.certified``, a ``schemas.CertifiedRating``) is checked as a rating from the
board is (``schemas.open_certified``: its receipt signed by a key of the offering vendor's
profile, the intent that receipt binds, the rating signed by that intent's key), with the
profile that came with the offer. Refused, counted by reason and logged:

- ``foreign``: a rating of another vendor (the copy names one);
- ``forged``: anything else that does not verify;
- ``duplicate``: a second copy of one receipt, or of a receipt the board or the person's own
  store already has (the evidence is counted once, where it is least selected).

What is kept is bounded: at most ``per_vendor`` receipts per vendor, ``max_vendors`` vendors.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from datetime import datetime

import msgspec
import structlog

import schemas

__all__ = ["CertifiedEvidence", "note_certified"]

log = structlog.get_logger("intentcast.agent.trust")


class CertifiedEvidence:
    def __init__(
        self,
        *,
        per_vendor: int = 32,
        max_vendors: int = 1_000,
        profiles: schemas.ProfileCache | None = None,
    ) -> None:
        self.per_vendor, self.max_vendors = per_vendor, max_vendors
        self.profiles = profiles or schemas.ProfileCache(capacity=1_000)
        self._kept: OrderedDict[str, dict[str, schemas.OpenedRating]] = OrderedDict()
        self.refused: Counter[str] = Counter()

    def note(self, offers: Iterable[schemas.OpenedOffer], now: datetime) -> None:
        """Verify and keep the certified ratings of verified offers."""
        for o in offers:
            vendor_id = o.profile.msg.vendor_id
            profile_wire = schemas.unpack(o.bundle, 2, "$.bundle")[0]
            in_this_offer: set[str] = set()
            for i, copy in enumerate(o.offer.msg.certified):
                self._add(vendor_id, profile_wire, copy, i, now, in_this_offer)

    def _add(
        self,
        vendor_id: str,
        profile_wire: bytes,
        copy: schemas.CertifiedRating,
        index: int,
        now: datetime,
        in_this_offer: set[str],
    ) -> None:
        try:
            got = schemas.open_certified(
                copy, profile_wire=profile_wire, vendor_id=vendor_id, now=now,
                profiles=self.profiles,
            )  # fmt: skip
        except schemas.ProtocolError as err:
            reason = "foreign" if _names_another_vendor(copy, vendor_id) else "forged"
            self._refuse(reason, vendor_id, index, err.code)
            return
        kept = self._kept.setdefault(vendor_id, {})
        self._kept.move_to_end(vendor_id)
        receipt = got.receipt.msg.id
        if receipt in in_this_offer:
            self._refuse("duplicate", vendor_id, index, "a second copy of one receipt")
            return
        in_this_offer.add(receipt)
        if receipt in kept:  # an offer judged again, or another offer's copy: counted once
            if kept[receipt].rating.digest != got.rating.digest:
                self._refuse("duplicate", vendor_id, index, "another rating of one receipt")
            return
        if len(kept) < self.per_vendor:
            kept[receipt] = got
        while len(self._kept) > self.max_vendors:
            self._kept.popitem(last=False)

    def _refuse(self, reason: str, vendor_id: str, index: int, detail: str) -> None:
        self.refused[reason] += 1
        log.info("certified.refused", vendor=vendor_id, index=index, reason=reason, detail=detail)

    def ratings(self, vendor_id: str, *, besides: set[str]) -> list[schemas.OpenedRating]:
        """The vendor's certified ratings whose receipts are not in ``besides`` (receipts
        already counted from the board or the person's store); those that are, are counted
        as duplicates once."""
        kept = self._kept.get(vendor_id, {})
        for receipt in [r for r in kept if r in besides]:
            del kept[receipt]
            self._refuse("duplicate", vendor_id, -1, "already on the board or in your store")
        return list(kept.values())


def _names_another_vendor(copy: schemas.CertifiedRating, vendor_id: str) -> bool:
    """Whether the copy's rating (unverified: this only names the refusal) rates a vendor
    other than ``vendor_id``."""
    try:
        _, _, _, signed = schemas.split_frame(copy.rating)
        doc = msgspec.json.decode(signed[signed.index(b"\n") + 1 :])
        return bool(doc["msg"]["vendor_id"] != vendor_id)
    except (schemas.ProtocolError, msgspec.DecodeError, ValueError, KeyError, TypeError):
        return False


def note_certified(trust: object, offers: Iterable[schemas.OpenedOffer], now: datetime) -> None:
    """Hand the offers' certified ratings to whichever scorer in ``trust``'s chain (through
    ``inner``, as ``RegisteredTrust`` wraps) keeps them; a scorer that does not, ignores them."""
    while trust is not None:
        note = getattr(trust, "note_offers", None)
        if note is not None:
            note(offers, now)
            return
        trust = getattr(trust, "inner", None)
