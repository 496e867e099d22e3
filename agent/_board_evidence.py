"""What the ratings board says of each vendor, kept as running sums (``NetworkTrust``'s).

Counting every rating of a vendor for each offer scored made a score cost grow with the
board. A vendor's ratings are counted once instead, into weighted sums as of a time ``at``;
a later score forgets the sums by the time elapsed (forgetting is exponential, so it is a
factor: ``0.5 ** (elapsed / half_life)``) and adds only the ratings published since. The
sums are counted again from scratch, as ``NetworkTrust`` always counted them, whenever the
shortcut would not give the same result: ratings left the board (retention, the board's
keep), a new rating rates a receipt already counted (only the latest per receipt counts),
the person's receipts changed for that vendor, the clock went back, or a rating counted is
dated after ``at`` (its forgetting stopped at age 0, which no factor undoes).

A factor applied to a sum rounds differently from forgetting each rating by its own age:
scores agree with a recount to about 1e-15 (tests/test_board_evidence.py measures it).

:class:`BoardEvidence` is one set of sums per vendor for readers with one weighting and
half-life. Each ``NetworkTrust`` keeps its own; a simulator whose thousands of people read
one board of ratings already opened shares one among all the people of a weighting who
follow no friends (:meth:`BoardEvidence.shared`): each person's own receipts are then taken
out of the shared sums (few: one person's orders), instead of each person counting the board.

Over 300 lines: the sums, their index and each case that forces a recount belong together,
each check being there for one of those cases.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import schemas

from ._trust import forgetting, rating_evidence

__all__ = ["BoardEvidence", "OpenedSource", "ReceiptIndex"]

# (sequence, vendor id, the friends followed) -> the rating opened and the friend who sealed
# it, or None to refuse it: a source of ratings that are verified already.
OpenedSource = Callable[
    [int, str, tuple[schemas.Friend, ...]],
    tuple[schemas.OpenedRating, schemas.Friend | None] | None,
]
Opener = Callable[
    [int, bytes, str, datetime], tuple[schemas.OpenedRating, schemas.Friend | None] | None
]
Weights = tuple[float, float, float]  # (stranger's weight, negative factor, friend's weight)


@dataclass(slots=True)
class Tally:
    pos: float = 0.0
    mild: float = 0.0  # blame from delivered orders rated below 5: scaled with the praise
    neg: float = 0.0  # blame from orders that failed
    buyers: int = 0
    delivered: int = 0
    friend_scores: Counter[int] = field(default_factory=Counter)

    def forget(self, factor: float) -> None:
        self.pos, self.mild, self.neg = self.pos * factor, self.mild * factor, self.neg * factor

    def count(
        self, o: schemas.OpenedRating, weight: float, neg_factor: float, f: float, sign: int = 1
    ) -> None:
        """Add (``sign`` -1: take out) one rating, weighed ``weight``, forgotten by ``f``."""
        r = o.rating.msg
        p, n = rating_evidence(r.score, r.outcome)
        self.pos += sign * f * weight * p
        if r.outcome in ("not_delivered", "not_as_described"):
            self.neg += sign * f * weight * neg_factor * n
        else:
            self.mild += sign * f * weight * neg_factor * n
        self.buyers += sign
        self.delivered += sign * (r.outcome in ("delivered", "late"))
        if self.buyers == 0:  # nothing left: exactly nothing, not a rounding residue
            self.pos = self.mild = self.neg = 0.0


@dataclass(slots=True)
class Folded:
    """A vendor's ratings counted, as of ``at``: the ``count`` first of the vendor's list,
    sequences ``first`` to ``last``, while the reader held the receipts ``mine``."""

    at: datetime
    first: int
    last: int
    count: int
    mine: set[str]
    newest: datetime  # the newest rating counted (forgetting stops at age 0)
    strangers: Tally
    friends: Tally
    # With ``keep_window``: each held rating, in order, and how it was counted (_COUNTED).
    window: deque[tuple[int, schemas.OpenedRating | None, int]] | None = None


_NOT_COUNTED, _STRANGER, _FRIEND = 0, 1, 2


class ReceiptIndex:
    """Which sequences on a ratings board rate which receipt of a vendor, for the ratings
    counted so far: how new ratings are known to rate a receipt already counted, and how a
    receipt the person now holds is found among those counted as a stranger's. What the
    board no longer holds is forgotten once a vendor's entries outgrow twice its window."""

    def __init__(self) -> None:
        self._by_hash: dict[str, dict[str, list[int]]] = {}  # vendor -> receipt hash -> seqs
        self._by_id: dict[str, dict[str, list[int]]] = {}  # vendor -> receipt id -> seqs

    def note(self, vendor_id: str, seq: int, o: schemas.OpenedRating) -> None:
        for index, key in (
            (self._by_hash, o.rating.msg.receipt_hash),
            (self._by_id, o.receipt.msg.id),
        ):
            seqs = index.setdefault(vendor_id, {}).setdefault(key, [])
            if seq not in seqs:
                seqs.append(seq)

    def by_hash(self, vendor_id: str, receipt_hash: str, lo: int, hi: int) -> list[int]:
        """The sequences in ``[lo, hi]`` rating the receipt whose hash is ``receipt_hash``."""
        seqs = self._by_hash.get(vendor_id, {}).get(receipt_hash, ())
        return sorted(s for s in seqs if lo <= s <= hi)

    def by_id(self, vendor_id: str, receipt_id: str, lo: int, hi: int) -> list[int]:
        """The sequences in ``[lo, hi]`` rating receipt ``receipt_id``."""
        return sorted(
            s for s in self._by_id.get(vendor_id, {}).get(receipt_id, ()) if lo <= s <= hi
        )

    def size(self, vendor_id: str) -> int:
        """How many receipts of ``vendor_id`` it holds sequences of."""
        return len(self._by_hash.get(vendor_id, {}))

    def forget_below(self, vendor_id: str, first: int, window: int) -> None:
        """Forget the sequences of ``vendor_id`` before ``first`` (the board no longer holds
        them), once its entries number more than twice the ``window`` it holds, plus 100."""
        if self.size(vendor_id) <= 2 * window + 100:
            return
        for index in (self._by_hash, self._by_id):
            kept = {}
            for key, seqs in index.get(vendor_id, {}).items():
                if young := [s for s in seqs if s >= first]:
                    kept[key] = young
            index[vendor_id] = kept


class BoardEvidence:
    """Running sums of one board's ratings per vendor, for readers weighing them alike."""

    def __init__(
        self,
        opener: Opener,
        weights: Weights,
        half_life_days: float,
        index: ReceiptIndex | None = None,
        *,
        keep_window: bool = False,
    ) -> None:
        self.open, self.weights, self.half_life = opener, weights, half_life_days
        self.keep_window = keep_window
        self.index = index or ReceiptIndex()
        self.nobody: set[str] = set()  # the receipts of a shared sum's reader: none
        self._folded: dict[str, Folded] = {}

    @classmethod
    def shared(
        cls,
        opened: OpenedSource,
        *,
        weight: float,
        negative_factor: float,
        half_life_days: float,
        index: ReceiptIndex | None = None,
    ) -> BoardEvidence:
        """Sums for every reader of a board of opened ratings who weighs strangers so and
        follows no friends (``NetworkTrust``'s ``shared``)."""

        def opener(
            seq: int, bundle: bytes, vendor_id: str, now: datetime
        ) -> tuple[schemas.OpenedRating, schemas.Friend | None] | None:
            return opened(seq, vendor_id, ())

        return cls(opener, (weight, negative_factor, 0.0), half_life_days, index, keep_window=True)

    def clear(self) -> None:
        self._folded.clear()

    def sums(
        self, vendor_id: str, held: list[tuple[int, bytes]], mine: set[str], now: datetime
    ) -> Folded:
        """The counted ratings of ``vendor_id`` (``held``: what the board holds now), those
        of the receipts in ``mine`` left out; read it, never change it."""
        f = self._folded.get(vendor_id)
        if f is not None and self._extends(f, vendor_id, held, mine, now):
            factor = forgetting(f.at, now, self.half_life)
            f.strangers.forget(factor)
            f.friends.forget(factor)
            f.at = now
            if self._drop(f, vendor_id, held, now) and self._fold(f, vendor_id, held, mine, now):
                self._forget_gone(vendor_id, held)
                return f
        f = self._folded[vendor_id] = self._recount(vendor_id, held, mine, now)
        self._forget_gone(vendor_id, held)
        return f

    def _forget_gone(self, vendor_id: str, held: list[tuple[int, bytes]]) -> None:
        if held:
            self.index.forget_below(vendor_id, held[0][0], len(held))

    def forgotten(self, o: schemas.OpenedRating, now: datetime) -> float:
        return forgetting(o.created, now, self.half_life)

    def _extends(
        self,
        f: Folded,
        vendor_id: str,
        held: list[tuple[int, bytes]],
        mine: set[str],
        now: datetime,
    ) -> bool:
        """Whether ``held`` is what ``f`` counted with ratings added after it, and the sums
        can be forgotten to ``now`` by a factor."""
        if f.count == 0:
            return not held and now >= f.at  # still no ratings: nothing to count
        if not held or held[0][0] < f.first:
            return False
        gone = 0  # counted ratings the board no longer holds: taken out (_drop) if kept
        if held[0][0] != f.first:
            if f.window is None:
                return False
            gone = next((i for i, (s, _, _) in enumerate(f.window) if s >= held[0][0]), f.count)
        if gone == f.count or len(held) < f.count - gone or held[f.count - gone - 1][0] != f.last:
            return False
        if now < f.at or (f.newest > f.at and now != f.at):
            return False
        if mine is not f.mine:
            if f.mine - mine or any(
                self.index.by_id(vendor_id, r, f.first, f.last) for r in mine - f.mine
            ):
                return False
            f.mine = mine
        return True

    def _drop(
        self, f: Folded, vendor_id: str, held: list[tuple[int, bytes]], now: datetime
    ) -> bool:
        """Take out the ratings the board no longer holds; False if one was the rating counted
        for a receipt it holds another rating of (then only a recount says which counts)."""
        if not held:
            return True  # nothing held nor counted (see _extends)
        weight, negative, friend_weight = self.weights
        while f.window and f.window[0][0] < held[0][0]:
            _, o, kind = f.window.popleft()
            f.count -= 1
            if o is None or kind == _NOT_COUNTED:
                continue
            if self.index.by_hash(vendor_id, o.rating.msg.receipt_hash, held[0][0], f.last):
                return False
            if kind == _FRIEND:
                f.friends.count(o, friend_weight, 1.0, self.forgotten(o, now), sign=-1)
                f.friends.friend_scores[o.rating.msg.score] -= 1
                f.friends.friend_scores += Counter()  # no friend "rated" it 0 times
            else:
                f.strangers.count(o, weight, negative, self.forgotten(o, now), sign=-1)
        f.first = held[0][0]
        return True

    def _fold(
        self,
        f: Folded,
        vendor_id: str,
        held: list[tuple[int, bytes]],
        mine: set[str],
        now: datetime,
    ) -> bool:
        """Add the ratings ``f`` has not counted; False if one rates a receipt already on
        the board (then only a recount gives the latest per receipt)."""
        weight, negative, friend_weight = self.weights
        for seq, bundle in held[f.count :]:
            got = self.open(seq, bundle, vendor_id, now)
            f.count, f.last = f.count + 1, seq
            o, kind = (None, _NOT_COUNTED) if got is None else (got[0], _NOT_COUNTED)
            if got is not None:
                self.index.note(vendor_id, seq, got[0])
            if got is not None and got[0].receipt.msg.id not in mine:
                o, friend = got
                if self.index.by_hash(vendor_id, o.rating.msg.receipt_hash, f.first, seq - 1):
                    return False
                fgt = self.forgotten(o, now)
                if friend:
                    f.friends.count(o, friend_weight, 1.0, fgt)
                    f.friends.friend_scores[o.rating.msg.score] += 1
                else:
                    f.strangers.count(o, weight, negative, fgt)
                f.newest = max(f.newest, o.created)
                kind = _FRIEND if friend else _STRANGER
            if f.window is not None:
                f.window.append((seq, o, kind))
        return True

    def _recount(
        self, vendor_id: str, held: list[tuple[int, bytes]], mine: set[str], now: datetime
    ) -> Folded:
        """Every rating held, counted as ``NetworkTrust`` counts them: own receipts left out,
        then the latest rating per receipt."""
        opened, each = [], []
        for seq, bundle in held:
            got = self.open(seq, bundle, vendor_id, now)
            each.append((seq, None if got is None else got[0]))
            if got is not None:
                self.index.note(vendor_id, seq, got[0])
                if got[0].receipt.msg.id not in mine:
                    opened.append(got)
        friend_of = {id(o): f for o, f in opened}
        kind: dict[int, int] = {}
        f = Folded(
            at=now, first=held[0][0] if held else 0, last=held[-1][0] if held else 0,
            count=len(held), mine=mine, newest=datetime.min.replace(tzinfo=now.tzinfo),
            strangers=Tally(), friends=Tally(),
        )  # fmt: skip
        weight, negative, friend_weight = self.weights
        for o in schemas.latest_per_receipt([o for o, _ in opened]):
            fgt = self.forgotten(o, now)
            if friend_of[id(o)]:
                f.friends.count(o, friend_weight, 1.0, fgt)
                f.friends.friend_scores[o.rating.msg.score] += 1
            else:
                f.strangers.count(o, weight, negative, fgt)
            f.newest = max(f.newest, o.created)
            kind[id(o)] = _FRIEND if friend_of[id(o)] else _STRANGER
        if self.keep_window:
            f.window = deque(
                (q, o, _NOT_COUNTED if o is None else kind.get(id(o), 0)) for q, o in each
            )
        return f

    def without(self, vendor_id: str, f: Folded, mine: set[str], now: datetime) -> Tally:
        """``f``'s strangers with the ratings of the receipts in ``mine`` taken out (``f``
        counted them: a shared sum counts every reader's receipts)."""
        out = Tally(f.strangers.pos, f.strangers.mild, f.strangers.neg, f.strangers.buyers)
        out.delivered = f.strangers.delivered
        if f.count == 0:
            return out
        weight, negative, _ = self.weights
        for receipt in mine:
            for seq in self.index.by_id(vendor_id, receipt, f.first, f.last):
                got = self.open(seq, b"", vendor_id, now)
                if got is not None and self._counted(vendor_id, got[0], f):
                    out.count(got[0], weight, negative, self.forgotten(got[0], now), sign=-1)
        return out

    def _counted(self, vendor_id: str, o: schemas.OpenedRating, f: Folded) -> bool:
        """Whether ``o`` is the rating counted for its receipt (the latest of those held)."""
        seqs = self.index.by_hash(vendor_id, o.rating.msg.receipt_hash, f.first, f.last)
        if len(seqs) == 1:
            return True
        same = [got[0] for s in seqs if (got := self.open(s, b"", vendor_id, f.at)) is not None]
        return schemas.latest_per_receipt(same)[0] is o
