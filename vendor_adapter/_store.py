"""The vendor's orders, on disk before anything is acknowledged, as the exact signed bytes."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runtime import open_db

__all__ = ["OrderRow", "VendorStore"]

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
    status        TEXT NOT NULL,          -- confirmed | rejected | cancelled
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
"""


MIGRATIONS = ("ALTER TABLE orders ADD COLUMN cancel_wire BLOB",)


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    offer_id: str
    status: str
    reply_sealed: bytes
    receipt_wire: bytes | None
    countersignature_wire: bytes | None


class VendorStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, SCHEMA, MIGRATIONS)
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
            "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE sku = ? AND status = 'confirmed'",
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
                    "SELECT sku, SUM(quantity) FROM orders WHERE status = 'confirmed' GROUP BY sku"
                ).fetchall()
            )
            self._snapshot_at = now
        return stock - int(self._snapshot.get(sku, 0))

    def insert_order(self, row: dict[str, object], *, stock: int | None) -> bool:
        """Check stock and insert in one immediate transaction, committed (synchronous=FULL)
        before the caller replies. With ``stock``, a confirmed row that would oversell is
        refused. False when an order for this offer already exists or stock ran out."""
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if stock is not None and self.reserved(str(row["sku"])) + int(row["quantity"]) > stock:  # type: ignore[call-overload]
                self.db.execute("ROLLBACK")
                return False
            self.db.execute(f"INSERT INTO orders ({cols}) VALUES ({marks})", tuple(row.values()))
        except sqlite3.IntegrityError:
            self.db.execute("ROLLBACK")
            return False
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._snapshot_at = float("-inf")
        return True

    def add_countersignature(self, receipt_id: str, receipt_hash: str, wire: bytes) -> bool:
        """Keep the person's countersignature beside the receipt it signs. False when no
        receipt has that id and hash."""
        cur = self.db.execute(
            "UPDATE orders SET countersignature_wire = COALESCE(countersignature_wire, ?)"
            " WHERE receipt_id = ? AND receipt_hash = ?",
            (wire, receipt_id, receipt_hash),
        )
        return cur.rowcount == 1

    def has_countersignature(self, wire: bytes) -> bool:
        q = "SELECT 1 FROM orders WHERE countersignature_wire = ? LIMIT 1"
        return self.db.execute(q, (wire,)).fetchone() is not None

    def order(self, order_id: str) -> sqlite3.Row | None:
        r: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return r

    def cancel(self, order_id: str, cancel_wire: bytes) -> bool:
        """Cancel a confirmed order (its stock is free again), keeping the person's signed
        request. False when it was not confirmed (already cancelled, or never made)."""
        cur = self.db.execute(
            "UPDATE orders SET status = 'cancelled', reason = 'cancelled by the person',"
            " cancel_wire = ? WHERE order_id = ? AND status = 'confirmed'",
            (cancel_wire, order_id),
        )
        self._snapshot_at = float("-inf")
        return cur.rowcount == 1

    def purge(self, now: datetime) -> int:
        """Forget disclosed personal details whose retention has passed."""
        cur = self.db.execute(
            "UPDATE orders SET disclosure = NULL WHERE disclosure IS NOT NULL AND purge_after <= ?",
            (now.isoformat(),),
        )
        return cur.rowcount

    def orders(self) -> list[sqlite3.Row]:
        return list(self.db.execute("SELECT * FROM orders ORDER BY created"))
