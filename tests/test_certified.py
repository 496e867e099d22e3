"""Certified reputation on a real nats-server with JetStream: a vendor adapter attaches its best
verified ratings from the ratings board to its offers; the person's agent verifies each, counts
it as evidence the vendor chose (weighted below a stranger's), never twice beside the board's
copy, and refuses forged, foreign and duplicated evidence with a count and a log line while the
offer itself is still judged on its merits."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

import schemas
from agent import BetaTrust, NetworkTrust, TrustPolicy
from runtime import Bus, EmbeddedServer, RatingsBoard
from tests.conftest import Agent, VendorFactory, collect, own_agent
from tests.factories import minted_rating, vendor_for_test
from vendor_adapter import CertifiedConfig, EvidenceShelf, seal_within

ATTACH = "{ attach = true, count = 3, min_score = 4, max_box_kib = 32 }"


def _buy_and_rate(person: Agent, scores: list[tuple[int, str]]) -> None:
    for score, outcome in scores:
        offer = person.want("--expect", "1")["offers"][0]["offer"]
        got = json.loads(person.ok("accept", offer, "--json"))
        assert got["status"] == "confirmed", got
        receipt = got["receipt"]["id"]
        person.ok("rate", receipt[:8], "--score", str(score), "--outcome", outcome, "--publish")


async def _stranger_sees(
    url: str, home: Path, source: str
) -> tuple[schemas.OpenedOffer, NetworkTrust, Any]:
    """A person new to the market casts one intent in-process; their trust reads the ratings
    board (``source="board"``) or nothing but what offers carry (``"offers"``)."""
    async with Bus(url, name="stranger", person=True) as bus, RatingsBoard(bus) as board:
        async with asyncio.timeout(10):
            await board.catch_up()
        async with own_agent(home, bus) as a:
            policy = TrustPolicy()
            read = board.bundles if source == "board" else lambda v: []
            trust = NetworkTrust(BetaTrust(a.store, policy), read, policy)
            a.trust = trust
            got = await collect(a, expect=1)
        (offer,) = got.offers
        return offer, trust, got


def test_a_vendor_attaches_its_best_ratings_and_a_stranger_counts_them_as_selected(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """Three real orders rated 5, 4 (late) and 3 are on the board. Sierra, restarted with
    `certified.attach` and min_score 4, carries the two good ones on its offer, best first;
    an agent that reads only the offer counts them at the certified weight and says so."""
    first = vendor("sierra")
    _buy_and_rate(person, [(3, "delivered"), (5, "delivered"), (4, "late")])
    first.stop()
    sierra = vendor("sierra", replica="b", certified=ATTACH)
    sierra.wait_for("certified.reading", ratings=3)
    offer, trust, _ = asyncio.run(_stranger_sees(nats_server.url, tmp_path / "s", "offers"))
    copies = offer.offer.msg.certified
    scores = [
        schemas.open_certified(
            c, profile_wire=schemas.unpack(offer.bundle, 2)[0],
            vendor_id=offer.profile.msg.vendor_id, now=datetime.now(UTC),
        ).rating.msg.score
        for c in copies
    ]  # fmt: skip
    assert scores == [5, 4]
    t = trust.score(offer.profile.msg.vendor_id, datetime.now(UTC))
    assert "2 ratings the vendor chose to show" in t.describe()
    assert "verified buyers" not in t.describe()
    w, p = trust.weights.certified_weight, TrustPolicy()
    pos, neg = w * (1 + 0.75), w * trust.weights.negative_factor * 0.25
    expected = (p.prior_positive + pos) / (p.prior_positive + pos + p.prior_negative + neg)
    assert abs(t.value - expected) < 1e-6  # forgetting: seconds since the ratings
    assert w < trust.weights.weight  # the vendor chose them: below a stranger's rating


def test_certified_copies_of_ratings_on_the_board_count_once(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """An agent that read the board already holds the ratings the offer carries: it counts
    the three buyers once, as strangers, and refuses the two copies as duplicates."""
    first = vendor("sierra")
    _buy_and_rate(person, [(5, "delivered"), (5, "delivered"), (2, "not_as_described")])
    first.stop()
    vendor("sierra", replica="b", certified=ATTACH).wait_for("certified.reading", ratings=3)
    with capture_logs() as logs:
        offer, trust, _ = asyncio.run(_stranger_sees(nats_server.url, tmp_path / "s", "board"))
        t = trust.score(offer.profile.msg.vendor_id, datetime.now(UTC))
    assert len(offer.offer.msg.certified) == 2
    assert "3 verified buyers, 2 delivered" in t.describe() and "chose" not in t.describe()
    assert trust.certified.refused == {"duplicate": 2}
    assert [e["reason"] for e in logs if e["event"] == "certified.refused"] == ["duplicate"] * 2


async def _hostile_offer(
    url: str, copies: list[schemas.CertifiedRating], v: Any, listening: asyncio.Event
) -> None:
    """A vendor of its own that answers one tent intent with an offer carrying ``copies``
    (``listening`` is set once it hears intents)."""
    answered = asyncio.Event()
    async with Bus(url, name="hostile") as bus:

        async def on_intent(msg: Any) -> None:
            intent = schemas.open_intent(msg.data, now=datetime.now(UTC), replay=None)
            now = datetime.now(UTC)
            _, sealed = schemas.make_offer(
                intent=intent, signer=v, item=schemas.Item("MIRAGE-T", "Tent"), quantity=1,
                unit_price=schemas.Money(9900, "EUR"), total_price=schemas.Money(9900, "EUR"),
                delivery_by=date.today() + timedelta(days=3), terms=v.profile.terms, now=now,
                ttl=timedelta(hours=1), certified=copies,
            )  # fmt: skip
            await bus.nc.publish(intent.msg.reply_subject, sealed)
            answered.set()

        await bus.nc.subscribe("ic.v1.intent.outdoor.tents", cb=on_intent)
        await bus.nc.flush()
        listening.set()
        async with asyncio.timeout(20):
            await answered.wait()


def test_forged_foreign_and_duplicated_evidence_is_refused_and_counted(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """A hostile vendor's offer carries a copy of Sierra's real rating (foreign), a rating of
    its own with a byte changed (forged), and one self-made rating twice (duplicate). The
    person still sees the offer; one certified rating counts, the rest are refused, counted
    by reason and logged; the vendor's trust rises only by that one rating's small weight."""
    first = vendor("sierra")
    _buy_and_rate(person, [(5, "delivered")])
    first.stop()

    async def sierras_rating() -> bytes:
        async with Bus(nats_server.url, name="r") as bus, RatingsBoard(bus) as board:
            async with asyncio.timeout(10):
                await board.catch_up()
            ((_, bundle),) = [b for vid in list(board._copy) for b in board.bundles(vid)]
            return bundle

    foreign = schemas.certified_copy(asyncio.run(sierras_rating()))
    hostile = vendor_for_test("Mirage Outdoor")
    minted = schemas.certified_copy(minted_rating(hostile, now=datetime.now(UTC)))
    forged = schemas.certified_copy(minted_rating(hostile, now=datetime.now(UTC)))
    forged = schemas.CertifiedRating(
        rating=forged.rating.replace(b'"score":5', b'"score":4'), receipt=forged.receipt,
        intent=forged.intent,
    )  # fmt: skip
    copies = [foreign, forged, minted, minted]

    async def both() -> tuple[schemas.OpenedOffer, NetworkTrust, Any]:
        listening = asyncio.Event()
        answer = asyncio.create_task(_hostile_offer(nats_server.url, copies, hostile, listening))
        try:
            async with asyncio.timeout(10):
                await listening.wait()
            return await _stranger_sees(nats_server.url, tmp_path / "s", "offers")
        finally:
            await answer

    with capture_logs() as logs:
        _, trust, got = asyncio.run(both())
        t = trust.score(hostile.vendor_id, datetime.now(UTC))
    assert [r.offer.item.sku for r in got.ranked] == ["MIRAGE-T"]
    assert trust.certified.refused == {"foreign": 1, "forged": 1, "duplicate": 1}
    refused = sorted(e["reason"] for e in logs if e["event"] == "certified.refused")
    assert refused == ["duplicate", "foreign", "forged"]
    assert "1 ratings the vendor chose to show" in t.describe()
    w, p = trust.weights.certified_weight, TrustPolicy()
    assert abs(t.value - (p.prior_positive + w) / (p.prior_positive + w + p.prior_negative)) < 1e-6


def test_the_vendor_attaches_only_as_many_as_fit_its_box(tmp_path: Path) -> None:
    """With eight good ratings on its shelf (and junk, a truncated bundle and another
    vendor's rating, none of which it attaches) and a 16 KiB bound, the sealed offer is at
    most 16 KiB and carries as many copies as fit, best first; with a 32 KiB bound, more."""
    v = vendor_for_test()
    now = datetime.now(UTC)
    board = [(i, minted_rating(v, score=5 if i % 2 else 4, now=now)) for i in range(8)]
    other = minted_rating(vendor_for_test("Other"), now=now)
    board += [(8, b"junk"), (9, board[0][1][:-40]), (10, other)]
    cfg = CertifiedConfig(attach=True, count=8)
    with capture_logs() as logs:
        copies = EvidenceShelf(v.vendor_id, cfg, lambda: board).best(now)
    assert len(copies) == 8 and schemas.certified_copy(other) not in copies
    assert len([e for e in logs if e["event"] == "certified.unverified"]) == 3
    cast = schemas.example_tent_intent(now=now)
    intent = schemas.open_intent(cast.wire, now=now, replay=None)

    def make(certified: list[schemas.CertifiedRating]) -> bytes:
        return schemas.make_offer(
            intent=intent, signer=v, item=schemas.Item("T", "Tent"), quantity=1,
            unit_price=schemas.Money(100, "EUR"), total_price=schemas.Money(100, "EUR"),
            delivery_by=date.today(), terms=v.profile.terms, now=now, ttl=timedelta(hours=1),
            certified=certified,
        )[1]  # fmt: skip

    def carried(sealed: bytes) -> int:
        bundle = schemas.unseal(cast.secrets.seal, sealed)
        offer = schemas.verify(schemas.unpack(bundle, 2)[1], schemas.Offer, key=v.ring, now=now)
        return len(offer.msg.certified)

    small, large = seal_within(make, copies, 16 * 1024), seal_within(make, copies, 32 * 1024)
    assert len(small) <= 16 * 1024 and len(large) <= 32 * 1024
    assert 1 <= carried(small) < carried(large) <= 8
