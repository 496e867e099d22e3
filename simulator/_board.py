"""Fast mode's ratings board: ratings kept already opened, read by the real network trust.

Full mode publishes signed rating bundles to a JetStream board, and each person's
``agent.NetworkTrust`` opens (verifies) every bundle it reads. Fast mode signs nothing: a
rating goes on this board as the ``schemas.OpenedRating`` that opening its bundle would
give, and :func:`opened_trust` is ``NetworkTrust`` with the opening step handing that back
(its public ``opened`` hook). Readers who weigh the board alike and follow no friends share
one ``agent.BoardEvidence`` (running sums per vendor), each taking out only their own receipts.
Everything after opening (own receipts left out, one rating per receipt, strangers' weight,
the asymmetric blame, the ceiling on praise, friends, certified copies, forgetting, the veto
in the ranking) is ``NetworkTrust``'s own code. A friend is recognised as
``schemas.recognise_friend`` recognises one: the rating was sealed with the seal secret of
someone the reader follows.

The board keeps the newest 2,000 ratings per vendor, as ``runtime.RatingsBoard``'s reader
does, and the simulated day each was published (for the scenario's retention).

"""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta

import schemas
from agent import BoardEvidence, NetworkTrust, ReceiptIndex

from ._clock import SimClock
from ._plugins import RatingSource
from ._rounds import day_of

__all__ = ["KEEP_PER_VENDOR", "FastBoard", "opened_trust"]

KEEP_PER_VENDOR = 2_000  # runtime.RatingsBoard's keep_per_vendor
_NONCE = "0" * 32
_MADE_UP = "0" * 64  # hashes of what fast mode never signs


class FastBoard:
    def __init__(self) -> None:
        self._copy: dict[str, deque[tuple[int, bytes]]] = {}
        self._opened: dict[int, tuple[schemas.OpenedRating, schemas.FriendIdentity | None]] = {}
        self.day: dict[int, float] = {}  # sequence -> simulated day it was published
        self._seq = 0
        self.index = ReceiptIndex()  # shared by every reader: one entry per rating
        self._evidence: dict[tuple[float, float, float], BoardEvidence] = {}
        self.source: RatingSource = self.bundles  # what people read (retention applied)

    def bundles(self, vendor_id: str) -> list[tuple[int, bytes]]:
        """(sequence, no bytes) of the ratings of ``vendor_id`` the board holds."""
        return list(self._copy.get(vendor_id, ()))

    def opened(
        self, seq: int, vendor_id: str, friends: tuple[schemas.Friend, ...]
    ) -> tuple[schemas.OpenedRating, schemas.Friend | None]:
        """The rating at ``seq`` as opening it gives, and which of ``friends`` sealed it."""
        opened, author = self._opened[seq]
        if author is None or not friends:
            return opened, None
        return opened, next((f for f in friends if f.secret == author.secret), None)

    def evidence(self, weight: float, negative_factor: float, half_life: float) -> BoardEvidence:
        """The running sums of this board for every reader who weighs it so."""
        key = (weight, negative_factor, half_life)
        if key not in self._evidence:
            self._evidence[key] = BoardEvidence.shared(
                self.opened, weight=weight, negative_factor=negative_factor,
                half_life_days=half_life, index=self.index,
            )  # fmt: skip
        return self._evidence[key]

    def rate(
        self,
        profile: schemas.Verified[schemas.VendorProfile],
        intent: schemas.Intent,
        receipt_id: str,
        score: int,
        outcome: str,
        clock: SimClock,
        *,
        author: schemas.FriendIdentity | None = None,
    ) -> int:
        """Publish the rating of ``receipt_id`` (an order of ``intent`` from the vendor of
        ``profile``) made now; ``author`` is the rater's friend identity, if they have one."""
        self._seq += 1
        # In whole seconds, as schemas.make_rating signs a rating's time.
        seq, now, vendor_id = self._seq, clock.now().replace(microsecond=0), profile.msg.vendor_id
        header = schemas.Header(
            created=now, expires=now + timedelta(days=400), nonce=_NONCE, intent=intent.id,
            vendor=vendor_id,
        )  # fmt: skip
        receipt = schemas.Receipt(
            id=receipt_id, order_id=receipt_id, intent_id=intent.id, offer_id=receipt_id,
            vendor_id=vendor_id, intent_hash=_MADE_UP, offer_hash=_MADE_UP, accept_hash=_MADE_UP,
            item=schemas.Item("SIM-1", "Anything"), quantity=intent.quantity,
            total_price=intent.max_price, delivery_by=date.min, payment_method="card",
        )  # fmt: skip
        rating = schemas.Rating(
            receipt_hash=receipt_id, vendor_id=vendor_id, score=score,
            outcome=outcome,  # type: ignore[arg-type]  # one of RATING_OUTCOMES
        )  # fmt: skip
        wire = bytes(64) + str(seq).encode()  # what the rating's digest is taken over: unique
        opened = schemas.OpenedRating(
            schemas.Verified(rating, header, intent.keys.sign, wire),
            schemas.Verified(receipt, header, vendor_id, b""),
            schemas.Verified(intent, header, intent.keys.sign, b""),
            profile,
        )
        kept = self._copy.setdefault(vendor_id, deque())
        if len(kept) == KEEP_PER_VENDOR:
            old, _ = kept.popleft()
            del self._opened[old], self.day[old]
        kept.append((seq, b""))
        self._opened[seq] = (opened, author)
        self.day[seq] = day_of(clock)
        return seq


def opened_trust(made: NetworkTrust, board: FastBoard) -> NetworkTrust:
    """The same scorer as ``made`` (own trust, the ratings source it reads, policy, weights,
    friends), taking what it reads from ``board`` as the board holds it, already opened, and
    the board's sums shared with every reader weighing it alike."""
    w, hl = made.weights, made.policy.half_life_days
    return NetworkTrust(
        made.own, made.ratings, made.policy, made.weights, friends=made.friends,
        opened=board.opened, shared=board.evidence(w.weight, w.negative_factor, hl),
    )  # fmt: skip
