"""The vendor adapter: deployed by a seller beside their catalog, it answers intents with
signed offers and turns acceptances into orders and countersigned receipts.

Run one with :class:`Vendor` (``async with Vendor(config_path, transport)``); the CLI, demo,
benchmarks and simulator all do.

The code is cut by exchange, one room per module, because each exchange has its own
adversary and its own state, and a change to one must not reach into another:

- ``_intents``: intents to offers (verify, check, search, price, offer). Hot, stateless but
  for the replay cache and rate limits; its adversary is junk and floods on a broadcast
  subject.
- ``_orders``: acceptances to orders (reserve stock, confirm with a receipt). Writes to the
  store; its adversary is the unlinkable acceptor who holds stock and never pays, bounded by
  the hold policy there.
- ``_aftercare``: what follows an order (countersignatures that confirm it, cancellations,
  purges of personal details). Touches only orders the vendor already holds.
- ``_relationships``: the person's changed details applied, and erasure on request, each
  only under the intent key of the order named.

- ``_counter``: the vendor's own word on an order (ship, delivered, cancel), signed for
  the person's mailbox; ``_feed``: every order change, for the vendor's own systems
  (``_shop_plugin`` is a worked example of both ends with a shop's HTTP API).

They share a ``Shop`` (config, catalog, store, keys, metrics, clock, the refusals log); the
service (``_service``) is only the subscriptions and timers that feed them. The store is an
``OrderStore`` (``_order_store``): SQLite on one host (``_store``, the default) or PostgreSQL
shared by replicas on many (``_postgres``, with ``_migrations``), as the config's ``store``
says (``_store_choice``).
"""

from ._catalog import CSV_HEADER, Catalog, CatalogItem, FileCatalog, SqliteCatalog, load_catalog
from ._certified import EvidenceShelf, seal_within
from ._config import CertifiedConfig, ConfigError, VendorConfig, load_config
from ._intents import Choice
from ._load import load_vendor
from ._order_store import OrderStore, StoredOrder
from ._postgres import PostgresStore, StoreUnavailable, WrongVendor
from ._pricing import Quote, quote
from ._service import VendorAdapter
from ._shop_plugin import ShopCatalog, ShopSync, shop_catalog
from ._store import VendorStore
from ._store_choice import STORE_ENV, open_order_store
from ._vendor import Vendor, vendor_signer

__all__ = [
    "CSV_HEADER",
    "STORE_ENV",
    "Catalog",
    "CatalogItem",
    "CertifiedConfig",
    "Choice",
    "ConfigError",
    "EvidenceShelf",
    "FileCatalog",
    "OrderStore",
    "PostgresStore",
    "Quote",
    "ShopCatalog",
    "ShopSync",
    "SqliteCatalog",
    "StoreUnavailable",
    "StoredOrder",
    "Vendor",
    "VendorAdapter",
    "VendorConfig",
    "VendorStore",
    "WrongVendor",
    "load_catalog",
    "load_config",
    "load_vendor",
    "open_order_store",
    "quote",
    "seal_within",
    "shop_catalog",
    "vendor_signer",
]
