"""Friends on a real nats-server with JetStream: a person's friend card, exchanged out of band,
lets the friends who follow them recognise their published ratings and weigh them most, while
to everyone else those ratings stay unlinkable; a friend seal a follower forges is refused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from structlog.testing import capture_logs

import schemas
from agent import AgentStore, BetaTrust, FriendBook, NetworkTrust, TrustPolicy, rating_bundle
from runtime import Bus, EmbeddedServer, RatingsBoard
from tests.conftest import ADDRESS_FLAGS, Agent, VendorFactory
from tests.factories import NOW as FACTORY_NOW
from tests.factories import minted_rating, vendor_for_test


def _buy(person: Agent, n: int = 1) -> list[str]:
    out = []
    for _ in range(n):
        offer = person.want("--expect", "1")["offers"][0]["offer"]
        got = json.loads(person.ok("accept", offer, "--json"))
        assert got["status"] == "confirmed", got
        out.append(got["receipt"]["id"])
    return out


def _home(tmp: Path, name: str, url: str) -> Agent:
    a = Agent(tmp / name, url)
    a.ok("init", "--name", name, "--region", "ES-28", *ADDRESS_FLAGS)
    return a


async def _board(url: str) -> dict[str, list[tuple[int, bytes]]]:
    """Everything on the ratings board, read on a fresh connection."""
    async with Bus(url, name="reader") as bus, RatingsBoard(bus) as board:
        async with asyncio.timeout(10):
            await board.catch_up()
        return {v: board.bundles(v) for v in list(board._copy)}


def _trust(home: Path, board: dict[str, list[tuple[int, bytes]]]) -> NetworkTrust:
    policy = TrustPolicy()
    with FriendBook(home / "friends.sqlite") as book:
        friends = book.friends()
    own = BetaTrust(AgentStore(home / "agent.sqlite"), policy)
    return NetworkTrust(own, lambda v: board.get(v, []), policy, friends=friends)


def test_friend_cards_are_made_added_shown_and_removed_through_the_cli(
    person: Agent, tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """`friends card --out` writes an owner-only one-line card; a friend adds it and sees
    it in `show`; adding it twice, adding one's own card, a card edited in transit and
    removing an unknown name are each one line and exit 2, changing nothing; `card --new`
    makes a new friend identity."""
    card = tmp_path / "ada.card"
    person.ok("friends", "card", "--out", str(card))
    assert card.stat().st_mode & 0o077 == 0
    assert card.read_text().startswith("intentcast-friend/1 ")
    bob = _home(tmp_path, "bob", nats_server.url)
    assert "following Ada Lovelace" in bob.ok("friends", "add", str(card))
    assert "Ada Lovelace" in bob.ok("friends", "show")
    again = bob.run("friends", "add", str(card), "--name", "Ada again")
    assert again.returncode == 2 and "already follow this friend as 'Ada Lovelace'" in again.stderr
    own = person.run("friends", "add", str(card))
    assert own.returncode == 2 and "your own card" in own.stderr
    words = card.read_text().split()
    words[3] = "00" * 32  # another secret: the card's signature no longer matches
    edited = tmp_path / "edited.card"
    edited.write_text(" ".join(words))
    bad = _home(tmp_path, "carol", nats_server.url).run("friends", "add", str(edited))
    assert bad.returncode == 2 and "bad_signature" in bad.stderr, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    unknown = bob.run("friends", "remove", "Nobody")
    assert unknown.returncode == 2 and "Ada Lovelace" in unknown.stderr
    assert "no longer following" in bob.ok("friends", "remove", "Ada Lovelace")
    assert "you follow nobody yet" in bob.ok("friends", "show")
    assert person.ok("friends", "card") == card.read_text()  # the same identity, until --new
    renewed = person.ok("friends", "card", "--new")
    assert renewed.split()[2] != card.read_text().split()[2]


def _identifiers(bundle: bytes) -> set[bytes]:
    """Every key, id, hash, nonce, signature and seal in a rating bundle: hex tokens of 32
    digits or more, and each frame's signature and base64 field as raw bytes."""
    out: set[bytes] = set()
    for frame in schemas.unpack(bundle, 4, "$"):
        out.add(frame[:64])
        out |= {m.lower() for m in re.findall(rb"[0-9a-fA-F]{32,}", frame[64:])}
        doc = msgspec.json.decode(frame[64:][frame[64:].index(b"\n") + 1 :])
        for value in doc["msg"].values():
            if isinstance(value, str) and len(value) >= 24 and not re.fullmatch("[0-9a-f]+", value):
                with contextlib.suppress(ValueError):
                    out.add(base64.b64decode(value, validate=True))
    return out


async def _capture(url: str, during: Any) -> list[bytes]:
    """Every message on ic.v1.rating.> while ``during`` (a thread's work) runs."""
    got: list[bytes] = []

    async def keep(msg: Any) -> None:
        got.append(msg.data)

    async with Bus(url, name="eavesdropper") as bus:
        sub = await bus.nc.subscribe("ic.v1.rating.>", cb=keep)
        await bus.nc.flush()
        await asyncio.to_thread(during)
        await bus.nc.flush()
        await sub.unsubscribe()
    return got


def test_two_ratings_by_a_person_with_friends_share_only_the_vendors_identifiers_on_the_bus(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """A person who made a friend card and is followed publishes two ratings with `rate
    --publish`; a capture of the bus holds both, each with a 104-byte friend seal, and every
    identifier the two have in common is the vendor's own (its profile frame): the seals,
    keys, ids and signatures of the person's side all differ."""
    vendor("sierra")
    person.ok("friends", "card", "--out", str(tmp_path / "ada.card"))
    _home(tmp_path, "bob", nats_server.url).ok("friends", "add", str(tmp_path / "ada.card"))
    a, b = _buy(person, 2)

    def rate_both() -> None:
        person.ok("rate", a[:8], "--score", "5", "--outcome", "delivered", "--publish")
        person.ok("rate", b[:8], "--score", "4", "--outcome", "late", "--publish")

    one, two = asyncio.run(_capture(nats_server.url, rate_both))
    for bundle in (one, two):
        rating = schemas.unpack(bundle, 4, "$")[0]
        body = rating[64:]  # after the signature, whose bytes may hold a newline
        seal = msgspec.json.decode(body[body.index(b"\n") + 1 :])["msg"]["friend_seal"]
        assert len(base64.b64decode(seal)) == schemas.FRIEND_SEAL_BYTES
    vendors_own = _identifiers(schemas.pack(*[schemas.unpack(one, 4, "$")[3]] * 4))
    shared = _identifiers(one) & _identifiers(two)
    assert shared, "the vendor's own identifiers are common to both"
    assert shared <= vendors_own, shared - vendors_own


def test_a_follower_credits_a_friends_ratings_and_a_stranger_counts_them_as_a_strangers(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """Ada publishes two 5-star ratings; Bob follows her and his agent says "2 friends rated
    5" and trusts the vendor more than Carol's, who does not follow her and counts them as
    two verified buyers at a stranger's weight. Bob's `want` shows the reason to him."""
    vendor("sierra")
    person.ok("friends", "card", "--out", str(tmp_path / "ada.card"))
    bob = _home(tmp_path, "bob", nats_server.url)
    bob.ok("friends", "add", str(tmp_path / "ada.card"))
    carol = _home(tmp_path, "carol", nats_server.url)
    for r in _buy(person, 2):
        person.ok("rate", r[:8], "--score", "5", "--outcome", "delivered", "--publish")
    board = asyncio.run(_board(nats_server.url))
    (vendor_id,) = board
    bobs, carols = _trust(bob.home, board), _trust(carol.home, board)
    now = datetime.now(UTC)  # after the ratings were signed, not at import
    b, c = bobs.score(vendor_id, now), carols.score(vendor_id, now)
    assert "2 friends rated 5" in b.describe() and "verified buyers" not in b.describe()
    assert "2 verified buyers, 2 delivered" in c.describe() and "friend" not in c.describe()
    assert b.value > c.value
    p, w = TrustPolicy(), bobs.weights
    assert (
        abs(b.value - (p.prior_positive + 2 * w.friend_weight) / (3 + 2 * w.friend_weight)) < 1e-6
    )
    reasons = bob.want("--expect", "1")["offers"][0]["reasons"]
    assert any("2 friends rated 5" in x for x in reasons), reasons


def test_a_friend_seal_forged_by_a_follower_is_refused_and_counts_as_a_stranger(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer, tmp_path: Path
) -> None:
    """Mallory follows Ada, so she holds Ada's seal secret; she seals her own rating of her
    own order under it with a key of her own. Bob, who follows Ada, refuses the seal as
    Ada's (a log line, a count) and counts the rating as one stranger's, never a friend's."""
    vendor("sierra")
    person.ok("friends", "card", "--out", str(tmp_path / "ada.card"))
    mallory = _home(tmp_path, "mallory", nats_server.url)
    ada = mallory.ok("friends", "add", str(tmp_path / "ada.card"))
    assert "following" in ada
    bob = _home(tmp_path, "bob", nats_server.url)
    bob.ok("friends", "add", str(tmp_path / "ada.card"))
    (receipt,) = _buy(mallory)
    with FriendBook(mallory.home / "friends.sqlite") as book:
        (stolen,) = book.friends()
    posing = schemas.FriendIdentity(schemas.FriendIdentity.generate().seed, stolen.secret)

    with AgentStore(mallory.home / "agent.sqlite") as store:
        vendor_id, forged = rating_bundle(
            store, receipt, score=5, outcome="delivered", now=datetime.now(UTC), friend=posing
        )

    async def publish() -> None:
        async with Bus(nats_server.url, name="mallory") as bus, RatingsBoard(bus) as board:
            await board.publish(vendor_id, forged)

    asyncio.run(publish())
    board = asyncio.run(_board(nats_server.url))
    bobs = _trust(bob.home, board)
    with capture_logs() as logs:
        t = bobs.score(vendor_id, datetime.now(UTC))
    assert bobs.friend_seals_refused == 1
    assert [e["log_level"] for e in logs if e["event"] == "rating.friend_seal_refused"] == [
        "warning"
    ]
    assert "1 verified buyers, 1 delivered" in t.describe() and "friend" not in t.describe()


def test_a_rating_with_no_friend_behind_it_carries_a_random_seal_of_the_same_size() -> None:
    """Ratings by someone with no friend identity carry 104 fresh random bytes, so a seal's
    presence or size does not say who has friends; nobody's friend ring recognises them."""
    v = vendor_for_test()
    seals = []
    for _ in range(2):
        opened = schemas.open_rating(minted_rating(v), vendor_id=v.vendor_id, now=FACTORY_NOW)
        seals.append(opened.rating.msg.friend_seal)
    assert [len(s) for s in seals] == [schemas.FRIEND_SEAL_BYTES] * 2 and seals[0] != seals[1]
    ring = [schemas.FriendIdentity.generate().card("x").friend()]
    r = opened.rating.msg
    found = schemas.recognise_friend(
        r.friend_seal, ring, receipt_hash=r.receipt_hash,
        intent_key=opened.intent.msg.keys.sign, vendor_id=v.vendor_id,
    )  # fmt: skip
    assert found is None
