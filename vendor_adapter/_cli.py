"""``intentcast-vendor``: run a vendor adapter beside your catalog."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import structlog

import schemas
from runtime import (
    Bus,
    HttpServer,
    NatsServerNotFound,
    NatsTransport,
    Registry,
    StopOnSignals,
    bus_url,
    configure_logging,
)

from ._catalog import Catalog
from ._certified import evidence_from_board
from ._config import ConfigError, VendorConfig, load_config
from ._counter_cli import COUNTER_COMMANDS, add_counter_commands, run_counter
from ._feed import Outbox
from ._keys import load_or_create_keys
from ._load import load_vendor
from ._migrations import SchemaTooNew
from ._postgres import StoreUnavailable, WrongVendor
from ._registration import RegistrationRefused, register
from ._vendor import Vendor, vendor_signer

__all__ = ["main"]

log = structlog.get_logger("intentcast.vendor")
DRAIN_SECONDS = 2.0  # on a stop, handlers in flight get this long; the whole stop stays under 5 s

EPILOG = """examples:
  intentcast-vendor check --config vendor.toml
  intentcast-vendor id --config vendor.toml      # the id to grant bus permissions to
  intentcast-vendor run --config vendor.toml
  intentcast-vendor run --config vendor.toml --bus nats://bus.example.org:4222
  INTENTCAST_BUS=nats://127.0.0.1:4222 intentcast-vendor run --config vendor.toml

With no bus given (flag, INTENTCAST_BUS, or bus_url in the config) the adapter joins the
embedded bus started by `intentcast bus` on this machine, or starts a private one.
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="intentcast-vendor",
        description="Answer purchase intents with signed offers from your catalog.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, helptext in (
        ("run", "run the adapter until SIGINT or SIGTERM, then exit 0"),
        ("check", "validate the config and catalog, print a summary"),
        ("id", "print the vendor id (creating keys on first use), for bus permissions"),
    ):
        p = sub.add_parser(
            name, help=helptext, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        p.add_argument(
            "--config", "-c", type=Path, required=True, help="the vendor's TOML config file"
        )
        if name == "run":
            p.add_argument("--bus", help="NATS URL(s), comma-separated")
            p.add_argument("--log-format", choices=["json", "console"], default="json")
            p.add_argument(
                "--log-level", default="info", choices=["debug", "info", "warning", "error"]
            )
    add_counter_commands(
        sub,
        lambda p: p.add_argument(
            "--config", "-c", type=Path, required=True, help="the vendor's TOML config file"
        ),
    )
    return ap


async def _run(cfg: VendorConfig, catalog: Catalog, bus_flag: str | None) -> int:
    metrics = Registry()
    vendor: Vendor | None = None
    was_ready = [False]

    async def healthz(_: str) -> tuple[int, str, bytes]:
        """Ready (200) when the bus is connected and the order store answers; else 503."""
        bus_ok = vendor is not None and vendor.connected
        store = await vendor.store.aio.health() if vendor is not None else None
        ok = bus_ok and store is not None and store.get("reachable", False)
        if ok != was_ready[0]:  # a change of readiness is an event; each probe is not
            was_ready[0] = ok
            log.info("vendor.readiness", ready=ok, bus=bus_ok, store=store)
        body = {"status": "ok" if ok else "degraded", "vendor_id": vendor_id, "name": cfg.name,
                "bus": "connected" if bus_ok else "disconnected", "store": store}  # fmt: skip
        return (200 if ok else 503), "application/json", json.dumps(body).encode()

    async def livez(_: str) -> tuple[int, str, bytes]:
        """Alive (200) while the bus is connected, whatever the store: a database outage is
        not cured by restarting the replica (which could not open its store meanwhile)."""
        ok = vendor is not None and vendor.connected
        body = {"status": "ok" if ok else "degraded", "bus": "connected" if ok else "disconnected"}
        return (200 if ok else 503), "application/json", json.dumps(body).encode()

    async def metrics_page(_: str) -> tuple[int, str, bytes]:
        return 200, "text/plain; version=0.0.4", metrics.render().encode()

    signer = vendor_signer(cfg)  # creates the keys on first run, before the bus
    vendor_id = signer.vendor_id
    # SIGINT or SIGTERM ends the block wherever it is (connecting to an unreachable bus,
    # reconnecting, handling an intent); leaving it stops serving, drains the bus for up to
    # DRAIN_SECONDS and stops a private embedded bus. Then we exit 0.
    async with StopOnSignals("intentcast-vendor") as stop, contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(
            bus_url(bus_flag or cfg.bus_url, store_dir=cfg.data_dir / "jetstream")
        )
        bus = await stack.enter_async_context(
            Bus(
                url,
                name=f"vendor:{cfg.name}",
                metrics=metrics,
                nkey_seed=cfg.bus_nkey_seed,
                tls_ca=cfg.bus_tls_ca,
                drain_timeout=DRAIN_SECONDS,
                inbox_prefix=schemas.vendor_inbox(vendor_id),  # a secured bus grants no _INBOX
            )
        )
        await register(bus.nc, signer.identity, cfg, url)
        if cfg.health_port >= 0:
            try:
                http = await stack.enter_async_context(
                    HttpServer(
                        {"/healthz": healthz, "/livez": livez, "/metrics": metrics_page},
                        cfg.health_host,
                        cfg.health_port,
                    )
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise ConfigError(
                    f"health_port {cfg.health_port} on {cfg.health_host} is in use (expected a free port; got {exc.strerror}); stop the other program or change health_port"
                ) from None
            log.info("vendor.health", url=http.url + "/healthz", metrics=http.url + "/metrics")
        evidence = await evidence_from_board(stack, bus, vendor_id, cfg.certified)
        vendor = await stack.enter_async_context(
            Vendor(cfg, NatsTransport(bus), catalog=catalog, signer=signer, metrics=metrics)
        )
        vendor.adapter.shop.evidence = evidence
        await stack.enter_async_context(Outbox(vendor.store, bus, vendor_id, metrics=metrics))
        await stop.wait()
    log.info("vendor.stopped", vendor=vendor_id)
    return 0


def _span(d: timedelta) -> str:
    """A duration as the config writes it: 90s, 2m, 1h, 7d."""
    s = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _check(cfg: VendorConfig, catalog: Catalog) -> int:
    """The summary of a config and catalog that :func:`load_vendor` passed."""
    items = getattr(catalog, "items", None)
    n = f"{len(items)} items, every row checked" if isinstance(items, dict) else "items not checked"
    print(f"config ok: {cfg.name}")
    print(f"  categories: {', '.join(cfg.categories)}")
    print(f"  catalog:    {cfg.catalog.kind} {cfg.catalog.path or cfg.catalog.plugin} ({n})")
    print(f"  terms:      keeps data {cfg.terms.data_retention_days} days, "
          f"{'no tracking' if cfg.terms.no_tracking else 'TRACKS'}, "
          f"{'no sharing' if cfg.terms.no_sharing else 'SHARES'}, "
          f"{cfg.terms.return_days}-day returns, {cfg.terms.warranty_months}-month warranty")  # fmt: skip
    print(f"  offers:     valid {cfg.offer_validity}, delivery in {cfg.delivery_days} days")
    areas = ", ".join(cfg.delivery.areas) or "anywhere (not stated: add [delivery] areas)"
    print(f"  delivers:   {areas}")
    o = cfg.orders
    print(f"  holds:      an unconfirmed order holds stock for {_span(o.hold)}; unconfirmed orders "
          f"hold at most {o.max_held_share:.0%} of an item's stock (at least 1 unit)")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    configure_logging(json=False, level="warning")  # stdout stays for the command's output
    try:
        if args.command in COUNTER_COMMANDS:
            return run_counter(args)
        if args.command == "id":
            identity, _, _ = load_or_create_keys(load_config(args.config).keys_dir)
            print(bytes(identity.verify_key).hex())
            return 0
        cfg, catalog = load_vendor(args.config)  # run starts only on what check passes
        if args.command == "check":
            return _check(cfg, catalog)
        configure_logging(json=args.log_format == "json", level=args.log_level, cache=True)
        return asyncio.run(_run(cfg, catalog, args.bus))
    except ConfigError as exc:
        for problem in exc.problems:  # every problem, one line each
            print(f"intentcast-vendor: error: {problem}", file=sys.stderr)
        return 2
    except (NatsServerNotFound, RegistrationRefused) as exc:
        print(f"intentcast-vendor: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (StoreUnavailable, WrongVendor, SchemaTooNew) as exc:  # a PostgreSQL order store
        print(
            f"intentcast-vendor: error: the order store could not be used: {exc}", file=sys.stderr
        )
        return 1
    except sqlite3.Error as exc:  # the order store, named as such
        print(
            f"intentcast-vendor: error: the order store could not be used ({exc}); check"
            " data_dir in the config and the disk",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        what = (
            f"{exc.filename}: {exc.strerror}" if exc.filename else f"{exc}; is the bus reachable?"
        )
        print(f"intentcast-vendor: error: {what}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
