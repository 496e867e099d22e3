"""The built-in plug-ins: the kinds a scenario names without a path, written against the
same interfaces as anyone's (``_plugins``)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from agent import BetaTrust, NetworkTrust, NetworkWeights, TrustPolicy, TrustScore, TrustScorer

from ._classic import CertifiedOnly, Certifies, Collective, Reprices, Spy
from ._plugins import Identity, Option, RatingSource, Sale

__all__ = ["BUILTINS", "Delivers"]


# --- vendor behaviours --------------------------------------------------------------------


class Delivers:
    """Delivers with ``probability``; with ``rejoin_every``, walks away every so many rounds
    and comes back under a fresh identity (whitewashing). ``honest`` is Delivers(1),
    ``bait`` Delivers(0); in between it is honest failure, or camouflage."""

    def __init__(self, probability: float = 1.0, rejoin_every: int | None = None) -> None:
        if not 0 <= probability <= 1:
            raise ValueError(f"expected a probability between 0 and 1, got {probability}")
        if rejoin_every is not None and rejoin_every < 1:
            raise ValueError(f"expected rejoin_every of at least 1, got {rejoin_every}")
        self.probability, self.rejoin_every = probability, rejoin_every

    def delivery_probability(self, sale: Sale) -> float:
        return self.probability

    def rejoins(self, identity: Identity, round: int) -> bool:
        n = self.rejoin_every
        return n is not None and round > identity.since_round and round % n == 0


class ExitScam(Delivers):
    """Delivers until ``after_round``, then never: behaviour that changes over time."""

    def __init__(self, after_round: int, rejoin_every: int | None = None) -> None:
        super().__init__(1.0, rejoin_every)
        self.after_round = after_round

    def delivery_probability(self, sale: Sale) -> float:
        return 1.0 if sale.round < self.after_round else 0.0


class Reforms(Delivers):
    """Never delivers until ``after_bad_ratings`` published ratings say so, then always:
    behaviour that changes after being rated."""

    def __init__(self, after_bad_ratings: int = 3, rejoin_every: int | None = None) -> None:
        super().__init__(0.0, rejoin_every)
        self.after_bad_ratings = after_bad_ratings

    def delivery_probability(self, sale: Sale) -> float:
        return 1.0 if sale.identity.bad_ratings >= self.after_bad_ratings else 0.0


# --- trust models -------------------------------------------------------------------------


class _Stranger:
    """Every vendor at the prior: price, delivery and terms alone decide."""

    def __init__(self, policy: TrustPolicy) -> None:
        self.value = policy.prior_positive / (policy.prior_positive + policy.prior_negative)

    def score(self, vendor_id: str, now: Any) -> TrustScore:
        return TrustScore(self.value, 0.0, new=True)


class NoTrust:
    """``none``: every vendor alike (the baseline a trust mode is compared with)."""

    uses_ratings = False

    def scorer(
        self, own: BetaTrust, policy: TrustPolicy, ratings: RatingSource | None
    ) -> TrustScorer:
        return _Stranger(policy)


class OwnTrust:
    """``own``: each person's own receipts and ratings (the agent's ``BetaTrust``)."""

    uses_ratings = False

    def scorer(
        self, own: BetaTrust, policy: TrustPolicy, ratings: RatingSource | None
    ) -> TrustScorer:
        return own


class Network:
    """``network``: own evidence fused with the ratings others published (``NetworkTrust``);
    its weights (``weight``, ``negative_factor``, ``max_positive``) can be set here."""

    uses_ratings = True

    def __init__(self, **weights: float) -> None:
        self.weights = NetworkWeights(**weights)

    def scorer(
        self, own: BetaTrust, policy: TrustPolicy, ratings: RatingSource | None
    ) -> TrustScorer:
        if ratings is None:
            raise ValueError("expected a ratings source for network trust, got none")
        return NetworkTrust(own, ratings, policy, self.weights)


class NetworkFriends(Network):
    """``network+friends``: network trust, and the ratings of the people one follows (their
    group's ``friends`` graph, which the market gives the scorer) counted as one's own, both
    ways, uncapped."""

    uses_friends = True


# --- choice models ------------------------------------------------------------------------


class Argmax:
    """The top-ranked offer (what the agent suggests)."""

    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None:
        return 0 if options else None


class Softmax:
    """An offer with probability proportional to exp(score / temperature)."""

    def __init__(self, temperature: float = 0.05) -> None:
        if temperature <= 0:
            raise ValueError(f"expected a temperature above 0, got {temperature}")
        self.temperature = temperature

    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None:
        if not options:
            return None
        top = max(o.score for o in options)
        weights = [math.exp((o.score - top) / self.temperature) for o in options]
        return rng.choices(range(len(options)), weights)[0]


class TrustProportional:
    """An offer with probability proportional to its vendor's trust (EigenTrust's choice)."""

    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None:
        if not options:
            return None
        return rng.choices(range(len(options)), [max(o.trust, 1e-9) for o in options])[0]


class Epsilon:
    """The top offer, except with probability ``epsilon`` any shown offer at random."""

    def __init__(self, epsilon: float = 0.1) -> None:
        if not 0 <= epsilon <= 1:
            raise ValueError(f"expected epsilon between 0 and 1, got {epsilon}")
        self.epsilon = epsilon

    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None:
        if not options:
            return None
        return rng.randrange(len(options)) if rng.random() < self.epsilon else 0


class Pretrusted:
    """The best offer of a vendor in a pre-trusted group (``groups``, indices of
    [[vendors]]); the top offer when none of them offered."""

    def __init__(self, groups: list[int]) -> None:
        self.groups = set(groups)

    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None:
        mine = [i for i, o in enumerate(options) if o.vendor_group in self.groups]
        return mine[0] if mine else (0 if options else None)


# --- rating behaviours --------------------------------------------------------------------


class Honest:
    """Publishes what happened."""

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return score, outcome


class Lying:
    """Publishes the opposite of what happened."""

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return (5, "delivered") if outcome == "not_delivered" else (1, "not_delivered")


class Colluding:
    """Praises vendors of ``groups`` whatever happened, runs down every other vendor."""

    def __init__(self, groups: list[int]) -> None:
        self.groups = set(groups)

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return (5, "delivered") if vendor_group in self.groups else (1, "not_delivered")


class Silent:
    """Publishes nothing."""

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return None


BUILTINS: dict[str, dict[str, Any]] = {
    "vendor": {
        "honest": lambda **kw: Delivers(1.0, **kw),
        "bait": lambda **kw: Delivers(0.0, **kw),
        "delivers": Delivers,
        "exit_scam": ExitScam,
        "reforms": Reforms,
        # The classic experiments' additions (_classic, docs/reproductions.md):
        "reprices": Reprices,
        "certifies": Certifies,
    },
    "trust": {
        "none": NoTrust,
        "own": OwnTrust,
        "network": Network,
        "network+friends": NetworkFriends,
        # The classic experiments' addition (_classic, docs/reproductions.md):
        "certified": CertifiedOnly,
    },
    "choice": {
        "argmax": Argmax,
        "softmax": Softmax,
        "trust_proportional": TrustProportional,
        "epsilon": Epsilon,
        "pretrusted": Pretrusted,
    },
    "rating": {
        "honest": Honest,
        "lying": Lying,
        "colluding": Colluding,
        "silent": Silent,
        # The classic experiments' additions (_classic, docs/reproductions.md):
        "collective": Collective,
        "spy": Spy,
    },
}
