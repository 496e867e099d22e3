"""The vendor's order store on PostgreSQL, for replicas on any number of hosts.

The same operations and statuses as the SQLite store (see :mod:`._store`), with PostgreSQL's
own guarantees in place of SQLite's one writer: every reservation of an item locks that item's
row in ``stock_locks`` (``SELECT ... FOR UPDATE``) before it sums what is taken and inserts,
so replicas check and take an item's stock one at a time; one order per offer is the UNIQUE
constraint on ``offer_id``; nothing is returned before its transaction committed
(``synchronous_commit`` is forced ``on`` for our connections).

asyncpg runs on a thread the store owns, with an event loop and a pool of at most
``pool_size`` connections (``store_pool_size``, 10 by default). The synchronous methods (see
:mod:`._order_store`) wait for their result; the acceptance path's (``aio``) are awaited on
the caller's loop, so a replica keeps up to ``pool_size`` acceptances' transactions in flight
(``concurrency``); past that, they queue for a connection. A call that meets a lost
connection (the server restarted, a failover) retries on a fresh one until ``timeout`` has
passed (0.2 s once an outage has lasted that long), then raises :class:`StoreUnavailable`; a
retried insert finds the order it may already have committed (the offer's UNIQUE
constraint), so a lost commit acknowledgement never makes a second order. The thread holds
nothing durable: everything acknowledged is committed on the server. The outbox's rows (``unsent_statuses``,
``unsent_events``) are taken ``FOR UPDATE SKIP LOCKED`` in a transaction that keeps one of
the pool's connections while they are published; the rooms' calls use the others.

Over 300 lines because every operation of the interface is here, each one transaction, so
that the order in which writers take row locks (an order's row, then its item's) can be
checked in one place."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import structlog

from runtime import failpoint

from ._counter import Decide, Transition, UnknownOrder
from ._migrations import apply_migrations, shipped_migrations
from ._order_store import StoredOrder, StoreHealth
from ._store import (
    TAKEN,
    UNSENT_EVENTS,
    UNSENT_STATUSES,
    OrderRow,
    Released,
    Unsent,
    event_time,
    merged_disclosure,
    stamp,
)

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore", "StoreUnavailable", "WrongVendor"]

log = structlog.get_logger("intentcast.vendor")
T = TypeVar("T")

DEFAULT_POOL_SIZE = 10
# /healthz waits this long for a connection and an answer before it calls the store away.
_PROBE_SECONDS = 1.0
_COLUMN = re.compile(r"^[a-z_]{1,40}$")
# Once the database has been away for longer than a call waits, each call tries this long
# only, so that a replica answers intents (and SIGTERM) between the acceptances it must drop.
_WHILE_DOWN = 0.2
_SUMS = (
    "SELECT COALESCE(SUM(quantity), 0)::bigint AS reserved,"
    " COALESCE(SUM(quantity) FILTER (WHERE held_until IS NOT NULL), 0)::bigint AS held"
    f" FROM orders WHERE sku = $1 AND status IN {TAKEN}"
)
_LAPSE = (
    "UPDATE orders SET status = 'lapsed', held_until = NULL,"
    " reason = 'not confirmed by the person in time'"
    " WHERE status = $1 AND held_until IS NOT NULL AND held_until <= $2"
)


class StoreUnavailable(Exception):
    """The PostgreSQL order store could not be reached within the store's timeout."""


class WrongVendor(Exception):
    """The database holds another vendor's orders."""


def _transient(exc: BaseException) -> bool:
    """Errors after which the same call may succeed on a fresh connection."""
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc) or "connection" in str(exc)
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.TransactionRollbackError
        | asyncpg.exceptions.TooManyConnectionsError,
    )


def _count(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


_ORDER = "SELECT * FROM orders WHERE order_id = $1"


async def _by_offer(c: asyncpg.Connection, offer_id: str) -> OrderRow | None:
    r = await c.fetchrow(
        "SELECT order_id, offer_id, status, reply_sealed, receipt_wire,"
        " countersignature_wire FROM orders WHERE offer_id = $1",
        offer_id,
    )
    return OrderRow(*r) if r else None


async def _sums(c: asyncpg.Connection, sku: str) -> tuple[int, int]:
    r = await c.fetchrow(_SUMS, sku)
    return int(r["reserved"]), int(r["held"])


async def _row(c: asyncpg.Connection, query: str, *args: object) -> dict[str, Any] | None:
    r = await c.fetchrow(query, *args)
    return None if r is None else dict(r)


async def _lock_item(c: asyncpg.Connection, sku: str) -> None:
    """Hold ``sku``'s row lock until the transaction ends (making the row on first use)."""
    lock = "SELECT 1 FROM stock_locks WHERE sku = $1 FOR UPDATE"
    if await c.fetchval(lock, sku) is None:
        await c.execute("INSERT INTO stock_locks (sku) VALUES ($1) ON CONFLICT DO NOTHING", sku)
        await c.fetchval(lock, sku)


def _inserting(
    row: dict[str, object], stock: int | None, held_cap: int | None
) -> Callable[[asyncpg.Connection], Awaitable[str | None]]:
    """The transaction of :meth:`PostgresStore.insert_order`: lock the item's row, check
    stock and holds, insert (one order per offer: ON CONFLICT DO NOTHING), commit."""
    row = dict(row)
    sku, quantity = str(row["sku"]), int(row["quantity"])  # type: ignore[call-overload]
    bad = [c for c in row if not _COLUMN.match(c)]
    if bad:
        raise ValueError(f"expected column names of the orders table, got {bad}")

    async def work(c: asyncpg.Connection) -> str | None:
        async with c.transaction():
            await _lock_item(c, sku)
            sums = await c.fetchrow(_SUMS, sku)
            if stock is not None and sums["reserved"] + quantity > stock:
                return None
            values = dict(row)
            if (
                held_cap is not None
                and values.get("held_until") is not None
                and sums["held"] + quantity > held_cap
            ):
                values.update(status="unheld")
            cols = ", ".join(values)
            marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
            status: str | None = await c.fetchval(
                f"INSERT INTO orders ({cols}) VALUES ({marks})"
                " ON CONFLICT DO NOTHING RETURNING status",
                *values.values(),
            )
            return status

    return work


class PostgresAsync:
    """PostgreSQL's side of ``AsyncOrderStore``: each call one transaction on the store's
    pool, awaited by the caller; many may be in flight."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def by_offer(self, offer_id: str) -> OrderRow | None:
        return await self.store._arun(lambda c: _by_offer(c, offer_id))

    async def order(self, order_id: str) -> StoredOrder | None:
        return await self.store._arun(lambda c: _row(c, _ORDER, order_id))

    async def held(self, sku: str) -> int:
        return (await self.store._arun(lambda c: _sums(c, sku)))[1]

    async def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None:
        stored = await self.store._arun(_inserting(row, stock, held_cap))
        self.store._snapshot_at = float("-inf")
        return stored

    async def health(self) -> StoreHealth:
        s = self.store
        if s.state != "open":
            return {"engine": "postgresql", "reachable": False, "error": f"store {s.state}"}
        future = asyncio.run_coroutine_threadsafe(s._health(), s._loop)
        try:
            async with asyncio.timeout(_PROBE_SECONDS + 1.0):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            return {"engine": "postgresql", "reachable": False, "error": "no answer in time"}


class PostgresStore:
    """Orders in one PostgreSQL database per vendor, shared by all its replicas.

    ``dsn`` is a ``postgresql://`` URL (asyncpg also reads ``PGPASSWORD``, ``PGPASSFILE``,
    ``PGSSLMODE`` and the other libpq variables); ``password`` overrides them. Opening
    connects, applies the shipped migrations and checks that the database belongs to
    ``vendor_id``. ``state`` is ``opening``, ``open`` or ``closed``."""

    def __init__(
        self,
        dsn: str,
        *,
        vendor_id: str,
        password: str | None = None,
        timeout: float = 3.0,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        if pool_size < 2:
            raise ValueError(f"expected a pool of at least 2 connections, got {pool_size}")
        self.state = "opening"
        self.timeout = timeout
        self.pool_size = pool_size
        self.aio = PostgresAsync(self)
        self.snapshot_seconds = 0.5
        self._snapshot: dict[str, int] = {}
        self._snapshot_at = float("-inf")
        self._down_since: float | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="intentcast-order-store", daemon=True
        )
        self._thread.start()
        try:
            self._pool: asyncpg.Pool = self._call(
                self._open(dsn, password, vendor_id, pool_size), self.timeout
            )
        except BaseException:
            self._stop_thread()
            raise
        self.state = "open"

    # --- the engine's side: the store's own thread ---------------------------------------

    async def _open(
        self, dsn: str, password: str | None, vendor_id: str, pool_size: int
    ) -> asyncpg.Pool:
        pool = asyncpg.create_pool(
            dsn, password=password, min_size=0, max_size=pool_size,
            command_timeout=self.timeout, timeout=self.timeout,
            server_settings={"synchronous_commit": "on", "application_name": "intentcast-vendor"},
        )  # fmt: skip
        await pool  # with min_size 0 this connects nothing yet: the first acquire does

        async def prepare() -> tuple[int, str]:
            async with pool.acquire() as conn:
                version = await apply_migrations(conn, shipped_migrations())
                await conn.execute(
                    "INSERT INTO store_owner (vendor_id) VALUES ($1) ON CONFLICT DO NOTHING",
                    vendor_id,
                )
                return version, await conn.fetchval("SELECT vendor_id FROM store_owner")

        try:
            version, owner = await self._retrying(prepare)
            if owner != vendor_id:
                raise WrongVendor(
                    f"the order store holds the orders of vendor {owner[:16]}..., not of this"
                    f" vendor ({vendor_id[:16]}...); give each vendor its own database"
                )
        except BaseException:
            pool.terminate()
            raise
        log.info("store.opened", engine="postgresql", schema_version=version)
        return pool

    async def _retrying(self, work: Callable[[], Awaitable[T]], within: float | None = None) -> T:
        """``work`` until it succeeds, retrying transient errors with a short backoff for
        ``within`` seconds (the store's timeout): then :class:`StoreUnavailable`."""
        delay, last = 0.05, None
        within = self.timeout if within is None else within
        if self._down_since is not None and time.monotonic() - self._down_since > within:
            within = min(within, _WHILE_DOWN)  # a long outage: fail fast, do not hold up
        try:
            async with asyncio.timeout(within):
                while True:
                    try:
                        result = await work()
                    except Exception as exc:
                        if not _transient(exc):
                            raise
                        last = exc
                        if self._down_since is None:
                            self._down_since = time.monotonic()
                            log.warning("store.unavailable", error=repr(exc)[:200])
                        await asyncio.sleep(delay)  # backoff before the next attempt
                        delay = min(delay * 2, 0.5)
                        continue
                    if self._down_since is not None:
                        down = time.monotonic() - self._down_since
                        self._down_since = None
                        log.info("store.recovered", down_seconds=round(down, 3))
                    return result
        except TimeoutError:
            raise StoreUnavailable(
                f"the order store did not answer within {within:g} s (last error: {last!r})"
            ) from None

    async def _with_conn(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], within: float
    ) -> T:
        async def once() -> T:
            async with self._pool.acquire() as conn:
                return await work(conn)

        return await self._retrying(once, within)

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the store's loop and wait for it (a little past its own timeout)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout + 2.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StoreUnavailable(f"the order store did not answer within {timeout:g} s") from None

    def _run(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], within: float | None = None
    ) -> T:
        if self.state != "open":
            raise RuntimeError(f"expected an open order store, got one that is {self.state}")
        within = self.timeout if within is None else within
        return self._call(self._with_conn(work, within), within)

    async def _arun(
        self, work: Callable[[asyncpg.Connection], Awaitable[T]], within: float | None = None
    ) -> T:
        """As :meth:`_run`, awaited on the caller's loop (cancelling it cancels the work)."""
        if self.state != "open":
            raise RuntimeError(f"expected an open order store, got one that is {self.state}")
        within = self.timeout if within is None else within
        future = asyncio.run_coroutine_threadsafe(self._with_conn(work, within), self._loop)
        try:
            async with asyncio.timeout(within + 2.0):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise StoreUnavailable(f"the order store did not answer within {within:g} s") from None

    @property
    def concurrency(self) -> int:
        """Acceptances in hand at once: the pool but two connections, kept for the order
        outbox and the health probe, so neither waits behind acceptances held on a hot
        item's row lock (a probe that waited would call the database away)."""
        return max(1, self.pool_size - 2)

    async def _health(self) -> StoreHealth:
        pool = self._pool
        health: StoreHealth = {"engine": "postgresql", "pool_size": pool.get_max_size()}
        try:
            async with asyncio.timeout(_PROBE_SECONDS):
                async with pool.acquire() as c:
                    health["pool_in_use"] = pool.get_size() - pool.get_idle_size()
                    version = await c.fetchval("SELECT MAX(version) FROM schema_version")
        except Exception as exc:
            health["pool_in_use"] = pool.get_size() - pool.get_idle_size()
            health["reachable"], health["schema_version"] = False, None
            health["error"] = repr(exc)[:200]
            return health
        health["reachable"], health["schema_version"] = True, version
        return health

    def _stop_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self.state = "closed"

    def close(self) -> None:
        if self.state != "open":
            return

        async def shut() -> None:
            try:
                await asyncio.wait_for(self._pool.close(), self.timeout)
            except TimeoutError:  # a server that is gone cannot say goodbye
                self._pool.terminate()

        try:
            self._call(shut(), self.timeout)
        finally:
            self._stop_thread()

    # --- reads ----------------------------------------------------------------------------

    def by_offer(self, offer_id: str) -> OrderRow | None:
        return self._run(lambda c: _by_offer(c, offer_id))

    def _fetchval(self, query: str, *args: object) -> Any:
        async def work(c: asyncpg.Connection) -> Any:
            return await c.fetchval(query, *args)

        return self._run(work)

    def reserved(self, sku: str) -> int:
        return int(self._sums(sku)[0])

    def held(self, sku: str) -> int:
        return int(self._sums(sku)[1])

    def _sums(self, sku: str) -> tuple[int, int]:
        return self._run(lambda c: _sums(c, sku))

    def held_total(self) -> int:
        return int(
            self._fetchval(
                "SELECT COALESCE(SUM(quantity), 0) FROM orders"
                " WHERE status = 'confirmed' AND held_until IS NOT NULL"
            )
        )

    def has_intent_key(self, kid: str) -> bool:
        q = "SELECT 1 FROM orders WHERE intent_key = $1 LIMIT 1"
        return self._fetchval(q, kid) is not None

    def intent_wire_of_key(self, kid: str) -> bytes | None:
        q = "SELECT intent_wire FROM orders WHERE intent_key = $1 LIMIT 1"
        wire = self._fetchval(q, kid)
        return None if wire is None else bytes(wire)

    def available(self, sku: str, stock: int) -> int:
        """Stock not yet promised, from a snapshot at most ``snapshot_seconds`` old. While the
        database is away the last snapshot stands (each refresh tries for at most
        ``snapshot_seconds``), so offers go on: acceptance checks stock in its transaction."""
        now = time.monotonic()
        if now - self._snapshot_at > self.snapshot_seconds:

            async def work(c: asyncpg.Connection) -> dict[str, int]:
                rows = await c.fetch(
                    "SELECT sku, SUM(quantity) AS n FROM orders"
                    f" WHERE status IN {TAKEN} GROUP BY sku"
                )
                return {r["sku"]: int(r["n"]) for r in rows}

            try:
                self._snapshot = self._run(work, self.snapshot_seconds)
                self._snapshot_at = now
            except StoreUnavailable:  # try again in ten periods, not at every intent
                log.warning("store.snapshot_stale", sku=sku)
                self._snapshot_at = now + 9 * self.snapshot_seconds
        return stock - self._snapshot.get(sku, 0)

    def next_hold_expiry(self) -> datetime | None:
        t = self._fetchval(
            "SELECT MIN(held_until) FROM orders"
            " WHERE status IN ('confirmed', 'unheld') AND held_until IS NOT NULL"
        )
        return None if t is None else datetime.fromisoformat(t)

    def by_receipt(self, receipt_id: str, receipt_hash: str) -> StoredOrder | None:
        return self._row(
            "SELECT order_id, sku, quantity, status, intent_key FROM orders"
            " WHERE receipt_id = $1 AND receipt_hash = $2",
            receipt_id,
            receipt_hash,
        )

    def order(self, order_id: str) -> StoredOrder | None:
        return self._row(_ORDER, order_id)

    def _row(self, query: str, *args: object) -> StoredOrder | None:
        return self._run(lambda c: _row(c, query, *args))

    def has_countersignature(self, wire: bytes) -> bool:
        q = "SELECT 1 FROM orders WHERE countersignature_wire = $1 LIMIT 1"
        return self._fetchval(q, wire) is not None

    def orders(self) -> list[StoredOrder]:
        async def work(c: asyncpg.Connection) -> list[StoredOrder]:
            return [dict(r) for r in await c.fetch("SELECT * FROM orders ORDER BY created")]

        return self._run(work)

    # --- writes: each one transaction, committed before it returns ------------------------

    def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None:
        """As :meth:`VendorStore.insert_order`, under the item's row lock."""
        stored = self._run(_inserting(row, stock, held_cap))
        self._snapshot_at = float("-inf")
        return stored

    def release_expired(self, now: datetime) -> list[Released]:
        at = stamp(now)

        async def work(c: asyncpg.Connection) -> list[Released]:
            async with c.transaction():
                await c.execute(_LAPSE, "unheld", at)
                rows = await c.fetch(_LAPSE + " RETURNING order_id, sku, quantity", "confirmed", at)
                return [Released(r["order_id"], r["sku"], r["quantity"]) for r in rows]

        released = self._run(work)
        if released:
            self._snapshot_at = float("-inf")
        return released

    def confirm(self, order_id: str, wire: bytes, *, stock: int) -> str:
        """As :meth:`VendorStore.confirm`: the order's row locked first, then (to take stock)
        its item's, the same order every writer takes them in."""

        async def work(c: asyncpg.Connection) -> str:
            async with c.transaction():
                status, held_until, sku, quantity = await c.fetchrow(
                    "SELECT status, held_until, sku, quantity FROM orders"
                    " WHERE order_id = $1 FOR UPDATE",
                    order_id,
                )
                if status == "confirmed":
                    outcome = "held" if held_until is not None else "already"
                elif status in ("unheld", "lapsed"):
                    await _lock_item(c, sku)
                    reserved = (await c.fetchrow(_SUMS, sku))["reserved"]
                    outcome = "taken" if reserved + quantity <= stock else "out_of_stock"
                else:
                    outcome = status
                update = "countersignature_wire = COALESCE(countersignature_wire, $1)"
                if outcome in ("held", "taken"):
                    update += ", status = 'confirmed', held_until = NULL, reason = ''"
                await c.execute(f"UPDATE orders SET {update} WHERE order_id = $2", wire, order_id)
                return str(outcome)

        outcome = self._run(work)
        self._snapshot_at = float("-inf")
        return outcome

    def cancel(self, order_id: str, cancel_wire: bytes) -> bool:
        async def work(c: asyncpg.Connection) -> int:
            return _count(
                await c.execute(
                    "UPDATE orders SET status = 'cancelled', reason = 'cancelled by the person',"
                    " held_until = NULL, cancel_wire = $1 WHERE order_id = $2"
                    " AND status IN ('confirmed', 'unheld', 'lapsed')",
                    cancel_wire,
                    order_id,
                )
            )

        changed = self._run(work)
        self._snapshot_at = float("-inf")
        return changed == 1

    def purge(self, now: datetime) -> int:
        """Forget disclosed details whose retention has passed (the old row versions go at
        the next VACUUM, which autovacuum runs; see the vendor guide)."""

        async def work(c: asyncpg.Connection) -> int:
            async with c.transaction():
                n = _count(
                    await c.execute(
                        "UPDATE orders SET disclosure = NULL, accept_wire = ''::bytea"
                        " WHERE disclosure IS NOT NULL AND purge_after <= $1",
                        now.isoformat(),
                    )
                )
                await c.execute(
                    "DELETE FROM details_updates WHERE order_id IN"
                    " (SELECT order_id FROM orders WHERE disclosure IS NULL)"
                )
                return n

        return int(self._run(work))

    def apply_details(
        self,
        order_id: str,
        update_hash: str,
        update_wire: bytes,
        changed: dict[str, object],
        now: datetime,
    ) -> bool:
        """As :meth:`VendorStore.apply_details`, the order's row locked while it changes."""

        async def work(c: asyncpg.Connection) -> bool:
            async with c.transaction():
                held = await c.fetchval(
                    "SELECT disclosure FROM orders WHERE order_id = $1 FOR UPDATE", order_id
                )
                if held is None:
                    return False
                await c.execute(
                    "UPDATE orders SET disclosure = $1 WHERE order_id = $2",
                    merged_disclosure(held, changed), order_id,
                )  # fmt: skip
                await c.execute(
                    "INSERT INTO details_updates VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (update_hash) DO NOTHING",
                    update_hash, order_id, update_wire, stamp(now),
                )  # fmt: skip
                return True

        return bool(self._run(work))

    def erase(
        self, order_id: str, request_wire: bytes, confirmation_wire: bytes, now: datetime
    ) -> None:
        """As :meth:`VendorStore.erase` (the old row versions go at the next VACUUM)."""

        async def work(c: asyncpg.Connection) -> None:
            async with c.transaction():
                await c.execute(
                    "UPDATE orders SET disclosure = NULL, accept_wire = ''::bytea"
                    " WHERE order_id = $1",
                    order_id,
                )
                await c.execute("DELETE FROM details_updates WHERE order_id = $1", order_id)
                await c.execute(
                    "INSERT INTO erasures VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (order_id) DO NOTHING",
                    order_id, request_wire, confirmation_wire, stamp(now),
                )  # fmt: skip

        self._run(work)

    # --- the counter and its outbox ---------------------------------------------------------

    def find_orders(self, prefix: str) -> list[str]:
        async def work(c: asyncpg.Connection) -> list[str]:
            q = "SELECT order_id FROM orders WHERE starts_with(order_id, $1) ORDER BY order_id"
            return [r["order_id"] for r in await c.fetch(q, prefix.lower())]

        return self._run(work)

    def statuses(self, order_id: str) -> list[StoredOrder]:
        async def work(c: asyncpg.Connection) -> list[StoredOrder]:
            q = "SELECT seq, state, created, sent, subject FROM order_statuses WHERE order_id = $1"
            return [dict(r) for r in await c.fetch(q + " ORDER BY seq", order_id)]

        return self._run(work)

    def transition(self, order_id: str, decide: Decide) -> Transition:
        """As :meth:`VendorStore.transition`, the order's row locked (``FOR UPDATE``) from the
        read to the commit; its feed event is the trigger's (migration 0003)."""

        async def work(c: asyncpg.Connection) -> Transition:
            async with c.transaction():
                row = await c.fetchrow(
                    "SELECT * FROM orders WHERE order_id = $1 FOR UPDATE", order_id
                )
                if row is None:
                    raise UnknownOrder(f"expected an order of this store, got {order_id!r}")
                last = await c.fetchval(
                    "SELECT COALESCE(MAX(seq), 0) FROM order_statuses WHERE order_id = $1", order_id
                )
                t = decide(dict(row), int(last))
                await c.execute(
                    "UPDATE orders SET status = $1, held_until = NULL, reason = $2, carrier = $3,"
                    " tracking = $4 WHERE order_id = $5",
                    str(t.change.after), t.reason, t.carrier, t.tracking, order_id,
                )  # fmt: skip
                await c.execute(
                    "INSERT INTO order_statuses (order_id, seq, state, created, wire, sealed,"
                    " mailbox_days, subject) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    order_id, t.change.seq, str(t.change.after), t.created, t.wire, t.sealed,
                    t.mailbox_days, t.change.mailbox,
                )  # fmt: skip
                failpoint("vendor.counter.writing")  # killed here, the server rolls it back
                return t

        t = self._run(work)
        self._snapshot_at = float("-inf")
        return t

    def unsent_statuses(self, limit: int) -> contextlib.AbstractContextManager[Unsent]:
        """As the interface says: the rows are locked ``FOR UPDATE SKIP LOCKED`` in a
        transaction held until the block ends, so another replica takes others (or, after
        this one died, these), and the marks are committed at the end."""
        return self._taking(
            UNSENT_STATUSES.format(limit="$1") + " FOR UPDATE SKIP LOCKED",
            "UPDATE order_statuses SET sent = TRUE"
            " WHERE (order_id, seq) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
            lambda done: ([r["order_id"] for r in done], [r["seq"] for r in done]),
            limit,
        )

    def unsent_events(self, limit: int) -> contextlib.AbstractContextManager[Unsent]:
        return self._taking(
            UNSENT_EVENTS.format(limit="$1") + " FOR UPDATE SKIP LOCKED",
            "UPDATE feed_events SET sent = TRUE WHERE id = ANY($1::bigint[])",
            lambda done: ([r["id"] for r in done],),
            limit,
        )

    @contextlib.contextmanager
    def _taking(
        self,
        take: str,
        mark: str,
        keys: Callable[[list[dict[str, Any]]], tuple[list[Any], ...]],
        limit: int,
    ) -> Iterator[Unsent]:
        if self.state != "open":
            raise RuntimeError(f"expected an open order store, got one that is {self.state}")

        async def begin() -> tuple[asyncpg.Connection, Any, list[dict[str, Any]]]:
            conn = await self._pool.acquire()
            try:
                tr = conn.transaction()
                await tr.start()
                return conn, tr, [dict(r) for r in await conn.fetch(take, limit)]
            except BaseException:
                await self._pool.release(conn)
                raise

        async def finish() -> None:
            try:
                if done:
                    await conn.execute(mark, *keys(done))
                await tr.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # a lost connection has nothing to undo
                    await tr.rollback()
                raise
            finally:
                await self._pool.release(conn)

        # The outbox tries again on its own: a take waits no longer than a stock snapshot, so
        # that an outage holds up the rooms' handlers no longer for it than for offers.
        within = self.snapshot_seconds
        conn, tr, rows = self._call(self._retrying(begin, within), within)
        done: list[dict[str, Any]] = []
        try:
            yield Unsent(rows, done.append)
        except BaseException:  # the marks made so far are still kept, the error goes on
            try:
                self._call(finish(), self.timeout)
            except Exception as exc:
                log.warning("outbox.unmarked", rows=len(done), error=repr(exc)[:200])
            raise
        self._call(finish(), self.timeout)

    def prune_events(self, before: datetime) -> int:
        async def work(c: asyncpg.Connection) -> int:
            q = "DELETE FROM feed_events WHERE sent AND at < $1"
            return _count(await c.execute(q, event_time(before)))

        return int(self._run(work, self.snapshot_seconds))
