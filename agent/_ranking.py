"""From verified offers to a short ranked list with reasons, and a list of what was dropped.

A vendor that no registrar the person trusts has registered is dropped first when the bus is
shared (``unregistered``, see ``_registered``). Must-have terms, the contract's rules for an
offer fit to show (``schemas.offer_fault``: currency, arithmetic, a price above zero,
quantity, budget, dates) and the trust threshold filter; price, delivery, preferred terms
and trust score what is left. A vendor whose bad evidence is at least half of what is
known of it (the policy's veto) is dropped whatever its score: praise can be faked, blame
needs a real order. Last, the person's newcomer policy (``TrustPolicy``) orders
the list: a vendor nothing is known of never ranks above the best vendor with a good record,
and only so many newcomers sit near the top; they stay marked new."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import schemas

from ._home import RankingWeights, TrustPolicy
from ._registered import RegisteredTrust
from ._trust import TrustScore, TrustScorer

__all__ = ["Dropped", "Ranked", "Ranker", "rank_offers"]


@dataclass(frozen=True)
class Ranked:
    opened: schemas.OpenedOffer
    score: float
    trust: TrustScore
    reasons: list[str] = field(default_factory=list)
    registered_name: str | None = None  # a trusted registrar's name for the vendor

    @property
    def offer(self) -> schemas.Offer:
        return self.opened.offer.msg

    @property
    def vendor_name(self) -> str:
        """The registered name when there is one; else the profile's own claim."""
        return self.registered_name or self.opened.profile.msg.name


@dataclass(frozen=True)
class Dropped:
    reason: str  # a stable code: unverified:<error>, breach, over_budget, untrusted...
    detail: str
    vendor_id: str | None = None
    vendor_name: str | None = None
    count: int = 1  # replies dropped alike (unverified ones are kept as counts by reason)


def _outside_delivery_area(intent: schemas.Intent, offer: schemas.Offer) -> str | None:
    """Why the offer's stated delivery area leaves out the intent's region, or None when it
    covers it or says nothing (see ``delivers_to`` in schemas/README.md)."""
    r = intent.region
    if not offer.delivers_to or any(
        a.country == r.country and r.postcode_prefix.startswith(a.postcode_prefix)
        for a in offer.delivers_to
    ):
        return None
    areas = ", ".join(f"{a.country}-{a.postcode_prefix}".rstrip("-") for a in offer.delivers_to)
    return f"delivers to {areas}, not to {r.country}-{r.postcode_prefix}".rstrip("-")


def _filter(
    intent: schemas.Intent, person: schemas.Terms, o: schemas.OpenedOffer
) -> tuple[Dropped | None, schemas.TermsMatch]:
    offer, profile = o.offer.msg, o.profile.msg
    match = schemas.match_terms(person, offer.terms)

    def drop(reason: str, detail: str) -> tuple[Dropped, schemas.TermsMatch]:
        return Dropped(reason, detail, profile.vendor_id, profile.name), match

    if match.breaches:
        return drop(
            "breach",
            "breaks must-have terms: "
            + "; ".join(f"{b.clause} ({b.reason})" for b in match.breaches),
        )
    fault = schemas.offer_fault(intent, offer, o.offer.header.created.astimezone(UTC).date())
    if fault is not None:
        return drop(*fault)
    if (outside := _outside_delivery_area(intent, offer)) is not None:
        return drop("outside_delivery_area", outside)
    return None, match


def _vetoed(t: TrustScore, policy: TrustPolicy) -> str | None:
    """Why blame outweighs praise enough to drop the vendor whatever its score, or None."""
    if not policy.veto or t.evidence <= 0:
        return None
    bad = policy.bad_evidence(t.value, t.evidence)
    # Evidence a few hours apart is forgotten by a hair (0.1%): as much blame as praise must
    # still count as half, whichever came first.
    near = 1 - 1e-3
    if bad < policy.veto_evidence * near or bad < policy.veto_share * t.evidence * near:
        return None
    why = (
        f"{bad:.1f} of {t.evidence:.1f} evidence is bad, at least {policy.veto_share:.0%}"
        " (your veto: praise cannot buy off blame)"
    )
    return why + (f" ({t.why})" if t.why else "")


class Ranker:
    """Judges offers for one intent: what is done once per intent (expanding the person's
    terms, the deadline window) is done here, and each offer then costs one ``judge``."""

    def __init__(
        self,
        intent: schemas.Intent,
        *,
        trust: TrustScorer,
        policy: TrustPolicy,
        weights: RankingWeights,
        now: datetime,
    ) -> None:
        self.intent, self.trust, self.policy, self.weights, self.now = (
            intent,
            trust,
            policy,
            weights,
            now,
        )
        self.person = schemas.expand_terms(intent.terms)
        today: date = now.date()
        self.window = max(1, (intent.wanted_by - today).days)
        self._scores: dict[str, TrustScore] = {}  # one look-up per vendor
        self.registry = trust if isinstance(trust, RegisteredTrust) else None

    def judge(self, o: schemas.OpenedOffer) -> Ranked | Dropped:
        intent, weights, policy = self.intent, self.weights, self.policy
        standing = None
        if self.registry is not None:
            p = o.profile.msg
            standing = self.registry.standing(p.vendor_id, p.name, self.now)
            if standing.drop is not None:
                return Dropped("unregistered", standing.drop, p.vendor_id, p.name)
        miss, match = _filter(intent, self.person, o)
        if miss is not None:
            return miss
        offer, profile = o.offer.msg, o.profile.msg
        t = self._scores.get(profile.vendor_id)
        if t is None:
            t = self._scores[profile.vendor_id] = self.trust.score(profile.vendor_id, self.now)
        if t.value < policy.threshold:
            why = f"trust {t.value:.2f} is below your threshold {policy.threshold:.2f}"
            if t.why:
                why += f" ({t.why})"
            return Dropped("untrusted", why, profile.vendor_id, profile.name)
        if (vetoed := _vetoed(t, policy)) is not None:
            return Dropped("untrusted", vetoed, profile.vendor_id, profile.name)
        saving = 1 - offer.total_price.amount / max(1, intent.max_price.amount)
        early = (intent.wanted_by - offer.delivery_by).days
        score = (
            weights.price * saving
            + weights.delivery * min(1.0, max(0.0, early / self.window))
            + weights.terms * match.preference_score
            + weights.trust * t.value
        )
        prefs = [r for r in match.results if not r.must]
        reasons = [
            f"{offer.total_price}, {round(saving * 100)}% under your limit",
            f"arrives {offer.delivery_by} ({early} days before your deadline)",
            "meets every must-have term"
            + (f"; {sum(r.met for r in prefs)}/{len(prefs)} preferences" if prefs else ""),
            f"trust {t.describe()}",
        ]
        if standing is None:
            return Ranked(o, score, t, reasons)
        return Ranked(o, score, t, standing.notes + reasons, standing.registered_name)


def rank_offers(
    intent: schemas.Intent,
    offers: list[schemas.OpenedOffer],
    *,
    trust: TrustScorer,
    policy: TrustPolicy,
    weights: RankingWeights,
    now: datetime,
) -> tuple[list[Ranked], list[Dropped]]:
    """Judge every offer; the acceptable ones best first."""
    ranker = Ranker(intent, trust=trust, policy=policy, weights=weights, now=now)
    ranked: list[Ranked] = []
    dropped: list[Dropped] = []
    for o in offers:
        verdict = ranker.judge(o)
        if isinstance(verdict, Ranked):
            ranked.append(verdict)
        else:
            dropped.append(verdict)
    # Ties go to the cheaper, then by vendor id: the same offers always rank the same way.
    ranked.sort(key=lambda r: (-r.score, r.offer.total_price.amount, r.offer.vendor_id, r.offer.id))
    return _make_room(ranked, policy), dropped


_NEWCOMER_NOTE = "new vendor: placed below vendors with a good record (your newcomer policy)"


def _make_room(ranked: list[Ranked], policy: TrustPolicy) -> list[Ranked]:
    """``ranked`` (best first) reordered by the newcomer policy: no newcomer above the best
    established good vendor, at most ``newcomer_room`` newcomers among the first
    ``newcomer_window`` places. Nothing is dropped; a newcomer moved down says why."""
    bar = policy.established_at
    best = next((i for i, r in enumerate(ranked) if not r.trust.new and r.trust.value > bar), None)
    moved: set[int] = set()
    order = ranked
    if best is not None:
        ahead = [r for r in ranked[:best] if r.trust.new]
        moved.update(id(r) for r in ahead)
        order = [r for r in ranked[:best] if not r.trust.new] + [ranked[best], *ahead]
        order += ranked[best + 1 :]
    top: list[Ranked] = []
    newcomers = 0
    for r in order:
        if len(top) == policy.newcomer_window:
            break
        if r.trust.new:
            if newcomers == policy.newcomer_room:
                moved.add(id(r))
                continue
            newcomers += 1
        top.append(r)
    placed = {id(r) for r in top}
    out = top + [r for r in order if id(r) not in placed]
    return [
        Ranked(r.opened, r.score, r.trust, [*r.reasons, _NEWCOMER_NOTE], r.registered_name)
        if id(r) in moved
        else r
        for r in out
    ]
