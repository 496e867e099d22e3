"""The agent's parts on their own: trust with forgetting, ranking with reasons, terms."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import schemas
from agent import AgentStore, BetaTrust, Dropped, Ranker, rank_offers
from agent._home import RankingWeights, TrustPolicy
from agent._trust import rating_evidence
from tests.factories import NOW, intent_for_test, offer_for_test, vendor_for_test


def test_beta_trust_starts_low_grows_with_receipts_and_forgets(tmp_path: Path) -> None:
    """New vendors sit at the prior (1/3, marked new); receipts raise the score; old bad
    evidence weighs less than fresh bad evidence."""
    store = AgentStore(tmp_path / "a.sqlite")
    t = BetaTrust(store, TrustPolicy())
    new = t.score("v", NOW)
    assert new.new and abs(new.value - 1 / 3) < 1e-9
    for _ in range(5):
        store.add_outcome(vendor_id="v", kind="receipt", positive=1, negative=0, at=NOW)
    good = t.score("v", NOW)
    assert not good.new and good.value > 0.7
    store.add_outcome(
        vendor_id="old", kind="rating", positive=0, negative=3, at=NOW - timedelta(days=720)
    )
    store.add_outcome(vendor_id="fresh", kind="rating", positive=0, negative=3, at=NOW)
    assert t.score("old", NOW).value > t.score("fresh", NOW).value
    assert rating_evidence(5, "delivered") == (1.0, 0.0)
    assert rating_evidence(5, "not_delivered")[1] >= 1.0


def _dropped_for(cast: schemas.CastIntent, vendor: schemas.VendorSigner, store: AgentStore) -> str:
    """The reason the one offer ``vendor`` makes for ``cast`` is dropped ("" if it is not)."""
    o = schemas.open_offer(
        offer_for_test(cast, vendor),
        intent=cast.intent,
        secrets=cast.secrets,
        now=NOW,
        replay=None,
        profiles=schemas.ProfileCache(),
    )
    verdict = Ranker(
        cast.intent,
        trust=BetaTrust(store, TrustPolicy()),
        policy=TrustPolicy(),
        weights=RankingWeights(),
        now=NOW,
    ).judge(o)
    return verdict.reason if isinstance(verdict, Dropped) else ""


def test_ranking_filters_must_haves_budget_deadline_and_trust_and_explains(tmp_path: Path) -> None:
    """Breaches, over-budget, late and untrusted offers are dropped with reasons; the rest
    are ordered by score and each carries its reasons."""
    cast = intent_for_test()
    honest = vendor_for_test("Honest")
    tracker = vendor_for_test(
        "Tracker", schemas.VendorTerms(30, False, True, True, 30, 24, ["card"], "es")
    )
    opened = [
        schemas.open_offer(
            offer_for_test(cast, v),
            intent=cast.intent,
            secrets=cast.secrets,
            now=NOW,
            replay=None,
            profiles=schemas.ProfileCache(),
        )
        for v in (honest, tracker)
    ]
    store = AgentStore(tmp_path / "a.sqlite")
    ranked, dropped = rank_offers(
        cast.intent,
        opened,
        trust=BetaTrust(store, TrustPolicy()),
        policy=TrustPolicy(),
        weights=RankingWeights(),
        now=NOW,
    )
    assert [r.vendor_name for r in ranked] == ["Honest"]
    assert any("under your limit" in x for x in ranked[0].reasons)
    assert [(d.reason, d.vendor_name) for d in dropped] == [("breach", "Tracker")]
    strict = TrustPolicy(threshold=0.5)
    ranked, dropped = rank_offers(
        cast.intent,
        opened[:1],
        trust=BetaTrust(store, strict),
        policy=strict,
        weights=RankingWeights(),
        now=NOW,
    )
    assert ranked == [] and dropped[0].reason == "untrusted"
    cheap = intent_for_test(max_price=schemas.Money(100, "EUR"))
    assert _dropped_for(cheap, honest, store) == "over_budget"
    soon = intent_for_test(wanted_by=date(2026, 11, 25))
    assert _dropped_for(soon, honest, store) == "too_late"


def test_terms_match_clause_by_clause_and_roster_expands() -> None:
    """Must-haves breach, preferences score, and a roster agreement fills empty clauses."""
    person = schemas.expand_terms(
        schemas.Terms(
            agreement="sd-consumer",
            min_warranty_months=schemas.DaysClause(36, must=False, weight=3),
        )
    )
    assert person.no_tracking is not None and person.min_return_days == schemas.DaysClause(14)
    v = schemas.VendorTerms(30, True, True, True, 30, 24, ["card"], "es")
    m = schemas.match_terms(person, v)
    assert m.acceptable and m.preference_score == 0.0
    v36 = schemas.VendorTerms(30, True, True, True, 30, 36, ["card"], "es")
    assert schemas.match_terms(person, v36).preference_score == 1.0
    leaky = schemas.VendorTerms(400, True, False, True, 30, 36, ["card"], "es")
    assert {b.clause for b in schemas.match_terms(person, leaky).breaches} == {
        "data_retention_days",
        "no_sharing",
    }


def test_money_parsing_is_exact() -> None:
    """Prices parse to exact minor units; too many decimals is an error, not a rounding."""
    assert schemas.parse_money("150EUR") == schemas.Money(15000, "EUR")
    assert schemas.parse_money("EUR 19.99") == schemas.Money(1999, "EUR")
    assert schemas.parse_money("500 jpy") == schemas.Money(500, "JPY")
    for bad in ("19.999EUR", "1.5JPY", "EUR", "12"):
        try:
            schemas.parse_money(bad)
        except ValueError as exc:
            assert "expected" in str(exc)
        else:
            raise AssertionError(bad)
