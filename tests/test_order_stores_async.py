"""The order store's awaited side (``store.aio``, what acceptances use): the same answers as
the synchronous methods on both engines; on PostgreSQL, many acceptances in flight on one
store's pool, an acceptance waiting on one item's row lock holding up none of the others,
stock still taken exactly once; and the store's health, reachable or not, as /healthz
shows it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.postgres import PostgresServer, postgres_server
from tests.test_order_stores import VENDOR, _acceptance
from tests.test_vendor_parts import _row
from vendor_adapter import OrderStore, PostgresStore, VendorStore

__all__ = ["postgres_server"]  # the fixture, imported for the tests below


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    """An SQLite file, or a real PostgreSQL with a pool of 4."""
    s: OrderStore
    if request.param == "sqlite":
        s = VendorStore(tmp_path / "v.sqlite")
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        s = PostgresStore(pg.dsn(), vendor_id=VENDOR, pool_size=4)
    try:
        yield s
    finally:
        s.close()


async def test_both_engines_answer_the_awaited_acceptance_path_alike(store: OrderStore) -> None:
    """Awaited inserts check stock and the hold cap and order an offer once, as the
    synchronous ones do; what they stored reads back awaited and synchronously; SQLite keeps
    one acceptance in flight, PostgreSQL its pool's size but two (kept for the outbox and the
    health probe); both say they are reachable."""
    aio = store.aio
    assert await aio.insert_order(_acceptance("a", qty=2), stock=10, held_cap=2) == "confirmed"
    assert await aio.insert_order(_acceptance("b"), stock=10, held_cap=2) == "unheld"
    assert await aio.insert_order(_acceptance("a"), stock=10, held_cap=2) is None
    assert await aio.insert_order(_acceptance("c", qty=9), stock=10, held_cap=20) is None
    assert await aio.held("T1") == 2 == store.held("T1")
    found = await aio.by_offer("b")
    assert found is not None and (found.order_id, found.status) == ("b", "unheld")
    assert await aio.by_offer("c") is None
    row = await aio.order("a")
    assert row is not None and (row["status"], row["reply_sealed"]) == ("confirmed", b"r")
    assert store.reserved("T1") == 2  # an unheld order takes nothing yet
    health = await aio.health()
    assert health["reachable"] is True
    if isinstance(store, VendorStore):
        assert store.concurrency == 1 and health["engine"] == "sqlite"
    else:
        assert store.concurrency == 2
        assert (health["engine"], health["pool_size"]) == ("postgresql", 4)
        assert health["schema_version"] == 3


@pytest.mark.postgres
async def test_an_acceptance_waiting_on_one_items_lock_holds_up_no_other_item(
    postgres_server: PostgresServer,
) -> None:
    """Another replica holds item T0's row lock: an awaited insert for T0 waits for it, while
    inserts for other items on the same store commit meanwhile (with a synchronous store,
    each waited behind T0's); /healthz's view shows the waiting connection lent out; once
    the lock is let go, T0's commits too."""
    store = PostgresStore(postgres_server.dsn(), vendor_id=VENDOR, pool_size=4)
    other = await asyncpg.connect(postgres_server.dsn())
    try:
        await other.execute("INSERT INTO stock_locks VALUES ('T0')")
        locking = other.transaction()
        await locking.start()
        await other.execute("SELECT 1 FROM stock_locks WHERE sku = 'T0' FOR UPDATE")
        blocked = asyncio.ensure_future(store.aio.insert_order(_row("t0", sku="T0"), stock=1))
        try:
            async with asyncio.timeout(10):
                others = [
                    await store.aio.insert_order(_row(f"t{i}", sku=f"T{i}"), stock=1)
                    for i in range(1, 6)
                ]
            assert others == ["confirmed"] * 5 and not blocked.done()
            health = await store.aio.health()
            assert health["reachable"] is True and health["pool_in_use"] >= 2
        finally:
            await locking.rollback()
        async with asyncio.timeout(10):
            assert await blocked == "confirmed"
    finally:
        await other.close()
        store.close()


@pytest.mark.postgres
async def test_many_acceptances_in_flight_on_one_store_take_each_items_stock_once(
    postgres_server: PostgresServer,
) -> None:
    """240 awaited acceptances at once on one store with a pool of 8, over 12 items of 3
    units each, some sent twice: exactly 3 confirmed per item, one order per offer, and the
    database agrees with every answer."""
    store = PostgresStore(postgres_server.dsn(), vendor_id=VENDOR, pool_size=8)
    offers = [(f"o{i}", f"T{i % 12}") for i in range(200)]
    offers += offers[:40]  # the same acceptance again, concurrently
    try:
        async with asyncio.timeout(60):
            answers = await asyncio.gather(
                *(store.aio.insert_order(_row(o, sku=s), stock=3) for o, s in offers)
            )
        confirmed = [o for (o, _), a in zip(offers, answers, strict=True) if a == "confirmed"]
        assert len(confirmed) == len(set(confirmed)) == 36
        for k in range(12):
            assert store.reserved(f"T{k}") == 3
        rows = {r["offer_id"]: r for r in store.orders()}
        assert set(rows) == set(confirmed)
    finally:
        store.close()


@pytest.mark.postgres
async def test_a_store_whose_database_is_away_says_so_and_recovers(
    postgres_server: PostgresServer,
) -> None:
    """The database stopped: the store's health says unreachable, with why, within about a
    second (no schema version); started again, reachable at schema version 3."""
    store = PostgresStore(postgres_server.dsn(), vendor_id=VENDOR)
    try:
        assert (await store.aio.health())["reachable"] is True
        await asyncio.to_thread(postgres_server.pause)
        try:
            async with asyncio.timeout(5):
                down = await store.aio.health()
            assert down["reachable"] is False and down["schema_version"] is None
            assert down["error"] and down["pool_size"] == 10
        finally:
            await asyncio.to_thread(postgres_server.resume)
        async with asyncio.timeout(5):
            up = await store.aio.health()
        assert (up["reachable"], up["schema_version"]) == (True, 3)
    finally:
        store.close()
