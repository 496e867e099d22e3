"""Nothing on the bus links two intents of the same person, and nothing in their shape
tells two people apart: a `>` observer compares them byte by byte."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

from nats.aio.msg import Msg

import schemas
from runtime import Bus, EmbeddedServer
from tests.conftest import Agent, VendorFactory

HEX = re.compile(rb"[0-9a-f]{32,}")
TIME = re.compile(rb'"(created|expires)":"([^"]+)"')


def _shape(frame: bytes) -> bytes:
    """An intent frame with what must differ masked: the signature, hex (ids, keys, nonces,
    reply tokens) and the two times. What remains must be equal, byte for byte."""
    body = HEX.sub(lambda m: b"x" * len(m.group()), frame[64:])
    return TIME.sub(lambda m: b'"' + m.group(1) + b'":"' + b"t" * len(m.group(2)) + b'"', body)


def _times(frame: bytes) -> tuple[datetime, datetime]:
    found = dict(TIME.findall(frame[64:]))
    return (
        datetime.fromisoformat(found[b"created"].decode()),
        datetime.fromisoformat(found[b"expires"].decode()),
    )


async def test_intents_of_one_person_and_of_two_share_nothing_and_look_alike(
    person: Agent, nats_server: EmbeddedServer, vendor: VendorFactory, tmp_path: Path
) -> None:
    """A `>` subscriber captures everything three `want` runs put on the bus (two by Ada,
    one by Grace, two vendors answering): the intents share no key, id, nonce or reply
    token and carry no headers; masked of those, the three frames are byte for byte the
    same (same size, `created` to the second, the same lifetime from the fixed set, reply
    subjects of one form); and every offer is a sealed box of one of a few sizes, the same
    for both vendors, so its size does not say who bid."""
    sierra = await asyncio.to_thread(vendor, "sierra")
    cumbre = await asyncio.to_thread(vendor, "cumbre")
    grace = Agent(tmp_path / "grace", nats_server.url)
    await asyncio.to_thread(grace.ok, "init", "--name", "Grace Hopper", "--region", "ES-28")
    captured: list[Msg] = []

    async def spy(msg: Msg) -> None:
        captured.append(msg)

    async with Bus(nats_server.url, name="observer") as bus:
        await bus.nc.subscribe(">", cb=spy)
        await bus.nc.flush()
        shown = []
        for who in (person, person, grace):
            out = await asyncio.to_thread(who.want, "--wait", "5s", "--expect", "2")
            shown.append(sorted(o["vendor"] for o in out["offers"]))
        await asyncio.to_thread(sierra.wait_count, "offer.sent", 3, 10)
        await asyncio.to_thread(cumbre.wait_count, "offer.sent", 3, 10)
        await bus.nc.flush()
    assert shown == [["Cumbre Sports", "Sierra Outfitters"]] * 3
    intents = [m for m in captured if m.subject.startswith("ic.v1.intent.")]
    assert len(intents) == 3
    ada1, ada2, grace1 = intents
    for m in intents:
        assert m.headers is None
        assert m.subject == "ic.v1.intent.outdoor.tents"
        assert schemas.is_reply_subject(m.reply)
        created, expires = _times(m.data)
        assert created.microsecond == 0
        assert expires - created == timedelta(minutes=1) == schemas.intent_lifetime(5)
    assert _shape(ada1.data) == _shape(ada2.data) == _shape(grace1.data)
    assert len(ada1.data) == len(ada2.data) == len(grace1.data)
    assert len({m.reply for m in intents}) == 3
    tokens = [set(HEX.findall(m.data)) | set(HEX.findall(m.reply.encode())) for m in intents]
    assert len(tokens[0]) >= 5  # id, two keys, nonce, reply token at least
    assert tokens[0].isdisjoint(tokens[1]) and tokens[0].isdisjoint(tokens[2])
    assert tokens[1].isdisjoint(tokens[2])
    assert all(b"Ada" not in m.data and b"Grace" not in m.data for m in captured)

    offers = [m for m in captured if m.subject in {i.reply for i in intents}]
    assert len(offers) == 6
    sizes = {len(m.data) for m in offers}
    assert sizes <= set(schemas.BOX_SIZES)
    assert len(sizes) == 1, f"offer sizes tell the vendors apart: {sizes}"
