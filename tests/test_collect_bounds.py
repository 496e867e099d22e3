"""What the agent keeps of one intent's replies, exactly (unit level: the real agent on the
in-process transport, a crowd answering the intent): counts by reason for what did not
verify, one offer per vendor, at most MAX_OFFERS offers, and the rest counted."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import schemas
from agent import MAX_OFFERS
from runtime import Message
from simulator import Rogue
from tests.factories import vendor_for_test
from tests.test_conversations import market

CROWD, REPEATS, GARBAGE = MAX_OFFERS + 44, 10, 5


async def test_a_crowd_of_identities_is_capped_and_repeats_and_junk_are_counts(
    tmp_path: Path,
) -> None:
    """One identity sends 10 offers, 300 more identities one each, and 5 garbage replies
    come too: the agent keeps the first MAX_OFFERS offers of distinct vendors, and counts
    the rest as one entry per reason: 9 duplicates (of that vendor), 45 too many, 5
    malformed."""
    rogue, crowd = Rogue(set()), [vendor_for_test(f"Crowd {i}") for i in range(CROWD)]
    one = rogue.absurd["free"]
    async with market(tmp_path) as m:

        async def answer(msg: Message) -> None:
            v = schemas.open_intent(msg.data, now=None, replay=None)
            now, reply = datetime.now(UTC), v.msg.reply_subject
            for _ in range(REPEATS):
                await m.bus.publish(reply, rogue.absurd_offer("free", v, one, now))
            for signer in crowd:
                await m.bus.publish(reply, rogue.absurd_offer("free", v, signer, now))
            for _ in range(GARBAGE):
                await m.bus.publish(reply, os.urandom(300))

        await m.bus.subscribe("ic.v1.intent.>", answer)
        cast = schemas.example_tent_intent(now=datetime.now(UTC))
        got = await m.agent.cast(cast, window=2.0)
    counted = {d.reason: d.count for d in got.dropped if d.reason != "free"}
    assert len(got.offers) == MAX_OFFERS
    assert len({o.profile.msg.vendor_id for o in got.offers}) == MAX_OFFERS
    assert counted == {
        "duplicate": REPEATS - 1,
        "too_many_offers": CROWD + 1 - MAX_OFFERS,
        "unverified:malformed": GARBAGE,
    }
    assert [d.vendor_id for d in got.dropped if d.reason == "duplicate"] == [one.vendor_id]
    assert sum(d.reason == "free" for d in got.dropped) == MAX_OFFERS  # judged, never shown
    assert got.ranked == []
