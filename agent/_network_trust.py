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
  praise lifts a vendor above what a few of the person's own good orders would;
- forgotten with the same half-life as own evidence, on the clock the caller passes.

The score stays a beta mean, so a vendor with no evidence anywhere starts at the prior, below
any vendor that buyers have rated well: a new identity never starts above an established
good one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

import schemas

from ._home import TrustPolicy
from ._store import AgentStore, UnknownReceipt
from ._trust import BetaTrust, TrustScore, forgetting, rating_evidence

__all__ = ["NetworkTrust", "NetworkWeights", "rating_bundle"]

log = structlog.get_logger("intentcast.agent.trust")

RatingSource = Callable[[str], list[tuple[int, bytes]]]


@dataclass(frozen=True)
class NetworkWeights:
    weight: float = 0.25
    negative_factor: float = 2.0
    max_positive: float = 3.0


class NetworkTrust:
    """A :class:`TrustScorer` over the person's own store and a ratings source (for example
    ``runtime.RatingsBoard.bundles``)."""

    def __init__(
        self,
        own: BetaTrust,
        ratings: RatingSource,
        policy: TrustPolicy,
        weights: NetworkWeights | None = None,
        *,
        cache_size: int = 100_000,
    ) -> None:
        self.own, self.ratings, self.policy = own, ratings, policy
        self.weights = weights or NetworkWeights()
        self._opened: OrderedDict[int, schemas.OpenedRating | None] = OrderedDict()
        self._cache_size = cache_size
        self.refused = 0

    def _open(
        self, seq: int, bundle: bytes, vendor_id: str, now: datetime
    ) -> schemas.OpenedRating | None:
        if seq in self._opened:
            self._opened.move_to_end(seq)
            return self._opened[seq]
        try:
            got: schemas.OpenedRating | None = schemas.open_rating(
                bundle, vendor_id=vendor_id, now=now
            )
        except schemas.ProtocolError as err:
            got = None
            self.refused += 1
            log.info("rating.refused", vendor=vendor_id, seq=seq, reason=err.code)
        self._opened[seq] = got
        if len(self._opened) > self._cache_size:
            self._opened.popitem(last=False)
        return got

    def network(self, vendor_id: str, now: datetime) -> tuple[float, float, int, int]:
        """(positive, negative) weighted network evidence, and (buyers, delivered) counts."""
        mine = self.own.refs()
        opened = [
            o
            for seq, bundle in self.ratings(vendor_id)
            if (o := self._open(seq, bundle, vendor_id, now)) is not None
            and o.receipt.msg.id not in mine
        ]
        w, hl = self.weights, self.policy.half_life_days
        pos = neg = 0.0
        delivered = 0
        latest = schemas.latest_per_receipt(opened)
        for o in latest:
            r = o.rating.msg
            p, n = rating_evidence(r.score, r.outcome)
            f = forgetting(o.created, now, hl)
            pos += f * w.weight * p
            neg += f * w.weight * w.negative_factor * n
            delivered += r.outcome in ("delivered", "late")
        return min(pos, w.max_positive), neg, len(latest), delivered

    def score(self, vendor_id: str, now: datetime) -> TrustScore:
        p = self.policy
        own_pos, own_neg = self.own.weighted(vendor_id, now)
        net_pos, net_neg, buyers, delivered = self.network(vendor_id, now)
        a = p.prior_positive + own_pos + net_pos
        b = p.prior_negative + own_neg + net_neg
        evidence = own_pos + own_neg + net_pos + net_neg
        why = f"{buyers} verified buyers, {delivered} delivered" if buyers else ""
        return TrustScore(a / (a + b), evidence, new=evidence == 0, why=why)


def rating_bundle(
    store: AgentStore, receipt_id: str, *, score: int, outcome: str, now: datetime
) -> tuple[str, bytes]:
    """(vendor id, the rating bundle to publish) for a receipt this store holds, signed with
    that order's own intent key: it links nothing to the person's other intents."""
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
        now=now,
    )  # fmt: skip
    return str(r["vendor_id"]), bundle
