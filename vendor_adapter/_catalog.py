"""Catalog connectors: CSV or JSON files, a SQL database (SQLite built in), and plugins.

A plugin is any object with the :class:`Catalog` methods, made by a factory named
``package.module:factory`` or registered under the entry point group ``intentcast.catalogs``;
the factory receives the ``[catalog.options]`` table. See ``vendor_adapter/README.md``.
"""

from __future__ import annotations

import csv
import importlib
import importlib.metadata
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import schemas

from ._config import CatalogConfig, ConfigError

__all__ = ["Catalog", "CatalogItem", "FileCatalog", "SqliteCatalog", "load_catalog", "relevance"]

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOP = {"a", "an", "the", "for", "with", "and", "or", "of", "to", "in", "on"}


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    title: str
    category: str
    price: int  # list price per unit, minor units
    currency: str
    stock: int
    attributes: dict[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    delivery_days: int | None = None


@runtime_checkable
class Catalog(Protocol):
    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        """Items of ``category`` (or below it) that may satisfy ``want``; stock is checked by
        the adapter."""
        ...

    async def get(self, sku: str) -> CatalogItem | None: ...


def _words(text: str) -> set[str]:
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        out.add(w)
        out.add(w[:-1] if w.endswith("s") and len(w) > 3 else w)
    return out


def relevance(item: CatalogItem, want: schemas.Want) -> float:
    """Share of the wanted words found in the item's title and keywords; 0 when any wanted
    attribute the item also has differs."""
    for k, v in want.attributes.items():
        theirs = item.attributes.get(k)
        if theirs is not None and theirs.lower() != v.lower():
            return 0.0
    wanted = _words(want.description)
    if not wanted:
        return 1.0
    have = _words(item.title) | _words(" ".join(item.keywords))
    return len(wanted & have) / len(wanted)


def _in_category(item_category: str, wanted: str) -> bool:
    return item_category == wanted or item_category.startswith(wanted + "/")


def _item(row: dict[str, Any]) -> CatalogItem:
    attrs = row.get("attributes") or {}
    if isinstance(attrs, str):
        attrs = json.loads(attrs) if attrs.strip().startswith("{") else dict(
            kv.split("=", 1) for kv in attrs.split(";") if "=" in kv
        )  # fmt: skip
    kws = row.get("keywords") or ()
    if isinstance(kws, str):
        kws = tuple(k.strip() for k in kws.replace(";", ",").split(",") if k.strip())
    price = row["price"]
    currency = str(row.get("currency") or "")
    if isinstance(price, str) and not price.replace(".", "", 1).isdigit():
        m = schemas.parse_money(price)
        price, currency = m.amount, m.currency
    elif isinstance(price, str | float):
        exp = schemas.CURRENCY_EXPONENTS.get(currency, 2)
        price = round(float(price) * 10**exp)
    dd = row.get("delivery_days")
    return CatalogItem(
        sku=str(row["sku"]), title=str(row["title"]), category=str(row["category"]),
        price=int(price), currency=currency, stock=int(row.get("stock") or 0),
        attributes={str(k): str(v) for k, v in dict(attrs).items()}, keywords=tuple(kws),
        delivery_days=int(dd) if dd not in (None, "") else None,
    )  # fmt: skip


class _InMemory:
    items: dict[str, CatalogItem]

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        return [
            i for i in self.items.values()
            if _in_category(i.category, category) and relevance(i, want) > 0
        ]  # fmt: skip

    async def get(self, sku: str) -> CatalogItem | None:
        return self.items.get(sku)


class FileCatalog(_InMemory):
    """Items from a CSV file (header row: sku,title,category,price,currency,stock,attributes,
    keywords[,delivery_days]) or a JSON list of objects with the same keys. Reloaded when the
    file changes, so a vendor's export job can replace it in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self.items = {}
        self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            raise ConfigError(f"catalog file {self.path} not found") from None
        if mtime == self._mtime:
            return
        text = self.path.read_text()
        try:
            rows = (
                json.loads(text)
                if self.path.suffix == ".json"
                else list(csv.DictReader(text.splitlines()))
            )
            self.items = {i.sku: i for i in map(_item, rows)}
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"catalog {self.path}: expected rows with sku, title, category, price, currency, stock; {exc}"
            ) from None
        self._mtime = mtime

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        self._load()
        return await super().search(category, want, quantity)


class SqliteCatalog(_InMemory):
    """Items from a SQLite database via a query that returns the catalog columns."""

    def __init__(self, path: Path, query: str) -> None:
        self.path, self.query = path, query
        self.items = {}
        self._refresh()

    def _refresh(self) -> None:
        if not self.path.exists():
            raise ConfigError(f"catalog database {self.path} not found")
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            self.items = {i.sku: i for i in (_item(dict(r)) for r in db.execute(self.query))}
        except sqlite3.Error as exc:
            raise ConfigError(f"catalog query failed on {self.path}: {exc}") from None
        finally:
            db.close()

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        self._refresh()
        return await super().search(category, want, quantity)


def load_catalog(cfg: CatalogConfig) -> Catalog:
    if cfg.kind in ("csv", "json"):
        if cfg.path is None:
            raise ConfigError(f"catalog.kind = {cfg.kind!r} needs catalog.path")
        return FileCatalog(cfg.path)
    if cfg.kind == "sqlite":
        if cfg.path is None:
            raise ConfigError("catalog.kind = 'sqlite' needs catalog.path")
        return SqliteCatalog(cfg.path, cfg.query)
    if not cfg.plugin:
        raise ConfigError("catalog.kind = 'plugin' needs catalog.plugin = 'package.module:factory'")
    if ":" in cfg.plugin:
        mod, _, attr = cfg.plugin.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"catalog plugin {cfg.plugin!r} could not be loaded: {exc}") from None
    else:
        eps = importlib.metadata.entry_points(group="intentcast.catalogs", name=cfg.plugin)
        if not eps:
            raise ConfigError(
                f"no catalog plugin named {cfg.plugin!r} in entry point group intentcast.catalogs"
            )
        factory = next(iter(eps)).load()
    catalog = factory(cfg.options)
    if not isinstance(catalog, Catalog):
        raise ConfigError(
            f"catalog plugin {cfg.plugin!r} returned {type(catalog).__name__}, which lacks search() and get()"
        )
    return catalog
