"""The running agent on a simulated clock (in-process, over a real nats-server): an offer
that arrives an hour after the cast is stored and notified, and the watch closes when the
clock passes the intent's expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import agent
import schemas
from agent import AgentDaemon, Home, Notice
from runtime import Bus, EmbeddedServer, NatsTransport
from vendor_adapter import Vendor

from .conftest import vendor_config


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


async def test_an_offer_an_hour_later_is_stored_and_notified_and_the_watch_expires(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Cast at T with a 3-day watch; at T+1h a vendor (on the same clock) starts and
    answers: the offer is stored with received = T+1h, the person is notified (desktop
    callback and a notice in the home), and once the clock passes T+3d the watch is
    closed as expired, with a notice, and its reply stream is gone from the bus."""
    home = Home(tmp_path / "person")
    home.init(name="Ada Lovelace", region="ES-28")
    clock = Clock()
    start = clock.now
    notices: list[Notice] = []
    arrived = asyncio.Event()

    def notify(n: Notice) -> None:
        notices.append(n)
        arrived.set()

    async with (
        Bus(nats_server.url, name="agent", person=True) as bus,
        AgentDaemon(home, bus, clock=clock, notify=notify) as daemon,
    ):
        cast = schemas.example_tent_intent(now=clock(), ttl=timedelta(days=3))
        await daemon.watch(cast)
        assert cast.expires - cast.created == timedelta(days=3)
        clock.now = start + timedelta(hours=1)
        async with (
            Bus(nats_server.url, name="sierra") as vbus,
            Vendor(vendor_config(tmp_path, "sierra"), NatsTransport(vbus), clock=clock),
        ):
            async with asyncio.timeout(20):
                await arrived.wait()
        (n,) = notices
        assert n.kind == "offer" and n.intent_id == cast.intent.id
        assert n.body["vendor"] == "Sierra Outfitters"
        (offer,) = daemon.agent.store.offers()
        assert offer.received == (start + timedelta(hours=1)).isoformat() and offer.rank == 1
        assert [x.kind for x in daemon.watches().notices()] == ["offer"]

        clock.now = start + timedelta(days=3, seconds=1)
        await daemon.tick()
        assert daemon.watches().watch(cast.intent.id) == agent.WatchRow(
            cast.intent.id, cast.intent.reply_subject, cast.created.isoformat(),
            cast.expires.isoformat(), "expired",
        )  # fmt: skip
        assert [x.kind for x in notices] == ["offer", "closed"]
        names = [s.config.name async for s in _streams(bus)]
        assert f"IC_REPLY_{cast.intent.id}" not in names and "IC_WATCH_3D" in names


async def _streams(bus: Bus):  # type: ignore[no-untyped-def]
    for info in await bus.nc.jetstream().streams_info():
        yield info
