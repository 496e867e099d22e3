"""The vendor adapter: its rooms (intents, orders, aftercare) on one shop, and the
subscriptions and timers that feed them. It talks only through a :class:`runtime.Transport`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta

import structlog

import schemas
from runtime import Message, NatsTransport, Registry, Subscription, Transport

from ._aftercare import Aftercare
from ._catalog import Catalog
from ._config import VendorConfig
from ._intents import Choice, IntentRoom
from ._order_store import OrderStore
from ._orders import OrderRoom
from ._postgres import StoreUnavailable
from ._relationships import RelationshipRoom
from ._shop import Shop, utcnow
from ._watching import start_watching

__all__ = ["VendorAdapter"]

log = structlog.get_logger("intentcast.vendor")


class VendorAdapter:
    def __init__(
        self,
        cfg: VendorConfig,
        *,
        catalog: Catalog,
        store: OrderStore,
        signer: schemas.VendorSigner,
        metrics: Registry | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.shop = Shop(cfg, catalog, store, signer, metrics or Registry(), clock)
        self.intents = IntentRoom(self.shop)
        self.orders = OrderRoom(self.shop)
        self.aftercare = Aftercare(self.shop)
        self.relationships = RelationshipRoom(self.shop)

    @property
    def cfg(self) -> VendorConfig:
        return self.shop.cfg

    @property
    def catalog(self) -> Catalog:
        return self.shop.catalog

    @property
    def store(self) -> OrderStore:
        return self.shop.store

    @property
    def signer(self) -> schemas.VendorSigner:
        return self.shop.signer

    @property
    def metrics(self) -> Registry:
        return self.shop.metrics

    @property
    def vendor_id(self) -> str:
        return self.shop.vendor_id

    @property
    def transport(self) -> Transport | None:
        return self.shop.transport

    @transport.setter
    def transport(self, value: Transport | None) -> None:
        self.shop.transport = value

    async def on_intent(self, msg: Message) -> None:
        await self.intents.on_intent(msg)

    async def on_order(self, msg: Message) -> None:
        await self.orders.on_order(msg)

    async def on_receipt(self, msg: Message) -> None:
        await self.aftercare.on_receipt(msg)

    async def on_cancel(self, msg: Message) -> None:
        await self.aftercare.on_cancel(msg)

    async def choose(self, intent: schemas.Intent, now: datetime) -> Choice | str:
        """What :meth:`on_intent` would offer for ``intent``, changing nothing."""
        return await self.intents.choose(intent, now)

    async def purge_once(self) -> int:
        return await self.aftercare.purge_once()

    async def run(
        self,
        transport: Transport,
        stop: asyncio.Event,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve on ``transport`` until ``stop`` is set (``on_ready`` once it hears); the
        acceptances still in flight then finish (see :meth:`OrderRoom.serving`)."""
        async with self.orders.serving():
            await self._serve(transport, stop, on_ready=on_ready)

    async def _serve(
        self,
        transport: Transport,
        stop: asyncio.Event,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.transport = bus = transport
        queue = f"vendor-{self.vendor_id[:16]}"
        subs: list[Subscription] = []
        watching = contextlib.AsyncExitStack()
        try:
            for cat in self.cfg.categories:
                for subject in schemas.vendor_intent_subscriptions(cat):
                    subs.append(
                        await bus.subscribe(
                            subject, self.on_intent, queue=queue, pending_limit=20_000
                        )
                    )
            for endpoint, handler in (
                ("order", self.on_order),
                ("receipt", self.on_receipt),
                ("cancel", self.on_cancel),
                ("details", self.relationships.on_details),
                ("erase", self.relationships.on_erase),
            ):
                subject = schemas.vendor_subject(self.vendor_id, endpoint)
                subs.append(await bus.subscribe(subject, handler, queue=queue))
            await bus.publish(schemas.profile_subject(self.vendor_id), self.signer.profile_wire)
            async with asyncio.timeout(5):
                await bus.flush()
            if isinstance(bus, NatsTransport):  # watched intents live in JetStream
                await start_watching(self.intents, bus.bus, watching)
            log.info(
                "vendor.ready",
                vendor=self.vendor_id,
                name=self.cfg.name,
                categories=self.cfg.categories,
                delivers_to=self.cfg.delivery.areas or "not stated",
            )
            if on_ready:
                on_ready()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._every(self.cfg.purge_interval, self.purge_once, stop))
                tg.create_task(
                    self._every(self.cfg.limits.rejection_log_interval, self._flush, stop)
                )
                tg.create_task(self._release_loop(stop))
                await stop.wait()
        finally:
            await watching.aclose()
            self.shop.rejections.flush()
            for s in subs:
                try:
                    await s.unsubscribe()
                except Exception as exc:  # a bus already gone has nothing left to stop
                    log.warning("vendor.unsubscribe_failed", subject=s.subject, error=repr(exc))

    async def _flush(self) -> None:
        self.shop.rejections.flush()

    @staticmethod
    async def _every(
        period: timedelta, job: Callable[[], Awaitable[object]], stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            with _outlives_store_outages(job):
                await job()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period.total_seconds())

    async def _release_loop(self, stop: asyncio.Event) -> None:
        """Return expired holds to stock when the next one is due (and at least once per hold
        time, so holds another replica took are released too)."""
        hold = self.cfg.orders.hold.total_seconds()
        while not stop.is_set():
            now, due = self.shop.clock(), None
            with _outlives_store_outages(self.orders.release_holds):
                self.orders.release_holds(now)
                due = self.store.next_hold_expiry()
            wait = hold if due is None else min(hold, (due - now).total_seconds())
            with contextlib.suppress(TimeoutError):  # holds due within 50 ms go together
                await asyncio.wait_for(stop.wait(), max(0.05, wait + 0.01))


@contextlib.contextmanager
def _outlives_store_outages(job: object) -> Iterator[None]:
    """A timer's job that finds the shared order store unreachable is tried again at its
    next turn, instead of stopping the vendor (handlers fail alone and are retried by the
    person's agent)."""
    try:
        yield
    except StoreUnavailable as exc:
        log.warning("vendor.job_deferred", job=getattr(job, "__name__", repr(job)), error=str(exc))
