"""The person's newcomer policy over the agent's real ranking: a vendor nothing is known of
never ranks above an established good vendor, only so many newcomers sit near the top, and
they stay marked new in what the person sees."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import schemas
from agent import AgentStore, BetaTrust, Ranked, RankingWeights, TrustPolicy, rank_offers
from tests.factories import NOW, intent_for_test, vendor_for_test


def _offer(
    cast: schemas.CastIntent, vendor: schemas.VendorSigner, price: int
) -> schemas.OpenedOffer:
    verified = schemas.open_intent(cast.wire, now=NOW, replay=None)
    _, sealed = schemas.make_offer(
        intent=verified, signer=vendor, item=schemas.Item("TENT-2P", "Two-person tent"),
        quantity=1, unit_price=schemas.Money(price, "EUR"), total_price=schemas.Money(price, "EUR"),
        delivery_by=date(2026, 12, 1), terms=vendor.profile.terms, now=NOW, ttl=timedelta(hours=1),
    )  # fmt: skip
    return schemas.open_offer(
        sealed, intent=cast.intent, secrets=cast.secrets, now=NOW, replay=None,
        profiles=schemas.ProfileCache(),
    )  # fmt: skip


def _good_record(store: AgentStore, vendor: schemas.VendorSigner, orders: int) -> None:
    for i in range(orders):
        store.add_outcome(
            vendor_id=vendor.vendor_id, kind="rating", positive=1.0, negative=0.0,
            at=NOW - timedelta(days=i + 1), ref=f"r-{vendor.vendor_id[:8]}-{i}",
        )  # fmt: skip


def _rank(tmp: Path, policy: TrustPolicy, established: int, newcomers: int) -> list[Ranked]:
    """Established vendors with two good orders each at 140 EUR; newcomers at 100-103 EUR,
    so that on score alone every newcomer would rank first."""
    cast = intent_for_test()
    store = AgentStore(tmp / "a.sqlite")
    old = [vendor_for_test(f"Known {i}") for i in range(established)]
    new = [vendor_for_test(f"Stranger {i}") for i in range(newcomers)]
    for v in old:
        _good_record(store, v, 2)
    offers = [_offer(cast, v, 14000) for v in old]
    offers += [_offer(cast, v, 10000 + 100 * i) for i, v in enumerate(new)]
    ranked, dropped = rank_offers(
        cast.intent, offers, trust=BetaTrust(store, policy), policy=policy,
        weights=RankingWeights(), now=NOW,
    )  # fmt: skip
    store.close()
    assert not dropped
    return ranked


def test_a_newcomer_never_ranks_above_an_established_good_vendor(tmp_path: Path) -> None:
    """A new identity far cheaper than a vendor with two good orders is still listed below
    it, marked new and told why; on price alone it would have been first."""
    ranked = _rank(tmp_path, TrustPolicy(), established=1, newcomers=1)
    assert [r.vendor_name for r in ranked] == ["Known 0", "Stranger 0"]
    assert ranked[1].score > ranked[0].score  # moved by the policy, not by its score
    assert ranked[1].trust.new and "(new)" in ranked[1].reasons[-2]
    assert "newcomer policy" in ranked[1].reasons[-1]
    assert not ranked[0].trust.new and "newcomer policy" not in " ".join(ranked[0].reasons)


def test_at_most_one_newcomer_in_the_top_three_by_default(tmp_path: Path) -> None:
    """Eight cheap new identities cannot push two established vendors off the top: the top
    three hold one newcomer, the best of them, and the others follow in score order."""
    ranked = _rank(tmp_path, TrustPolicy(), established=2, newcomers=8)
    names = [r.vendor_name for r in ranked]
    assert sum(r.trust.new for r in ranked[:3]) == 1
    assert names[0].startswith("Known") and "Stranger 0" in names[:3]
    assert names[3:] == [f"Stranger {i}" for i in range(1, 8)]
    assert all(r.trust.new for r in ranked if r.vendor_name.startswith("Stranger"))


def test_the_persons_policy_decides_how_much_room_newcomers_get(tmp_path: Path) -> None:
    """With room for three newcomers in the top five, three strangers follow the best known
    vendor; with no room, every known vendor comes first."""
    wide = _rank(tmp_path, TrustPolicy(newcomer_room=3, newcomer_window=5), 2, 8)
    assert [r.trust.new for r in wide[:5]] == [False, True, True, True, False]
    (tmp_path / "closed").mkdir()
    closed = _rank(tmp_path / "closed", TrustPolicy(newcomer_room=0), 2, 8)
    assert [r.trust.new for r in closed[:3]] == [False, False, True]


def test_with_nobody_established_newcomers_rank_by_score(tmp_path: Path) -> None:
    """When nothing is known of anyone, the policy only caps the top: the cheapest stranger
    is first and the order below follows the score."""
    ranked = _rank(tmp_path, TrustPolicy(newcomer_room=3), established=0, newcomers=4)
    assert [r.vendor_name for r in ranked] == [f"Stranger {i}" for i in range(4)]
    assert not any("newcomer policy" in " ".join(r.reasons) for r in ranked)


def test_blame_that_is_half_of_what_is_known_drops_a_vendor_whatever_its_praise(
    tmp_path: Path,
) -> None:
    """The policy's veto, when the person turns it on: three units of praise (all a vendor can fake, capped) and three of
    blame drop it, trust score or not; two of blame do not, nor one let-down of the
    person's own, nor four bad among ten good; with the veto off the first is shown."""
    cast = intent_for_test()
    store = AgentStore(tmp_path / "a.sqlite")
    evidence = {
        "Praised": (3.0, 3.0),
        "Scraped": (3.0, 2.0),
        "Once": (0.0, 2.0),
        "Long": (10.0, 4.0),
    }
    vendors = {name: vendor_for_test(name) for name in evidence}
    for name, (good, bad) in evidence.items():
        store.add_outcome(
            vendor_id=vendors[name].vendor_id, kind="rating", positive=good, negative=bad,
            at=NOW, ref=f"r-{name}",
        )  # fmt: skip
    offers = [_offer(cast, v, 12000) for v in vendors.values()]

    def rank(policy: TrustPolicy) -> tuple[list[str], dict[str, str]]:
        ranked, dropped = rank_offers(
            cast.intent, offers, trust=BetaTrust(store, policy), policy=policy,
            weights=RankingWeights(), now=NOW,
        )  # fmt: skip
        return sorted(r.vendor_name for r in ranked), {
            d.vendor_name or "": d.detail for d in dropped
        }

    shown, dropped = rank(TrustPolicy(veto=True))
    assert shown == ["Long", "Once", "Scraped"]
    assert "3.0 of 6.0 evidence is bad" in dropped["Praised"] and "veto" in dropped["Praised"]
    shown, _ = rank(TrustPolicy(veto=False))
    assert "Praised" in shown
    store.close()


def test_blame_as_large_as_praise_counts_as_half_though_a_little_forgotten(tmp_path: Path) -> None:
    """Three strangers' reports of orders that never came, an hour old, beside three units of
    praise minted just now: the blame is forgotten by a hair, yet it is as much as the
    praise, so the veto drops the vendor."""
    cast = intent_for_test()
    store = AgentStore(tmp_path / "a.sqlite")
    v = vendor_for_test("Sybil")
    store.add_outcome(
        vendor_id=v.vendor_id, kind="rating", positive=3.0, negative=0.0, at=NOW, ref="p"
    )
    for i in range(3):
        store.add_outcome(
            vendor_id=v.vendor_id, kind="rating", positive=0.0, negative=1.0,
            at=NOW - timedelta(hours=1), ref=f"b{i}",
        )  # fmt: skip
    ranked, dropped = rank_offers(
        cast.intent, [_offer(cast, v, 12000)], trust=BetaTrust(store, TrustPolicy(veto=True)),
        policy=TrustPolicy(veto=True), weights=RankingWeights(), now=NOW,
    )  # fmt: skip
    store.close()
    assert not ranked and "veto" in dropped[0].detail
