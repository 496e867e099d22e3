"""Acceptances per second on the PostgreSQL order store, with 1 and 2 vendor replicas (each an
`intentcast-vendor run` process) on one throwaway PostgreSQL server, against a bare
PostgreSQL transaction of the same shape at the same concurrency: lock the item's row, sum
what is taken, insert an order row of the same size, commit. Run by ``make bench``.

Before and after, taking turns in one run (the figures in deploy/CAPACITY.md)::

    git archive <commit> vendor_adapter schemas runtime | tar -x -C /tmp/before
    .venv/bin/python bench/postgres_load.py --before /tmp/before --turns 3

runs each configuration with replicas from that older source tree (through ``PYTHONPATH``)
and from this one, alternately, and prints every turn and the range."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:  # run as a script rather than from run_bench
    sys.path.insert(0, str(ROOT))

from accept_load import LoadShopper  # noqa: E402

import schemas  # noqa: E402
from runtime import Bus, EmbeddedServer, ServiceProcess  # noqa: E402
from tests.postgres import PostgresServer, pg_bin  # noqa: E402
from vendor_adapter import PostgresStore  # noqa: E402

__all__ = ["postgres_rows"]

Record = Callable[..., None]

_SHAPE = (
    "SELECT COALESCE(SUM(quantity), 0)::bigint, COALESCE(SUM(quantity) FILTER"
    " (WHERE held_until IS NOT NULL), 0)::bigint FROM orders WHERE sku = $1"
    " AND status = 'confirmed'"
)
_COLUMNS = (
    "order_id, offer_id, intent_id, intent_key, sku, quantity, total_amount, currency, status,"
    " reason, created, intent_wire, offer_wire, accept_wire, confirmation_wire, receipt_wire,"
    " receipt_id, receipt_hash, reply_sealed, disclosure, purge_after, held_until"
)


ITEMS = 50  # the catalog's tents, each its own colour: an intent for colour i gets item i


def _catalog(tmp: Path) -> Path:
    from vendor_adapter import CSV_HEADER

    p = tmp / "catalog.csv"
    rows = [CSV_HEADER] + [
        f'T{i},Two-person dome tent {i},outdoor/tents,{100 + i}.00,EUR,1000000,colour=c{i},"tent,2-person"'
        for i in range(ITEMS)
    ]
    p.write_text("\n".join(rows) + "\n")
    return p


def _vendor_toml(tmp: Path, dsn: str) -> Path:
    import run_bench as rb

    t = rb.VTERMS
    tmp.mkdir(parents=True, exist_ok=True)
    catalog = _catalog(tmp)
    text = f"""name = "Bench Outdoor"
categories = ["outdoor/tents"]
keys_dir = "{tmp / "keys"}"
data_dir = "{tmp / "data"}"
health_port = -1
store = "{dsn}"
[limits]
intents_per_key_per_minute = 1000
intents_per_category_per_second = 1000000
[terms]
data_retention_days = {t.data_retention_days}
no_tracking = true
no_sharing = true
contact_via_agent_only = true
return_days = {t.return_days}
warranty_months = {t.warranty_months}
payment_methods = {t.payment_methods!r}
jurisdiction = "{t.jurisdiction}"
agreements = {t.agreements!r}
[catalog]
kind = "csv"
path = "{catalog}"
[delivery]
areas = ["ES"]
""".replace("'", '"')
    (tmp / "vendor.toml").write_text(text)
    return tmp / "vendor.toml"


async def _bare_transactions(dsn: str, n: int, concurrency: int, items: int) -> float:
    """Seconds for ``n`` transactions of an acceptance's shape, ``concurrency`` at once, over
    ``items`` items in turn."""
    blob = os.urandom(4096)
    frame = os.urandom(700)
    async with asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency) as pool:
        for k in range(items):
            await pool.execute(
                "INSERT INTO stock_locks VALUES ($1) ON CONFLICT DO NOTHING", f"T{k}"
            )
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            oid, sku = schemas.new_id(), f"T{i % items}"
            async with sem, pool.acquire() as c, c.transaction():
                await c.fetchval("SELECT 1 FROM stock_locks WHERE sku = $1 FOR UPDATE", sku)
                await c.fetchrow(_SHAPE, sku)
                await c.execute(
                    f"INSERT INTO orders ({_COLUMNS}) VALUES ($1, $2, $3, $4, $15, 1, 12900,"
                    " 'EUR', 'confirmed', '', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $5, $5)"
                    " ON CONFLICT DO NOTHING",
                    oid, oid, oid, "ab" * 32, f"2026-12-01T00:00:00.{i:06d}+00:00", frame,
                    frame, frame, frame, frame, oid, "cd" * 32, blob, '{"name":"A"}', sku,
                )  # fmt: skip

        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for i in range(n):
                tg.create_task(one(i))
        return time.perf_counter() - t0


async def _acceptances(
    url: str,
    tmp: Path,
    pg: PostgresServer,
    replicas: int,
    n: int,
    concurrency: int,
    items: int,
    *,
    source: Path | None = None,
    turn: str = "",
) -> tuple[float, int]:
    """(seconds, bytes per order with indexes) for ``n`` acceptances (each answered with a
    signed, verified confirmation), ``concurrency`` in flight, by ``replicas`` vendor
    processes on one database (running the code in ``source`` if given)."""
    db = f"accept_{replicas}_{items}{turn}"
    pg.sql(f"CREATE DATABASE {db}")
    cfg = _vendor_toml(tmp / db, pg.dsn(db))
    env = None if source is None else {"PYTHONPATH": str(source)}
    with contextlib.ExitStack() as stack:
        for i in range(replicas):
            stack.enter_context(
                ServiceProcess(
                    [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", url],
                    ready_event="vendor.ready",
                    name=f"replica-{i}",
                    env=env,
                    cwd=tmp,  # not this tree, which would shadow ``source`` on sys.path
                )
            )
        async with Bus(url, name="bench-acceptor") as bus:
            shopper = LoadShopper(bus)
            wants = [schemas.Want("2-person tent", {"colour": f"c{k}"}) for k in range(items)]
            offered = await shopper.cast_many(n + 20, wants=wants)
            await shopper.accept_all(offered[:20], concurrency=concurrency)  # warm up
            t0 = time.perf_counter()
            answers = await shopper.accept_all(offered[20:], concurrency=concurrency)
            took = time.perf_counter() - t0
            await shopper.close_casts()
    assert {a.status for a in answers} == {"confirmed"}, {a.reason for a in answers}
    return took, int(pg.sql("SELECT pg_total_relation_size('orders') / count(*) FROM orders", db))


async def postgres_rows(record: Record, tmp: Path, quick: bool) -> None:
    if pg_bin() is None:
        print("  (no PostgreSQL server here: apt-get install postgresql; rows skipped)")
        return
    n, concurrency = (200, 16) if quick else (600, 32)
    with PostgresServer() as pg:
        PostgresStore(pg.dsn("bench"), vendor_id="ab" * 32).close()  # the store's own schema
        async with EmbeddedServer(tmp / "nats-pg") as server:
            for items, label in ((1, ""), (ITEMS, f"_{ITEMS}_items")):
                bare = await _bare_transactions(pg.dsn("bench"), n, concurrency, items)
                record(
                    f"pg_bare_transaction{label}", bare / n * 1e3, "ms", bare / n * 1e3, None,
                    f"lock an item's row, sum, insert an order-sized row, commit; {concurrency}"
                    f" at once over {items} item(s)",
                )  # fmt: skip
                for replicas in (1, 2):
                    took, per_order = await _acceptances(
                        server.url, tmp, pg, replicas, n, concurrency, items
                    )
                    record(
                        f"pg_acceptance_{replicas}_replica{'s' if replicas > 1 else ''}{label}",
                        took / n * 1e3, "ms", bare / n * 1e3, None,
                        f"{n / took:.0f} acceptances/s over {items} item(s); {concurrency} in"
                        " flight from a load client over NATS (replicas at the default"
                        " store_pool_size); floor: the bare transaction",
                    )  # fmt: skip
        record("pg_bytes_per_order", per_order, "B", 1, None,
               "the orders table with its indexes and TOAST, per order stored")  # fmt: skip


async def _before_and_after(before: Path, tmp: Path, turns: int, quick: bool) -> None:
    """Each configuration with the replicas of ``before`` and of this tree, taking turns;
    every turn printed (ms per acceptance and the ratio to the bare transaction)."""
    n, concurrency = (200, 16) if quick else (600, 32)
    seen: dict[str, list[float]] = {}
    with PostgresServer() as pg:
        PostgresStore(pg.dsn("bench"), vendor_id="ab" * 32).close()
        async with EmbeddedServer(tmp / "nats-pg") as server:
            for turn in range(turns):
                for items in (1, ITEMS):
                    bare = await _bare_transactions(pg.dsn("bench"), n, concurrency, items)
                    seen.setdefault(f"bare {items} item(s)", []).append(bare / n * 1e3)
                    for replicas in (1, 2):
                        for who, source in (("before", before), ("after", None)):
                            took, _ = await _acceptances(
                                server.url, tmp, pg, replicas, n, concurrency, items,
                                source=source, turn=f"_{who}_{turn}",
                            )  # fmt: skip
                            key = f"{who} {replicas} replica(s) {items} item(s)"
                            seen.setdefault(key, []).append(took / bare)
                            print(
                                f"turn {turn}: {key}: {took / n * 1e3:.2f} ms/acceptance,"
                                f" {n / took:.0f}/s, {took / bare:.1f}x bare"
                                f" ({bare / n * 1e3:.3f} ms)",
                                flush=True,
                            )
    for key, values in seen.items():
        unit = "ms" if key.startswith("bare") else "x bare"
        print(f"{key}: {min(values):.2f}-{max(values):.2f} {unit} over {len(values)} turns")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="an older source tree")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="intentcast-pg-bench-") as tmp:
        asyncio.run(_before_and_after(args.before.resolve(), Path(tmp), args.turns, args.quick))


if __name__ == "__main__":
    main()
