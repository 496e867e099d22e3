"""The agent's parts on their own: trust with forgetting, ranking with reasons, terms."""

from __future__ import annotations

import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import schemas
from agent import AgentStore, BetaTrust, Dropped, Ranker, rank_offers
from agent._home import RankingWeights, TrustPolicy
from agent._opening import OfferOpener, admit_opened
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
        "Tracker", schemas.example_vendor_terms(no_tracking=False, agreements=[])
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
    v = schemas.example_vendor_terms(agreements=[])
    m = schemas.match_terms(person, v)
    assert m.acceptable and m.preference_score == 0.0
    v36 = schemas.example_vendor_terms(warranty_months=36, agreements=[])
    assert schemas.match_terms(person, v36).preference_score == 1.0
    leaky = schemas.example_vendor_terms(
        data_retention_days=400, no_sharing=False, warranty_months=36, agreements=[]
    )
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


def _burst() -> tuple[schemas.CastIntent, list[bytes]]:
    """Twelve sealed replies to one intent: good offers from several vendors, one sealed to
    another intent, one truncated, and one good offer sent twice."""
    cast, other = intent_for_test(), intent_for_test()
    vendors = [vendor_for_test(f"V{i}") for i in range(8)]
    sealed = [offer_for_test(cast, v) for v in vendors]
    sealed.insert(3, offer_for_test(other, vendors[0]))
    sealed.insert(6, sealed[5][:-7])
    sealed.append(sealed[1])
    sealed.append(offer_for_test(cast, vendors[7], now=NOW - timedelta(hours=3)))
    return cast, sealed


def _verdicts(results: list[object], replay: schemas.ReplayCache) -> list[str]:
    out = []
    for r in results:
        try:
            out.append("ok:" + admit_opened(r, replay, NOW).offer.msg.vendor_id)  # type: ignore[arg-type]
        except schemas.ProtocolError as err:
            out.append(err.code)
    return out


async def test_a_burst_opened_on_threads_gives_the_inline_verdicts_in_arrival_order() -> None:
    """Opening a batch on two threads changes nothing but speed: the same offer or the same
    typed error for each reply, in the order they arrived, and a reply sent twice within one
    batch is still refused as a replay (the replay check runs after, on the caller's thread)."""
    cast, sealed = _burst()
    kw = dict(intent=cast.intent, secrets=cast.secrets, now=NOW, profiles=schemas.ProfileCache())
    with OfferOpener(threads=1) as inline, OfferOpener(threads=2, min_batch=2) as threaded:
        want = _verdicts(inline.open_batch(sealed, **kw), schemas.ReplayCache())  # type: ignore[arg-type]
        got_sync = _verdicts(threaded.open_batch(sealed, **kw), schemas.ReplayCache())  # type: ignore[arg-type]
        got_async = _verdicts(await threaded.open(sealed, **kw), schemas.ReplayCache())  # type: ignore[arg-type]
        assert threaded._pool is not None  # the batch really went to the threads
    assert got_sync == want and got_async == want
    assert want.count("replayed") == 1 and want[-2] == "replayed"
    assert want[3] == "malformed" and want[6] == "malformed"  # other intent's box; truncated
    assert want[-1] == "expired"
    assert len({v for v in want if v.startswith("ok:")}) == 8  # each good vendor, once


def test_the_default_opener_opens_a_ten_vendor_burst_inline() -> None:
    """By default a burst the size of ten vendors' offers is opened on the event loop's thread:
    measured on two cores, handing ten offers to threads cost more CPU and more time than it
    saved (deploy/CAPACITY.md). The offers still open, each verified."""
    cast, sealed = _burst()
    with OfferOpener() as opener:
        got = opener.open_batch(
            sealed[:10], intent=cast.intent, secrets=cast.secrets, now=NOW,
            profiles=schemas.ProfileCache(),
        )  # fmt: skip
        assert opener._pool is None
    assert sum(isinstance(o, schemas.OpenedOffer) for o in got) == 8  # one misaddressed, one cut


def test_a_small_batch_is_opened_inline_without_starting_threads() -> None:
    """Below ``min_batch`` no pool is started: a lone offer pays no thread hand-off."""
    cast, sealed = _burst()
    with OfferOpener(threads=2, min_batch=4) as opener:
        kw = dict(
            intent=cast.intent, secrets=cast.secrets, now=NOW, profiles=schemas.ProfileCache()
        )
        (one,) = opener.open_batch(sealed[:1], **kw)  # type: ignore[arg-type]
        assert isinstance(one, schemas.OpenedOffer)
        assert opener._pool is None


async def test_closing_the_opener_keeps_an_interval_set_by_others() -> None:
    """Closing puts back only the switch interval the opener itself lowered: one changed by
    someone else meanwhile stays as they set it. A closed opener opens nothing."""
    cast, sealed = _burst()
    kw = dict(intent=cast.intent, secrets=cast.secrets, now=NOW, profiles=schemas.ProfileCache())
    before = sys.getswitchinterval()
    try:
        async with OfferOpener(threads=2, min_batch=2) as opener:
            await opener.open(sealed, **kw)  # type: ignore[arg-type]
            assert sys.getswitchinterval() < before
            sys.setswitchinterval(before * 2)
        assert sys.getswitchinterval() == before * 2
        with pytest.raises(RuntimeError, match="open offer opener"):
            await opener.open(sealed, **kw)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="open offer opener"):
            opener.open_batch(sealed[:1], **kw)  # type: ignore[arg-type]
    finally:
        sys.setswitchinterval(before)


def test_a_rating_replaces_its_receipts_evidence_so_non_delivery_sinks_trust(
    tmp_path: Path,
) -> None:
    """A receipt is provisional good evidence; rating that order "not_delivered" replaces it.
    Two sales that never arrive put a vendor below the default threshold, where each sale
    once offset its own bad rating and the score never fell below the prior."""
    store = AgentStore(tmp_path / "a.sqlite")
    policy = TrustPolicy()
    trust = BetaTrust(store, policy)
    for i in range(2):
        before = trust.score("bait", NOW).value
        store.add_outcome(
            vendor_id="bait", kind="receipt", positive=1, negative=0, at=NOW, ref=f"r{i}"
        )
        assert trust.score("bait", NOW).value > before  # a sale, not yet rated
        pos, neg = rating_evidence(1, "not_delivered")
        store.add_outcome(
            vendor_id="bait", kind="rating", positive=pos, negative=neg, at=NOW, ref=f"r{i}"
        )
    assert trust.score("bait", NOW).value < policy.threshold
    store.add_outcome(vendor_id="good", kind="receipt", positive=1, negative=0, at=NOW, ref="g")
    store.add_outcome(vendor_id="good", kind="rating", positive=1, negative=0, at=NOW, ref="g")
    assert abs(trust.score("good", NOW).value - 2 / 4) < 1e-9  # the rating, not both


def test_a_transaction_without_fsync_commits_and_puts_full_sync_back(tmp_path: Path) -> None:
    """Collected offers are committed without waiting for the disk (nothing was promised to
    anyone); the connection is back at synchronous=FULL afterwards, also when the transaction
    fails and rolls back, so acceptances and receipts are always fsynced."""
    store = AgentStore(tmp_path / "a.sqlite")

    def sync_level() -> int:
        return int(store.db.execute("PRAGMA synchronous").fetchone()[0])

    assert sync_level() == 2  # FULL
    with store.transaction(fsync=False):
        assert sync_level() == 1  # NORMAL
        store.add_outcome(vendor_id="v", kind="receipt", positive=1, negative=0, at=NOW)
    assert sync_level() == 2
    other = sqlite3.connect(tmp_path / "a.sqlite")
    assert other.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1  # committed
    with pytest.raises(RuntimeError), store.transaction(fsync=False):
        store.add_outcome(vendor_id="v", kind="receipt", positive=1, negative=0, at=NOW)
        raise RuntimeError("interrupted")
    assert sync_level() == 2
    assert other.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1  # rolled back


def test_an_unexpected_fault_while_opening_drops_that_reply_only_and_logs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should opening a reply ever fail in a way the contract did not foresee, that reply is
    dropped as malformed with an `offer.open_failed` log line; the rest of the batch opens."""
    import agent._opening as opening

    cast, sealed = _burst()
    real = schemas.open_offer
    poisoned = sealed[2]

    def flaky(s: bytes, **kw: object) -> schemas.OpenedOffer:
        if s == poisoned:
            raise ZeroDivisionError("boom")
        return real(s, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(opening.schemas, "open_offer", flaky)
    kw = dict(intent=cast.intent, secrets=cast.secrets, now=NOW, profiles=schemas.ProfileCache())
    with capture_logs() as logs, OfferOpener(threads=1) as inline:
        verdicts = _verdicts(inline.open_batch(sealed, **kw), schemas.ReplayCache())  # type: ignore[arg-type]
    assert verdicts[2] == "malformed"
    assert sum(v.startswith("ok:") for v in verdicts) == 7  # every other good offer
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["offer.open_failed"]
