"""N vendors in one process, for the round-trip benchmark: the real vendor adapter
(`--mode product`) or bare responders that verify and sign, nothing else (`--mode floor`).
Runs beside the agent, as vendors would, on the other core. Logs `farm.ready` when
subscribed, then serves until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import structlog  # noqa: E402
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
            if mode == "floor":
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
    ap.add_argument("--mode", choices=["product", "floor"], required=True)
    args = ap.parse_args()
    configure_logging(json=True, level="error", cache=True)
    asyncio.run(main(args.bus, args.n, args.mode))
