"""``intentcast-registry``: the registrar of vendor names on a shared bus.

    intentcast-registry key --keys secrets/registrar         # its public key, for agents' configs
    intentcast-registry run --keys secrets/registrar --bus nats://bus.example.org:4222
    intentcast-registry list | approve ID | revoke ID --reason TEXT | rotate ID | rotate --all

Agents that list the key in ``registrars`` show only vendors registered here (on a shared
bus) and show them by their registered name. See docs/registry.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import nats.js.errors
import structlog
from nats.js.api import StorageType
from nats.js.kv import KeyValue

import schemas
from runtime import (
    Bus,
    HttpServer,
    LocalRegistrar,
    NatsServerNotFound,
    Registry,
    bus_url,
    configure_logging,
    write_local_registrar,
)

from ._keys import load_or_create_key
from ._service import Registrar, RegistrarError

__all__ = ["main"]

log = structlog.get_logger("intentcast.registry")
REFRESH_EVERY = timedelta(hours=24)


async def _bucket(bus: Bus, name: str, replicas: int, create: bool) -> KeyValue:
    js = bus.nc.jetstream(timeout=5)
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        if not create:
            raise RegistrarError(
                f"no registry bucket {name!r} on this bus; start the registrar first"
            ) from None
    kv = await js.create_key_value(
        bucket=name, history=1, replicas=replicas, storage=StorageType.FILE,
        description="intentcast vendor registry: entries signed by the registrar",
    )  # fmt: skip
    log.info("registry.bucket.created", bucket=name, replicas=replicas)
    return kv


@contextlib.asynccontextmanager
async def _registrar(
    args: argparse.Namespace, *, create: bool = False
) -> AsyncIterator[tuple[Registrar, Bus]]:
    key = load_or_create_key(args.keys)
    metrics = Registry()
    async with (
        bus_url(args.bus, store_dir=args.keys.parent / "jetstream") as url,
        Bus(
            url,
            name="registry",
            metrics=metrics,
            reconnect_forever=create,
            inbox_prefix=schemas.registrar_inbox(key.verify_key.encode().hex()),
        ) as bus,
    ):
        kv = await _bucket(bus, args.bucket, getattr(args, "replicas", 1), create)
        yield (
            Registrar(key, kv, auto_approve=getattr(args, "auto_approve", False), metrics=metrics),
            bus,
        )


async def _run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        registrar, bus = await stack.enter_async_context(_registrar(args, create=True))

        async def healthz(_: str) -> tuple[int, str, bytes]:
            ok = bus.nc.is_connected
            body = {"status": "ok" if ok else "degraded", "registrar": registrar.id,
                    "bucket": args.bucket, "bus": "connected" if ok else "disconnected"}  # fmt: skip
            return (200 if ok else 503), "application/json", json.dumps(body).encode()

        async def metrics_page(_: str) -> tuple[int, str, bytes]:
            return 200, "text/plain; version=0.0.4", registrar.metrics.render().encode()

        health = None
        if args.health_port >= 0:
            http = await stack.enter_async_context(
                HttpServer(
                    {"/healthz": healthz, "/metrics": metrics_page},
                    args.health_host,
                    args.health_port,
                )
            )
            health = http.url + "/healthz"
        sub = await bus.nc.subscribe(
            schemas.registry_subject(registrar.id), cb=registrar.on_request
        )
        await bus.nc.flush(timeout=5)
        if args.local:
            path = write_local_registrar(LocalRegistrar(registrar.id, args.bucket, bus.url))
            log.info("registry.local", path=str(path))
        log.info("registry.ready", registrar=registrar.id, bucket=args.bucket,
                 auto_approve=args.auto_approve, health=health)  # fmt: skip
        async with asyncio.TaskGroup() as tg:
            refresher = tg.create_task(_refresh_loop(registrar, stop))
            await stop.wait()
            refresher.cancel()  # a refresh under way is redone at the next start
        await sub.unsubscribe()
    log.info("registry.stopped", registrar=registrar.id)
    return 0


async def _refresh_loop(registrar: Registrar, stop: asyncio.Event) -> None:
    while not stop.is_set():
        n = await registrar.refresh()
        if n:
            log.info("registry.refreshed", entries=n)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_EVERY.total_seconds())


async def _operate(args: argparse.Namespace) -> int:
    async with _registrar(args) as (registrar, _):
        if args.command == "list":
            for entry in await registrar.entries():
                m = entry.msg
                print(f"{m.vendor_id}  {m.status:<7}  serial {m.serial:<3} {m.registered}  "
                      f"{json.dumps(m.name, ensure_ascii=True)}  {','.join(m.categories)}")  # fmt: skip
            return 0
        if args.command == "rotate" and args.all:
            ids = [e.msg.vendor_id for e in await registrar.entries()]
        elif args.vendor_id:
            ids = [args.vendor_id]
        else:
            raise RegistrarError(
                f"{args.command}: name a VENDOR_ID (see `intentcast-registry list`)"
            )
        for vid in ids:
            if args.command == "approve":
                wire = await registrar.approve(vid)
            elif args.command == "revoke":
                wire = await registrar.revoke(vid, args.reason)
            else:
                wire = await registrar.rotate(vid)
            e = schemas.open_entry(wire, registrars={registrar.id}, now=None).msg
            print(
                f"{args.command}: {vid} is {e.status} as {json.dumps(e.name, ensure_ascii=True)}, serial {e.serial}"
            )
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="intentcast-registry", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {
        "run": "serve registration requests until interrupted",
        "key": "print the registrar's public key (creating it on first use)",
        "list": "list every entry",
        "approve": "approve a pending registration",
        "revoke": "revoke a vendor: agents drop its offers from then on",
        "rotate": "re-issue an entry with a new serial and a fresh lifetime",
    }
    for name, helptext in commands.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument(
            "--keys", type=Path, required=True, help="folder of the registrar's key (0600)"
        )
        if name == "key":
            continue
        p.add_argument("--bus", help="NATS URL(s); default: $INTENTCAST_BUS or the embedded bus")
        p.add_argument(
            "--bucket", default=schemas.REGISTRY_BUCKET, help="key-value bucket of entries"
        )
        if name in ("approve", "revoke", "rotate"):
            p.add_argument("vendor_id", nargs="?", metavar="VENDOR_ID")
        if name == "revoke":
            p.add_argument("--reason", required=True, help="shown to people whose agents drop it")
        if name == "rotate":
            p.add_argument("--all", action="store_true", help="every entry")
        if name == "run":
            p.add_argument("--replicas", type=int, default=1, help="bucket replicas in a cluster")
            p.add_argument("--auto-approve", action="store_true",
                           help="register every unique name at once (development); else an operator approves")  # fmt: skip
            p.add_argument("--local", action="store_true",
                           help="write this registrar's key where agents on this machine's bus find it")  # fmt: skip
            p.add_argument("--health-host", default="127.0.0.1")
            p.add_argument("--health-port", type=int, default=0, help="0: any free port; -1: none")
            p.add_argument("--log-format", choices=["json", "console"], default="json")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json=False, level="warning")
    try:
        if args.command == "key":
            print(schemas.kid_of(load_or_create_key(args.keys)))
            return 0
        if args.command == "run":
            configure_logging(json=args.log_format == "json", cache=True)
            return asyncio.run(_run(args))
        return asyncio.run(_operate(args))
    except (RegistrarError, NatsServerNotFound, schemas.ProtocolError) as exc:
        print(f"intentcast-registry: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
