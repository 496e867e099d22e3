"""Receipt-backed ratings on a real nats-server with JetStream: only the buyer of a real,
vendor-signed order can rate it, once (a later rating replaces the earlier), the ratings board
keeps what is published across readers, network trust reads what verifies and nothing else,
and a person who rates two orders is not linkable by what the ratings carry."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

import schemas
from agent import AgentStore, BetaTrust, NetworkTrust, TrustPolicy, rating_bundle
from runtime import Bus, EmbeddedServer, RatingsBoard
from tests.conftest import Agent, VendorFactory

NOW = datetime.now(UTC)


def _buy(person: Agent, n: int = 1) -> list[str]:
    """``n`` confirmed orders from whichever vendor ranks first; their receipt ids."""
    out = []
    for _ in range(n):
        offer = person.want("--expect", "1")["offers"][0]["offer"]
        got = json.loads(person.ok("accept", offer, "--json"))
        assert got["status"] == "confirmed", got
        out.append(got["receipt"]["id"])
    return out


def _bundle(
    person: Agent, receipt: str, score: int, outcome: str, at: datetime = NOW
) -> tuple[str, bytes]:
    with AgentStore(person.home / "agent.sqlite") as store:
        return rating_bundle(store, receipt, score=score, outcome=outcome, now=at)


async def _board_round(
    url: str, publish: list[tuple[str, bytes]]
) -> dict[str, list[tuple[int, bytes]]]:
    """Publish on one connection, then read everything back on a fresh one."""
    async with Bus(url, name="rater") as bus, RatingsBoard(bus) as board:
        for vendor_id, bundle in publish:
            await board.publish(vendor_id, bundle)
    async with Bus(url, name="reader") as bus, RatingsBoard(bus) as board:
        async with asyncio.timeout(10):
            await board.catch_up()
        vendors = {v for v, _ in publish}
        return {v: board.bundles(v) for v in vendors}


def test_a_real_buyers_rating_verifies_and_a_later_one_replaces_it(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer
) -> None:
    """Ratings of one receipt by its buyer all verify and the board keeps them all; one per
    receipt counts: the later. Their times are whole seconds (a rating is public: finer
    digits fingerprint the person's clock), so of two made in one second the one the board
    published later counts."""
    vendor("sierra")
    (receipt,) = _buy(person)
    vendor_id, first = _bundle(person, receipt, 5, "delivered", NOW - timedelta(minutes=5))
    _, second = _bundle(person, receipt, 1, "not_delivered", NOW.replace(microsecond=100))
    _, third = _bundle(person, receipt, 2, "late", NOW.replace(microsecond=900_000))
    got = asyncio.run(
        _board_round(nats_server.url, [(vendor_id, b) for b in (first, second, third)])
    )
    opened = [schemas.open_rating(b, vendor_id=vendor_id, now=NOW) for _, b in got[vendor_id]]
    assert len(opened) == 3
    assert [o.created.microsecond for o in opened] == [0, 0, 0]
    (latest,) = schemas.latest_per_receipt(opened)
    assert latest.rating.msg.outcome == "late"
    (latest,) = schemas.latest_per_receipt([opened[0], opened[2], opened[1]])
    assert latest.rating.msg.outcome == "not_delivered"


def test_ratings_not_by_the_receipts_buyer_or_not_of_that_vendor_are_refused(
    person: Agent, vendor: VendorFactory
) -> None:
    """A rating re-signed by a stranger's key, a rating of another vendor's receipt, and a
    rating whose receipt binds another intent are each refused with a typed error."""
    vendor("sierra")
    (receipt,) = _buy(person)
    vendor_id, good = _bundle(person, receipt, 1, "not_delivered")
    rating, receipt_wire, intent_wire, profile_wire = schemas.unpack(good, 4, "$")
    v = schemas.open_rating(good, vendor_id=vendor_id, now=NOW).rating
    stranger = SigningKey.generate()
    forged = schemas.sign(
        v.msg, stranger, created=NOW, expires=NOW + timedelta(hours=1),
        intent=v.header.intent, vendor=v.header.vendor,
    )  # fmt: skip
    with pytest.raises(schemas.UnknownSigner):
        schemas.open_rating(
            schemas.pack(forged, receipt_wire, intent_wire, profile_wire), vendor_id=vendor_id,
            now=NOW,
        )  # fmt: skip
    with pytest.raises(schemas.UnknownSigner):
        schemas.open_rating(good, vendor_id="ab" * 32, now=NOW)
    other = _buy(person)[0]
    _, other_bundle = _bundle(person, other, 5, "delivered")
    other_intent = schemas.unpack(other_bundle, 4, "$")[2]
    with pytest.raises(schemas.Rebound):
        schemas.open_rating(
            schemas.pack(rating, receipt_wire, other_intent, profile_wire), vendor_id=vendor_id,
            now=NOW,
        )  # fmt: skip
    with pytest.raises(schemas.NotYetValid):
        _, future = _bundle(person, receipt, 5, "delivered", NOW + timedelta(hours=2))
        schemas.open_rating(future, vendor_id=vendor_id, now=NOW)


def _network(home: Path, board: dict[str, list[tuple[int, bytes]]]) -> NetworkTrust:
    store = AgentStore(home / "agent.sqlite")
    policy = TrustPolicy()
    return NetworkTrust(BetaTrust(store, policy), lambda v: board.get(v, []), policy)


def test_network_trust_learns_from_other_buyers_and_discounts_what_it_cannot_check(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """A newcomer to a vendor (no own orders) sees it drop below the trust threshold after
    other buyers' verified `not_delivered` ratings; junk on the board is counted as refused
    and changes nothing; the person's own rated receipt is not counted a second time."""
    vendor("sierra")
    receipts = _buy(person, 3)
    ratings = [_bundle(person, r, 1, "not_delivered") for r in receipts]
    vendor_id = ratings[0][0]
    junk = [(vendor_id, b"not a rating"), (vendor_id, ratings[0][1][:-9])]
    board = asyncio.run(_board_round(nats_server.url, ratings + junk))

    stranger = Agent(tmp_path / "stranger", nats_server.url)
    assert stranger.run("init", "--region", "ES-28").returncode == 0
    trust = _network(stranger.home, board)
    t = trust.score(vendor_id, NOW)
    assert t.value < TrustPolicy().threshold, t
    assert "3 verified buyers, 0 delivered" in t.describe()
    assert trust.refused == 2

    own = _network(person.home, board)  # the buyer: the same orders are its own evidence
    _, _, buyers, _ = own.network(vendor_id, NOW)
    assert buyers == 0


def test_faked_praise_is_capped_below_what_own_experience_gives(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """However many positive ratings a vendor gathers (it could make them itself), network
    praise alone stays under max_positive: trust from it is bounded."""
    vendor("sierra")
    receipts = _buy(person, 2)
    ratings = [_bundle(person, r, 5, "delivered") for r in receipts]
    board = asyncio.run(_board_round(nats_server.url, ratings))
    stranger = Agent(tmp_path / "stranger", nats_server.url)
    assert stranger.run("init", "--region", "ES-28").returncode == 0
    trust = _network(stranger.home, board)
    trust_with_cap_1 = NetworkTrust(trust.own, trust.ratings, trust.policy,
                                    type(trust.weights)(max_positive=0.5))  # fmt: skip
    vendor_id = ratings[0][0]
    p = TrustPolicy()
    assert trust.score(vendor_id, NOW).value > 1 / 3  # praise helps ...
    capped = trust_with_cap_1.score(vendor_id, NOW).value
    # Ratings are stamped in whole seconds, so at NOW they may be up to a second old: their
    # forgetting then moves the score by under 1e-7 (half-life 180 days).
    assert (
        abs(capped - (p.prior_positive + 0.5) / (p.prior_positive + 0.5 + p.prior_negative)) < 1e-6
    )


def test_two_ratings_by_one_person_share_nothing_but_the_vendors_own_identifiers(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer
) -> None:
    """Every id, key and hash in two rating bundles of one person for one vendor: what they
    have in common is the vendor's (its id, keys, profile), nothing of the person's."""
    vendor("sierra")
    a, b = _buy(person, 2)
    vendor_id, one = _bundle(person, a, 5, "delivered")
    _, two = _bundle(person, b, 4, "late")
    profile_wire = schemas.unpack(one, 4, "$")[3]
    vendors_own = {m.decode() for m in re.findall(rb"[0-9a-f]{32,64}", profile_wire)}
    shared: set[Any] = {
        m for m in re.findall(rb"[0-9a-f]{32,64}", one) if m in re.findall(rb"[0-9a-f]{32,64}", two)
    }
    assert {s.decode() for s in shared} <= vendors_own | {vendor_id}
    assert schemas.unpack(one, 4, "$")[2] != schemas.unpack(two, 4, "$")[2]  # two intents


def test_ratings_published_through_the_cli_warn_a_stranger_through_the_cli(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """A buyer rates three real orders `not_delivered` with `intentcast rate --publish`; a
    person who never bought there casts an intent on the same bus and the vendor is dropped
    as untrusted, with the buyers counted in the reason: people learn from each other's
    receipts."""
    vendor("sierra")
    receipts = _buy(person, 3)
    person.ok("rate", receipts[0][:8], "--score", "2", "--outcome", "late")
    for r in receipts:
        out = person.ok("rate", r[:8], "--score", "1", "--outcome", "not_delivered", "--publish")
        assert "published to the ratings board" in out
    stranger = Agent(tmp_path / "stranger", nats_server.url)
    assert stranger.run("init", "--region", "ES-28").returncode == 0
    got = stranger.want("--expect", "1", "--wait", "3s")
    assert got["offers"] == []
    (drop,) = [d for d in got["dropped"] if d["vendor"] == "Sierra Outfitters"]
    assert drop["reason"] == "untrusted", drop
    assert "3 verified buyers, 0 delivered" in drop["detail"]
