"""Where a vendor delivers: the areas of its config as wire regions, and whether they cover
the coarse region an intent names."""

from __future__ import annotations

from collections.abc import Sequence

import schemas

__all__ = ["covers", "regions"]


def regions(areas: Sequence[str]) -> list[schemas.Region]:
    """``["ES", "PT-1"]`` (as the config checked them) as wire regions."""
    out = []
    for area in areas:
        country, _, prefix = area.partition("-")
        out.append(schemas.Region(country, prefix))
    return out


def covers(areas: Sequence[schemas.Region], region: schemas.Region) -> bool:
    """True when one of ``areas`` contains all of ``region``: the same country, and a postcode
    prefix the region's own prefix starts with. ``ES-28`` covers ``ES-280`` but not ``ES``,
    which may lie outside it. No areas: not stated, so nothing is excluded."""
    if not areas:
        return True
    return any(
        a.country == region.country and region.postcode_prefix.startswith(a.postcode_prefix)
        for a in areas
    )
