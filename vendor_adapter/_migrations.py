"""Versioned migrations of the PostgreSQL order store: ordered SQL files shipped with the
package (``migrations/postgresql/NNNN_name.sql``), applied once each and recorded in
``schema_version``. Replicas starting together apply them one at a time (a transaction-scoped
advisory lock of PostgreSQL's own); the pending files and their records go in one
transaction, so a failed migration leaves the schema as it was."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

__all__ = ["Migration", "SchemaTooNew", "apply_migrations", "shipped_migrations"]

log = structlog.get_logger("intentcast.vendor")

# Any constant the vendor's database does not use otherwise: "intentcast" in ASCII, as a bigint.
_LOCK_KEY = int.from_bytes(b"intentca", "big") >> 1
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaTooNew(Exception):
    """The database was migrated by a newer intentcast than this one."""


def shipped_migrations() -> list[Migration]:
    """The migration files in this package, in version order (numbers must not repeat)."""
    folder = resources.files("vendor_adapter") / "migrations" / "postgresql"
    found = []
    for f in folder.iterdir():
        m = _NAME.match(f.name)
        if m:
            found.append(Migration(int(m.group(1)), f.name, f.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"expected one migration per version, got {versions}")
    return found


async def apply_migrations(conn: asyncpg.Connection, shipped: list[Migration]) -> int:
    """Bring the schema up to the newest of ``shipped``; the version it is at afterwards."""
    newest = shipped[-1].version
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        have = {r["version"] for r in await conn.fetch("SELECT version FROM schema_version")}
        if have and max(have) > newest:
            raise SchemaTooNew(
                f"the order store's schema is at version {max(have)}, newer than this"
                f" intentcast knows ({newest}); run the newer intentcast-vendor"
            )
        for m in shipped:
            if m.version in have:
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name
            )
            log.info("store.migrated", version=m.version, name=m.name)
    return newest
