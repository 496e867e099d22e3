"""Thousands of junk replies to one real intent, cast by the real `intentcast want` on a real
nats-server beside a real vendor: what the person's agent keeps, prints and holds in memory
stays bounded. Of replies that did not verify it keeps counts by reason (one row each), of
verified ones one offer per vendor and at most ``MAX_OFFERS``; the person sees the honest
offer alone.

The flood, sent the moment the vendor's offer is overheard: random garbage; offers under the vendor's
own profile signed by another key (wrong key); many distinct offers from one identity
(duplicates); a crowd of fresh identities, one offer each (beyond the cap); the vendor's
sealed offer copied again and again (replays); and the existing hostile client's answer to
an overheard offer (garbage and bit flips of it)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.msg import Msg

import schemas
from agent import MAX_OFFERS
from runtime import Bus, EmbeddedServer
from simulator import Rogue
from tests.conftest import BIN, Agent, VendorFactory, agent_db
from tests.factories import vendor_for_test
from tests.test_adversarial import Hostile

pytestmark = pytest.mark.adversarial

GARBAGE, WRONG_KEY, DUPLICATES, SYBILS, REPLAYS, HOSTILE_PER_KIND = 5800, 1000, 500, 300, 1000, 500
RSS_GROWTH_BOUND_KIB = 16 * 1024  # the agent's two queues of unopened replies hold 8 MiB each
STORE_GROWTH_BOUND = 2 * 1024 * 1024  # bytes: the capped offers and their drops, no more
PRINTED_BOUND = 256 * 1024  # bytes of `want --json` under the flood


class Flood:
    """Floods the reply subject of the next intent it hears, once armed, as soon as it
    overhears the honest offer."""

    def __init__(self, bus: Bus) -> None:
        self.bus, self.armed, self.rng = bus, False, random.Random(11)
        self.rogue = Rogue(set())
        self.victim: bytes | None = None  # the honest vendor's profile, as it published it
        self.sybils = [vendor_for_test(f"Crowd {i}") for i in range(SYBILS)]
        self.hostile = Hostile(bus, self.rng, HOSTILE_PER_KIND)
        self.reply_subject = ""
        self.intent: schemas.Verified[schemas.Intent] | None = None
        self.copied = False
        self.mine: set[bytes] = set()
        self.sent: Counter[str] = Counter()
        self.done = asyncio.Event()

    async def start(self) -> None:
        await self.bus.nc.subscribe("ic.v1.profile.>", cb=self.on_profile)
        await self.bus.nc.subscribe("ic.v1.intent.>", cb=self.on_intent)
        await self.bus.nc.subscribe("ic.v1.reply.>", cb=self.on_reply)
        await self.bus.nc.flush()

    async def on_profile(self, msg: Msg) -> None:
        self.victim = msg.data

    async def send(self, kind: str, data: bytes) -> None:
        self.mine.add(data)
        self.sent[kind] += 1
        await self.bus.nc.publish(self.reply_subject, data)

    async def on_intent(self, msg: Msg) -> None:
        if self.armed:
            self.armed = False
            self.intent = schemas.open_intent(msg.data, now=None, replay=None)
            self.reply_subject = self.intent.msg.reply_subject

    async def on_reply(self, msg: Msg) -> None:
        """The honest offer overheard: flood from then on (so that it is never the one the
        agent had no room for), starting with what the cap and the duplicate count need."""
        if msg.subject != self.reply_subject or msg.data in self.mine or self.copied:
            return
        assert self.intent is not None
        self.copied, v, now = True, self.intent, datetime.now(UTC)
        one = self.rogue.absurd["free"]
        for _ in range(DUPLICATES):
            await self.send("duplicate", self.rogue.absurd_offer("free", v, one, now))
        for signer in self.sybils:
            await self.send("sybil", self.rogue.absurd_offer("free", v, signer, now))
        assert self.victim is not None
        victim = schemas.ProfileCache().open(self.victim, None).msg
        me = self.rogue.me
        borrowed = schemas.VendorSigner(me.identity, me.signing, me.seal, self.victim, victim)
        for _ in range(WRONG_KEY):
            await self.send("wrong_key", self.rogue.offer(v, borrowed, now, timedelta(hours=1))[1])
        for _ in range(GARBAGE):
            await self.send("garbage", os.urandom(self.rng.randrange(1, 400)))
        for _ in range(REPLAYS):
            await self.send("replay", msg.data)
        await self.hostile.on_reply(msg)  # garbage and bit flips of the honest offer
        await self.bus.nc.flush()
        self.done.set()


@dataclass
class Run:
    stdout: bytes
    max_rss_kib: int


def _want_measured(person: Agent) -> Run:
    """`intentcast want --json` as the person runs it, with the process's peak RSS."""
    args = [str(BIN / "intentcast"), "--home", str(person.home), *person.want_args(wait="6s")]
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(
            args, stdout=out, stderr=subprocess.DEVNULL, env={**os.environ, **person.env}
        )
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        assert p.returncode == 0
        out.seek(0)
        return Run(out.read(), usage.ru_maxrss)


def _store_bytes(home: Path) -> int:
    db = sqlite3.connect(home / "agent.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return sum(f.stat().st_size for f in home.glob("agent.sqlite*"))


async def test_a_flood_of_junk_replies_leaves_counts_not_rows(
    nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent, tmp_path: Path
) -> None:
    """Against a first intent with no flood: the flooded intent adds one drop row per
    reason, at most MAX_OFFERS offers, a store, a printout and an agent RSS within the
    stated bounds; the person is shown Sierra's offer alone."""
    async with Bus(nats_server.url, name="flood") as fb:
        flood = Flood(fb)
        await flood.start()
        await asyncio.to_thread(vendor, "sierra")
        calm = await asyncio.to_thread(_want_measured, person)
        store_before = _store_bytes(person.home)
        flood.armed = True
        stormy = await asyncio.to_thread(_want_measured, person)
        await asyncio.wait_for(flood.done.wait(), 30)
    store_after = _store_bytes(person.home)
    history = await asyncio.to_thread(person.ok, "history")
    sent = sum(flood.sent.values()) + sum(flood.hostile.sent.values())
    got = json.loads(stormy.stdout)
    db = agent_db(person.home)
    rows = db.execute(
        "SELECT reason, vendor_id, count FROM drops WHERE intent_id = ?", (got["intent"],)
    ).fetchall()
    offers = db.execute("SELECT COUNT(*) FROM offers WHERE intent_id = ?", (got["intent"],))
    (offer_rows,) = offers.fetchone()
    calm_rows = db.execute(
        "SELECT COUNT(*) FROM drops WHERE intent_id = ?", (json.loads(calm.stdout)["intent"],)
    ).fetchone()[0]
    assert calm_rows == 0
    counts = Counter({r["reason"]: 0 for r in rows})
    for r in rows:
        counts[r["reason"]] += r["count"]
    print(
        f"flood: {sent} replies {dict(flood.sent)} + hostile {flood.hostile.sent}; "
        f"drop rows {len(rows)}, dropped by reason {dict(counts)}, offer rows {offer_rows}; "
        f"store {store_before} -> {store_after} bytes; printed {len(calm.stdout)} -> "
        f"{len(stormy.stdout)} bytes (history: {len(history)}); agent peak RSS {calm.max_rss_kib} -> "
        f"{stormy.max_rss_kib} KiB"
    )
    # What the person sees: the honest offer, and the rest as counts.
    assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    # What is kept: a row per unverified reason, one for the duplicates, one for the crowd
    # beyond the cap, and the capped offers' own judgements (all "free": never shown).
    unverified = [r for r in rows if r["reason"].startswith("unverified:")]
    assert len(unverified) == len({r["reason"] for r in unverified})
    # (what arrived faster than the agent could open it is counted too, as unread)
    assert len({r for r in counts if r.startswith("unverified:")} - {"unverified:unread"}) >= 3
    dups = [r for r in rows if r["reason"] == "duplicate"]
    assert len(dups) == 1 and counts["duplicate"] + counts["unverified:unread"] >= DUPLICATES - 1
    assert offer_rows <= MAX_OFFERS and (offer_rows < MAX_OFFERS or counts["too_many_offers"])
    assert len(rows) <= MAX_OFFERS + 16
    assert sum(counts.values()) >= sent // 2  # most of the flood reached the agent, counted
    # Bounded store, printout and memory.
    assert store_after - store_before < STORE_GROWTH_BOUND
    assert len(stormy.stdout) < PRINTED_BOUND and len(history) < PRINTED_BOUND
    assert stormy.max_rss_kib - calm.max_rss_kib < RSS_GROWTH_BOUND_KIB
