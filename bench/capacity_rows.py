"""The measured inputs of deploy/CAPACITY.md, as `make bench` rows: protocol message sizes,
NATS fan-out on loopback into many processes, offers per CPU second from many vendor
processes, and acceptances on the PostgreSQL order store (``bench/postgres_load.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bus_load import bus_fanout, message_sizes, vendor_processes
from postgres_load import postgres_rows

from runtime import EmbeddedServer

__all__ = ["capacity_rows"]

Record = Callable[..., None]


async def capacity_rows(record: Record, tmp: Path, floors: dict[str, float], quick: bool) -> None:
    sizes = message_sizes()
    for name, size in sizes.items():
        record(f"size_{name}", size, "B", 1, None, "bytes on the wire (sealed replies are padded)")
    n = 20_000 if quick else 100_000
    cores = os.cpu_count() or 1
    async with EmbeddedServer(tmp / "nats-capacity") as server:
        alone = await bus_fanout(server.url, sinks=1, size=sizes["intent"], n=n)
        record("bus_intents_to_1_process", alone, "msg/s", alone, None,
               "intent-sized messages delivered per second; floor: itself")  # fmt: skip
        for sinks in (4, 16):
            rate = await bus_fanout(server.url, sinks=sinks, size=sizes["intent"], n=n // 4)
            record(f"bus_intents_to_{sinks}_processes", rate, "msg/s", alone, None,
                   f"deliveries per second, each intent to {sinks} processes; floor: to 1")  # fmt: skip
        rate = await bus_fanout(server.url, sinks=1, size=sizes["offer"], n=n)
        record("bus_offers_to_1_process", rate, "msg/s", alone, None,
               "offer-sized (sealed, padded) messages per second; floor: intent-sized")  # fmt: skip
        bound = floors["raw_sign"] + floors["raw_verify"] + floors["raw_seal"]
        for vendors in (2, 8):
            intents = 400 if quick else 1500
            took, offers = await vendor_processes(server.url, vendors=vendors, intents=intents)
            record(f"vendor_cpu_us_per_offer_{vendors}_processes", took * cores / offers * 1e6,
                   "us", bound, None,
                   f"{offers / took:.0f} offers/s from {vendors} vendor processes on {cores} cores"
                   f" ({offers} of {intents * vendors}); floor: sign + verify + seal")  # fmt: skip
    await postgres_rows(record, tmp, quick)
