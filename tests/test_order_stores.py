"""The vendor's order store on both engines: the same rules for reservations, holds,
countersignatures, cancellations, purges, the counter's transitions and the outbox's
statuses and feed events on SQLite and on a real PostgreSQL server; PostgreSQL's outbox rows
taken by one replica at a time;
PostgreSQL's reservations exactly once across many stores at once; its migrations versioned;
and how a vendor's config chooses the store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from runtime import EmbeddedServer
from tests.conftest import vendor_config
from tests.postgres import PostgresServer, postgres_server
from tests.test_vendor_parts import NOW, _row
from vendor_adapter import (
    STORE_ENV,
    ConfigError,
    OrderStore,
    PostgresStore,
    VendorStore,
    WrongVendor,
    load_config,
    open_order_store,
)
from vendor_adapter._counter import (
    CounterState,
    Decide,
    IllegalTransition,
    StatusChange,
    Transition,
    UnknownOrder,
    counter_state,
)
from vendor_adapter._migrations import SchemaTooNew, apply_migrations, shipped_migrations
from vendor_adapter._store import Unsent, stamp

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

HOLD = timedelta(minutes=2)
VENDOR = "ab" * 32
BIN = Path(sys.executable).parent


def _acceptance(offer: str, qty: int = 1, sku: str = "T1") -> dict[str, object]:
    return {
        **_row(offer, sku=sku, qty=qty),
        "receipt_id": "r" + offer,
        "receipt_hash": "h" + offer,
        "held_until": stamp(NOW + HOLD),
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    """The same store operations on each engine: an SQLite file, or a real PostgreSQL."""
    s: OrderStore
    if request.param == "sqlite":
        s = VendorStore(tmp_path / "v.sqlite")
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        s = PostgresStore(pg.dsn(), vendor_id=VENDOR)
    try:
        yield s
    finally:
        s.close()


def test_both_engines_reserve_hold_confirm_cancel_and_purge_alike(store: OrderStore) -> None:
    """One sequence, the same answers on both engines: stock is checked at insert, an offer
    orders once, acceptances past the hold cap are stored unheld, countersignatures confirm
    or take stock, expired holds lapse, cancels free stock, and purges forget disclosures."""
    assert store.insert_order(_acceptance("a", qty=2), stock=10, held_cap=2) == "confirmed"
    assert store.insert_order(_acceptance("b"), stock=10, held_cap=2) == "unheld"
    assert store.insert_order(_acceptance("a"), stock=10, held_cap=2) is None  # same offer
    assert store.insert_order(_acceptance("c", qty=9), stock=10, held_cap=20) is None  # oversell
    assert (store.held("T1"), store.reserved("T1"), store.held_total()) == (2, 2, 2)
    assert store.available("T1", 10) == 8
    assert store.next_hold_expiry() == NOW + HOLD
    got = store.by_receipt("ra", "ha")
    assert got is not None and (got["order_id"], got["intent_key"]) == ("a", "k")
    assert store.has_intent_key("k") and not store.has_intent_key("z")
    assert store.confirm("a", b"cs-a", stock=10) == "held"
    assert store.confirm("a", b"cs-a", stock=10) == "already"
    assert store.has_countersignature(b"cs-a") and not store.has_countersignature(b"x")
    assert store.insert_order(_acceptance("d", qty=8), stock=10, held_cap=20) == "confirmed"
    assert store.confirm("b", b"cs-b", stock=10) == "out_of_stock"
    released = store.release_expired(NOW + HOLD)
    assert [(r.order_id, r.sku, r.quantity) for r in released] == [("d", "T1", 8)]
    assert store.confirm("b", b"cs-b", stock=10) == "taken"
    assert store.cancel("b", b"cancel") and not store.cancel("b", b"cancel")
    assert store.reserved("T1") == 2
    order = store.order("b")
    assert order is not None and (order["status"], order["cancel_wire"]) == ("cancelled", b"cancel")
    assert store.purge(NOW) == 0 and store.purge(NOW + timedelta(days=2)) == 3
    rows = {r["order_id"]: r for r in store.orders()}
    assert all(r["disclosure"] is None and r["accept_wire"] == b"" for r in rows.values())
    assert [rows[o]["status"] for o in "abd"] == ["confirmed", "cancelled", "lapsed"]
    assert rows["a"]["reply_sealed"] == b"r" and rows["a"]["countersignature_wire"] == b"cs-a"
    found = store.by_offer("a")
    assert found is not None and found.reply_sealed == b"r"


@pytest.mark.postgres
def test_many_stores_at_once_take_an_items_stock_exactly_once(
    postgres_server: PostgresServer,
) -> None:
    """Six stores (as six replicas: each its own connections) on six threads try 120
    acceptances and then 60 late countersignatures of lapsed orders for an item with 7
    units: exactly 7 are confirmed, whoever asked first."""
    stores = [PostgresStore(postgres_server.dsn(), vendor_id=VENDOR) for _ in range(6)]
    results: list[str | None] = []
    start = threading.Barrier(len(stores))

    def replica(i: int, s: PostgresStore) -> None:
        start.wait(10)
        for j in range(20):
            results.append(s.insert_order(_row(f"{i}-{j}"), stock=7))
        for j in range(10):
            results.append(s.confirm(f"late-{i}-{j}", b"cs", stock=7))

    try:
        for i in range(6):  # lapsed orders that hold nothing until confirmed
            for j in range(10):
                row = {**_row(f"late-{i}-{j}"), "status": "lapsed"}
                assert stores[0].insert_order(row, stock=None) == "lapsed"
        threads = [threading.Thread(target=replica, args=(i, s)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 180
        assert results.count("confirmed") + results.count("taken") == 7
        assert stores[0].reserved("T1") == 7
    finally:
        for s in stores:
            s.close()


@pytest.mark.postgres
async def test_migrations_are_versioned_applied_once_and_a_newer_schema_is_refused(
    postgres_server: PostgresServer,
) -> None:
    """Opening twice applies each shipped migration once (schema_version says which); a
    database migrated by a newer version, or holding another vendor's orders, is refused
    with a line saying so."""
    shipped = shipped_migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    for _ in range(2):
        PostgresStore(postgres_server.dsn(), vendor_id=VENDOR).close()
    conn = await asyncpg.connect(postgres_server.dsn())
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_version ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in shipped]
        with pytest.raises(WrongVendor, match="give each vendor its own database"):
            PostgresStore(postgres_server.dsn(), vendor_id="cd" * 32)
        await conn.execute("INSERT INTO schema_version (version, name) VALUES (9999, 'x')")
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this intentcast knows"):
        PostgresStore(postgres_server.dsn(), vendor_id=VENDOR)


def test_the_config_chooses_the_store_and_keeps_passwords_out_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No store setting: SQLite in data_dir. A URL with a password in the config file is
    refused in one line naming the key; $INTENTCAST_STORE wins over the file."""
    cfg = load_config(vendor_config(tmp_path, "sierra"))
    monkeypatch.delenv(STORE_ENV, raising=False)
    s = open_order_store(cfg, VENDOR)
    assert isinstance(s, VendorStore) and s.path == cfg.data_dir / "vendor.sqlite"
    s.close()
    bad = vendor_config(tmp_path, "sierra", "b", store='"postgresql://u:secret@db/v"')
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    (line,) = err.value.problems
    assert "store:" in line and "store_password_file" in line and "secret" not in line
    monkeypatch.setenv(STORE_ENV, "mysql://db/v")
    with pytest.raises(ConfigError, match="INTENTCAST_STORE"):
        open_order_store(cfg, VENDOR)


def test_an_unreachable_store_stops_the_vendor_with_one_line(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """`intentcast-vendor run` whose PostgreSQL does not answer exits 1 after store_timeout,
    with one line naming the order store (no traceback)."""
    from tests.cluster import free_port

    cfg = vendor_config(tmp_path, "sierra", store=f'"postgresql://u@127.0.0.1:{free_port()}/v"',
                        store_timeout='"1s"', health_port="-1")  # fmt: skip
    env = {**os.environ}
    env.pop(STORE_ENV, None)
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", nats_server.url],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert cp.returncode == 1, cp.stderr
    lines = [ln for ln in cp.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "the order store could not be used" in lines[0], cp.stderr
    assert "Traceback" not in cp.stderr


def test_both_engines_apply_updates_erase_and_purge_the_persons_details_alike(
    store: OrderStore,
) -> None:
    """The person's relationship on each engine: an update replaces only the fields it names
    (the same update twice changes nothing more; a field updated to empty goes); erasure
    drops the disclosure and the signed acceptance but keeps the order and its receipt, asked
    twice too; an erased order takes no update; a purge after retention still finds the
    others."""
    for offer in ("a", "b"):
        row = {**_acceptance(offer), "accept_wire": b"accept", "disclosure": '{"name":"Ada"}'}
        assert store.insert_order(row, stock=10, held_cap=10) == "confirmed"
    moved = {"address": ["Calle Nueva 7"], "postcode": "28004"}
    for _ in range(2):
        assert store.apply_details("a", "u1", b"update-1", moved, NOW)
    assert store.apply_details("b", "u2", b"update-2", {"name": ""}, NOW)
    rows = {r["order_id"]: r for r in store.orders()}
    assert rows["a"]["disclosure"] == (
        '{"address": ["Calle Nueva 7"], "name": "Ada", "postcode": "28004"}'
    )
    assert rows["b"]["disclosure"] == "{}"
    store.erase("a", b"request", b"confirmation", NOW)
    store.erase("a", b"request-again", b"confirmation-again", NOW)  # asked twice: still erased
    erased = store.order("a")
    assert erased is not None and erased["disclosure"] is None and erased["accept_wire"] == b""
    assert erased["receipt_hash"] == "ha" and erased["status"] == "confirmed"
    assert not store.apply_details("a", "u3", b"update-3", moved, NOW)
    assert store.purge(NOW + timedelta(days=2)) == 1  # b's retention has passed
    assert all(r["disclosure"] is None for r in store.orders())


def _to(state: str, *, mailbox: bool = True, carrier: str = "") -> Decide:
    """A transition to ``state`` as the counter decides one, with stand-in signed bytes."""

    def decide(row: Any, last: int) -> Transition:
        subject = f"ic.v1.mailbox.30.{row['order_id']}" if mailbox else None
        before = counter_state(row["status"], row["held_until"])
        change = StatusChange(row["order_id"], before, CounterState(state), last + 1, subject)
        return Transition(change, reason="", carrier=carrier or row["carrier"],
                          tracking=row["tracking"], created=stamp(NOW), wire=b"w%d" % (last + 1),
                          sealed=b"s", mailbox_days=30 if mailbox else None)  # fmt: skip

    return decide


def _refuse(row: Any, last: int) -> Transition:
    raise IllegalTransition("not this one")


def _drain(take: Callable[[int], AbstractContextManager[Unsent]]) -> list[Any]:
    """Everything the outbox would take, batch by batch, each row marked sent."""
    got: list[Any] = []
    for _ in range(10):
        with take(100) as unsent:
            for r in unsent.rows:
                unsent.sent(r)
            got += unsent.rows
        if not unsent.rows:
            return got
    raise AssertionError("the outbox never ran dry")


def test_both_engines_move_orders_and_keep_their_statuses_and_feed_events_alike(
    store: OrderStore,
) -> None:
    """The counter's side on each engine: orders found by prefix; a transition stores the
    new state and its status, a refused one or an unknown order nothing; shipped and
    delivered keep their stock taken; the outbox gets each order's statuses one at a time in
    seq order (none without a mailbox) and every state change, whoever made it, as a feed
    event in order; marks stick; only sent events are pruned."""
    for offer in ("a1", "a2", "b1"):
        assert store.insert_order(_acceptance(offer, qty=2), stock=10, held_cap=10)
    assert store.find_orders("a") == ["a1", "a2"] and store.find_orders("B1") == ["b1"]
    assert store.find_orders("z") == []
    assert store.confirm("a1", b"cs", stock=10) == "held"
    store.transition("a1", _to("shipped", carrier="Correos"))
    with pytest.raises(IllegalTransition):
        store.transition("a1", _refuse)
    with pytest.raises(UnknownOrder):
        store.transition("zz", _to("shipped"))
    assert store.transition("a1", _to("delivered")).change.seq == 2
    store.transition("a2", _to("cancelled", mailbox=False))
    assert store.cancel("b1", b"cancel")
    assert store.reserved("T1") == 2 and store.available("T1", 10) == 8  # a1, delivered
    a1 = store.order("a1")
    assert a1 is not None and (a1["status"], a1["carrier"]) == ("delivered", "Correos")
    assert [(s["seq"], s["state"], bool(s["sent"])) for s in store.statuses("a1")] == [
        (1, "shipped", False), (2, "delivered", False),
    ]  # fmt: skip
    with store.unsent_statuses(100) as first:
        assert [(s["order_id"], s["seq"]) for s in first.rows] == [("a1", 1)]
        first.sent(first.rows[0])
    sent = _drain(store.unsent_statuses)
    assert [(s["order_id"], s["seq"], bytes(s["sealed"])) for s in sent] == [("a1", 2, b"s")]
    assert all(s["sent"] for s in store.statuses("a1")) and _drain(store.unsent_statuses) == []
    events = _drain(store.unsent_events)
    by_order: dict[str, list[str]] = {}
    for e in sorted(events, key=lambda e: e["id"]):
        by_order.setdefault(e["order_id"], []).append(e["state"])
    assert by_order == {
        "a1": ["open", "confirmed", "shipped", "delivered"],
        "a2": ["open", "cancelled"],
        "b1": ["open", "cancelled"],
    }
    assert [e["carrier"] for e in events if e["state"] == "shipped"] == ["Correos"]
    assert store.insert_order(_acceptance("c1"), stock=10, held_cap=10)  # unsent: kept
    now = datetime.now(UTC)
    assert store.prune_events(now - timedelta(days=1)) == 0
    assert store.prune_events(now + timedelta(days=1)) == len(events) == 8
    assert [(e["order_id"], e["state"]) for e in _drain(store.unsent_events)] == [("c1", "open")]


@pytest.mark.postgres
def test_replicas_take_different_outbox_rows_and_a_dead_ones_come_back(
    postgres_server: PostgresServer,
) -> None:
    """Two stores as two replicas: what one has taken the other skips without waiting (and
    no later status of that order overtakes it); rows taken but not marked (a replica that
    died before the bus had them) are taken again, rows marked are not."""
    one, two = (PostgresStore(postgres_server.dsn(), vendor_id=VENDOR) for _ in range(2))
    try:
        for offer in ("a", "b"):
            assert one.insert_order(_acceptance(offer), stock=10, held_cap=10)
            assert one.confirm(offer, b"cs-" + offer.encode(), stock=10) == "held"
            one.transition(offer, _to("shipped"))
            one.transition(offer, _to("delivered"))
        with one.unsent_statuses(1) as taken, one.unsent_events(1) as events:
            assert [(s["order_id"], s["seq"]) for s in taken.rows] == [("a", 1)]
            assert [(e["order_id"], e["state"]) for e in events.rows] == [("a", "open")]
            with two.unsent_statuses(100) as other, two.unsent_events(100) as others:
                assert [(s["order_id"], s["seq"]) for s in other.rows] == [("b", 1)]
                assert [(e["order_id"], e["state"]) for e in others.rows] == [("b", "open")]
                other.sent(other.rows[0])
        statuses = [(s["order_id"], s["seq"]) for s in _drain(two.unsent_statuses)]
        assert statuses == [("a", 1), ("b", 2), ("a", 2)]
        assert len(_drain(one.unsent_events)) == 8 and _drain(two.unsent_events) == []
    finally:
        one.close()
        two.close()


@pytest.mark.postgres
async def test_an_order_store_of_before_the_counter_is_migrated_and_its_orders_move_on(
    postgres_server: PostgresServer,
) -> None:
    """A database at version 2 holding a confirmed order: opening it applies 0003, and the
    order (no carrier yet, no feed events before the migration) ships, with its status and
    its feed event."""
    conn = await asyncpg.connect(postgres_server.dsn())
    try:
        assert await apply_migrations(conn, shipped_migrations()[:2]) == 2
        await conn.execute("INSERT INTO store_owner (vendor_id) VALUES ($1)", VENDOR)
        row = {**_row("old"), "receipt_id": "r", "receipt_hash": "h"}
        cols = ", ".join(row)
        marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        await conn.execute(f"INSERT INTO orders ({cols}) VALUES ({marks})", *row.values())
    finally:
        await conn.close()
    store = await asyncio.to_thread(PostgresStore, postgres_server.dsn(), vendor_id=VENDOR)
    try:
        old = store.order("old")
        assert old is not None and (old["carrier"], old["status"]) == ("", "confirmed")
        store.transition("old", _to("shipped", carrier="Correos"))
        assert [s["state"] for s in store.statuses("old")] == ["shipped"]
        assert [e["state"] for e in _drain(store.unsent_events)] == ["shipped"]
    finally:
        store.close()
