"""The vendor's counter on PostgreSQL, end to end: two `intentcast-vendor run` replicas of one
vendor on one real PostgreSQL server (started by the test), a real nats-server with
JetStream, and the real CLIs. Ship, delivered and a vendor's cancel reach the person's agent
once each whichever replica sends them; a replica killed after the mailbox has a status but
before the store says so, and one killed with statuses taken but not sent, leave them to the
others, and the person still gets each once; the feed delivers every event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from runtime import FAILPOINTS_ENV, Bus, EmbeddedServer, ServiceProcess, wait_total
from tests.conftest import Agent, VendorFactory, agent_db, restock
from tests.postgres import PostgresServer, postgres_server
from tests.test_counter import counter
from vendor_adapter._feed import feed_stream, feed_subject

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.postgres


def buy(person: Agent) -> str:
    """One tent, accepted and countersigned: its order id."""
    got = person.want("--expect", "1")
    acc = json.loads(person.ok("accept", got["offers"][0]["offer"][:8], "--json"))
    assert acc["status"] == "confirmed" and acc["vendor_acknowledged"] is True
    return str(acc["receipt"]["order_id"])


def replica(
    vendor: VendorFactory, pg: PostgresServer, name: str, failpoint: str | None = None
) -> ServiceProcess:
    env = {FAILPOINTS_ENV: failpoint} if failpoint else None
    return vendor("sierra", replica=name, store=f'"{pg.dsn()}"', env=env)


async def _rows(pg: PostgresServer, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg.dsn())
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def rows(pg: PostgresServer, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in asyncio.run(_rows(pg, query))]


def news(person: Agent) -> dict[str, list[tuple[int, str]]]:
    """The person's `inbox`: order id -> (seq, state) of each status kept; no refusals."""
    got = json.loads(person.ok("inbox", "--json"))
    assert got["refused"] == {}
    order_of = {r["receipt"]: r["order"] for r in json.loads(person.ok("receipts", "--json"))}
    out: dict[str, list[tuple[int, str]]] = {}
    for s in got["statuses"]:
        out.setdefault(order_of[s["receipt_id"]], []).append((s["seq"], s["state"]))
    return out


async def feed_numbers(url: str, vendor_id: str, want: set[int]) -> list[int]:
    """The event numbers on the vendor's feed, read by a durable consumer until it has
    every one of ``want`` (repeats kept)."""
    got: list[int] = []
    async with Bus(url, name="back-office") as bus:
        sub = await bus.nc.jetstream().pull_subscribe(
            feed_subject(vendor_id, ">"), durable="test", stream=feed_stream(vendor_id),
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
        )  # fmt: skip
        async with asyncio.timeout(30):
            while not want <= set(got):
                try:
                    msgs = await sub.fetch(16, timeout=1)
                except TimeoutError:
                    continue
                for m in msgs:
                    got.append(json.loads(m.data)["event"])
                    await m.ack()
    return got


def test_two_replicas_send_each_status_once_and_the_feed_has_every_event(
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    nats_server: EmbeddedServer,
    postgres_server: PostgresServer,
) -> None:
    """Two replicas on one database: `ship` and `delivered` of one order, `cancel` of
    another (the counter run against the shared database): the person's inbox has each
    status once, in order, and refuses nothing; the two replicas together sent three (none
    twice: what one took the other skipped); every order change in the database is on the
    feed, each order's events in order."""
    restock(tmp_path, "sierra.csv", 10)
    a, b = (replica(vendor, postgres_server, r) for r in "ab")
    first, second = buy(person), buy(person)
    for args in (
        ("ship", first[:8], "--carrier", "Correos", "--tracking", "PK1"),
        ("delivered", first[:8]),
        ("cancel", second[:8], "--reason", "damaged in the warehouse"),
    ):
        cp = counter(tmp_path, *args)
        assert cp.returncode == 0, cp.stderr
    wait_total([a, b], "status.sent", 3, 30)
    assert news(person) == {first: [(1, "shipped"), (2, "delivered")], second: [(1, "cancelled")]}
    assert a.count("status.sent") + b.count("status.sent") == 3
    history = json.loads(person.ok("history", "--json"))
    assert sorted(s["state"] for h in history for s in h["statuses"]) == [
        "cancelled", "delivered", "shipped",
    ]  # fmt: skip
    listed = json.loads(counter(tmp_path, "orders", "--json", "--state", "delivered").stdout)
    assert [(o["order"], [s["sent"] for s in o["statuses"]]) for o in listed] == [
        (first, [True, True])
    ]
    events = rows(postgres_server, "SELECT id, order_id, state FROM feed_events ORDER BY id")
    assert [s for _, o, s in events if o == first] == ["open", "confirmed", "shipped", "delivered"]
    vendor_id = str(a.wait_for("vendor.ready")["vendor"])
    got = asyncio.run(feed_numbers(nats_server.url, vendor_id, {i for i, _, _ in events}))
    for order in (first, second):
        mine = [i for i, o, _ in events if o == order]
        assert [i for i in got if i in mine] == mine  # in order, each once (none died)
    wait_total([a, b], "feed.sent", len(events), 30)
    assert rows(postgres_server, "SELECT COUNT(*) FROM feed_events WHERE NOT sent") == [(0,)]


def test_statuses_a_killed_replica_left_reach_the_person_once(
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    """Replica a is SIGKILLed after the mailbox stored `shipped`, before its mark was
    committed; `delivered` is committed by a counter killed right after its commit; replica
    b is SIGKILLed holding both statuses taken (locked) and unsent; a started again sends
    both (the mailbox drops its copy of `shipped`): the person gets each once, in order."""
    a = replica(vendor, postgres_server, "a", "vendor.status.posted")
    order = buy(person)
    assert counter(tmp_path, "ship", order[:8]).returncode == 0
    assert a.wait_exit(20) == -9
    assert [ev["duplicate"] for ev in a.events if ev.get("event") == "mailbox.posted"] == [False]
    cp = counter(tmp_path, "delivered", order[:8], env={FAILPOINTS_ENV: "vendor.counter.committed"})
    assert cp.returncode == -9
    assert rows(postgres_server, "SELECT seq, sent FROM order_statuses ORDER BY seq") == [
        (1, False), (2, False),
    ]  # fmt: skip
    b = replica(vendor, postgres_server, "b", "vendor.outbox.taken")
    assert b.wait_exit(20) == -9 and b.count("mailbox.posted") == 0
    again = replica(vendor, postgres_server, "a")
    again.wait_for("status.sent", seq=2)
    posted = [ev["duplicate"] for ev in again.events if ev.get("event") == "mailbox.posted"]
    assert posted == [True, False]
    assert news(person) == {order: [(1, "shipped"), (2, "delivered")]}
    kept = agent_db(person.home).execute("SELECT COUNT(*) FROM order_statuses").fetchone()[0]
    assert kept == 2


def test_the_counter_killed_inside_its_transaction_keeps_nothing(
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    """`ship` SIGKILLed after writing but before committing: the server rolls it back (the
    order is still confirmed, no status, no feed event for it), and `ship` again works."""
    replica(vendor, postgres_server, "a")
    order = buy(person)
    cp = counter(tmp_path, "ship", order[:8], env={FAILPOINTS_ENV: "vendor.counter.writing"})
    assert cp.returncode == -9
    assert rows(postgres_server, "SELECT status FROM orders") == [("confirmed",)]
    assert rows(postgres_server, "SELECT COUNT(*) FROM order_statuses") == [(0,)]
    assert rows(postgres_server, "SELECT state FROM feed_events ORDER BY id") == [
        ("open",), ("confirmed",),
    ]  # fmt: skip
    cp = counter(tmp_path, "ship", order[:8])
    assert cp.returncode == 0 and "shipped (status 1 stored" in cp.stdout, cp.stderr
