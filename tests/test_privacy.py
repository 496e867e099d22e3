"""Nothing on the bus links two intents of the same person."""

from __future__ import annotations

import asyncio
import re

from nats.aio.msg import Msg

from runtime import Bus, EmbeddedServer
from tests.conftest import Agent

HEX = re.compile(rb"[0-9a-f]{32,}")


async def test_two_intents_by_one_person_share_no_key_id_token_or_header(
    person: Agent, nats_server: EmbeddedServer
) -> None:
    """A `>` subscriber captures everything two `want` runs put on the bus: the intents
    share no key, id, nonce or reply token, carry no headers, and their subjects differ only
    in the random reply token (the category subject is the category, by design)."""
    captured: list[Msg] = []
    got_two = asyncio.Event()

    async def spy(msg: Msg) -> None:
        captured.append(msg)
        if sum(m.subject.startswith("ic.v1.intent.") for m in captured) == 2:
            got_two.set()

    async with Bus(nats_server.url, name="observer") as bus:
        await bus.nc.subscribe(">", cb=spy)
        await bus.nc.flush()
        for _ in range(2):
            await asyncio.to_thread(person.want, "--wait", "100ms")
        await asyncio.wait_for(got_two.wait(), 10)
    intents = [m for m in captured if m.subject.startswith("ic.v1.intent.")]
    assert len(intents) == 2
    a, b = intents
    assert a.headers is None and b.headers is None
    assert a.subject == b.subject == "ic.v1.intent.outdoor.tents"
    assert a.reply != b.reply
    tokens_a = set(HEX.findall(a.data)) | set(HEX.findall(a.reply.encode()))
    tokens_b = set(HEX.findall(b.data)) | set(HEX.findall(b.reply.encode()))
    assert len(tokens_a) >= 5  # id, two keys, nonce, reply token at least
    assert tokens_a.isdisjoint(tokens_b)
    assert b"Ada" not in a.data + b.data  # the person's name stays home
