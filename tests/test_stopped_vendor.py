"""A vendor frozen with SIGSTOP during a flood of intents does not hold up the others."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

import schemas
from runtime import Bus, EmbeddedServer
from tests.conftest import VendorFactory, collect, own_agent

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "intents", [pytest.param(60, id="short"), pytest.param(1000, id="long", marks=pytest.mark.soak)]
)
async def test_a_stopped_vendor_does_not_slow_the_others(
    nats_server: EmbeddedServer, vendor: VendorFactory, tmp_path: Path, intents: int
) -> None:
    """With Sierra stopped, Cumbre answers every intent of the flood; Sierra answers again
    once continued."""
    sierra = await asyncio.to_thread(vendor, "sierra")
    cumbre = await asyncio.to_thread(vendor, "cumbre")
    async with (
        Bus(nats_server.url, name="agent", inbox_prefix=schemas.REPLY_ROOT) as bus,
        own_agent(tmp_path / "agent", bus) as a,
    ):

        async def one(expect: int) -> list[str]:
            got = await collect(a, window=10, expect=expect)
            return sorted(r.vendor_name for r in got.ranked)

        assert await one(2) == ["Cumbre Sports", "Sierra Outfitters"]
        sierra.signal(signal.SIGSTOP)
        try:
            sem = asyncio.Semaphore(10)

            async def limited() -> list[str]:
                async with sem:
                    return await one(1)

            rounds = await asyncio.gather(*(limited() for _ in range(intents)))
            assert all(r == ["Cumbre Sports"] for r in rounds)
            sent = await asyncio.to_thread(cumbre.wait_count, "offer.sent", intents + 1, 30)
            assert sent == intents + 1
        finally:
            sierra.signal(signal.SIGCONT)
        # Sierra works through what queued for it (shedding what its per-category rate
        # limit refuses, or, if the server cut it off as a slow consumer, reconnecting), and
        # then answers fresh intents again.
        handled = ("offer.sent", "offer.declined")
        backlog = sierra.count("offer.sent") + sierra.count("offer.declined")
        await asyncio.to_thread(sierra.wait_count, (*handled, "bus.reconnected"), backlog + 1, 60)
        answered = [await one(2) for _ in range(3)]
        assert any("Sierra Outfitters" in r for r in answered), answered
