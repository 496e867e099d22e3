"""The broker SIGKILLed and restarted again and again during a stream of intents and
acceptances: afterwards the person's store and the vendor's reconcile, every acknowledged
order has its receipt on both sides, and nothing is duplicated."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

import schemas
from agent import AcceptError
from runtime import Bus, EmbeddedServer
from tests.cluster import free_port
from tests.conftest import VendorFactory, collect, own_agent, restock, vendor_db

pytestmark = pytest.mark.e2e


class Broker:
    """One nats-server on a fixed port, killed and started again on demand."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.store = free_port(), tmp / "broker"
        self.server = EmbeddedServer(self.store, port=self.port).start()
        self.kills = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def bounce(self) -> None:
        self.server.kill()
        self.kills += 1
        self.server = EmbeddedServer(self.store, port=self.port).start()

    def stop(self) -> None:
        self.server.stop()


@pytest.mark.parametrize(
    "rounds", [pytest.param(12, id="short"), pytest.param(120, id="long", marks=pytest.mark.soak)]
)
async def test_broker_killed_repeatedly_loses_and_duplicates_nothing(
    tmp_path: Path, vendor: VendorFactory, rounds: int
) -> None:
    """Every third round the broker is SIGKILLed while an acceptance is in flight and
    restarted; afterwards: acknowledged - final = {} and final - attempted = {}."""
    broker = Broker(tmp_path)
    rng = random.Random(11)
    try:
        restock(tmp_path, "sierra.csv", 100_000)
        await asyncio.to_thread(vendor, "sierra", bus=broker.url)
        attempted: set[str] = set()
        acknowledged: dict[str, str] = {}  # offer -> receipt hash, as the person saw it
        errors = 0
        async with (
            Bus(broker.url, name="agent", inbox_prefix=schemas.REPLY_ROOT) as bus,
            own_agent(tmp_path / "agent", bus) as a,
        ):
            for i in range(rounds):
                await asyncio.wait_for(_connected(bus), 20)
                got = await collect(a, expect=1)
                if not got.ranked:
                    errors += 1
                    continue
                offer = got.ranked[0].offer.id
                attempted.add(offer)
                chaos = asyncio.to_thread(broker.bounce) if i % 3 == 1 else None
                a.per_try_seconds = 1 + rng.random()
                task = asyncio.create_task(a.accept(offer))
                if chaos is not None:
                    await chaos
                try:
                    res = await task
                    if res.receipt is not None:
                        acknowledged[offer] = res.receipt.digest
                except AcceptError:
                    errors += 1
            in_flight = len(acknowledged)
            # Settle: accept again whatever was attempted (same bytes), then deliver
            # countersignatures the outages swallowed.
            await asyncio.wait_for(_connected(bus), 20)
            a.per_try_seconds = 5.0
            for offer in sorted(attempted - set(acknowledged)):
                res = await a.accept(offer)
                assert res.receipt is not None
                acknowledged[offer] = res.receipt.digest
            sent, acked = await a.sync()
            assert acked == sent
            mine = {r.offer_id: r for r in a.store.receipts()}
        orders = (
            vendor_db(tmp_path, "sierra")
            .execute("SELECT offer_id, receipt_wire, countersignature_wire FROM orders")
            .fetchall()
        )
        final = {o["offer_id"]: schemas.digest(o["receipt_wire"][64:]) for o in orders}
        assert len(final) == len(orders)  # no offer ordered twice
        assert set(acknowledged) - set(final) == set()
        assert set(final) - attempted == set()
        assert all(final[o] == h for o, h in acknowledged.items())
        assert set(mine) == set(final)
        assert all(
            mine[o["offer_id"]].countersignature_wire == o["countersignature_wire"] for o in orders
        )
        assert broker.kills == len(range(1, rounds, 3))
        print(
            f"broker kills {broker.kills}; attempted {len(attempted)}; acknowledged in flight {in_flight}, after settling {len(acknowledged)}; orders {len(final)}; lost 0; errors during outages {errors}"
        )
    finally:
        broker.stop()


async def _connected(bus: Bus) -> None:
    while not bus.nc.is_connected:
        await bus.reconnected.wait()
