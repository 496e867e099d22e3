"""The vendor adapter: deployed by a seller beside their catalog, it answers intents with
signed offers and turns acceptances into orders and countersigned receipts."""

from ._catalog import Catalog, CatalogItem, FileCatalog, SqliteCatalog, load_catalog
from ._config import ConfigError, VendorConfig, load_config
from ._load import load_vendor
from ._pricing import Quote, quote
from ._service import Choice, VendorAdapter
from ._store import VendorStore

__all__ = [
    "Catalog",
    "CatalogItem",
    "Choice",
    "ConfigError",
    "FileCatalog",
    "Quote",
    "SqliteCatalog",
    "VendorAdapter",
    "VendorConfig",
    "VendorStore",
    "load_catalog",
    "load_config",
    "load_vendor",
    "quote",
]
