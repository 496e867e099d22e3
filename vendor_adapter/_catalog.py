"""Catalog connectors: CSV or JSON files, a SQL database (SQLite built in), and plugins.

A plugin is any object with the :class:`Catalog` methods, made by a factory named
``package.module:factory`` or registered under the entry point group ``intentcast.catalogs``;
the factory receives the ``[catalog.options]`` table. See ``vendor_adapter/README.md``.
"""

from __future__ import annotations

import csv
import functools
import importlib
import importlib.metadata
import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import schemas

from ._config import CatalogConfig, ConfigError

__all__ = ["Catalog", "CatalogItem", "FileCatalog", "SqliteCatalog", "load_catalog"]

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
        """Items of ``category`` (or below it) that may satisfy ``want``, best match first;
        the adapter checks currency and stock and offers the first it can price."""
        ...

    async def get(self, sku: str) -> CatalogItem | None: ...


@functools.lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        out.add(w)
        out.add(w[:-1] if w.endswith("s") and len(w) > 3 else w)
    return frozenset(out)


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


class _Shelf:
    """One category's items (with everything below it), indexed for search: an inverted
    index from words to items, and for each attribute which items have which value."""

    def __init__(self) -> None:
        self.items: list[CatalogItem] = []
        self.by_word: dict[str, set[int]] = {}
        self.has_attr: dict[str, set[int]] = {}
        self.attr_value: dict[tuple[str, str], set[int]] = {}

    def add(self, item: CatalogItem, words: frozenset[str]) -> None:
        n = len(self.items)
        self.items.append(item)
        for w in words:
            self.by_word.setdefault(w, set()).add(n)
        for k, v in item.attributes.items():
            self.has_attr.setdefault(k, set()).add(n)
            self.attr_value.setdefault((k, v.lower()), set()).add(n)

    def search(self, want: schemas.Want) -> list[CatalogItem]:
        wanted = _words(want.description)
        matched: set[int]
        counts: dict[int, int] | None = None  # None: every match has every wanted word
        if wanted:
            sets = [self.by_word[w] for w in wanted if w in self.by_word]
            if not sets:
                return []
            matched = set().union(*sets)
            if len(sets) > 1 and len(set.intersection(*sets)) != len(matched):
                counts = {n: sum(n in s for s in sets) for n in matched}
        else:
            matched = set(range(len(self.items)))
        for k, v in want.attributes.items():  # a different value for a wanted attribute excludes
            if (has := self.has_attr.get(k)) is not None:
                matched -= has - self.attr_value.get((k, v.lower()), set())
        # Items were added cheapest first, so within one hit count their index is the order.
        order = (
            sorted(matched) if counts is None else sorted(matched, key=lambda n: (-counts[n], n))
        )
        items = self.items
        return [items[n] for n in order]


class _InMemory:
    """Items held in memory, indexed by category (see :class:`_Shelf`), built once per load."""

    items: dict[str, CatalogItem]
    _by_category: dict[str, _Shelf] | None = None

    def _index(self) -> dict[str, _Shelf]:
        if self._by_category is None:
            idx: dict[str, _Shelf] = {}
            for i in sorted(self.items.values(), key=lambda i: (i.price, i.sku)):
                words = _words(i.title + " " + " ".join(i.keywords))
                parts = i.category.split("/")
                for n in range(1, len(parts) + 1):  # an item is found under every ancestor
                    idx.setdefault("/".join(parts[:n]), _Shelf()).add(i, words)
            self._by_category = idx
        return self._by_category

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        """Matches in ``category`` or below, best first (most wanted words, then price).
        An item that has a wanted attribute with another value does not match."""
        shelf = self._index().get(category)
        return shelf.search(want) if shelf is not None else []

    async def get(self, sku: str) -> CatalogItem | None:
        return self.items.get(sku)


class FileCatalog(_InMemory):
    """Items from a CSV file (header row: sku,title,category,price,currency,stock,attributes,
    keywords[,delivery_days]) or a JSON list of objects with the same keys. Reloaded when the
    file changes, so a vendor's export job can replace it in place."""

    def __init__(self, path: Path, check_seconds: float = 1.0) -> None:
        self.path, self.check_seconds = path, check_seconds
        self._mtime = -1.0
        self._checked = float("-inf")
        self.items = {}
        self._load()

    def _load(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_seconds:  # look at the file at most this often
            return
        self._checked = now
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
            self._by_category = None
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

    def __init__(self, path: Path, query: str, refresh_seconds: float = 30.0) -> None:
        self.path, self.query, self.refresh_seconds = path, query, refresh_seconds
        self.items = {}
        self._loaded_at = float("-inf")
        self._refresh()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at < self.refresh_seconds:
            return
        self._loaded_at = now
        if not self.path.exists():
            raise ConfigError(f"catalog database {self.path} not found")
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            self.items = {i.sku: i for i in (_item(dict(r)) for r in db.execute(self.query))}
            self._by_category = None
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
        return SqliteCatalog(cfg.path, cfg.query, float(cfg.options.get("refresh_seconds", 30.0)))
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
