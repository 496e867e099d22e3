"""Aftercare's purge: once the retention the person's terms allow has passed, nothing the
person disclosed is left in the vendor's store, not even inside the signed acceptance it
kept; the order itself, its receipt and the person's countersignature stay."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime import InProcessTransport
from tests.conftest import DEMO
from tests.shopper import Shopper, intent
from vendor_adapter import Vendor

SECRET = b"Mallory Quux-Disclosed"


async def test_a_purge_leaves_nothing_disclosed_in_any_column(tmp_path: Path) -> None:
    """Before the retention passes the disclosure is kept (the vendor needs it to deliver);
    after it, no column of the order holds the disclosed name, the receipt and the
    countersignature are still there, and a second purge finds nothing."""
    shutil.copytree(DEMO / "vendors", tmp_path / "vendors")
    shutil.copytree(DEMO / "catalogs", tmp_path / "catalogs")
    now = [datetime.now(UTC)]
    sierra = tmp_path / "vendors" / "sierra.toml"
    async with InProcessTransport() as bus, Vendor(sierra, bus, clock=lambda: now[0]) as v:
        shopper = Shopper(bus)
        cast = intent()
        (offer,) = await shopper.offers(cast)
        order = await shopper.order(cast, offer, name=SECRET.decode())
        assert await shopper.countersign(order) == {"stored": True}
        assert {"disclosure", "accept_wire"} <= set(_disclosed(v))
        assert await v.adapter.purge_once() == 0
        now[0] += timedelta(days=31)  # Sierra keeps data 30 days
        assert await v.adapter.purge_once() == 1
        assert _disclosed(v) == []
        (row,) = v.store.orders()
        assert row["status"] == "confirmed" and row["receipt_wire"]
        assert row["countersignature_wire"]
        assert await v.adapter.purge_once() == 0


def _disclosed(v: Vendor) -> list[str]:
    """The columns of the vendor's orders that still hold the disclosed name."""
    out = []
    for row in v.store.orders():
        for column, value in dict(row).items():
            raw = value.encode() if isinstance(value, str) else value
            if isinstance(raw, bytes) and SECRET in raw:
                out.append(column)
    return out
