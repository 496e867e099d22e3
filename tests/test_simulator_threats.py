"""The simulator expresses the threats of docs/trust.md over the real protocol: identities
that rejoin under fresh keys, fake self-praise that verifies like a real buyer's, smears that
must be paid for, and a simulated clock under which old evidence fades. Each market runs on
an embedded nats-server of its own, so no two markets share a ratings board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemas
from simulator import Market, RoundRecord, Scenario, summarize

BASE: dict[str, Any] = {
    "name": "threats",
    "seed": 3,
    "window_seconds": 5.0,
    "categories": {"outdoor/tents": 14000},
}
BAIT = {"kind": "bait", "count": 1, "price_factor": [0.75, 0.8], "delivery_days": [1, 2]}


async def _run(tmp: Path, **scenario: Any) -> tuple[Market, list[RoundRecord], dict[str, Any]]:
    sc = Scenario.model_validate({**BASE, **scenario})
    async with Market(sc, tmp) as market:
        records = await market.run()
        summary = summarize(records, market.hostile_sent(), market.attack_summary())
    return market, records, summary


async def test_a_vendor_that_rejoins_comes_back_under_a_fresh_identity(tmp_path: Path) -> None:
    """rejoin_every 5 over 20 rounds: the bait sheds its identity at rounds 5, 10 and 15, so
    its orders go to four vendor ids of generations 0-3, each generation only in its own
    five rounds; the honest vendor keeps one identity."""
    _, records, summary = await _run(
        tmp_path,
        rounds=20,
        persons=[{"count": 4, "trust_mode": "own"}],
        vendors=[{"kind": "honest", "count": 1}, {**BAIT, "rejoin_every": 5}],
    )
    bait = [r for r in records if r.winner_kind == "bait"]
    assert len({r.winner_generation for r in bait}) >= 3
    for r in bait:
        assert r.winner_generation == r.round // 5, r
    by_generation = {r.winner_generation: r.winner_vendor for r in bait}
    assert len(set(by_generation.values())) == len(by_generation)
    honest = {r.winner_vendor for r in records if r.winner_kind == "honest"}
    assert len(honest) <= 1
    assert {r.winner_generation for r in records if r.winner_kind == "honest"} <= {0}
    assert summary["newest_generation"] == max(r.winner_generation for r in records)


async def test_self_praise_verifies_like_a_real_buyers_rating_and_lets_the_bait_win_more(
    tmp_path: Path,
) -> None:
    """A bait vendor minting two five-star ratings of itself a round (fresh buyer keys,
    receipts it signs itself): every one verifies against its receipt, none is refused, and
    people on network trust without the veto lose more orders to it than when it does not
    praise itself (the veto, on by default, is what takes that gain away: README's sybil-12)."""
    shares = {}
    for praise in (0, 2):
        market, _, summary = await _run(
            tmp_path / f"praise-{praise}",
            rounds=40,
            persons=[{"count": 20, "trust_mode": "network", "trust": {"veto": False}}],
            vendors=[{"kind": "honest", "count": 3}, {**BAIT, "praise_per_round": praise}],
        )
        assert summary["fake_praise"] == praise * 40
        refused = sum(getattr(p.agent.trust, "refused", 0) for p in market.persons)
        assert refused == 0
        shares[praise] = summary["bad_share"]
    assert shares[2] > shares[0], shares


async def test_a_smear_needs_a_real_paid_order_from_the_rival(tmp_path: Path) -> None:
    """A vendor group that smears every 4 rounds buys from its rival through the real
    protocol, pays the rival's price, and publishes a rating of 1, not delivered, that
    verifies against the rival's own receipt; the rival never failed a real buyer."""
    market, records, summary = await _run(
        tmp_path,
        rounds=13,
        persons=[{"count": 4, "trust_mode": "network"}],
        vendors=[
            {"kind": "honest", "count": 1, "price_factor": [0.8, 0.8]},
            {"kind": "honest", "count": 1, "price_factor": [1.0, 1.0], "smear_every": 4},
        ],
    )
    assert summary["smears"] == 3  # rounds 4, 8 and 12
    rival = market.vendors[0]
    assert rival.orders >= 3
    assert summary["smear_spent"] >= 3 * 14000 * 0.8 * 0.9  # at least the rival's floor price
    assert market.board is not None
    bad = [
        o
        for _, b in market.board.bundles(rival.vendor_id)
        if (o := schemas.open_rating(b, vendor_id=rival.vendor_id, now=market.clock.now()))
        and o.rating.msg.outcome == "not_delivered"
    ]
    assert len(bad) == 3
    assert {r.outcome for r in records if r.winner_group == 0} == {"delivered"}


async def test_on_the_simulated_clock_old_let_downs_fade_and_the_bait_wins_again(
    tmp_path: Path,
) -> None:
    """With a week between rounds and a 30-day half-life, a person's two let-downs by the
    bait fade over simulated weeks: its trust climbs back over the threshold and it wins
    again, then again after another pause of weeks; with no simulated time between rounds
    nothing fades and it never wins after the second let-down."""
    failed = {}
    for days in (0.0, 7.0):
        _, records, _ = await _run(
            tmp_path / f"days-{days}",
            rounds=24,
            days_per_round=days,
            persons=[{"count": 1, "trust_mode": "own", "trust": {"half_life_days": 30}}],
            vendors=[{"kind": "honest", "count": 1}, BAIT],
        )
        assert records[-1].day == 23 * days
        failed[days] = [r.round for r in records if r.outcome == "not_delivered"]
    assert len(failed[0.0]) == 2
    later = failed[7.0][2:]
    assert len(later) >= 2, failed
    pauses = [b - a for a, b in zip(failed[7.0][1:], later, strict=False)]
    assert min(pauses) >= 2, failed  # forgetting takes simulated weeks, not one round


async def test_people_on_network_and_friends_trust_recognise_the_ratings_of_those_they_follow(
    tmp_path: Path,
) -> None:
    """trust_mode network+friends with a friends graph of three: every person follows three
    others of their group, and once the bait has let some of them down, somebody's trust in
    it names friends who rated it (their seals recognised, not a stranger's word)."""
    market, _, _ = await _run(
        tmp_path,
        rounds=30,
        persons=[{"count": 10, "trust_mode": "network+friends", "friends": 3}],
        vendors=[{"kind": "honest", "count": 2}, BAIT],
    )
    followed = [len(getattr(p.agent.trust, "friends", ())) for p in market.persons]
    assert followed == [3] * 10
    bait = market.vendors[1].vendor_id
    reasons = [p.agent.trust.score(bait, market.clock.now()).why for p in market.persons]
    assert any("friend" in why for why in reasons), reasons
