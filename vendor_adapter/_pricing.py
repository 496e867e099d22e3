"""Pricing rules: list price, quantity discounts, a floor, and meeting a person's budget."""

from __future__ import annotations

from dataclasses import dataclass

from ._catalog import CatalogItem
from ._config import PricingConfig

__all__ = ["Quote", "quote"]


@dataclass(frozen=True)
class Quote:
    unit: int  # minor units
    total: int
    note: str


def quote(item: CatalogItem, quantity: int, budget: int, rules: PricingConfig) -> Quote | None:
    """The price to offer, or ``None`` when even the floor is above the person's budget."""
    pct = max(
        (t.percent for t in rules.quantity_discounts if quantity >= t.min_quantity), default=0.0
    )
    unit = round(item.price * (100 - pct) / 100)
    floor_unit = round(item.price * rules.floor_percent / 100)
    note = f"{pct:g}% quantity discount" if pct else "list price"
    if unit * quantity <= budget:
        return Quote(unit, unit * quantity, note)
    if not rules.meet_budget or floor_unit * quantity > budget:
        return None
    unit = budget // quantity  # the highest unit price that fits
    return Quote(unit, unit * quantity, "priced down to meet your budget")
