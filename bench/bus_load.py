"""A load generator for the capacity model (deploy/CAPACITY.md): the project's real message
sizes through a real nats-server on loopback, into many processes.

- ``bus``: one publisher sends N messages of a protocol message's size to a subject that V
  sink processes (bare nats-py subscribers, one connection each: a vendor's receive path
  without its crypto) all hear; the figure is messages delivered per second, against the
  publisher's own rate with one sink.
- ``vendors``: V real vendor adapters, one process each, answer M signed intents with
  signed, sealed offers; the figure is CPU microseconds per offer (wall time x cores /
  offers) against what the cryptography of one offer costs.

Run by ``make bench`` (``bench/run_bench.py``); ``python bench/bus_load.py sink ...`` and
``vendor ...`` are the child processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import schemas  # noqa: E402
from runtime import Bus, ServiceProcess, configure_logging  # noqa: E402

__all__ = ["bus_fanout", "message_sizes", "vendor_processes"]


def message_sizes() -> dict[str, int]:
    """Bytes on the wire of each protocol message, as the real code makes them."""
    import run_bench as rb

    now = datetime.now(UTC)
    c = rb.cast()
    v = rb.vendor_signer()
    frame, sealed_offer = rb.make_offer(c, v)
    opened = schemas.open_offer(
        sealed_offer, intent=c.intent, secrets=c.secrets, now=rb.NOW, replay=None,
        profiles=schemas.ProfileCache(),
    )  # fmt: skip
    _mine, sealed_accept = schemas.make_accept(
        intent_wire=c.wire, intent=c.intent, secrets=c.secrets, offer=opened,
        disclosure=schemas.Disclosure(name="A Person", address=["Calle Mayor 1"], postcode="28013",
                                      country="ES"),
        payment_method="card", now=now,
    )  # fmt: skip
    accepted = schemas.open_accept(sealed_accept, signer=v, now=now, replay=None)
    _, receipt, sealed_conf = schemas.make_confirmation(
        accepted, signer=v, order_id=schemas.new_id(), status="confirmed", reason="", now=now
    )
    assert receipt is not None
    r = schemas.verify(receipt, schemas.Receipt, key=v.ring, now=None)
    _, sealed_cs = schemas.countersign(r, c.secrets, schemas.seal_key_for(v.profile, r.kid), now)
    return {
        "intent": len(c.wire),
        "offer": len(sealed_offer),
        "offer_frame": len(frame),
        "offer_bundle_kept": len(opened.bundle),
        "accept": len(sealed_accept),
        "confirmation": len(sealed_conf),
        "countersignature": len(sealed_cs),
        "profile": len(v.profile_wire),
    }


def _child(*args: str, name: str) -> ServiceProcess:
    return ServiceProcess(
        [sys.executable, str(Path(__file__)), *args], ready_event="load.ready", name=name
    )


async def bus_fanout(url: str, *, sinks: int, size: int, n: int) -> float:
    """Messages delivered per second: ``n`` messages of ``size`` bytes, each to ``sinks``
    processes. Each sink says when it has all ``n``; the span is from the first publish to
    the last sink's last message (one monotonic clock for every process)."""
    subject = f"load.fanout.{os.getpid()}"
    with contextlib.ExitStack() as stack:
        for i in range(sinks):
            stack.enter_context(
                _child("sink", "--bus", url, "--subject", subject, "-n", str(n), name=f"sink-{i}")
            )
        async with Bus(url, name="load-publisher") as bus:
            done: asyncio.Queue[float] = asyncio.Queue()

            async def on_done(msg: Any) -> None:
                done.put_nowait(float(msg.data))

            await bus.nc.subscribe(subject + ".done", cb=on_done)
            await bus.nc.flush()
            payload = os.urandom(size)
            t0 = time.perf_counter()
            for i in range(n):
                await bus.nc.publish(subject, payload)
                if i % 1000 == 999:
                    await bus.nc.flush()
            await bus.nc.flush()
            ends = [await asyncio.wait_for(done.get(), 120) for _ in range(sinks)]
    return n * sinks / (max(ends) - t0)


async def _sink(url: str, subject: str, n: int) -> None:
    async with Bus(url, name="load-sink") as bus:
        got = 0
        finished = asyncio.Event()

        async def on_msg(msg: Any) -> None:
            nonlocal got
            got += 1
            if got == n:
                await bus.nc.publish(subject + ".done", repr(time.perf_counter()).encode())
                finished.set()

        await bus.nc.subscribe(subject, cb=on_msg, pending_msgs_limit=1_000_000,
                               pending_bytes_limit=1 << 30)  # fmt: skip
        await bus.nc.flush()
        print('{"event": "load.ready"}', file=sys.stderr, flush=True)
        await finished.wait()
        await bus.nc.flush()


async def vendor_processes(url: str, *, vendors: int, intents: int) -> tuple[float, int]:
    """(seconds, offers) for ``vendors`` vendor adapters, one process each, to answer
    ``intents`` signed intents (published as fast as the bus takes them) with an offer each."""
    import run_bench as rb

    casts = [rb.cast() for _ in range(intents)]
    with contextlib.ExitStack() as stack:
        for i in range(vendors):
            stack.enter_context(_child("vendor", "--bus", url, name=f"vendor-{i}"))
        async with Bus(url, name="load-caster") as bus:
            expected, got = intents * vendors, 0
            all_in = asyncio.Event()

            async def on_offer(msg: Any) -> None:
                nonlocal got
                got += 1
                if got == expected:
                    all_in.set()

            await bus.nc.subscribe(schemas.REPLY_ROOT + ".>", cb=on_offer,
                                   pending_msgs_limit=1_000_000)  # fmt: skip
            await bus.nc.flush()
            t0 = time.perf_counter()
            for c in casts:
                await bus.nc.publish(c.subject, c.wire)
            await bus.nc.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 180)
            return time.perf_counter() - t0, got


async def _vendor(url: str) -> None:
    """One real vendor adapter, as bench/vendor_farm.py runs them, until SIGTERM."""
    import run_bench as rb

    from runtime import NatsTransport
    from vendor_adapter import FileCatalog, Vendor, VendorStore

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with tempfile.TemporaryDirectory(prefix="load-vendor-") as d:
        tmp = Path(d)
        catalog = rb.write_catalog(tmp)
        cfg = rb.vendor_config(tmp, catalog)
        cfg = cfg.model_copy(update={"offer_validity": timedelta(minutes=10)})
        async with (
            Bus(url, name="load-vendor") as bus,
            Vendor(cfg, NatsTransport(bus), catalog=FileCatalog(catalog),
                   store=VendorStore(tmp / "v.sqlite"), signer=rb.vendor_signer()),
        ):  # fmt: skip
            print('{"event": "load.ready"}', file=sys.stderr, flush=True)
            await stop.wait()


def main() -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["sink", "vendor"])
    ap.add_argument("--bus", required=True)
    ap.add_argument("--subject", default="")
    ap.add_argument("-n", type=int, default=0)
    args = ap.parse_args()
    configure_logging(json=True, level="error", cache=True)
    if args.role == "sink":
        asyncio.run(_sink(args.bus, args.subject, args.n))
    else:
        asyncio.run(_vendor(args.bus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
