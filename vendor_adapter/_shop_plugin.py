"""A worked example of connecting a shop: its catalog and stock come from the shop's HTTP API,
and the adapter's orders go back to the shop through the vendor's order feed.

The shop's API (adapt the two classes to yours):

- ``GET /products``: ``[{"sku", "title", "category", "price" (minor units), "currency",
  "stock" (units the shop can still sell, after every order it knows)}]``;
- ``GET /orders?channel=intentcast``: ``[{"id", "sku", "quantity", "status"}]``;
- ``PUT /orders/<id>``: ``{"sku", "quantity", "channel": "intentcast"}``, idempotent; 409
  when out of stock; ``POST /orders/<id>/status``: ``{"status": "shipped" | "delivered" |
  "cancelled"}`` (404 for an order it never had).

:class:`ShopCatalog` (``kind = "plugin"``, ``plugin = "vendor_adapter:shop_catalog"``,
``[catalog.options] url = "http://shop:8080"``) reads products every ``refresh_seconds``.
The adapter subtracts the stock its own orders take, so the catalog adds back what the shop
already counts of intentcast's orders: stock = shop stock + units of intentcast orders the
shop holds (not cancelled).

:class:`ShopSync` is the feed's consumer: a durable JetStream consumer ``shop`` on the
vendor's feed; each event is handed to the shop and acknowledged only once the shop answered
2xx (or 404/409: nothing to do); otherwise it is not acknowledged and comes back after a
backoff (1, 2, 4 ... up to 30 s), so every event reaches the shop at least once, across an
outage of the shop or of ShopSync itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from types import TracebackType
from typing import Any

import httpx
import structlog
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

import schemas
from runtime import Bus

from ._catalog import CatalogItem, _InMemory
from ._feed import feed_stream, feed_subject

__all__ = ["ShopCatalog", "ShopSync", "shop_catalog"]

log = structlog.get_logger("intentcast.shop")


class ShopCatalog(_InMemory):
    def __init__(self, url: str, refresh_seconds: float = 1.0, timeout: float = 5.0) -> None:
        self.url, self.refresh_seconds, self.timeout = url.rstrip("/"), refresh_seconds, timeout
        self.items = {}
        self._at = float("-inf")

    async def _refresh(self) -> None:
        if time.monotonic() - self._at < self.refresh_seconds:
            return
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout) as http:
                products = (await http.get("/products")).raise_for_status().json()
                ours = (await http.get("/orders", params={"channel": "intentcast"})).json()
        except httpx.HTTPError as exc:  # keep serving what we had; say so
            log.warning("shop.unreachable", url=self.url, error=repr(exc)[:200])
            return
        counted: dict[str, int] = {}
        for o in ours:
            if o["status"] != "cancelled":
                counted[o["sku"]] = counted.get(o["sku"], 0) + int(o["quantity"])
        items = {}
        for p in products:
            items[p["sku"]] = CatalogItem(
                sku=p["sku"], title=p["title"], category=p["category"], price=int(p["price"]),
                currency=p["currency"], stock=int(p["stock"]) + counted.get(p["sku"], 0),
            )  # fmt: skip
        self.items = items
        self._by_category = None
        self._at = time.monotonic()

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        await self._refresh()
        return await super().search(category, want, quantity)

    async def get(self, sku: str) -> CatalogItem | None:
        self._at = float("-inf")  # an order is being taken: stock as it is now
        await self._refresh()
        return self.items.get(sku)


def shop_catalog(options: dict[str, Any]) -> ShopCatalog:
    """The plugin factory, given ``[catalog.options]``: ``url``, ``refresh_seconds`` (1)."""
    return ShopCatalog(str(options["url"]), float(options.get("refresh_seconds", 1.0)))


class ShopSync:
    """``async with ShopSync(bus, vendor_id, shop_url):`` hands the feed to the shop until the
    block ends. ``handled`` lists the feed's event numbers it delivered (repeats included),
    ``retries`` counts hand-overs the shop did not take (each comes again later)."""

    def __init__(
        self, bus: Bus, vendor_id: str, url: str, *, durable: str = "shop", max_backoff: float = 30
    ) -> None:
        self.bus, self.vendor_id, self.url = bus, vendor_id, url.rstrip("/")
        self.durable, self.max_backoff = durable, max_backoff
        self.handled: list[int] = []
        self.retries = 0
        self.changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ShopSync:
        self._task = asyncio.create_task(self._run(), name="shop-sync")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            failed = self._task.done() and not self._task.cancelled()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task  # a loop that failed raises here, with its cause
            assert not failed

    async def _run(self) -> None:
        js = self.bus.nc.jetstream()
        while True:  # the vendor makes its feed when it first runs: wait for it
            try:
                sub = await js.pull_subscribe(
                    feed_subject(self.vendor_id, ">"), durable=self.durable,
                    stream=feed_stream(self.vendor_id),
                    config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=60,
                                          deliver_policy=DeliverPolicy.ALL),
                )  # fmt: skip
                break
            except NotFoundError:
                log.info("shop.feed_missing", stream=feed_stream(self.vendor_id))
                await asyncio.sleep(1.0)
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            try:
                await self._consume(sub, http)
            finally:
                await sub.unsubscribe()

    async def _consume(self, sub: Any, http: httpx.AsyncClient) -> None:
        while True:
            try:
                msgs = await sub.fetch(16, timeout=1)
            except (TimeoutError, NatsTimeout):  # nothing new yet
                continue
            except Exception as exc:  # the bus is away: try again in a moment
                log.warning("shop.feed_unavailable", error=repr(exc)[:200])
                await asyncio.sleep(1.0)
                continue
            for m in msgs:
                event = json.loads(m.data)
                tries = int(m.metadata.num_delivered)
                if await self._hand_over(http, event):
                    await m.ack()
                    async with self.changed:
                        self.handled.append(int(event["event"]))
                        self.changed.notify_all()
                else:
                    delay = min(self.max_backoff, 2.0 ** (tries - 1))
                    log.warning("shop.retry", number=event["event"], tries=tries, wait=delay)
                    await m.nak(delay=delay)
                    async with self.changed:
                        self.retries += 1
                        self.changed.notify_all()

    async def _hand_over(self, http: httpx.AsyncClient, event: dict[str, Any]) -> bool:
        """True once the shop has this event (or has nothing to do with it)."""
        order, state = event["order"], event["state"]
        try:
            if state == "confirmed":
                body = {"sku": event["sku"], "quantity": event["quantity"], "channel": "intentcast"}
                r = await http.put(f"/orders/{order}", json=body)
            elif state in ("shipped", "delivered", "cancelled"):
                r = await http.post(f"/orders/{order}/status", json={"status": state})
            else:
                return True  # open, lapsed, rejected: nothing the shop counts
        except httpx.HTTPError as exc:
            log.warning("shop.unreachable", url=self.url, error=repr(exc)[:200])
            return False
        log.info("shop.event", number=event["event"], state=state, http=r.status_code)
        return r.is_success or r.status_code in (404, 409)

    async def wait_handled(self, events: set[int]) -> None:
        """Until every one of ``events`` was delivered (bound it at the call site)."""
        async with self.changed:
            await self.changed.wait_for(lambda: events <= set(self.handled))
