"""N vendors in one process, for the round-trip benchmark: the real vendor adapter
(`--mode product`), bare responders that verify and sign, nothing else (`--mode floor`), or
bare responders that do the contract's cryptography and nothing else (`--mode sealed`):
verify the intent, sign a reply the size of an offer frame, pad it to the offer's box and
seal it to the key the intent names. Runs beside the agent, as vendors would, on the other
core. Floors hear on ``floor.intent`` (``floor.sealed``), so that all three can run at once.
Answers ``farm.cpu.<mode>`` with its CPU seconds so far (what the vendors spent) and
``farm.profile.<mode>`` (``start``, or a path to write the profile to and stop), logs
`farm.ready` when subscribed, then serves until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import structlog  # noqa: E402
from nacl.public import PublicKey, SealedBox  # noqa: E402
from nacl.signing import SigningKey, VerifyKey  # noqa: E402

from runtime import Bus, NatsTransport, configure_logging  # noqa: E402
from vendor_adapter import FileCatalog, Vendor, VendorStore  # noqa: E402

log = structlog.get_logger("intentcast.bench")


async def main(url: str, n: int, mode: str) -> None:
    import run_bench as rb

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with tempfile.TemporaryDirectory(prefix="farm-") as d:
        tmp = Path(d)
        catalog = rb.write_catalog(tmp)
        async with Bus(url, name=f"farm-{mode}") as bus, contextlib.AsyncExitStack() as stack:

            async def cpu(msg: Any) -> None:
                await msg.respond(repr(time.process_time()).encode())

            await bus.nc.subscribe(f"farm.cpu.{mode}", cb=cpu)
            profile = cProfile.Profile()

            async def profiling(msg: Any) -> None:
                if msg.data == b"start":
                    profile.enable()
                else:
                    profile.disable()
                    profile.dump_stats(msg.data.decode())
                await msg.respond(b"")

            await bus.nc.subscribe(f"farm.profile.{mode}", cb=profiling)
            if mode == "sealed":
                body = os.urandom(rb.OFFER_FRAME_BYTES - 64 - 32)
                pad = rb.OFFER_BOX_BYTES - 48 - rb.OFFER_FRAME_BYTES  # 48: the box's overhead
                for i, k in enumerate([SigningKey.generate() for _ in range(n)]):

                    async def sealed(msg: Any, k: SigningKey = k) -> None:
                        VerifyKey(msg.data[:32]).verify(msg.data[64:])
                        frame = bytes(k.verify_key) + k.sign(body)
                        box = SealedBox(PublicKey(msg.data[32:64])).encrypt(frame + bytes(pad))
                        await bus.nc.publish(msg.reply, box)

                    await bus.nc.subscribe("floor.sealed", queue=f"q{i}", cb=sealed)
            elif mode == "floor":
                keys = [SigningKey.generate() for _ in range(n)]
                for i, k in enumerate(keys):

                    async def cb(msg: Any, k: SigningKey = k) -> None:
                        VerifyKey(msg.data[:32]).verify(msg.data[32:])
                        await bus.nc.publish(msg.reply, bytes(k.verify_key) + k.sign(msg.data[96:]))

                    await bus.nc.subscribe("floor.intent", queue=f"q{i}", cb=cb)
            else:
                for i in range(n):
                    cfg = rb.vendor_config(tmp / f"v{i}", catalog)
                    vendor = Vendor(
                        cfg,
                        NatsTransport(bus),
                        catalog=FileCatalog(catalog),
                        store=VendorStore(tmp / f"v{i}.sqlite"),
                        signer=rb.vendor_signer(f"Vendor {i}"),
                    )
                    await stack.enter_async_context(vendor)
            await bus.nc.flush()
            print('{"event": "farm.ready"}', file=sys.stderr, flush=True)
            await stop.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--mode", choices=["product", "floor", "sealed"], required=True)
    args = ap.parse_args()
    configure_logging(json=True, level="error", cache=True)
    asyncio.run(main(args.bus, args.n, args.mode))
