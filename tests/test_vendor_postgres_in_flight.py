"""Replicas that keep many acceptances in flight on one real PostgreSQL, each its own
`intentcast-vendor run` process: acceptances spread over many items, several at once on each
replica, never oversell and every acknowledged order is stored; and a replica's /healthz
says what its store is doing, turning not ready while the database is away and ready again
when it is back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

import schemas
from bench.accept_load import DISCLOSURE, LoadShopper
from runtime import Bus, EmbeddedServer, ServiceProcess, wait_total
from tests.conftest import VendorFactory, vendor_config
from tests.postgres import PostgresServer, postgres_server
from tests.test_vendor_postgres import assert_every_answer_is_stored, stored_orders
from vendor_adapter import CSV_HEADER

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.postgres

ITEMS, UNITS = 20, 3


def many_tents(tmp_path: Path) -> list[schemas.Want]:
    """Replace the test's copy of Sierra's catalog with ``ITEMS`` tents of ``UNITS`` units,
    each its own colour; what to want to be offered each of them."""
    catalog = vendor_config(tmp_path, "sierra").parent.parent / "catalogs" / "sierra.csv"
    rows = [CSV_HEADER] + [
        f'T{i},Two-person dome tent {i},outdoor/tents,{100 + i}.00,EUR,{UNITS},colour=c{i},"tent,2-person"'
        for i in range(ITEMS)
    ]
    catalog.write_text("\n".join(rows) + "\n")
    return [schemas.Want("2-person tent", {"colour": f"c{i}"}) for i in range(ITEMS)]


def most_in_flight(p: ServiceProcess) -> int:
    return max(int(str(e["in_flight"])) for e in p.events if e.get("event") == "order.stored")


async def test_two_replicas_with_many_acceptances_in_flight_never_oversell_any_item(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """240 acceptances, 64 in flight, over 20 items of 3 units, reach two replicas with a
    pool of 8 each: each replica has more than one acceptance in hand at a time, exactly 3
    are confirmed per item, every other is refused out of stock, and the database holds
    every acknowledged order and no more confirmed units than stock."""
    wants = many_tents(tmp_path)
    store, more = f'"{postgres_server.dsn()}"', {"orders": "{ max_held_share = 1.0 }"}
    a = vendor("sierra", replica="a", store=store, store_pool_size="8", **more)
    b = vendor("sierra", replica="b", store=store, store_pool_size="8", **more)
    async with Bus(nats_server.url, name="load") as bus:
        shopper = LoadShopper(bus)
        offered = await shopper.cast_many(240, wants=wants)
        answers = await shopper.accept_all(offered, concurrency=64)
        await shopper.close_casts()
    assert len(answers) == 240
    await asyncio.to_thread(wait_total, [a, b], "order.stored", 240, 10)
    assert most_in_flight(a) > 1 and most_in_flight(b) > 1
    confirmed = [x for x in answers if x.status == "confirmed"]
    assert sorted({x.sku for x in answers}) == sorted(f"T{i}" for i in range(ITEMS))
    for i in range(ITEMS):
        assert sum(1 for x in confirmed if x.sku == f"T{i}") == UNITS
    assert {x.reason for x in answers if x.status != "confirmed"} == {"out_of_stock"}
    stored = await stored_orders(postgres_server)
    assert_every_answer_is_stored(answers, stored)
    for i in range(ITEMS):
        taken = [r for r in stored.values() if r["sku"] == f"T{i}" and r["status"] == "confirmed"]
        assert sum(r["quantity"] for r in taken) == UNITS


async def healthz(url: str, want: int, within: float = 20.0) -> dict[str, object]:
    """/healthz's body once it answers ``want`` (each request times out on its own)."""
    async with asyncio.timeout(within), httpx.AsyncClient(timeout=5) as client:
        while (r := await client.get(url)).status_code != want:
            assert r.status_code in (200, 503), r.text
        body: dict[str, object] = r.json()
        return body


async def test_healthz_says_the_store_and_turns_not_ready_while_the_database_is_away(
    vendor: VendorFactory, postgres_server: PostgresServer
) -> None:
    """A replica's /healthz names its store (PostgreSQL, reachable, schema version 3, its
    pool's size and what is lent out); with the database stopped it answers 503 with the
    store unreachable and the replica logs that it is not ready, while /livez still answers
    200 (restarting would not help); started again, 200 and a log line that it is ready."""
    p = vendor("sierra", store=f'"{postgres_server.dsn()}"', store_pool_size="6")
    url = str(p.wait_for("vendor.health")["url"])
    up = await healthz(url, 200)
    assert (up["status"], up["bus"]) == ("ok", "connected")
    store = up["store"]
    assert isinstance(store, dict)
    assert (store["engine"], store["reachable"], store["schema_version"]) == ("postgresql", True, 3)
    assert store["pool_size"] == 6 and 0 <= store["pool_in_use"] <= 6
    await asyncio.to_thread(postgres_server.pause)
    try:
        down = await healthz(url, 503)
        assert down["status"] == "degraded" and down["bus"] == "connected"
        assert isinstance(down["store"], dict) and down["store"]["reachable"] is False
        await asyncio.to_thread(p.wait_for, "vendor.readiness", 10, ready=False)
        async with httpx.AsyncClient(timeout=5) as client:  # alive all the same
            assert (await client.get(url.replace("/healthz", "/livez"))).status_code == 200
    finally:
        await asyncio.to_thread(postgres_server.resume)
    again = await healthz(url, 200)
    assert isinstance(again["store"], dict) and again["store"]["reachable"] is True
    await asyncio.to_thread(p.wait_count, "vendor.readiness", 2, 10, ready=True)  # first, now


async def test_the_same_acceptance_twice_at_once_is_answered_twice_with_one_order(
    tmp_path: Path,
    vendor: VendorFactory,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """The same sealed acceptance sent twice while the first is still in hand (its item's row
    lock held by another replica): the copy waits for the first instead of being refused as
    a replay, and both are answered with the same order; one order is stored."""
    wants = many_tents(tmp_path)
    p = vendor("sierra", store=f'"{postgres_server.dsn()}"')
    lock = await asyncpg.connect(postgres_server.dsn())
    try:
        async with Bus(nats_server.url, name="load") as bus:
            shopper = LoadShopper(bus)
            (o,) = await shopper.cast_many(1, wants=wants[:1])
            c, offer = o.cast, o.offers[0]
            mine, sealed = schemas.make_accept(
                intent_wire=c.wire, intent=c.intent, secrets=c.secrets, offer=offer,
                disclosure=DISCLOSURE, payment_method="card", now=datetime.now(UTC),
            )  # fmt: skip
            subject = schemas.vendor_subject(offer.offer.msg.vendor_id, "order")
            await lock.execute("INSERT INTO stock_locks VALUES ('T0') ON CONFLICT DO NOTHING")
            held = lock.transaction()
            await held.start()
            await lock.execute("SELECT 1 FROM stock_locks WHERE sku = 'T0' FOR UPDATE")
            try:
                both = [
                    asyncio.ensure_future(bus.nc.request(subject, sealed, timeout=20))
                    for _ in range(2)
                ]
                await asyncio.to_thread(p.wait_for, "order.copy_waits", 10)
            finally:
                await held.rollback()
            replies = await asyncio.gather(*both)
            await shopper.close_casts()
        ring = schemas.KeyRing.from_profile(offer.profile.msg)
        orders = {
            schemas.open_confirmation(
                r.data, secrets=c.secrets, accept=mine, ring=ring, now=datetime.now(UTC),
                replay=None,
            ).confirmation.msg.order_id
            for r in replies
        }  # fmt: skip
        stored = await stored_orders(postgres_server)
        assert len(orders) == 1 and {r["order_id"] for r in stored.values()} == orders
        assert await asyncio.to_thread(p.wait_count, "order.repeat", 1, 10) == 1
    finally:
        await lock.close()
