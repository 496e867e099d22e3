"""What an item's fulfilment needs the person to disclose: its catalog row's ``needs``, else
the config's ``[fulfilment] needs``."""

from __future__ import annotations

import schemas

from ._catalog import CatalogItem
from ._config import VendorConfig

__all__ = ["item_needs"]


def item_needs(item: CatalogItem | None, cfg: VendorConfig) -> list[schemas.Need]:
    needs = item.needs if item is not None and item.needs is not None else cfg.fulfilment.needs
    return [n for n in schemas.NEED_FIELDS if n in needs]  # type: ignore[misc]
