"""The vendor's order feed: every change of every order's state, for the vendor's own systems
(a shop, a warehouse, accounts), on a JetStream stream of its own, delivered at least once to
each durable consumer.

Events are written by triggers on ``orders`` (SQLite's here, PostgreSQL's in migration
0003) in the same transaction as the change itself, whoever makes it (an acceptance, a
countersignature, a lapsed hold, the person's cancellation, the counter's ship / delivered /
cancel), so no change is missed and none is announced that was not stored. The
:class:`Outbox` takes unsent rows from the store (``OrderStore.unsent_events`` and
``unsent_statuses``: on PostgreSQL locked ``FOR UPDATE SKIP LOCKED``, so each replica takes
different ones), publishes them, and marks each sent once the stream acknowledged it; after a
crash the rows are taken again, and the stream's duplicate window (``Nats-Msg-Id``) drops
copies the server already has. An order's events (and statuses) go out in order: only the
first unsent one of each order is taken at a time.

Stream ``IC_FEED_<first 16 hex of vendor_id>``, subjects ``ic.v1.feed.<vendor_id>.<state>``,
kept 30 days. An event is JSON (the vendor's own, unsigned: the bus's permissions guard who
reads and writes it), with no personal details of the person (the feed's retention is the
vendor's, not the person's terms; ``intentcast-vendor orders --json`` shows what was
disclosed while it is kept):

    {"event": 17, "order": "<order id>", "state": "shipped", "at": "2026-12-01T11:00:00.123Z",
     "sku": "T2", "quantity": 1, "total": {"amount": 13900, "currency": "EUR"},
     "reason": "", "carrier": "Correos", "tracking": "PK123"}

``event`` grows by one with every event of this vendor: a consumer that stored the events
it handled drops a repeat by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from runtime import Bus, Mailboxes, Registry, failpoint

if TYPE_CHECKING:  # the stores import this module for its schema
    from ._order_store import OrderStore

__all__ = ["FEED_MAX_AGE_DAYS", "FEED_SCHEMA", "Outbox", "feed_stream", "feed_subject"]

log = structlog.get_logger("intentcast.vendor")
FEED_MAX_AGE_DAYS = 30
_BATCH = 100
_ROUNDS = 10  # batches per look: an order's next row is taken once its last one is marked


def _state(row: str) -> str:
    return (
        f"CASE WHEN {row}.status = 'unheld' OR ({row}.status = 'confirmed'"
        f" AND {row}.held_until IS NOT NULL) THEN 'open' ELSE {row}.status END"
    )


_INSERT = (
    "INSERT INTO feed_events (order_id, state, at, sku, quantity, total_amount, currency,"
    " reason, carrier, tracking) VALUES (NEW.order_id, {state},"
    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), NEW.sku, NEW.quantity, NEW.total_amount,"
    " NEW.currency, NEW.reason, NEW.carrier, NEW.tracking);"
)
FEED_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS feed_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, state TEXT NOT NULL,
    at TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
    total_amount INTEGER NOT NULL, currency TEXT NOT NULL, reason TEXT NOT NULL,
    carrier TEXT NOT NULL, tracking TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS feed_events_unsent ON feed_events(id) WHERE sent = 0;
CREATE TRIGGER IF NOT EXISTS feed_on_insert AFTER INSERT ON orders BEGIN
    {_INSERT.format(state=_state("NEW"))}
END;
CREATE TRIGGER IF NOT EXISTS feed_on_change AFTER UPDATE OF status, held_until ON orders
WHEN ({_state("OLD")}) != ({_state("NEW")}) BEGIN
    {_INSERT.format(state=_state("NEW"))}
END;
"""


def feed_stream(vendor_id: str) -> str:
    return f"IC_FEED_{vendor_id[:16].upper()}"


def feed_subject(vendor_id: str, state: str = "*") -> str:
    return f"ic.v1.feed.{vendor_id}.{state}"


def _event(row: Any) -> dict[str, Any]:
    return {
        "event": row["id"], "order": row["order_id"], "state": row["state"], "at": row["at"],
        "sku": row["sku"], "quantity": row["quantity"],
        "total": {"amount": row["total_amount"], "currency": row["currency"]},
        "reason": row["reason"], "carrier": row["carrier"], "tracking": row["tracking"],
    }  # fmt: skip


class Outbox:
    """``async with Outbox(store, bus, vendor_id):`` publishes, until the block ends, what the
    store holds unsent: statuses to the persons' mailboxes and events to the vendor's feed.
    It looks every ``interval`` seconds (changes come from other processes too: the counter
    commands), and after a failure backs off up to ``max_backoff``."""

    def __init__(
        self,
        store: OrderStore,
        bus: Bus,
        vendor_id: str,
        *,
        interval: float = 0.2,
        max_backoff: float = 5.0,
        metrics: Registry | None = None,
    ) -> None:
        self.store, self.bus, self.vendor_id = store, bus, vendor_id
        self.sent = (metrics or Registry()).counter(
            "vendor_outbox_sent_total",
            "Published from the outbox: statuses to persons' mailboxes, events to the feed",
            ("what",),
        )
        self.interval, self.max_backoff = interval, max_backoff
        self.mailboxes = Mailboxes(bus)
        self._task: asyncio.Task[None] | None = None
        self._feed_ready = False

    async def __aenter__(self) -> Outbox:
        self._task = asyncio.create_task(self._loop(), name="vendor-outbox")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        with contextlib.suppress(Exception):  # made now so consumers can bind early; or later
            await self._ensure_feed()
        waits = {"statuses": self.interval, "feed": self.interval}
        due = dict.fromkeys(waits, 0.0)
        loop = asyncio.get_running_loop()
        pruned = float("-inf")
        while True:
            for name, send in (("statuses", self.send_statuses), ("feed", self.send_feed)):
                if loop.time() < due[name]:
                    continue
                try:  # each on its own: a feed JetStream refuses never holds up a person's news
                    await send()
                    waits[name] = self.interval
                except Exception as exc:  # the bus or JetStream is away: try again, later
                    waits[name] = min(self.max_backoff, waits[name] * 2)
                    log.warning("outbox.retry", what=name, error=repr(exc)[:200], wait=waits[name])
                due[name] = loop.time() + waits[name]
            if loop.time() >= pruned + 3600:
                pruned = loop.time()
                try:
                    self.prune()
                except Exception as exc:  # the store is away: in an hour, then
                    log.warning("outbox.prune_failed", error=repr(exc)[:200])
            await asyncio.sleep(self.interval)

    def prune(self) -> int:
        """Forget events sent longer ago than the feed keeps them (the stream has dropped
        them too); unsent ones stay until they are sent."""
        return self.store.prune_events(datetime.now(UTC) - timedelta(days=FEED_MAX_AGE_DAYS))

    async def send_pending(self) -> int:
        """Publish everything unsent now; how many were published."""
        return await self.send_statuses() + await self.send_feed()

    async def send_statuses(self) -> int:
        n = 0
        for _ in range(_ROUNDS):
            done: list[Any] = []
            with self.store.unsent_statuses(_BATCH) as unsent:
                if unsent.rows:
                    failpoint("vendor.outbox.taken")
                for s in unsent.rows:
                    await self.mailboxes.post(s["mailbox_days"], s["subject"], s["sealed"])
                    failpoint("vendor.status.posted")
                    unsent.sent(s)
                    done.append(s)
            for s in done:  # marked, and committed
                log.info("status.sent", order=s["order_id"], seq=s["seq"])
                self.sent.inc(what="status")
            n += len(done)
            if not done:
                break
        return n

    async def send_feed(self) -> int:
        n = 0
        js = self.bus.nc.jetstream()
        for _ in range(_ROUNDS):
            done: list[Any] = []
            with self.store.unsent_events(_BATCH) as unsent:
                if unsent.rows:
                    await self._ensure_feed()
                for ev in unsent.rows:
                    async with asyncio.timeout(5):
                        await js.publish(
                            feed_subject(self.vendor_id, ev["state"]),
                            json.dumps(_event(ev)).encode(),
                            stream=feed_stream(self.vendor_id),
                            headers={"Nats-Msg-Id": f"{self.vendor_id[:16]}-{ev['id']}"},
                        )  # fmt: skip
                    failpoint("vendor.feed.published")
                    unsent.sent(ev)
                    done.append(ev)
            for ev in done:
                log.info("feed.sent", number=ev["id"], order=ev["order_id"], state=ev["state"])
                self.sent.inc(what="feed")
            n += len(done)
            if not done:
                break
        return n

    async def _ensure_feed(self) -> None:
        if self._feed_ready:
            return
        js = self.bus.nc.jetstream()
        async with asyncio.timeout(5):
            try:
                await js.stream_info(feed_stream(self.vendor_id))
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=feed_stream(self.vendor_id),
                        subjects=[feed_subject(self.vendor_id, ">")],
                        storage=StorageType.FILE,
                        max_age=FEED_MAX_AGE_DAYS * 86400,
                    )
                )
        self._feed_ready = True
