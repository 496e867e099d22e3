"""Which order store a vendor opens: SQLite in ``data_dir`` on one host (the default), or
PostgreSQL shared by replicas on any number of hosts, from ``store`` in the config or
``$INTENTCAST_STORE`` (which wins, so that a Kubernetes Secret can carry the URL)."""

from __future__ import annotations

import os

from ._config import ConfigError, VendorConfig
from ._order_store import OrderStore
from ._postgres import PostgresStore
from ._store import VendorStore

__all__ = ["STORE_ENV", "open_order_store"]

STORE_ENV = "INTENTCAST_STORE"


def open_order_store(cfg: VendorConfig, vendor_id: str) -> OrderStore:
    """Open (creating or migrating) the store ``cfg`` names, for the vendor ``vendor_id``."""
    url = os.environ.get(STORE_ENV) or cfg.store
    if url is None or url == "sqlite":
        return VendorStore(cfg.data_dir / "vendor.sqlite")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f'${STORE_ENV}: expected "sqlite" or a postgresql:// URL, got {url[:40]!r}'
        )
    password = None
    if cfg.store_password_file is not None:
        try:
            password = cfg.store_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"store_password_file: expected a readable file, got {exc.strerror}"
                f" ({cfg.store_password_file})"
            ) from None
    return PostgresStore(
        url, vendor_id=vendor_id, password=password, timeout=cfg.store_timeout.total_seconds(),
        pool_size=cfg.store_pool_size,
    )  # fmt: skip
