"""A load client for vendors' acceptances over the real bus: it casts intents, collects the
offers, and sends many signed acceptances at once, each re-sent (the same bytes) until a
signed, verified answer comes, as a person's agent does. The tests drive replicas on
PostgreSQL with it, and `make bench` measures acceptances per second.

    async with Bus(url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(200)
        answers = await shopper.accept_all(offered, concurrency=64)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nats.errors

import schemas
from runtime import Bus

__all__ = ["Answer", "LoadShopper", "Offered"]

DISCLOSURE = schemas.Disclosure(
    name="Load Client", address=["Calle Mayor 1"], postcode="28013", city="Madrid", country="ES"
)


@dataclass
class Offered:
    """An intent cast, and every offer its reply subject received (the first opened)."""

    cast: schemas.CastIntent
    offers: list[schemas.OpenedOffer] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Answer:
    """A vendor's verified answer to one acceptance: what was acknowledged."""

    offer_id: str
    order_id: str
    status: str
    reason: str
    sku: str
    sent: int  # how many times the acceptance was sent before this answer
    seconds: float


class LoadShopper:
    """Many people's agents at once, on one connection (every intent has fresh keys)."""

    def __init__(self, bus: Bus, *, payment_method: str = "card") -> None:
        self.bus = bus
        self.payment_method = payment_method
        self.profiles = schemas.ProfileCache()

    def _now(self) -> datetime:
        return datetime.now(UTC)

    async def cast_many(
        self,
        n: int,
        *,
        concurrency: int = 32,
        offer_within: float = 20.0,
        wants: Sequence[schemas.Want] = (),
        **change: object,
    ) -> list[Offered]:
        """Cast ``n`` tent intents (``change`` as for ``schemas.example_tent_intent``; intent
        i wants ``wants[i % len(wants)]`` if given) and wait until each has an offer; offers
        keep being counted until :meth:`close_casts`."""
        sem = asyncio.Semaphore(concurrency)
        self._subs = []
        out = []
        for i in range(n):
            if wants:
                change["want"] = wants[i % len(wants)]
            cast = schemas.example_tent_intent(now=self._now(), ttl=timedelta(minutes=10), **change)
            out.append(Offered(cast))

        async def one(o: Offered) -> None:
            c = o.cast

            async def on_offer(msg: nats.aio.msg.Msg) -> None:
                opened = schemas.open_offer(
                    msg.data, intent=c.intent, secrets=c.secrets, now=self._now(), replay=None,
                    profiles=self.profiles,
                )  # fmt: skip
                o.offers.append(opened)
                o.first.set()

            async with sem:
                self._subs.append(await self.bus.nc.subscribe(c.intent.reply_subject, cb=on_offer))
                await self.bus.nc.publish(c.subject, c.wire)
                async with asyncio.timeout(offer_within):
                    await o.first.wait()

        async with asyncio.TaskGroup() as tg:
            for o in out:
                tg.create_task(one(o))
        return out

    async def close_casts(self) -> None:
        for s in self._subs:
            await s.unsubscribe()
        self._subs = []

    async def accept(
        self, o: Offered, *, attempt_timeout: float = 2.0, deadline: float = 60.0
    ) -> Answer:
        """Accept the first offer of ``o``; the same sealed bytes are re-sent after each
        attempt that times out or finds no responder, until ``deadline``."""
        c, offer = o.cast, o.offers[0]
        mine, sealed = schemas.make_accept(
            intent_wire=c.wire, intent=c.intent, secrets=c.secrets, offer=offer,
            disclosure=DISCLOSURE, payment_method=self.payment_method, now=self._now(),
        )  # fmt: skip
        subject = schemas.vendor_subject(offer.offer.msg.vendor_id, "order")
        ring = schemas.KeyRing.from_profile(offer.profile.msg)
        t0, sent = time.perf_counter(), 0
        async with asyncio.timeout(deadline):
            while True:
                sent += 1
                try:
                    reply = await self.bus.nc.request(subject, sealed, timeout=attempt_timeout)
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    continue
                got = schemas.open_confirmation(
                    reply.data, secrets=c.secrets, accept=mine, ring=ring, now=self._now(),
                    replay=None,
                )  # fmt: skip
                conf = got.confirmation.msg
                return Answer(
                    offer.offer.msg.id, conf.order_id, conf.status, conf.reason,
                    offer.offer.msg.item.sku, sent, time.perf_counter() - t0,
                )  # fmt: skip

    async def accept_all(
        self, offered: Sequence[Offered], *, concurrency: int = 64, **kw: float
    ) -> list[Answer]:
        """Accept every one of ``offered``, ``concurrency`` at a time."""
        sem = asyncio.Semaphore(concurrency)

        async def one(o: Offered) -> Answer:
            async with sem:
                return await self.accept(o, **kw)

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(o)) for o in offered]
        return [t.result() for t in tasks]
