"""What an export carries beyond ``agent.sqlite``'s own tables: the vendors' signed order
statuses (``_status``'s tables) and the friend book (``friends.sqlite``, ``_friends``).

Statuses are carried as the exact signed frames the agent kept, with its mailbox read
positions and its count of refused mail; an import verifies each frame against the
vendor's key for that order (the ring of the profile kept with its offer, as a receipt is
checked), bound to that order's receipt, and its row against what it signed. The friend
book is carried as the followed friends' card fields (name, ``F``, ``k``) and the public key
of the person's own friend identity; the identity's secrets travel with the intents' keys
(``_export``'s ``keys``), and an import checks that they make that public key."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from nacl.signing import SigningKey, VerifyKey

import schemas

from ._friends import MAX_NAME
from ._rereading import check_receipt
from ._status import STATUS_TABLES
from ._store import AgentStore

__all__ = [
    "FriendKey",
    "FriendRow",
    "Friends",
    "MailboxReadRow",
    "OrderStatusRow",
    "StatusRefusalRow",
    "ensure_statuses",
    "friend_problems",
    "read_friends",
    "restore_friends",
    "restore_statuses",
    "status_problems",
    "status_tables",
]

FRIENDS_FILE = "friends.sqlite"


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    pass


class OrderStatusRow(_Row):
    receipt_id: str
    seq: int
    state: str
    carrier: str
    tracking: str
    reason: str
    wire: bytes  # the vendor's signed order_status frame, as the agent kept it
    received: str


class MailboxReadRow(_Row):
    receipt_id: str
    stream_seq: int


class StatusRefusalRow(_Row):
    id: int
    receipt_id: str
    reason: str
    detail: str
    at: str


STATUS_RECORDS: dict[str, type[_Row]] = {
    "order_statuses": OrderStatusRow,
    "mailbox_reads": MailboxReadRow,
    "status_refusals": StatusRefusalRow,
}


class FriendRow(_Row):
    name: str
    key: str  # the friend's F, hex
    secret: bytes  # the friend's k, from their card
    added: str


class Friends(_Row):
    identity_key: str | None  # the person's own F (hex); its secrets are in the keys part
    identity_created: str | None
    friends: list[FriendRow]


class FriendKey(_Row):
    seed: str  # hex, the Ed25519 seed of F
    secret: str  # hex, k


def ensure_statuses(store: AgentStore) -> None:
    store.db.executescript(STATUS_TABLES)


def status_tables(store: AgentStore) -> dict[str, list[dict[str, Any]]]:
    """The three status tables, every column by name (after :func:`ensure_statuses`; call
    inside the export's snapshot); ValueError on a column unknown here."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, record in STATUS_RECORDS.items():
        cols = [r["name"] for r in store.db.execute(f"PRAGMA table_info({table})")]
        if set(cols) != set(record.__struct_fields__):
            raise ValueError(
                f"expected the {table} table's columns to be {record.__struct_fields__}, got {cols}"
            )
        rows = store.db.execute(f"SELECT * FROM {table} ORDER BY rowid")
        out[table] = [{c: r[c] for c in cols} for r in rows]
    return out


def restore_statuses(store: AgentStore, tables: dict[str, Sequence[_Row]]) -> None:
    """Insert the rows exactly as given; call inside the import's transaction, after
    :func:`ensure_statuses` (which commits, so it cannot run inside it)."""
    for table, rows in tables.items():
        for row in rows:
            d = msgspec.structs.asdict(row)
            store.db.execute(
                f"INSERT INTO {table} ({', '.join(d)}) VALUES ({', '.join('?' * len(d))})",
                tuple(d.values()),
            )


def status_problems(store: AgentStore, rows: list[OrderStatusRow]) -> list[str]:
    """What does not verify among the statuses: each frame against its vendor's key for
    that order, bound to that order's receipt, and its row against its signed bytes."""
    receipts = {r.receipt_id: r for r in store.receipts()}
    problems = []
    for s in rows:
        where = f"status #{s.seq} of receipt {s.receipt_id[:8]}"
        row = receipts.get(s.receipt_id)
        order = check_receipt(store, row).order if row is not None else None
        if order is None:
            problems.append(f"{where}: no verified receipt for it")
            continue
        r = order.receipt
        try:
            got = schemas.verify(
                s.wire, schemas.OrderStatus, key=schemas.KeyRing.from_profile(order.profile.msg),
                now=None, audience=schemas.Audience(intent=r.msg.intent_id, vendor=r.msg.vendor_id),
            )  # fmt: skip
            m = got.msg
            if (m.receipt_id, m.receipt_hash, m.order_id, m.vendor_id) != (
                r.msg.id, r.digest, r.msg.order_id, r.msg.vendor_id
            ):  # fmt: skip
                raise ValueError("it is bound to another order")
            if (m.seq, m.state, m.carrier, m.tracking, m.reason) != (
                s.seq, s.state, s.carrier, s.tracking, s.reason
            ):  # fmt: skip
                raise ValueError("its row disagrees with its signed bytes")
        except (schemas.ProtocolError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    return problems


def read_friends(home_path: Path) -> tuple[Friends | None, FriendKey | None]:
    """The home's friend book (None: it has none), and the person's identity's secrets."""
    f = home_path / FRIENDS_FILE
    if not f.exists():
        return None, None
    db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        me = db.execute("SELECT seed, secret, created FROM me").fetchone()
        rows = db.execute("SELECT name, key, secret, added FROM friends ORDER BY rowid").fetchall()
    finally:
        db.close()
    key = None if me is None else FriendKey(bytes(me["seed"]).hex(), bytes(me["secret"]).hex())
    identity = None if me is None else SigningKey(bytes(me["seed"])).verify_key.encode().hex()
    friends = [FriendRow(r["name"], r["key"], bytes(r["secret"]), r["added"]) for r in rows]
    return Friends(identity, None if me is None else me["created"], friends), key


def friend_problems(book: Friends, key: FriendKey | None, keys_carried: bool) -> list[str]:
    """What does not hold in a carried friend book: names, keys and secrets of the form a
    card gives, and the identity's secrets making the public key it names."""
    problems = []
    for f in book.friends:
        try:
            VerifyKey(bytes.fromhex(f.key))
            if len(f.secret) != 32:
                raise ValueError(f"a 32-byte secret, got {len(f.secret)} bytes")
            if not (0 < len(f.name) <= MAX_NAME and f.name.isprintable()):
                raise ValueError("a printable name")
        except (ValueError, TypeError) as exc:
            problems.append(f"friend {f.name[:MAX_NAME]!r}: {exc}")
    if keys_carried and (book.identity_key is None) != (key is None):
        problems.append("your friend identity: its public key and its secrets do not go together")
    if key is not None and book.identity_key is not None:
        try:
            made = SigningKey(bytes.fromhex(key.seed)).verify_key.encode().hex()
            if made != book.identity_key or len(bytes.fromhex(key.secret)) != 32:
                raise ValueError("secrets other than those of the key it names")
        except (ValueError, TypeError) as exc:
            problems.append(f"your friend identity: {exc}")
    return problems


def restore_friends(home_path: Path, book: Friends, key: FriendKey | None) -> None:
    """Write ``friends.sqlite`` in the new home: the identity (when its keys came), then
    every followed friend in order."""
    from ._friends import FriendBook

    with FriendBook(home_path / FRIENDS_FILE) as fb:
        if key is not None:
            fb.db.execute(
                "INSERT INTO me (id, seed, secret, created) VALUES (1, ?, ?, ?)",
                (bytes.fromhex(key.seed), bytes.fromhex(key.secret), book.identity_created),
            )
        for f in book.friends:
            fb.db.execute(
                "INSERT INTO friends (name, key, secret, added) VALUES (?, ?, ?, ?)",
                (f.name, f.key, f.secret, f.added),
            )
