"""Network trust over many verified ratings: the praise cap bounds what faked praise buys,
and must not turn a popular honest vendor's good ratings into blame as they pile up."""

from __future__ import annotations

from pathlib import Path

from agent import AgentStore, BetaTrust, NetworkTrust, TrustPolicy
from tests.factories import NOW, minted_rating, vendor_for_test


def _score(tmp_path: Path, vendor_id: str, bundles: list[bytes]) -> float:
    """The network score a stranger's agent gives ``vendor_id`` from ``bundles`` alone."""
    policy = TrustPolicy()
    with AgentStore(tmp_path / "agent.sqlite") as store:
        trust = NetworkTrust(BetaTrust(store, policy), lambda _: list(enumerate(bundles)), policy)
        return trust.score(vendor_id, NOW).value


def test_a_popular_honest_vendor_keeps_its_trust_as_four_star_ratings_pile_up(
    tmp_path: Path,
) -> None:
    """300 verified four-star "delivered" ratings leave the vendor well above the policy's
    threshold and above the prior a newcomer starts at: the mild blame that comes with each
    4 is scaled down with the capped praise (uncapped, it sank the vendor to about 0.1)."""
    v = vendor_for_test()
    policy = TrustPolicy()
    prior = policy.prior_positive / (policy.prior_positive + policy.prior_negative)
    score = _score(tmp_path, v.vendor_id, [minted_rating(v, score=4) for _ in range(300)])
    assert score > prior > policy.threshold


def test_failed_orders_still_count_in_full_beside_capped_praise(tmp_path: Path) -> None:
    """Blame from orders that never arrived is not scaled by the praise cap: 100 five-star
    ratings and 20 "not_delivered" ones leave the vendor below the policy's threshold."""
    v = vendor_for_test()
    bundles = [minted_rating(v, score=5) for _ in range(100)]
    bundles += [minted_rating(v, score=1, outcome="not_delivered") for _ in range(20)]
    assert _score(tmp_path, v.vendor_id, bundles) < TrustPolicy().threshold
