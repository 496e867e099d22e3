"""SQLite opened for durability: WAL with synchronous=FULL, so a committed row survives a
kill or a power cut. Commit before you acknowledge."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_db"]


def open_db(path: Path, schema: str, migrations: tuple[str, ...] = ()) -> sqlite3.Connection:
    """Open (creating) a database, apply ``schema`` (idempotent DDL), then each of
    ``migrations`` (``ALTER TABLE ... ADD COLUMN ...``) that a store from an older version
    still lacks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    for m in migrations:
        try:
            db.execute(m)
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise
    return db
