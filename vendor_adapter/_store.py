"""The vendor's orders, on disk before anything is acknowledged, as the exact signed bytes.

An order's ``status`` on disk: ``confirmed`` holds stock, for good once the person
countersigned (``held_until`` NULL), or until ``held_until`` while the vendor waits for that
countersignature; ``unheld`` was confirmed to the person when unconfirmed orders already held
their share of the item, so it holds nothing until the countersignature takes the stock;
``lapsed`` was not confirmed by the person before ``held_until`` (its stock, if it held any,
is free again); ``rejected`` and ``cancelled`` hold nothing.
A countersignature that comes for an ``unheld`` or ``lapsed`` order takes the stock if it is
still there. ``shipped`` and ``delivered`` (the counter's, ``_counter``) keep their stock
taken, like ``confirmed``; a ``cancelled`` order's is free. Each change of state is also
written, by triggers in the same transaction, to the order feed (``_feed``).

Over 300 lines for the reason :mod:`._postgres` is: every operation of the ``OrderStore``
interface is here, each one transaction, so that the two engines can be read side by side."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime import failpoint, open_db

from ._counter import STATUS_SCHEMA, Decide, Transition, UnknownOrder
from ._feed import FEED_SCHEMA

if TYPE_CHECKING:
    from ._order_store import StoreHealth

__all__ = [
    "TAKEN",
    "UNSENT_EVENTS",
    "UNSENT_STATUSES",
    "InlineAsync",
    "OrderRow",
    "Released",
    "Unsent",
    "VendorStore",
    "event_time",
    "merged_disclosure",
    "stamp",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id      TEXT PRIMARY KEY,
    offer_id      TEXT NOT NULL UNIQUE,
    intent_id     TEXT NOT NULL,
    intent_key    TEXT NOT NULL,
    sku           TEXT NOT NULL,
    quantity      INTEGER NOT NULL,
    total_amount  INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,          -- confirmed | unheld | lapsed | rejected | cancelled | shipped | delivered
    reason        TEXT NOT NULL DEFAULT '',
    created       TEXT NOT NULL,
    intent_wire   BLOB NOT NULL,
    offer_wire    BLOB NOT NULL,
    accept_wire   BLOB NOT NULL,
    confirmation_wire BLOB NOT NULL,
    receipt_wire  BLOB,
    receipt_id    TEXT,
    receipt_hash  TEXT,
    reply_sealed  BLOB NOT NULL,          -- the exact reply, re-sent on a repeated acceptance
    countersignature_wire BLOB,
    disclosure    TEXT,                   -- purged after purge_after
    purge_after   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_intent_key ON orders(intent_key);
CREATE INDEX IF NOT EXISTS orders_by_sku ON orders(sku, status);
CREATE INDEX IF NOT EXISTS orders_by_purge ON orders(purge_after) WHERE disclosure IS NOT NULL;
-- The person's signed updates of an order's details (they carry details: erased with them).
CREATE TABLE IF NOT EXISTS details_updates (
    update_hash TEXT PRIMARY KEY, order_id TEXT NOT NULL, update_wire BLOB NOT NULL,
    received TEXT NOT NULL
);
-- Erasures done: the person's signed request (no details in it) and our signed answer.
CREATE TABLE IF NOT EXISTS erasures (
    order_id TEXT PRIMARY KEY, request_wire BLOB NOT NULL, confirmation_wire BLOB NOT NULL,
    erased TEXT NOT NULL
);
"""


MIGRATIONS = (
    "ALTER TABLE orders ADD COLUMN cancel_wire BLOB",
    # When an unconfirmed order's hold on stock ends; NULL once confirmed (or never held).
    "ALTER TABLE orders ADD COLUMN held_until TEXT",
    # What the counter says of a shipped order (see _counter).
    "ALTER TABLE orders ADD COLUMN carrier TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE orders ADD COLUMN tracking TEXT NOT NULL DEFAULT ''",
)
# Orders whose stock is taken: confirmed, and what the counter did with them since.
TAKEN = "('confirmed', 'shipped', 'delivered')"
HOLDS_INDEX = (
    "CREATE INDEX IF NOT EXISTS orders_by_hold ON orders(held_until) WHERE held_until IS NOT NULL"
)


# What the outbox takes: the oldest unsent rows, only the first unsent one of each order, so
# that an order's statuses (and events) go out in order whichever replica takes which.
UNSENT_STATUSES = (
    "SELECT order_id, seq, mailbox_days, subject, sealed FROM order_statuses s"
    " WHERE NOT s.sent AND s.subject IS NOT NULL AND NOT EXISTS (SELECT 1 FROM order_statuses p"
    " WHERE p.order_id = s.order_id AND p.seq < s.seq AND NOT p.sent AND p.subject IS NOT NULL)"
    " ORDER BY created, seq LIMIT {limit}"
)
UNSENT_EVENTS = (
    "SELECT * FROM feed_events e WHERE NOT e.sent AND NOT EXISTS (SELECT 1 FROM feed_events p"
    " WHERE p.order_id = e.order_id AND p.id < e.id AND NOT p.sent) ORDER BY id LIMIT {limit}"
)


@dataclass(frozen=True)
class Unsent:
    """Rows the outbox took; ``sent(row)`` once the bus stored one. What is marked is kept
    when the block that took them ends, however it ends."""

    rows: list[Any]
    sent: Callable[[Any], None]


@dataclass(frozen=True)
class Released:
    """Stock an expired hold gave back."""

    order_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    offer_id: str
    status: str
    reply_sealed: bytes
    receipt_wire: bytes | None
    countersignature_wire: bytes | None


class VendorStore:
    """Orders in one SQLite file (WAL, synchronous=FULL), one writer: ``concurrency`` is 1 and
    ``aio`` runs the same statements inline, each committed before it returns."""

    concurrency = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self.aio = InlineAsync(self)
        self.db = open_db(path, SCHEMA, MIGRATIONS)
        self.db.execute(HOLDS_INDEX)
        self.db.executescript(STATUS_SCHEMA + FEED_SCHEMA)  # after the migrations it reads
        self.db.execute("PRAGMA secure_delete=ON")  # purged details are overwritten on disk
        self.snapshot_seconds = 0.5
        self._snapshot: dict[str, int] = {}
        self._snapshot_at = float("-inf")

    def close(self) -> None:
        self.db.close()

    def by_offer(self, offer_id: str) -> OrderRow | None:
        r = self.db.execute(
            "SELECT order_id, offer_id, status, reply_sealed, receipt_wire, countersignature_wire"
            " FROM orders WHERE offer_id = ?",
            (offer_id,),
        ).fetchone()
        return OrderRow(*r) if r else None

    def reserved(self, sku: str) -> int:
        (n,) = self.db.execute(
            f"SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ? AND status IN {TAKEN}",
            (sku,),
        ).fetchone()
        return int(n)

    def has_intent_key(self, kid: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM orders WHERE intent_key = ? LIMIT 1", (kid,)).fetchone()
            is not None
        )

    def available(self, sku: str, stock: int) -> int:
        """Stock not yet promised, from a snapshot at most ``snapshot_seconds`` old: good
        enough to decide whether to offer; acceptance re-checks inside its transaction."""
        now = time.monotonic()
        if now - self._snapshot_at > self.snapshot_seconds:
            self._snapshot = dict(
                self.db.execute(
                    f"SELECT sku, SUM(quantity) FROM orders WHERE status IN {TAKEN} GROUP BY sku"
                ).fetchall()
            )
            self._snapshot_at = now
        return stock - int(self._snapshot.get(sku, 0))

    def held(self, sku: str) -> int:
        """Units of ``sku`` held by orders the person has not confirmed yet."""
        (n,) = self.db.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM orders"
            " WHERE sku = ? AND status = 'confirmed' AND held_until IS NOT NULL",
            (sku,),
        ).fetchone()
        return int(n)

    def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None:
        """Check stock and insert in one immediate transaction, committed (synchronous=FULL)
        before the caller replies; the status stored, or None when an order for this offer
        already exists or stock ran out. With ``stock``, a row that would oversell is refused.
        With ``held_cap``, a row that would hold stock (``held_until`` set) beyond that many
        units of unconfirmed holds of its item is stored ``unheld``, holding nothing."""
        row = dict(row)
        sku, quantity = str(row["sku"]), int(row["quantity"])  # type: ignore[call-overload]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if stock is not None and self.reserved(sku) + quantity > stock:
                self.db.execute("ROLLBACK")
                return None
            if (
                held_cap is not None
                and row.get("held_until") is not None
                and self.held(sku) + quantity > held_cap
            ):
                row.update(status="unheld")  # held_until: when it lapses unconfirmed
            cols = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            self.db.execute(f"INSERT INTO orders ({cols}) VALUES ({marks})", tuple(row.values()))
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            return None
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._snapshot_at = float("-inf")
        return str(row["status"])

    def held_total(self) -> int:
        """Units of every item held by orders the person has not confirmed yet."""
        (n,) = self.db.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM orders"
            " WHERE status = 'confirmed' AND held_until IS NOT NULL"
        ).fetchone()
        return int(n)

    def release_expired(self, now: datetime) -> list[Released]:
        """End every hold that expired by ``now``: those orders lapse and their stock is free.
        Unheld orders whose time passed lapse too. Only held orders are returned. What the
        person disclosed is kept as their terms allow (see :meth:`purge`), so that a late
        countersignature can still be fulfilled."""
        at = stamp(now)
        lapse = (
            "UPDATE orders SET status = 'lapsed', held_until = NULL,"
            " reason = 'not confirmed by the person in time'"
            " WHERE status = ? AND held_until IS NOT NULL AND held_until <= ?"
        )
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(lapse, ("unheld", at))
            rows = self.db.execute(lapse + " RETURNING order_id, sku, quantity", ("confirmed", at))
            released = [Released(*r) for r in rows.fetchall()]
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        if released:
            self._snapshot_at = float("-inf")
        return released

    def next_hold_expiry(self) -> datetime | None:
        (t,) = self.db.execute(
            "SELECT MIN(held_until) FROM orders"
            " WHERE status IN ('confirmed', 'unheld') AND held_until IS NOT NULL"
        ).fetchone()
        return None if t is None else datetime.fromisoformat(t)

    def intent_wire_of_key(self, kid: str) -> bytes | None:
        """The signed intent of an order made with intent key ``kid`` (to seal answers to)."""
        r = self.db.execute(
            "SELECT intent_wire FROM orders WHERE intent_key = ? LIMIT 1", (kid,)
        ).fetchone()
        return None if r is None else bytes(r[0])

    def by_receipt(self, receipt_id: str, receipt_hash: str) -> sqlite3.Row | None:
        r: sqlite3.Row | None = self.db.execute(
            "SELECT order_id, sku, quantity, status, intent_key FROM orders"
            " WHERE receipt_id = ? AND receipt_hash = ?",
            (receipt_id, receipt_hash),
        ).fetchone()
        return r

    def confirm(self, order_id: str, wire: bytes, *, stock: int) -> str:
        """Keep the person's countersignature on an order's receipt, which confirms it: a held
        order holds its stock for good (``held``); one that holds nothing (``unheld``,
        ``lapsed``) takes the stock if ``stock`` still has it (``taken``) or stays as it is
        (``out_of_stock``). ``already`` and ``cancelled``: nothing changed but the copy kept."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            status, held_until, sku, quantity = self.db.execute(
                "SELECT status, held_until, sku, quantity FROM orders WHERE order_id = ?",
                (order_id,),
            ).fetchone()
            if status == "confirmed":
                outcome = "held" if held_until is not None else "already"
            elif status in ("unheld", "lapsed"):
                taken = self.reserved(sku) + quantity <= stock
                outcome = "taken" if taken else "out_of_stock"
            else:
                outcome = status
            update = "countersignature_wire = COALESCE(countersignature_wire, ?)"
            if outcome in ("held", "taken"):
                update += ", status = 'confirmed', held_until = NULL, reason = ''"
            self.db.execute(f"UPDATE orders SET {update} WHERE order_id = ?", (wire, order_id))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._snapshot_at = float("-inf")
        return str(outcome)

    def has_countersignature(self, wire: bytes) -> bool:
        q = "SELECT 1 FROM orders WHERE countersignature_wire = ? LIMIT 1"
        return self.db.execute(q, (wire,)).fetchone() is not None

    def order(self, order_id: str) -> sqlite3.Row | None:
        r: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return r

    def cancel(self, order_id: str, cancel_wire: bytes) -> bool:
        """Cancel an order the person holds a receipt for (its stock, if it held any, is free
        again), keeping the person's signed request. False when there was nothing to cancel
        (already cancelled, or never made)."""
        cur = self.db.execute(
            "UPDATE orders SET status = 'cancelled', reason = 'cancelled by the person',"
            " held_until = NULL, cancel_wire = ? WHERE order_id = ?"
            " AND status IN ('confirmed', 'unheld', 'lapsed')",
            (cancel_wire, order_id),
        )
        self._snapshot_at = float("-inf")
        return cur.rowcount == 1

    def purge(self, now: datetime) -> int:
        """Forget disclosed personal details whose retention has passed: the disclosure, the
        signed acceptance that carries it too (the receipt keeps its hash), and the person's
        signed updates of them."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "UPDATE orders SET disclosure = NULL, accept_wire = X''"
                " WHERE disclosure IS NOT NULL AND purge_after <= ?",
                (now.isoformat(),),
            )
            # The person's signed updates carry details too: they go with the disclosure.
            self.db.execute(
                "DELETE FROM details_updates WHERE order_id IN"
                " (SELECT order_id FROM orders WHERE disclosure IS NULL)"
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return int(cur.rowcount)

    def apply_details(
        self,
        order_id: str,
        update_hash: str,
        update_wire: bytes,
        changed: dict[str, object],
        now: datetime,
    ) -> bool:
        """Replace the ``changed`` fields of an order's disclosure and keep the signed update,
        in one committed transaction; False when the order holds no details (erased or
        purged). Applying the same update again changes nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute(
                "SELECT disclosure FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
            if row is None or row[0] is None:
                self.db.execute("ROLLBACK")
                return False
            self.db.execute(
                "UPDATE orders SET disclosure = ? WHERE order_id = ?",
                (merged_disclosure(row[0], changed), order_id),
            )
            self.db.execute(
                "INSERT OR IGNORE INTO details_updates VALUES (?, ?, ?, ?)",
                (update_hash, order_id, update_wire, stamp(now)),
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return True

    def erase(
        self, order_id: str, request_wire: bytes, confirmation_wire: bytes, now: datetime
    ) -> None:
        """Erase what an order holds about the person: the disclosure, the signed acceptance
        that carries it (the receipt keeps its hash) and every signed update; keep the
        person's request and our confirmation as evidence. One committed transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "UPDATE orders SET disclosure = NULL, accept_wire = X'' WHERE order_id = ?",
                (order_id,),
            )
            self.db.execute("DELETE FROM details_updates WHERE order_id = ?", (order_id,))
            self.db.execute(
                "INSERT OR IGNORE INTO erasures VALUES (?, ?, ?, ?)",
                (order_id, request_wire, confirmation_wire, stamp(now)),
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        # secure_delete zeroes what the rows held in the database file; the old pages may
        # still be in the WAL until a checkpoint: move them out now (best effort while other
        # replicas read).
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def orders(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM orders ORDER BY created"))

    def find_orders(self, prefix: str) -> list[str]:
        """Ids of the orders that start with ``prefix`` (people type the first 8)."""
        q = "SELECT order_id FROM orders WHERE substr(order_id, 1, ?) = ? ORDER BY order_id"
        return [r[0] for r in self.db.execute(q, (len(prefix), prefix.lower()))]

    def transition(self, order_id: str, decide: Decide) -> Transition:
        """Lock the store (an immediate transaction), read the order and the last ``seq`` of
        its statuses, and write what ``decide`` returns, committed; ``decide`` raising
        writes nothing."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            if row is None:
                raise UnknownOrder(f"expected an order of this store, got {order_id!r}")
            (last,) = self.db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM order_statuses WHERE order_id = ?", (order_id,)
            ).fetchone()
            t = decide(row, int(last))
            self.db.execute(
                "UPDATE orders SET status = ?, held_until = NULL, reason = ?, carrier = ?,"
                " tracking = ? WHERE order_id = ?",
                (str(t.change.after), t.reason, t.carrier, t.tracking, order_id),
            )
            self.db.execute(
                "INSERT INTO order_statuses (order_id, seq, state, created, wire, sealed,"
                " mailbox_days, subject, sent) VALUES (?,?,?,?,?,?,?,?,0)",
                (order_id, t.change.seq, str(t.change.after), t.created, t.wire, t.sealed,
                 t.mailbox_days, t.change.mailbox),
            )  # fmt: skip
            failpoint("vendor.counter.writing")  # killed here, nothing of the change is kept
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._snapshot_at = float("-inf")
        return t

    @contextlib.contextmanager
    def unsent_statuses(self, limit: int) -> Iterator[Unsent]:
        """Statuses to leave in mailboxes (see ``UNSENT_STATUSES``); each marked as sent at
        once (one host: nothing to lock against but our own replicas, whose copies the
        mailbox's ``Nats-Msg-Id`` drops)."""
        rows = self.db.execute(UNSENT_STATUSES.format(limit=int(limit))).fetchall()

        def sent(r: sqlite3.Row) -> None:
            q = "UPDATE order_statuses SET sent = 1 WHERE order_id = ? AND seq = ?"
            self.db.execute(q, (r["order_id"], r["seq"]))

        yield Unsent(rows, sent)

    @contextlib.contextmanager
    def unsent_events(self, limit: int) -> Iterator[Unsent]:
        """Feed events to publish (see ``UNSENT_EVENTS``), each marked as sent at once."""
        rows = self.db.execute(UNSENT_EVENTS.format(limit=int(limit))).fetchall()

        def sent(r: sqlite3.Row) -> None:
            self.db.execute("UPDATE feed_events SET sent = 1 WHERE id = ?", (r["id"],))

        yield Unsent(rows, sent)

    def prune_events(self, before: datetime) -> int:
        """Forget feed events sent before ``before``; unsent ones stay until they are sent."""
        q = "DELETE FROM feed_events WHERE sent = 1 AND at < ?"
        return int(self.db.execute(q, (event_time(before),)).rowcount)

    def statuses(self, order_id: str) -> list[sqlite3.Row]:
        """The statuses the vendor signed for an order, by ``seq``, sent or not yet."""
        q = "SELECT seq, state, created, sent, subject FROM order_statuses WHERE order_id = ?"
        return list(self.db.execute(q + " ORDER BY seq", (order_id,)))


def stamp(t: datetime) -> str:
    """A UTC time as text that sorts as the time does (fixed width, always microseconds)."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def event_time(t: datetime) -> str:
    """A time as the feed's ``at`` writes it (UTC, milliseconds, ``Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def merged_disclosure(held: str, changed: dict[str, object]) -> str:
    """An order's disclosure (JSON text) with ``changed`` fields replaced; a field changed to
    empty is dropped, as a disclosure leaves out empty fields."""
    merged = {**json.loads(held), **changed}
    return json.dumps({k: v for k, v in merged.items() if v not in ("", [])}, sort_keys=True)


class InlineAsync:
    """SQLite's side of ``AsyncOrderStore``: the store's own statements, run inline on the
    caller's loop (one writer, and a local commit is as quick as a hop to a thread)."""

    def __init__(self, store: VendorStore) -> None:
        self.store = store

    async def by_offer(self, offer_id: str) -> OrderRow | None:
        return self.store.by_offer(offer_id)

    async def order(self, order_id: str) -> sqlite3.Row | None:
        return self.store.order(order_id)

    async def held(self, sku: str) -> int:
        return self.store.held(sku)

    async def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None:
        return self.store.insert_order(row, stock=stock, held_cap=held_cap)

    async def health(self) -> StoreHealth:
        try:
            self.store.db.execute("SELECT 1 FROM orders LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            return {"engine": "sqlite", "reachable": False, "error": str(exc)[:200]}
        return {"engine": "sqlite", "reachable": True}
