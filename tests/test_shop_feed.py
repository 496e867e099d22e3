"""The vendor's order feed and the worked shop plugin, over a real nats-server with
JetStream, a real vendor subprocess whose catalog is a real HTTP shop (tests/fake_shop.py),
and the real CLIs: the shop's stock is what the adapter offers, intentcast's orders reach
the shop through the feed, and every event arrives at least once across an outage of the
consumer and of the shop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from runtime import Bus, EmbeddedServer
from tests.conftest import Agent, VendorFactory, vendor_db
from tests.fake_shop import FakeShop
from tests.test_counter import counter
from vendor_adapter import ShopSync

CONFIG = """name = "Shop Co"
categories = ["outdoor/tents"]
keys_dir = "keys/shopco"
data_dir = "data/shopco"
delivery_days = 4

[terms]
data_retention_days = 30
no_tracking = true
no_sharing = true
contact_via_agent_only = true
return_days = 30
warranty_months = 24
payment_methods = ["card"]
jurisdiction = "es"
agreements = ["nostalking"]

[catalog]
kind = "plugin"
plugin = "vendor_adapter:shop_catalog"

[catalog.options]
url = "{url}"
refresh_seconds = 0.2

[delivery]
areas = ["ES"]
"""


def _events(tmp_path: Path) -> set[int]:
    return {r[0] for r in vendor_db(tmp_path, "shopco").execute("SELECT id FROM feed_events")}


async def _in_thread(f: Any, *args: str) -> Any:
    return await asyncio.to_thread(f, *args)


async def test_the_shop_plugin_keeps_stock_in_step_and_the_feed_survives_outages(
    person: Agent, vendor: VendorFactory, tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Three tents on hand, one sold on the web: no offer for three, one for two. The person
    buys two while no consumer runs; started later, the durable consumer gets the events and
    the shop holds the order (its stock 0, no offer for one more). The vendor cancels while
    the shop answers 503: the hand-over is retried until the shop is back, the shop's order
    is cancelled and two tents are on offer again. Every feed event was handed over."""
    shop = FakeShop({"T2": {"title": "Two-person tent", "category": "outdoor/tents",
                            "price": 4000, "currency": "EUR", "on_hand": 3}})  # fmt: skip
    async with shop.serving() as url:
        vendors = tmp_path / "market" / "vendors"
        vendors.mkdir(parents=True)
        (vendors / "shopco.toml").write_text(CONFIG.format(url=url))
        proc = await _in_thread(vendor, "shopco")
        vendor_id = str(proc.wait_for("vendor.ready")["vendor"])
        assert shop.sell("web-1", "T2", 1, "web")
        assert (await _in_thread(person.want, "--quantity", "3"))["offers"] == []
        got = await _in_thread(person.want, "--quantity", "2", "--expect", "1")
        offer = got["offers"][0]["offer"][:8]
        acc = json.loads(await _in_thread(person.ok, "accept", offer, "--json"))
        assert acc["status"] == "confirmed"
        async with Bus(nats_server.url, name="back-office") as bus:
            async with ShopSync(bus, vendor_id, url) as sync:
                async with asyncio.timeout(20):
                    await sync.wait_handled(_events(tmp_path))
            first = set(sync.handled)
            (ours,) = [o for o in shop.orders.values() if o["channel"] == "intentcast"]
            assert (
                ours["id"] == acc["receipt"]["order_id"]
                and ours["quantity"] == 2
                and shop.stock("T2") == 0
            )
            assert (await _in_thread(person.want))["offers"] == []
            shop.down = True
            order = acc["receipt"]["order_id"][:8]
            cp = await asyncio.to_thread(
                counter, tmp_path, "cancel", order, "--reason", "x", vendor="shopco"
            )
            assert cp.returncode == 0, cp.stderr
            async with ShopSync(bus, vendor_id, url) as sync:
                async with asyncio.timeout(20), sync.changed:
                    await sync.changed.wait_for(lambda: sync.retries >= 1)
                shop.down = False
                async with asyncio.timeout(30):
                    await sync.wait_handled(_events(tmp_path) - first)
            assert first | set(sync.handled) == _events(tmp_path)  # every event, once at least
        assert ours["status"] == "cancelled" and shop.stock("T2") == 2
        assert (
            len((await _in_thread(person.want, "--quantity", "2", "--expect", "1"))["offers"]) == 1
        )
