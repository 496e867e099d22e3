"""A hostile bus client floods the intent and reply subjects while a real vendor adapter and
a real agent work: garbage, truncated, oversized, deeply nested, duplicate-key and NaN
messages, single-bit mutations, replays, rebound offers and intents. Both keep running,
count each by reason, and the person is shown nothing of it."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import urllib.request
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from nats.aio.msg import Msg

import schemas
from runtime import Bus, EmbeddedServer
from tests.conftest import ADDRESS_FLAGS, Agent, VendorFactory, collect, own_agent, tent_intent

pytestmark = pytest.mark.adversarial


def _metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{.*\})? ([0-9.e+-]+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Hostile:
    """Reacts to every intent and offer it overhears with a burst of bad messages."""

    def __init__(self, bus: Bus, rng: random.Random, per_kind: int) -> None:
        self.bus, self.rng, self.n = bus, rng, per_kind
        self.sent: dict[str, int] = {}
        self.offers: list[bytes] = []
        self.foreign_offers: list[bytes] = []  # sealed to the attacker's own intent
        self.key = SigningKey.generate()
        self.armed = asyncio.Event()  # set once it holds offers bound to its own intent
        self.mine: set[int] = set()  # what it sent itself, so it never reacts to its own

    async def send(self, kind: str, subject: str, data: bytes, reply: str | None = None) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + 1
        self.mine.add(hash(data))
        await self.bus.nc.publish(subject, data, reply=reply or "")

    def flip(self, data: bytes) -> bytes:
        i = self.rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << self.rng.randrange(8))]) + data[i + 1 :]

    def signed(self, body: bytes, tag: str = "intent") -> bytes:
        signed = f"intentcast/1 {tag} {schemas.kid_of(self.key)}\n".encode() + body
        return self.key.sign(signed).signature + signed

    async def on_intent(self, msg: Msg) -> None:
        if msg.headers or hash(msg.data) in self.mine:
            return
        s, wire, reply = msg.subject, msg.data, msg.reply
        body = wire[64:].split(b"\n", 1)[1] if b"\n" in wire[64:] else b"{}"
        for _ in range(self.n):
            await self.send(
                "garbage", s, b"HOSTILE" + os.urandom(self.rng.randrange(1, 2000)), reply
            )
            await self.send("truncated", s, wire[: self.rng.randrange(1, max(2, len(wire)))], reply)
            await self.send("bit_flip", s, self.flip(wire), reply)
        for _ in range(max(1, self.n // 10)):
            await self.send(
                "oversized", s, b"HOSTILE" + b"x" * (schemas.MAX_FRAME_BYTES + 10), reply
            )
            await self.send(
                "nested", s, self.signed(b'{"hdr":' + b"[" * 5000 + b"]" * 5000 + b"}"), reply
            )
            await self.send("duplicate_key", s, self.signed(body[:-1] + b',"msg":{}}'), reply)
            await self.send(
                "nan", s, self.signed(body.replace(b'"quantity":1', b'"quantity":NaN')), reply
            )
            await self.send("replay", s, wire, reply)
            # Fresh, validly signed intents bound to something other than where they travel.
            fresh = tent_intent()
            await self.send(
                "rebound_category",
                "ic.v1.intent.outdoor.sleeping-bags",
                fresh.wire,
                fresh.intent.reply_subject,
            )
            fresh = tent_intent()
            await self.send("rebound_reply", s, fresh.wire, "ic.v1.reply." + os.urandom(16).hex())

    async def on_reply(self, msg: Msg) -> None:
        if hash(msg.data) in self.mine or len(msg.data) < 100:
            return
        if msg.subject == getattr(self, "own_reply", None):
            self.foreign_offers.append(msg.data)
            self.armed.set()
            return
        s = msg.subject
        for _ in range(self.n):
            await self.send(
                "reply_garbage", s, b"HOSTILE" + os.urandom(self.rng.randrange(1, 3000))
            )
            await self.send("reply_bit_flip", s, self.flip(msg.data))
        await self.send("reply_replay", s, msg.data)
        for foreign in self.foreign_offers[:3]:
            await self.send("reply_rebound", s, foreign)


@pytest.mark.parametrize(
    "per_kind", [pytest.param(20, id="short"), pytest.param(400, id="long", marks=pytest.mark.soak)]
)
async def test_a_flood_of_hostile_messages_changes_nothing_the_person_sees(
    nats_server: EmbeddedServer, vendor: VendorFactory, tmp_path: Path, per_kind: int
) -> None:
    """During the flood the vendor stays healthy and counts every rejection by reason; the
    agent ranks only the honest vendor's offer and counts what it dropped; afterwards a
    normal intent and acceptance go through."""
    # No per-category rate limit here: a limit would (rightly) refuse most of the flood
    # unread, and which kinds got through it would depend on the machine's speed.
    unlimited = "{ intents_per_key_per_minute = 5, intents_per_category_per_second = 1000000 }"
    honest = await asyncio.to_thread(vendor, "sierra", limits=unlimited)
    metrics_url = str(honest.wait_for("vendor.health")["metrics"])
    async with (
        Bus(nats_server.url, name="hostile") as hb,
        Bus(nats_server.url, name="agent", inbox_prefix=schemas.REPLY_ROOT) as ab,
    ):
        hostile = Hostile(hb, random.Random(7), per_kind)
        # The attacker's own intent, so it holds real offers bound to another intent.
        own = tent_intent()
        hostile.own_reply = own.intent.reply_subject  # type: ignore[attr-defined]
        await hb.nc.subscribe(own.intent.reply_subject, cb=hostile.on_reply)
        await hb.nc.publish(own.subject, own.wire, reply=own.intent.reply_subject)
        await hb.nc.flush()
        await asyncio.wait_for(hostile.armed.wait(), 10)
        await hb.nc.subscribe("ic.v1.intent.>", cb=hostile.on_intent)
        await hb.nc.subscribe("ic.v1.reply.>", cb=hostile.on_reply)
        await hb.nc.flush()
        hostile_subs = list(hb.nc._subs.values())
        async with own_agent(tmp_path / "agent", ab) as a:
            got = await collect(a, window=3.0)
        for s in hostile_subs:
            await s.unsubscribe()
    print(
        f"hostile messages sent: {sum(hostile.sent.values())} {hostile.sent}; agent dropped {sum(d.count for d in got.dropped)}"
    )
    assert [r.vendor_name for r in got.ranked] == ["Sierra Outfitters"]
    reasons = {d.reason for d in got.dropped}
    assert {"unverified:malformed", "unverified:replayed"} <= reasons, reasons
    assert all(r.startswith("unverified:") for r in reasons)
    # every hostile reply that arrived was counted (as counts by reason, not a row each)
    assert sum(d.count for d in got.dropped) >= per_kind
    assert len(got.dropped) == len(reasons)
    assert {
        "garbage",
        "bit_flip",
        "oversized",
        "nested",
        "duplicate_key",
        "nan",
        "replay",
        "rebound_category",
        "rebound_reply",
        "reply_garbage",
        "reply_bit_flip",
        "reply_replay",
        "reply_rebound",
    } <= set(hostile.sent)
    # The vendor kept running, counted each refusal by reason, and still answers health checks.
    assert honest.returncode is None
    m = await asyncio.to_thread(_metrics, metrics_url)
    rejected = {k: v for k, v in m.items() if k.startswith("vendor_rejected_total")}
    for reason in ("malformed", "oversized", "bad_signature", "replayed", "rebound"):
        assert any(f'reason="{reason}"' in k for k in rejected), (reason, rejected)
    # ...and business as usual afterwards, through the person's own command.
    person = Agent(tmp_path / "person", nats_server.url)
    await asyncio.to_thread(person.ok, "init", "--name", "Ada", "--region", "ES-28", *ADDRESS_FLAGS)
    after = await asyncio.to_thread(person.want, "--expect", "1")
    acc = json.loads(
        await asyncio.to_thread(person.ok, "accept", after["offers"][0]["offer"], "--json")
    )
    assert acc["status"] == "confirmed"
