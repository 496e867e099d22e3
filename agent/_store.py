"""The person's store: intents with their private keys, verified offers, what was dropped and
why, acceptances, receipts and outcomes. Exact signed bytes are kept so that every receipt
verifies again years later.

Reads return the typed records of ``_records``; states are stored by name. Over 300 lines
because it is the one place that speaks SQL: the schema, its migrations and each table's
reads and writes stay together, so a column is changed in one file."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

import schemas
from runtime import open_db

from ._home import HomeError
from ._records import (
    AcceptRow,
    AcceptState,
    DropRow,
    IntentRow,
    OfferRow,
    OrderState,
    OutcomeRow,
    ReceiptRow,
    RelationshipErasureRow,
    RelationshipUpdateRow,
)

__all__ = ["TABLES", "AgentStore", "KeysNotHeld", "StoreMismatch", "UnknownReceipt"]

R = TypeVar("R", IntentRow, OfferRow, DropRow, AcceptRow, ReceiptRow)

TABLES = (
    "intents", "offers", "drops", "accepts", "receipts", "outcomes",
    "relationship_updates", "relationship_erasures",
)  # fmt: skip
RECORDS: dict[str, type[msgspec.Struct]] = {
    "intents": IntentRow,
    "offers": OfferRow,
    "drops": DropRow,
    "accepts": AcceptRow,
    "receipts": ReceiptRow,
    "outcomes": OutcomeRow,
    "relationship_updates": RelationshipUpdateRow,  # agent/_relationships.py
    "relationship_erasures": RelationshipErasureRow,
}
KEY_COLUMNS = ("sign_seed", "seal_secret")  # intents' private keys: not in IntentRow
_OFFER_COLUMNS = (
    "id", "intent_id", "vendor_id", "vendor_name", "bundle", "total_amount", "currency",
    "delivery_by", "expires", "rank", "score", "reasons", "received",
)  # fmt: skip


class KeysNotHeld(HomeError):
    """This home was imported from an export made without ``--include-keys``: it holds an
    intent's signed bytes but not the private keys it was cast with."""


class StoreMismatch(HomeError):
    """The store's tables have columns other than the records this version knows."""


class UnknownReceipt(LookupError):
    """A rating or a cancel named a receipt this store does not hold."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, expires TEXT NOT NULL, category TEXT NOT NULL,
    description TEXT NOT NULL, wire BLOB NOT NULL, sign_seed TEXT NOT NULL, seal_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS offers (
    id TEXT PRIMARY KEY, intent_id TEXT NOT NULL REFERENCES intents(id), vendor_id TEXT NOT NULL,
    vendor_name TEXT NOT NULL, bundle BLOB NOT NULL, total_amount INTEGER NOT NULL,
    currency TEXT NOT NULL, delivery_by TEXT NOT NULL, expires TEXT NOT NULL, rank INTEGER,
    score REAL NOT NULL, reasons TEXT NOT NULL, received TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS drops (
    id INTEGER PRIMARY KEY, intent_id TEXT NOT NULL, vendor_id TEXT, vendor_name TEXT,
    reason TEXT NOT NULL, detail TEXT NOT NULL, received TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accepts (
    offer_id TEXT PRIMARY KEY, intent_id TEXT NOT NULL, vendor_id TEXT NOT NULL,
    accept_wire BLOB NOT NULL, sealed BLOB NOT NULL, created TEXT NOT NULL,
    status TEXT NOT NULL  -- an AcceptState's name
);
CREATE TABLE IF NOT EXISTS receipts (
    receipt_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, intent_id TEXT NOT NULL,
    offer_id TEXT NOT NULL UNIQUE, vendor_id TEXT NOT NULL, vendor_name TEXT NOT NULL,
    receipt_wire BLOB NOT NULL, confirmation_wire BLOB NOT NULL,
    countersignature_wire BLOB NOT NULL, vendor_acknowledged INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY, vendor_id TEXT NOT NULL, kind TEXT NOT NULL,
    positive REAL NOT NULL, negative REAL NOT NULL, at TEXT NOT NULL, ref TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS relationship_updates (
    id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, vendor_id TEXT NOT NULL,
    fields TEXT NOT NULL, update_wire BLOB NOT NULL, sealed BLOB NOT NULL, created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '', ack_wire BLOB
);
CREATE TABLE IF NOT EXISTS relationship_erasures (
    order_id TEXT PRIMARY KEY, vendor_id TEXT NOT NULL, request_wire BLOB NOT NULL,
    sealed BLOB NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'asked',
    reason TEXT NOT NULL DEFAULT '', confirmation_wire BLOB
);
CREATE INDEX IF NOT EXISTS outcomes_by_vendor ON outcomes(vendor_id);
CREATE INDEX IF NOT EXISTS offers_by_intent ON offers(intent_id);
"""


MIGRATIONS = (
    "ALTER TABLE receipts ADD COLUMN status TEXT NOT NULL DEFAULT 'confirmed'",
    "ALTER TABLE receipts ADD COLUMN cancel_wire BLOB",
    # Replies dropped alike: unverified ones are one row per reason and intent, with a count.
    "ALTER TABLE drops ADD COLUMN count INTEGER NOT NULL DEFAULT 1",
)


class AgentStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, SCHEMA, MIGRATIONS)
        try:
            self._check_columns()
        except BaseException:
            self.db.close()
            raise
        self.outcomes_changed = 0  # bumped on every new outcome, so readers can cache
        self.unverified: frozenset[str] = frozenset()  # receipts whose bytes do not verify

    def close(self) -> None:
        self.db.close()

    def _check_columns(self) -> None:
        """Every table holds exactly its record's fields, or the store is refused whole: a
        column this version does not know would otherwise be silently left out."""
        for table in TABLES:
            have = set(self.columns(table)) - (set(KEY_COLUMNS) if table == "intents" else set())
            want = set(RECORDS[table].__struct_fields__)
            if have != want:
                raise StoreMismatch(
                    f"expected the {table} table to have the columns this intentcast knows, got"
                    f" also {sorted(have - want)} and without {sorted(want - have)}; this store is"
                    " from a newer or older intentcast: use the version that wrote it"
                )

    def __enter__(self) -> AgentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self, *, fsync: bool = True) -> Iterator[None]:
        """One committed transaction for many writes, fsynced before it returns.

        ``fsync=False`` is for what nobody has been told yet (an intent's offers, collected
        for the person to look at): committed, so a crash of this process loses nothing,
        but not waited onto the disk. The next fsynced commit (an acceptance is stored
        before it is sent) makes it durable too, as WAL frames reach the disk in order; only
        a power cut in between could lose it, and then nothing was promised to anyone."""
        if not fsync:
            self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        finally:
            if not fsync:
                self.db.execute("PRAGMA synchronous=FULL")

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        r: sqlite3.Row | None = self.db.execute(sql, args).fetchone()
        return r

    def _typed(self, kind: type[R], sql: str, *args: object) -> list[R]:
        out = []
        for row in self.db.execute(sql, args):
            d = dict(zip(row.keys(), row, strict=True))
            if kind is OfferRow:
                d["reasons"] = json.loads(d["reasons"])
            elif kind is IntentRow:
                del d["sign_seed"], d["seal_secret"]
            out.append(msgspec.convert(d, kind))
        return out

    def add_intent(
        self,
        *,
        id: str,
        created: datetime,
        expires: datetime,
        category: str,
        description: str,
        wire: bytes,
        sign_seed: str,
        seal_secret: str,
    ) -> None:
        self.db.execute(
            "INSERT INTO intents VALUES (?,?,?,?,?,?,?,?)",
            (
                id,
                created.isoformat(),
                expires.isoformat(),
                category,
                description,
                wire,
                sign_seed,
                seal_secret,
            ),
        )

    def intent(self, intent_id: str) -> IntentRow | None:
        got = self._typed(IntentRow, "SELECT * FROM intents WHERE id = ?", intent_id)
        return got[0] if got else None

    def intents(self) -> list[IntentRow]:
        return self._typed(IntentRow, "SELECT * FROM intents ORDER BY created")

    def intent_secrets(self, intent_id: str) -> schemas.IntentSecrets:
        """The private keys a stored intent was cast with (what accepting and cancelling
        sign with). Raises :class:`KeysNotHeld` when the home was imported without them:
        those columns are empty then, and nothing can be signed for that intent."""
        row = self._one("SELECT sign_seed, seal_secret FROM intents WHERE id = ?", intent_id)
        if row is None or not (row["sign_seed"] and row["seal_secret"]):
            raise KeysNotHeld(
                f"expected the private keys of intent {intent_id[:8]}, got none: this home was"
                " imported from an export made without --include-keys; receipts, history, rate"
                " and sync work, but to cancel or accept, import an export made with --include-keys"
            )
        return schemas.IntentSecrets.from_hex(row["sign_seed"], row["seal_secret"])

    def sign_seed(self, intent_id: str) -> str:
        """The seed an intent was signed with, as held ("" if imported without keys)."""
        row = self._one("SELECT sign_seed FROM intents WHERE id = ?", intent_id)
        return "" if row is None else str(row["sign_seed"])

    def add_offer(self, **row: Any) -> None:
        row["reasons"] = json.dumps(row["reasons"])
        cols = ", ".join(row)
        self.db.execute(
            f"INSERT OR IGNORE INTO offers ({cols}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )

    def add_offers(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Many offers in one statement: each row's values in the order of the offers
        table's columns (``reasons`` as a list)."""
        cols = _OFFER_COLUMNS
        at = cols.index("reasons")
        self.db.executemany(
            f"INSERT OR IGNORE INTO offers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            ((*r[:at], json.dumps(r[at]), *r[at + 1 :]) for r in rows),
        )

    def add_drops(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Many drops in one statement: (intent_id, vendor_id, vendor_name, reason, detail,
        received as ISO text, count) each."""
        self.db.executemany(
            "INSERT INTO drops (intent_id, vendor_id, vendor_name, reason, detail, received, count)"
            " VALUES (?,?,?,?,?,?,?)",
            rows,
        )

    def add_drop(
        self,
        *,
        intent_id: str,
        vendor_id: str | None,
        vendor_name: str | None,
        reason: str,
        detail: str,
        received: datetime,
        count: int = 1,
    ) -> None:
        self.db.execute(
            "INSERT INTO drops (intent_id, vendor_id, vendor_name, reason, detail, received, count)"
            " VALUES (?,?,?,?,?,?,?)",
            (intent_id, vendor_id, vendor_name, reason, detail, received.isoformat(), count),
        )

    def find_offers(self, prefix: str) -> list[OfferRow]:
        """Offers whose id starts with ``prefix`` (people type the first 8 characters)."""
        q = "SELECT * FROM offers WHERE substr(id, 1, ?) = ? ORDER BY id"
        return self._typed(OfferRow, q, len(prefix), prefix.lower())

    def offer(self, offer_id: str) -> OfferRow | None:
        got = self._typed(OfferRow, "SELECT * FROM offers WHERE id = ?", offer_id)
        return got[0] if got else None

    def offers(self) -> list[OfferRow]:
        """Every offer, by intent, the shown ones in their rank order, then the dropped."""
        q = "SELECT * FROM offers ORDER BY intent_id, rank IS NULL, rank, rowid"
        return self._typed(OfferRow, q)

    def drops(self) -> list[DropRow]:
        return self._typed(DropRow, "SELECT * FROM drops ORDER BY id")

    def accept(self, offer_id: str) -> AcceptRow | None:
        got = self._typed(AcceptRow, "SELECT * FROM accepts WHERE offer_id = ?", offer_id)
        return got[0] if got else None

    def accepts_for_intent(self, intent_id: str) -> list[AcceptRow]:
        q = "SELECT * FROM accepts WHERE intent_id = ? ORDER BY created"
        return self._typed(AcceptRow, q, intent_id)

    def add_accept(
        self,
        *,
        offer_id: str,
        intent_id: str,
        vendor_id: str,
        accept_wire: bytes,
        sealed: bytes,
        created: datetime,
        state: AcceptState,
    ) -> None:
        """Store an acceptance before it is sent (a fresh one replaces an expired one)."""
        self.db.execute(
            "INSERT OR REPLACE INTO accepts VALUES (?,?,?,?,?,?,?)",
            (offer_id, intent_id, vendor_id, accept_wire, sealed, created.isoformat(), str(state)),
        )

    def set_accept_state(self, offer_id: str, state: AcceptState) -> None:
        q = "UPDATE accepts SET status = ? WHERE offer_id = ?"
        self.db.execute(q, (str(state), offer_id))

    def add_receipt(self, *, outcome_at: datetime, accept_state: AcceptState, **row: Any) -> None:
        """Receipt, confirmation and countersignature together, in one committed row with the
        acceptance's new state, before the countersignature is sent; the receipt counts as
        positive evidence for trust."""
        cols = ", ".join(row)
        with self.transaction():
            self.db.execute(
                "INSERT INTO outcomes (vendor_id, kind, positive, negative, at, ref)"
                " VALUES (?, 'receipt', 1.0, 0.0, ?, ?)",
                (row["vendor_id"], outcome_at.isoformat(), row["receipt_id"]),
            )
            self.outcomes_changed += 1
            self.db.execute(
                f"INSERT OR IGNORE INTO receipts ({cols}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            self.set_accept_state(row["offer_id"], accept_state)

    def receipt_for_offer(self, offer_id: str) -> ReceiptRow | None:
        got = self._typed(ReceiptRow, "SELECT * FROM receipts WHERE offer_id = ?", offer_id)
        return got[0] if got else None

    def find_receipts(self, prefix: str) -> list[ReceiptRow]:
        """Receipts whose id starts with ``prefix`` (people type the first 8 characters)."""
        q = "SELECT * FROM receipts WHERE substr(receipt_id, 1, ?) = ? ORDER BY receipt_id"
        return self._typed(ReceiptRow, q, len(prefix), prefix.lower())

    def receipts(self) -> list[ReceiptRow]:
        return self._typed(ReceiptRow, "SELECT * FROM receipts ORDER BY created, rowid")

    def set_cancel(self, receipt_id: str, cancel_wire: bytes, state: OrderState) -> None:
        """Keep the signed cancellation (before it is sent), then its outcome."""
        self.db.execute(
            "UPDATE receipts SET cancel_wire = COALESCE(cancel_wire, ?), status = ? WHERE receipt_id = ?",
            (cancel_wire, str(state), receipt_id),
        )
        self.outcomes_changed += 1  # a cancelled order's receipt no longer counts for trust

    def mark_acknowledged(self, receipt_id: str) -> None:
        self.db.execute(
            "UPDATE receipts SET vendor_acknowledged = 1 WHERE receipt_id = ?", (receipt_id,)
        )

    def add_outcome(
        self,
        *,
        vendor_id: str,
        kind: str,
        positive: float,
        negative: float,
        at: datetime,
        ref: str = "",
    ) -> None:
        self.db.execute(
            "INSERT INTO outcomes (vendor_id, kind, positive, negative, at, ref) VALUES (?,?,?,?,?,?)",
            (vendor_id, kind, positive, negative, at.isoformat(), ref),
        )
        self.outcomes_changed += 1

    def rate(
        self, receipt_id: str, *, positive: float, negative: float, at: datetime
    ) -> ReceiptRow:
        """The person's rating of an order they hold a receipt for, as trust evidence. One
        rating per receipt: a later one replaces the earlier. Returns the receipt's row."""
        with self.transaction():
            row = self._one("SELECT * FROM receipts WHERE receipt_id = ?", receipt_id)
            if row is None:
                raise UnknownReceipt(
                    f"expected a receipt this agent holds, got {receipt_id!r}; see `intentcast receipts`"
                )
            self.db.execute("DELETE FROM outcomes WHERE kind = 'rating' AND ref = ?", (receipt_id,))
            self.db.execute(
                "INSERT INTO outcomes (vendor_id, kind, positive, negative, at, ref)"
                " VALUES (?, 'rating', ?, ?, ?, ?)",
                (row["vendor_id"], positive, negative, at.isoformat(), receipt_id),
            )
        self.outcomes_changed += 1
        got = self.receipt_for_offer(row["offer_id"])
        assert got is not None
        return got

    def set_unverified(self, receipt_ids: frozenset[str]) -> None:
        """Receipts found not to verify (by the receipts room): neither they nor the
        person's ratings of them count as trust evidence."""
        if receipt_ids != self.unverified:
            self.unverified = receipt_ids
            self.outcomes_changed += 1

    def all_outcomes(self) -> list[sqlite3.Row]:
        """Every piece of trust evidence, less the provisional evidence of a receipt whose
        order was cancelled (a cancelled order counts as neither delivered nor failed unless
        the person rates it), and less anything resting on a receipt that does not verify."""
        rows = self.db.execute(
            "SELECT o.* FROM outcomes o LEFT JOIN receipts r"
            " ON o.kind = 'receipt' AND r.receipt_id = o.ref"
            " WHERE r.status IS NULL OR r.status != ?",
            (str(OrderState.CANCELLED),),
        )
        bad = self.unverified
        return [r for r in rows if not (r["kind"] in ("receipt", "rating") and r["ref"] in bad)]

    def rows(self, table: str, order: str = "rowid") -> list[sqlite3.Row]:
        _known_table(table)
        if order not in [*self.columns(table), "rowid"]:
            raise ValueError(f"expected a column of {table} to order by, got {order!r}")
        return list(self.db.execute(f"SELECT * FROM {table} ORDER BY {order}"))

    def columns(self, table: str) -> list[str]:
        """The table's columns as this store holds them (migrations included)."""
        _known_table(table)
        return [r["name"] for r in self.db.execute(f"PRAGMA table_info({table})")]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every read inside sees the same committed state, whatever
        other processes write meanwhile (WAL readers do not block writers)."""
        self.db.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def restore(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows exactly as given (an import), in order, so rowids keep their order.
        Call inside :meth:`transaction`."""
        known = set(self.columns(table))
        for row in rows:
            if not set(row) <= known:
                raise ValueError(
                    f"{table}: expected its columns, got also {sorted(set(row) - known)}"
                )
            cols = ", ".join(row)
            self.db.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )


def _known_table(table: str) -> None:
    """Table names go into SQL text, so only the store's own are let through."""
    if table not in TABLES:
        raise ValueError(f"expected one of the store's tables {TABLES}, got {table!r}")
