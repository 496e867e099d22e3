"""How far a vendor can be trusted, from the person's own evidence.

The scorer is pluggable (:class:`TrustScorer`); the default is a beta reputation with
forgetting: each outcome adds positive or negative evidence, weighted by
``0.5 ** (age / half_life)``; the score is the mean of Beta(prior+ + pos, prior- + neg).
A receipt counts as one positive until the person rates that order; the rating then stands
in its place (otherwise a seller who never delivers would hold its score with every sale).
A vendor with no evidence gets the prior's mean (1/3 by default) and is marked new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ._home import TrustPolicy
from ._relationships import unconfirmed_erasures
from ._store import AgentStore

UNCONFIRMED_ERASURE = 1.0  # negative evidence per erasure request a vendor has not confirmed

__all__ = ["BetaTrust", "TrustScore", "TrustScorer", "forgetting", "rating_evidence"]


@dataclass(frozen=True)
class TrustScore:
    value: float
    evidence: float  # weighted amount of evidence behind it
    new: bool
    why: str = ""  # where the evidence came from, for the person ("14 verified buyers, ...")

    def describe(self) -> str:
        base = f"{self.value:.2f} (new)" if self.new else f"{self.value:.2f}"
        return f"{base}; {self.why}" if self.why else base


class TrustScorer(Protocol):
    def score(self, vendor_id: str, now: datetime) -> TrustScore: ...


class BetaTrust:
    def __init__(self, store: AgentStore, policy: TrustPolicy) -> None:
        self.store, self.policy = store, policy
        self._seen = -1
        self._by_vendor: dict[str, list[tuple[datetime, float, float]]] = {}
        self._refs: set[str] = set()
        self._unerased: dict[str, int] = {}

    def _evidence(self, vendor_id: str) -> list[tuple[datetime, float, float]]:
        # A person's outcomes are few (one per order or rating): read them all once, again
        # only when the store records a new one.
        if self._seen != self.store.outcomes_changed:
            self._by_vendor = {}
            rows = self.store.all_outcomes()
            # A receipt proves a sale, not a delivery: once the person rates that order, the
            # rating replaces the receipt's provisional evidence instead of adding to it.
            rated = {r["ref"] for r in rows if r["kind"] == "rating" and r["ref"]}
            self._refs = {r["ref"] for r in rows if r["ref"]}
            for r in rows:
                if r["kind"] == "receipt" and r["ref"] in rated:
                    continue
                ev = (datetime.fromisoformat(r["at"]), r["positive"], r["negative"])
                self._by_vendor.setdefault(r["vendor_id"], []).append(ev)
            self._unerased = unconfirmed_erasures(self.store)
            self._seen = self.store.outcomes_changed
        return self._by_vendor.get(vendor_id, [])

    def weighted(self, vendor_id: str, now: datetime) -> tuple[float, float]:
        """The person's own (positive, negative) evidence about ``vendor_id``, each piece
        weighted by ``0.5 ** (age / half_life)``."""
        pos = neg = 0.0
        for at, positive, negative in self._evidence(vendor_id):
            w = forgetting(at, now, self.policy.half_life_days)
            pos += w * positive
            neg += w * negative
        # An erasure the person asked for and the vendor has not confirmed weighs like an
        # order never delivered, until it confirms (agent/_relationships.py).
        self._evidence(vendor_id)  # refreshes the erasures with the outcomes
        neg += UNCONFIRMED_ERASURE * self._unerased.get(vendor_id, 0)
        return pos, neg

    def refs(self) -> set[str]:
        """The receipts behind the person's own evidence (so others' copies are not counted
        twice)."""
        self._evidence("")
        return self._refs

    def score(self, vendor_id: str, now: datetime) -> TrustScore:
        p = self.policy
        pos, neg = self.weighted(vendor_id, now)
        a, b = p.prior_positive + pos, p.prior_negative + neg
        return TrustScore(a / (a + b), pos + neg, new=(pos + neg) == 0)


def forgetting(at: datetime, now: datetime, half_life_days: float) -> float:
    """How much a piece of evidence from ``at`` still counts at ``now``."""
    age_days = max(0.0, (now - at).total_seconds() / 86400)
    return float(0.5 ** (age_days / half_life_days))


def rating_evidence(score: int, outcome: str) -> tuple[float, float]:
    """(positive, negative) evidence from a rating of 1-5 and its outcome."""
    if outcome in ("not_delivered", "not_as_described"):
        return 0.0, 1.0 + (5 - score) / 4
    return (score - 1) / 4, (5 - score) / 4
