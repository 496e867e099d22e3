"""The home's book of watched intents and the notices raised about them
(``watches.sqlite``, beside ``agent.sqlite``): which intents are watched, until when, in what
state. Its own module so the export (``_carried_watches``) can read it without the agent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import schemas
from runtime import open_db

__all__ = ["OPEN_STATES", "WATCHES_FILE", "Notice", "WatchBook", "WatchRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    intent_id TEXT PRIMARY KEY, reply_subject TEXT NOT NULL, created TEXT NOT NULL,
    expires TEXT NOT NULL, state TEXT NOT NULL  -- casting, open, fulfilled, expired, cancelled, failed
);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, intent_id TEXT NOT NULL, kind TEXT NOT NULL,
    ref TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (kind, ref)
);
"""
OPEN_STATES = ("casting", "open")
WATCHES_FILE = "watches.sqlite"


@dataclass(frozen=True)
class WatchRow:
    intent_id: str
    reply_subject: str
    created: str
    expires: str
    state: str


@dataclass(frozen=True)
class Notice:
    id: int
    at: str
    intent_id: str
    kind: str  # offer, dropped, closed
    ref: str
    body: dict[str, object]


class WatchBook:
    """The home's watches and notices (``watches.sqlite``: WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self.db = open_db(path, _SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, cast: schemas.CastIntent) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO watches VALUES (?, ?, ?, ?, 'casting')",
            (cast.intent.id, cast.intent.reply_subject, cast.created.isoformat(),
             cast.expires.isoformat()),
        )  # fmt: skip

    def set_state(self, intent_id: str, state: str) -> None:
        self.db.execute("UPDATE watches SET state = ? WHERE intent_id = ?", (state, intent_id))

    def watches(self, states: tuple[str, ...] = OPEN_STATES) -> list[WatchRow]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(
            f"SELECT * FROM watches WHERE state IN ({marks}) ORDER BY created", states
        )
        return [WatchRow(*r) for r in rows]

    def watch(self, intent_id: str) -> WatchRow | None:
        r = self.db.execute("SELECT * FROM watches WHERE intent_id = ?", (intent_id,)).fetchone()
        return None if r is None else WatchRow(*r)

    def notify(
        self, at: datetime, intent_id: str, kind: str, ref: str, body: dict[str, object]
    ) -> Notice | None:
        """Record a notice once per (kind, ref); the new notice, or None if it was known."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO notices (at, intent_id, kind, ref, body) VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(), intent_id, kind, ref, json.dumps(body)),
        )
        if cur.rowcount == 0:
            return None
        return Notice(int(cur.lastrowid or 0), at.isoformat(), intent_id, kind, ref, body)

    def notices(self, after: int = 0) -> list[Notice]:
        rows = self.db.execute("SELECT * FROM notices WHERE id > ? ORDER BY id", (after,))
        return [Notice(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
