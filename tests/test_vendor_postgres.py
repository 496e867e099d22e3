"""Two replicas of one vendor, each its own `intentcast-vendor run` process, on one real
PostgreSQL server (started by the test), under hundreds of acceptances from a load client on
the real bus: each intent is answered once, the last items are never sold twice, a replica
SIGKILLed mid-stream (or between its commit and its answer) loses no acknowledged order, a
database restarted mid-stream loses nothing acknowledged while the same processes carry on,
and with the database down a replica still offers and stops promptly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import pytest

from bench.accept_load import Answer, LoadShopper
from runtime import FAILPOINTS_ENV, Bus, EmbeddedServer, ServiceProcess, wait_total
from tests.conftest import VendorFactory, restock
from tests.postgres import PostgresServer, postgres_server

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.postgres

HOLD_EVERY_ACCEPTANCE = "{ max_held_share = 1.0 }"  # every confirmation holds its stock


def replicas(
    vendor: VendorFactory, pg: PostgresServer, **overrides: str
) -> tuple[ServiceProcess, ServiceProcess]:
    store = f'"{pg.dsn()}"'
    a = vendor("sierra", replica="a", store=store, **overrides)
    b = vendor("sierra", replica="b", store=store, **overrides)
    return a, b


async def stored_orders(pg: PostgresServer) -> dict[str, asyncpg.Record]:
    """offer id -> its order row, read straight from the database."""
    conn = await asyncpg.connect(pg.dsn())
    try:
        rows = await conn.fetch("SELECT offer_id, order_id, status, sku, quantity FROM orders")
    finally:
        await conn.close()
    return {r["offer_id"]: r for r in rows}


def assert_every_answer_is_stored(answers: list[Answer], stored: dict[str, asyncpg.Record]) -> None:
    for a in answers:
        row = stored.get(a.offer_id)
        assert row is not None, f"acknowledged order {a.order_id} is not in the store"
        assert (row["order_id"], row["status"]) == (a.order_id, a.status)


async def test_two_replicas_answer_each_intent_once_and_never_sell_the_last_items_twice(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """200 intents reach a queue group of two replicas: each is offered exactly once, and
    both replicas answer some. Then 200 acceptances arrive at once, 100 in flight, for items
    with 5 units each: exactly the stock is confirmed, every other acceptance is refused as
    out of stock, and the database agrees with every answer."""
    restock(tmp_path, "sierra.csv", 5)
    a, b = replicas(vendor, postgres_server, orders=HOLD_EVERY_ACCEPTANCE)
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(200)
        answers = await shopper.accept_all(offered, concurrency=100)
        await shopper.close_casts()
    assert [len(o.offers) for o in offered] == [1] * 200
    assert wait_total([a, b], "offer.sent", 200, 30) == 200  # log lines may trail the offers
    assert a.count("offer.sent") > 0 and b.count("offer.sent") > 0
    skus = {x.sku for x in answers}
    confirmed = [x for x in answers if x.status == "confirmed"]
    assert len(confirmed) == 5 * len(skus)
    for sku in skus:
        assert sum(1 for x in confirmed if x.sku == sku) == 5
    assert {x.reason for x in answers if x.status != "confirmed"} == {"out_of_stock"}
    stored = await stored_orders(postgres_server)
    assert_every_answer_is_stored(answers, stored)
    for sku in skus:
        taken = [r for r in stored.values() if r["sku"] == sku and r["status"] == "confirmed"]
        assert sum(r["quantity"] for r in taken) == 5


async def test_a_replica_killed_mid_stream_loses_no_acknowledged_order(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """SIGKILL one replica while 150 acceptances are in flight (after it stored 20): every
    acceptance is answered (the survivor answers what the dead one left, re-sending the
    stored reply where the order was already committed), every answer is in the database,
    every order the dead replica logged as stored is there, and there is one order per
    offer."""
    restock(tmp_path, "sierra.csv", 10_000)
    a, b = replicas(vendor, postgres_server)
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(150)
        load = asyncio.ensure_future(shopper.accept_all(offered, concurrency=30))
        try:
            await asyncio.to_thread(a.wait_count, "order.stored", 20, 60)
        finally:
            a.kill()
        answers = await load
        await shopper.close_casts()
    stored = await stored_orders(postgres_server)
    assert_every_answer_is_stored(answers, stored)
    assert len(stored) == 150 and {x.status for x in answers} == {"confirmed"}
    logged_by_a = {ev["order"] for ev in a.events if ev.get("event") == "order.stored"}
    assert len(logged_by_a) >= 20
    assert logged_by_a <= {r["order_id"] for r in stored.values()}
    assert b.returncode is None


async def test_a_replica_killed_between_commit_and_answer_leaves_the_order_to_the_other(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """A replica SIGKILLed by a failpoint right after committing an order and before
    answering: the acceptance, sent again, reaches the other replica, which finds the order
    in the shared store and answers with its stored reply (the same order id); nothing is
    stored twice."""
    restock(tmp_path, "sierra.csv", 10_000)
    a = vendor("sierra", replica="a", store=f'"{postgres_server.dsn()}"',
               env={FAILPOINTS_ENV: "vendor.order.committed"})  # fmt: skip
    b = vendor("sierra", replica="b", store=f'"{postgres_server.dsn()}"')
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(30)
        answers = await shopper.accept_all(offered, concurrency=10)
        await shopper.close_casts()
    assert a.wait_exit(10) == -9
    (committed,) = [ev["order"] for ev in a.events if ev.get("event") == "order.stored"]
    assert committed in {x.order_id for x in answers}
    assert b.count("order.repeat") >= 1
    stored = await stored_orders(postgres_server)
    assert len(stored) == 30
    assert_every_answer_is_stored(answers, stored)


async def test_the_database_restarted_mid_stream_loses_nothing_and_replicas_carry_on(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """`pg_ctl restart` while 150 acceptances are in flight (after 30 were stored): every
    acceptance is answered, every answer is in the database after the restart, one order
    per offer; then the same two processes (never restarted) take 20 more acceptances."""
    restock(tmp_path, "sierra.csv", 10_000)
    a, b = replicas(vendor, postgres_server)
    pids = (a.pid, b.pid)
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(170)
        first, later = offered[:150], offered[150:]
        load = asyncio.ensure_future(shopper.accept_all(first, concurrency=20))
        try:
            await asyncio.to_thread(wait_total, [a, b], "order.stored", 30, 60)
            await asyncio.to_thread(postgres_server.restart)
        finally:
            answers = await load
        stored = await stored_orders(postgres_server)
        assert_every_answer_is_stored(answers, stored)
        assert len(stored) == 150 and {x.status for x in answers} == {"confirmed"}
        again = await shopper.accept_all(later, concurrency=20)
        await shopper.close_casts()
    assert {x.status for x in again} == {"confirmed"}
    assert_every_answer_is_stored(again, await stored_orders(postgres_server))
    assert (a.pid, b.pid) == pids and a.returncode is None and b.returncode is None
    for p in (a, b):  # an outage a replica noticed, it also saw end
        assert p.count("store.recovered") == p.count("store.unavailable")


async def test_with_its_database_down_a_replica_still_offers_and_stops_on_sigterm(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """The database stopped: a replica still answers intents from its last view of stock,
    leaves an acceptance unanswered rather than answering without a commit, and exits 0
    within 5 s of SIGTERM while that acceptance waits on the database."""
    restock(tmp_path, "sierra.csv", 10)
    (a,) = [vendor("sierra", store=f'"{postgres_server.dsn()}"')]
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        await shopper.cast_many(1)
        postgres_server.pause()
        try:
            offered = await shopper.cast_many(3)
            with pytest.raises(TimeoutError):
                await shopper.accept(offered[0], attempt_timeout=1.0, deadline=2.5)
            a.signal(signal.SIGTERM)
            assert a.wait_exit(5) == 0
            await shopper.close_casts()
        finally:
            postgres_server.resume()
    assert await stored_orders(postgres_server) == {}
