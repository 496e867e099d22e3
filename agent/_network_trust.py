"""Network trust: the person's own evidence fused with what other buyers rated, each source
discounted by how far it can be trusted (docs/trust.md has the threat model).

Own evidence counts in full, as :class:`BetaTrust` weighs it. A rating from the ratings board
counts only if it verifies against its receipt (``schemas.open_rating``), once per receipt
(the latest), and never for a receipt the person holds (that is own evidence already). It is
then weighed:

- by ``weight``: a stranger's word is worth a fraction of one's own experience;
- asymmetrically: negative evidence counts ``negative_factor`` times, because praise is
  what a vendor can fake for itself (it can sign both sides of orders of its own making),
  while blame needs a real order from that vendor, paid for;
- with a ceiling on positive network evidence (``max_positive``), so no amount of faked
  praise lifts a vendor above what a few of the person's own good orders would. The mild
  blame of a delivered order rated below 5 (a 4 is 0.75 praise and 0.25 blame) is scaled
  down by the same factor as its praise: left uncapped beside capped praise, it made every
  popular honest vendor's trust fall as its good ratings piled up (below the 0.2 threshold
  at about 220 four-star ratings). The blame of an order that failed (``not_delivered``,
  ``not_as_described``) needs a real, paid order and is never scaled;
- forgotten with the same half-life as own evidence, on the clock the caller passes.

Two more sources, each weighed for what it is:

- **friends** (EigenTrust's pre-trusted peers): a rating whose friend seal opens under the
  secret of someone the person follows (``schemas.recognise_friend``) counts ``friend_weight``
  (1: as much as the person's own outcome), both ways, uncapped: a friend is not a stranger
  the vendor can mint. A seal that opens but does not verify (a follower passing as the
  friend) is refused as a friend's and the rating counts as a stranger's;
- **certified** ratings, copies a vendor attached to its offers (``_certified``): verified
  as ratings from the board, counted once (never beside the board's or the person's own copy
  of one receipt), at ``certified_weight`` (0.1, below a stranger's 0.25, since the vendor
  chose them: the selection is only ever positive), and their praise shares the strangers'
  ceiling ``max_positive``.

The friends input is a list of ``schemas.Friend`` (a name, the friend key ``F``, the seal
secret ``k``), such as ``agent.FriendBook.friends()`` returns, or made directly by a
simulator from ``schemas.FriendIdentity.card(name).friend()``.

The score stays a beta mean, so a vendor with no evidence anywhere starts at the prior, below
any vendor that buyers have rated well: a new identity never starts above an established
good one.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

import schemas

from ._board_evidence import BoardEvidence, OpenedSource, Tally
from ._certified import CertifiedEvidence
from ._home import TrustPolicy
from ._store import AgentStore, UnknownReceipt
from ._trust import BetaTrust, TrustScore, forgetting

__all__ = ["NetworkTrust", "NetworkWeights", "rating_bundle"]

log = structlog.get_logger("intentcast.agent.trust")

RatingSource = Callable[[str], list[tuple[int, bytes]]]


@dataclass(frozen=True)
class NetworkWeights:
    weight: float = 0.25
    negative_factor: float = 2.0
    max_positive: float = 3.0
    friend_weight: float = 1.0
    certified_weight: float = 0.1


class NetworkTrust:
    """A :class:`TrustScorer` over the person's own store and a ratings source (for example
    ``runtime.RatingsBoard.bundles``), the friends the person follows, and the certified
    ratings of the offers it is told about (:meth:`note_offers`).

    ``opened``, if given, stands in for verifying: it returns the opened rating of a
    sequence and the friend (one of ``friends``) who sealed it, or None to refuse it; a
    source whose ratings are verified already (a simulator's board) passes it. ``shared``
    is a :class:`BoardEvidence` made with ``BoardEvidence.shared`` over that source and
    this scorer's weights: while the person follows no friends, their board evidence is
    the shared sums less their own receipts (``_board_evidence`` says how the sums run).
    """

    def __init__(
        self,
        own: BetaTrust,
        ratings: RatingSource,
        policy: TrustPolicy,
        weights: NetworkWeights | None = None,
        *,
        cache_size: int = 100_000,
        friends: Sequence[schemas.Friend] = (),
        opened: OpenedSource | None = None,
        shared: BoardEvidence | None = None,
    ) -> None:
        self.own, self.ratings, self.policy = own, ratings, policy
        self.weights = weights or NetworkWeights()
        self.profiles = schemas.ProfileCache(capacity=1_000)  # vendors' profiles, once each
        self.certified = CertifiedEvidence(profiles=self.profiles)
        self._opened: OrderedDict[int, tuple[schemas.OpenedRating, schemas.Friend | None] | None]
        self._opened = OrderedDict()
        self._cache_size = cache_size
        self._source = opened
        w = self.weights
        if shared is not None and shared.weights[:2] != (w.weight, w.negative_factor):
            raise ValueError(
                f"expected shared board evidence weighed as this scorer ({w.weight}, "
                f"{w.negative_factor}), got {shared.weights[:2]}"
            )
        if shared is not None and shared.half_life != policy.half_life_days:
            raise ValueError(
                f"expected shared board evidence with a half-life of {policy.half_life_days} "
                f"days, got {shared.half_life}"
            )
        self.shared = shared
        self._board = BoardEvidence(
            self._open, (w.weight, w.negative_factor, w.friend_weight), policy.half_life_days,
            shared.index if shared is not None else None,
        )  # fmt: skip
        self.friends = tuple(friends)
        self.refused = 0
        self.friend_seals_refused = 0

    @property
    def friends(self) -> tuple[schemas.Friend, ...]:
        return self._friends

    @friends.setter
    def friends(self, friends: Sequence[schemas.Friend]) -> None:
        self._friends = tuple(friends)
        self._opened.clear()  # who sealed what is recognised anew
        self._board.clear()

    def note_offers(self, offers: Iterable[schemas.OpenedOffer], now: datetime) -> None:
        """Verify and keep the certified ratings these (verified) offers carry."""
        self.certified.note(offers, now)

    def _open(
        self, seq: int, bundle: bytes, vendor_id: str, now: datetime
    ) -> tuple[schemas.OpenedRating, schemas.Friend | None] | None:
        if self._source is not None:
            return self._source(seq, vendor_id, self._friends)
        if seq in self._opened:
            self._opened.move_to_end(seq)
            return self._opened[seq]
        got: tuple[schemas.OpenedRating, schemas.Friend | None] | None = None
        try:
            o = schemas.open_rating(bundle, vendor_id=vendor_id, now=now, profiles=self.profiles)
            got = (o, self._friend_of(o, seq))
        except schemas.ProtocolError as err:
            self.refused += 1
            log.info("rating.refused", vendor=vendor_id, seq=seq, reason=err.code)
        self._opened[seq] = got
        if len(self._opened) > self._cache_size:
            self._opened.popitem(last=False)
        return got

    def _friend_of(self, o: schemas.OpenedRating, seq: int) -> schemas.Friend | None:
        if not self._friends:
            return None
        r = o.rating.msg
        try:
            return schemas.recognise_friend(
                r.friend_seal, self._friends, receipt_hash=r.receipt_hash,
                intent_key=o.intent.msg.keys.sign, vendor_id=r.vendor_id,
            )  # fmt: skip
        except schemas.ProtocolError as err:
            self.friend_seals_refused += 1
            log.warning("rating.friend_seal_refused", vendor=r.vendor_id, seq=seq, error=str(err))
            return None

    def _tally(self, vendor_id: str, now: datetime) -> tuple[Tally, Tally, Tally]:
        """(strangers, friends, certified) weighted evidence about ``vendor_id``; the
        friends' is a running sum: read it, never change it."""
        mine = self.own.refs()
        held = self.ratings(vendor_id)
        if self.shared is not None and not self._friends:
            f = self.shared.sums(vendor_id, held, self.shared.nobody, now)
            strangers = self.shared.without(vendor_id, f, mine, now)
        else:
            f = self._board.sums(vendor_id, held, mine, now)
            strangers = f.strangers
        index = self._board.index
        besides = mine | {
            r
            for r in self.certified._kept.get(vendor_id, {})  # the few copies it holds
            if held and index.by_id(vendor_id, r, held[0][0], held[-1][0])
        }
        selected, w = Tally(), self.weights
        for o in self.certified.ratings(vendor_id, besides=besides):
            hl = self.policy.half_life_days
            selected.count(o, w.certified_weight, w.negative_factor, forgetting(o.created, now, hl))
        return strangers, f.friends, selected

    def network(self, vendor_id: str, now: datetime) -> tuple[float, float, int, int]:
        """(positive, negative) weighted evidence from strangers on the board and certified
        copies (positive capped), and (buyers, delivered) counts of the strangers."""
        strangers, _, selected = self._tally(vendor_id, now)
        pos, neg = self._capped(strangers, selected)
        return pos, neg, strangers.buyers, strangers.delivered

    def _capped(self, strangers: Tally, selected: Tally) -> tuple[float, float]:
        """Strangers' and certified (praise, blame): praise at most ``max_positive``, and
        the mild blame that came with it scaled by the same factor."""
        raw = strangers.pos + selected.pos
        scale = min(1.0, self.weights.max_positive / raw) if raw > 0 else 1.0
        mild = (strangers.mild + selected.mild) * scale
        return raw * scale, mild + strangers.neg + selected.neg

    def score(self, vendor_id: str, now: datetime) -> TrustScore:
        p = self.policy
        own_pos, own_neg = self.own.weighted(vendor_id, now)
        strangers, friends, selected = self._tally(vendor_id, now)
        capped_pos, capped_neg = self._capped(strangers, selected)
        net_pos = capped_pos + friends.pos
        net_neg = capped_neg + friends.mild + friends.neg
        a = p.prior_positive + own_pos + net_pos
        b = p.prior_negative + own_neg + net_neg
        evidence = own_pos + own_neg + net_pos + net_neg
        why = []
        if strangers.buyers:
            why.append(f"{strangers.buyers} verified buyers, {strangers.delivered} delivered")
        if friends.buyers:
            why.append(_friends_said(friends.friend_scores))
        if selected.buyers:
            why.append(f"{selected.buyers} ratings the vendor chose to show")
        return TrustScore(a / (a + b), evidence, new=evidence == 0, why="; ".join(why))


def _friends_said(scores: Counter[int]) -> str:
    """``2 friends rated 5, 1 rated 2``: highest score first."""
    (top, n), *others = sorted(scores.items(), reverse=True)
    first = f"{n} friend{'s' if n > 1 else ''} rated {top}"
    return ", ".join([first] + [f"{k} rated {s}" for s, k in others])


def rating_bundle(
    store: AgentStore,
    receipt_id: str,
    *,
    score: int,
    outcome: str,
    now: datetime,
    friend: schemas.FriendIdentity | None = None,
) -> tuple[str, bytes]:
    """(vendor id, the rating bundle to publish) for a receipt this store holds, signed with
    that order's own intent key: it links nothing to the person's other intents. With
    ``friend`` (the person's friend identity), those who follow them recognise it."""
    r = store.db.execute("SELECT * FROM receipts WHERE receipt_id = ?", (receipt_id,)).fetchone()
    if r is None:
        raise UnknownReceipt(
            f"expected a receipt this agent holds, got {receipt_id!r}; see `intentcast receipts`"
        )
    intent, offer = store.intent(r["intent_id"]), store.offer(r["offer_id"])
    if intent is None or offer is None:
        raise UnknownReceipt(f"the intent or offer of receipt {receipt_id[:8]} is not stored")
    store.intent_secrets(intent.id)  # raises KeysNotHeld for a home imported without keys
    profile_wire = schemas.unpack(offer.bundle, 2, "$.bundle")[0]
    bundle = schemas.make_rating(
        receipt_wire=r["receipt_wire"], intent_wire=intent.wire, profile_wire=profile_wire,
        intent_seed=bytes.fromhex(store.sign_seed(intent.id)), score=score, outcome=outcome,
        now=now, friend=friend,
    )  # fmt: skip
    return str(r["vendor_id"]), bundle
