"""What the agent keeps of one intent's replies, exactly (unit level: the real agent on the
in-process transport, a crowd answering the intent): counts by reason for what did not
verify, one offer per vendor, at most MAX_OFFERS offers, and the rest counted; and which
offers keep a place when a crowd of fresh identities answers before a vendor the person
knows (in-process, and over a real nats-server)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

import schemas
from agent import MAX_OFFERS, AcceptState, AgentStore, BetaTrust, Collected, RegisteredTrust
from agent._collecting import _known_vendors
from agent._home import TrustPolicy
from runtime import (
    Bus,
    EmbeddedServer,
    Handler,
    Message,
    NatsTransport,
    RegistryView,
    Subscription,
    Transport,
    WrappedTransport,
)
from simulator import Rogue
from tests.conftest import collect, own_agent
from tests.factories import NOW, intent_for_test, vendor_for_test
from tests.test_conversations import _vendor, accept_from, market, want
from tests.test_registry_parts import RID, _entry, _opened

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


class _AfterFlood(WrappedTransport):
    """A vendor's transport whose intents are answered only once ``flooded`` is set (when
    it is armed): the crowd's offers are then all on their way before the vendor's."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.flooded: asyncio.Event | None = None

    async def subscribe(self, subject: str, handler: Handler, **kw: Any) -> Subscription:
        async def after_flood(msg: Message) -> None:
            if self.flooded is not None and subject.startswith("ic.v1.intent."):
                await self.flooded.wait()
            await handler(msg)

        return await self.inner.subscribe(subject, after_flood, **kw)


class _Crowd:
    """Answers the next intent it hears, once armed, with a tempting offer from each of
    ``CROWD`` fresh identities, and then lets the honest vendor answer."""

    def __init__(self, publish: Callable[[str, bytes], Awaitable[None]], gate: _AfterFlood) -> None:
        self.publish, self.gate = publish, gate
        self.identities = [vendor_for_test(f"Crowd {i}") for i in range(CROWD)]

    def arm(self) -> None:
        self.gate.flooded = asyncio.Event()

    async def on_intent(self, data: bytes, flush: Callable[[], Awaitable[None]]) -> None:
        flooded = self.gate.flooded
        if flooded is None or flooded.is_set():
            return
        v = schemas.open_intent(data, now=None, replay=None)
        now, rogue = datetime.now(UTC), Rogue(set())
        for signer in self.identities:
            await self.publish(
                v.msg.reply_subject, rogue.offer(v, signer, now, timedelta(hours=1))[1]
            )
        await flush()
        flooded.set()


def _placed(got: Collected, crowd: _Crowd, honest: str) -> None:
    """The honest vendor kept and shown; of the crowd, the first to come, one place fewer."""
    kept = {o.profile.msg.vendor_id for o in got.offers}
    first = {s.vendor_id for s in crowd.identities[: MAX_OFFERS - 1]}
    assert len(got.offers) == MAX_OFFERS and kept == first | {honest}
    assert honest in {r.opened.profile.msg.vendor_id for r in got.ranked}
    counted = {d.reason: d.count for d in got.dropped}
    assert counted["too_many_offers"] == CROWD + 1 - MAX_OFFERS


async def test_fresh_identities_arriving_first_do_not_crowd_out_a_vendor_the_person_knows(
    tmp_path: Path,
) -> None:
    """Sierra sold to the person before (a receipt in their store). For the next intent 300
    fresh identities answer first, each with a tempting offer, and Sierra last: Sierra's
    offer is kept (in the place of the last identity to come) and ranked, the first
    MAX_OFFERS - 1 identities keep theirs, and the 45 others are counted too_many_offers;
    the store holds MAX_OFFERS offers for the intent, Sierra's with a rank."""
    async with market(tmp_path, "sierra") as m:
        await accept_from(m, "sierra")
        await m.stop("sierra")
        gate = _AfterFlood(m.bus)
        crowd = _Crowd(m.bus.publish, gate)
        sierra, ready, stop = m.vendors["sierra"], asyncio.Event(), asyncio.Event()
        run = m.tasks.create_task(sierra.run(gate, stop, on_ready=ready.set))
        await ready.wait()
        await m.bus.subscribe("ic.v1.intent.>", lambda msg: crowd.on_intent(msg.data, m.bus.flush))
        crowd.arm()
        got = await want(m, expect=MAX_OFFERS, window=10)
        stop.set()
        await run
        rows = m.store.rows("offers")
    _placed(got, crowd, sierra.vendor_id)
    mine = [r for r in rows if r["intent_id"] == got.cast.intent.id]
    assert len(mine) == MAX_OFFERS
    assert [r["rank"] is not None for r in mine if r["vendor_id"] == sierra.vendor_id] == [True]


async def test_over_a_real_bus_a_flood_of_fresh_identities_leaves_the_known_vendor_shown(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Over a real nats-server: the person buys from Sierra (a real vendor adapter on its
    own connection), then a hostile client answers the next intent with 300 fresh
    identities' offers, flushed to the server before Sierra answers at all. The person's
    agent keeps and ranks Sierra's offer, and of the crowd only the first MAX_OFFERS - 1."""
    sierra = _vendor(tmp_path, "sierra")
    async with (
        Bus(nats_server.url, name="sierra") as vbus,
        Bus(nats_server.url, name="hostile") as hbus,
        Bus(nats_server.url, name="person", inbox_prefix=schemas.REPLY_ROOT) as pbus,
        own_agent(tmp_path / "person", pbus) as person,
        asyncio.TaskGroup() as tg,
    ):
        gate = _AfterFlood(NatsTransport(vbus))
        stop, ready = asyncio.Event(), asyncio.Event()
        tg.create_task(sierra.run(gate, stop, on_ready=ready.set))
        await ready.wait()
        first = await collect(person, expect=1)
        res = await person.accept(first.ranked[0].offer.id)
        assert res.status is AcceptState.CONFIRMED, res

        async def publish(subject: str, data: bytes) -> None:
            await hbus.nc.publish(subject, data)

        crowd = _Crowd(publish, gate)

        async def on_intent(msg: Any) -> None:
            await crowd.on_intent(msg.data, hbus.nc.flush)

        await hbus.nc.subscribe("ic.v1.intent.>", cb=on_intent)
        await hbus.nc.flush()
        crowd.arm()
        got = await collect(person, expect=MAX_OFFERS, window=10)
        stop.set()
    sierra.store.close()
    _placed(got, crowd, sierra.vendor_id)


def test_known_vendors_have_evidence_in_the_persons_history_or_a_live_registry_entry(
    tmp_path: Path,
) -> None:
    """Who keeps a place past the cap: a vendor with an outcome in the person's own store,
    and one a trusted registrar registered; not a revoked vendor, not one whose entry a
    stranger signed, not a fresh identity. Without a registry only the history counts."""
    cast = intent_for_test()
    names = ("Bought From", "Registered", "Revoked", "Forged", "Fresh")
    bought, registered, revoked, forged, fresh = (vendor_for_test(n) for n in names)
    view = RegistryView({RID})
    view.hold(registered.vendor_id, _entry(registered.vendor_id, "Registered"))
    view.hold(revoked.vendor_id, _entry(revoked.vendor_id, "Revoked", status="revoked", serial=2, reason="fraud"))  # fmt: skip
    view.hold(forged.vendor_id, _entry(forged.vendor_id, "Forged", key=SigningKey(b"\x08" * 32)))
    with AgentStore(tmp_path / "a.sqlite") as store:
        store.add_outcome(
            vendor_id=bought.vendor_id, kind="receipt", positive=1.0, negative=0.0, at=NOW, ref="r"
        )
        beta = BetaTrust(store, TrustPolicy())
        known = _known_vendors(store, RegisteredTrust(beta, view, required=False), lambda: NOW)
        every = [bought, registered, revoked, forged, fresh]
        assert [known(_opened(cast, v)) for v in every] == [True, True, False, False, False]
        plain = _known_vendors(store, beta, lambda: NOW)
        assert [plain(_opened(cast, v)) for v in (bought, registered)] == [True, False]
