"""A catalog plugin whose search never returns, for tests/test_signals.py: it holds a vendor
adapter in the middle of answering an intent, and says so in a log event."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger("tests.stuck_catalog")


class StuckCatalog:
    async def search(self, category: str, want: Any, quantity: int) -> list[Any]:
        log.info("catalog.search_stuck", category=category)
        await asyncio.Event().wait()  # until the adapter is stopped
        return []

    async def get(self, sku: str) -> None:
        return None


def factory(options: dict[str, Any]) -> StuckCatalog:
    return StuckCatalog()
