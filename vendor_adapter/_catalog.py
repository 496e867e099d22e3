"""Catalog connectors: CSV or JSON files, a SQL database (SQLite built in), and plugins.

A plugin is any object with the :class:`Catalog` methods, made by a factory named
``package.module:factory`` or registered under the entry point group ``intentcast.catalogs``;
the factory receives the ``[catalog.options]`` table. See the vendor guide in ``README.md``.

File and SQLite catalogs check every row as they load it (and again whenever the file changes)
and refuse the whole catalog with one line per problem, as ``intentcast-vendor check`` shows.

Over 500 lines: the four kinds share the item type, the row checks and the search, and live
together so that a rule changes in one place; a module per kind is the next cut when a fifth
kind comes.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import importlib
import importlib.metadata
import io
import json
import re
import sqlite3
import time
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import schemas

from ._config import CatalogConfig, ConfigError

__all__ = [
    "CSV_HEADER",
    "Catalog",
    "CatalogItem",
    "FileCatalog",
    "Rules",
    "SqliteCatalog",
    "load_catalog",
]

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
    # What fulfilment needs disclosed (schemas.Need); None: the config's [fulfilment] needs.
    needs: tuple[str, ...] | None = None


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


_REQUIRED = ("sku", "title", "category", "price", "currency", "stock")
# A CSV catalog's header: the required columns, then the optional ones (one place for the
# simulator's and the bench's generated catalogs too).
CSV_HEADER = ",".join((*_REQUIRED, "attributes", "keywords"))
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COUNT = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Rules:
    """What a vendor's rows must satisfy beyond being well formed: a category at or below one
    the vendor serves (if ``categories`` is given), and the vendor's one pricing currency (if
    ``currency`` is given). ``config`` names the config file in the hints."""

    categories: tuple[str, ...] = ()
    currency: str | None = None
    config: str = "the vendor's config"


def _shown(value: object) -> str:
    return "nothing" if value is None else repr(value)


def _count(value: object) -> int | None:
    """A whole number of 0 or more from a cell or a JSON/SQL value; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    text = str(value).strip()
    return int(text) if _COUNT.fullmatch(text) else None


def _category_problem(category: str, rules: Rules) -> str | None:
    """Why a row's category is outside what the vendor serves, or None if it is inside."""
    served = rules.categories
    if not served or any(category == c or category.startswith(c + "/") for c in served):
        return None
    if category in schemas.CATEGORIES:
        hint = f"add {category} to categories in {rules.config}, or fix the row"
    else:
        below = sorted(
            t for t in schemas.CATEGORIES if any(t == c or t.startswith(c + "/") for c in served)
        )
        close = difflib.get_close_matches(category, below, n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else f"use a category from schemas/_taxonomy.py that is in categories in {rules.config}"
        )
    return (
        f"expected one of the vendor's categories ({', '.join(served)}) or one below them, "
        f"got {category!r}; {hint}"
    )


def _item(
    row: Mapping[str, Any], where: str, rules: Rules, problems: list[str]
) -> CatalogItem | None:
    """One catalog row as an item, or None after adding a line to ``problems`` for each thing
    wrong with it (``where`` names the file and the row)."""
    before = len(problems)

    def bad(key: str, text: str) -> None:
        problems.append(f"{where}: {key}: {text}")

    for key in _REQUIRED:
        if key not in row:
            bad(key, "expected a value, got none")
    if before != len(problems):
        return None
    sku, title, category = (str(row[k] if row[k] is not None else "").strip() for k in ("sku", "title", "category"))  # fmt: skip
    if not sku:
        bad("sku", f"expected a SKU, got {_shown(row['sku'])}")
    if not title:
        bad("title", f"expected a title the person will see, got {_shown(row['title'])}")
    if not category:
        bad("category", f"expected a category such as outdoor/tents, got {_shown(row['category'])}")
    elif (why := _category_problem(category, rules)) is not None:
        bad("category", why)

    currency = str(row["currency"] or "").strip()
    raw_price, price = row["price"], None
    text = str(raw_price).strip() if raw_price is not None else ""
    if isinstance(raw_price, bool) or not text:
        bad("price", f"expected a price such as 129.00, got {_shown(raw_price)}")
    elif isinstance(raw_price, int) or text.startswith("-"):  # an int is already minor units
        if text.startswith("-"):
            bad("price", f"expected a price of 0 or more, got {raw_price!r}")
        else:
            price = int(text)
    elif _PLAIN_AMOUNT.fullmatch(text):
        if currency in schemas.ISO_4217:
            exp = schemas.ISO_4217[currency]
            minor = Decimal(text) * 10**exp
            if minor != minor.to_integral_value():
                bad(
                    "price",
                    f"expected at most {exp} decimal places for {currency}, got {raw_price!r}",
                )
            else:
                price = int(minor)
    else:
        try:
            money = schemas.parse_money(text)
        except ValueError:
            bad("price", f"expected a price such as 129.00 (or 129.00 EUR), got {raw_price!r}")
        else:
            price, currency = money.amount, money.currency

    if currency not in schemas.ISO_4217:
        hint = (
            f"; did you mean {currency.upper()!r}?" if currency.upper() in schemas.ISO_4217 else ""
        )
        bad("currency", f"expected an ISO 4217 currency code such as 'EUR', got {currency!r}{hint}")
    elif rules.currency is not None and currency != rules.currency:
        bad(
            "currency",
            f"expected {rules.currency!r} (pricing.currency in {rules.config}), got {currency!r}",
        )

    stock = 0 if row["stock"] in (None, "") else _count(row["stock"])
    if stock is None:
        bad("stock", f"expected a whole number of 0 or more, got {row['stock']!r}")
    dd_raw = row.get("delivery_days")
    delivery_days = None if dd_raw in (None, "") else _count(dd_raw)
    if dd_raw not in (None, "") and delivery_days is None:
        bad("delivery_days", f"expected a whole number of days, 0 or more, got {dd_raw!r}")

    attrs = row.get("attributes") or {}
    if isinstance(attrs, str):
        with contextlib.suppress(ValueError):  # not an object: reported just below
            attrs = json.loads(attrs) if attrs.strip().startswith("{") else dict(
                kv.split("=", 1) for kv in attrs.split(";") if "=" in kv
            )  # fmt: skip
    if not isinstance(attrs, dict):
        bad(
            "attributes",
            f"expected a JSON object or key=value;key=value, got {row.get('attributes')!r}",
        )
    kws = row.get("keywords") or ()
    if isinstance(kws, str):
        kws = tuple(k.strip() for k in kws.replace(";", ",").split(",") if k.strip())
    needs = _needs(row.get("needs"))
    if isinstance(needs, str):
        bad("needs", needs)
        needs = None

    if len(problems) != before or price is None or stock is None or not isinstance(attrs, dict):
        return None
    return CatalogItem(
        sku=sku, title=title, category=category, price=price, currency=currency, stock=stock,
        attributes={str(k): str(v) for k, v in attrs.items()}, keywords=tuple(str(k) for k in kws),
        delivery_days=delivery_days, needs=needs,
    )  # fmt: skip


_NEEDS = typing.get_args(schemas.Need)


def _needs(raw: object) -> tuple[str, ...] | str | None:
    """A row's ``needs`` ("email", "name;postal_address", a JSON list, or "none"), None when
    the row says nothing, or the problem as text."""
    if raw is None or raw == "":
        return None
    parts = raw if isinstance(raw, list) else str(raw).replace(",", ";").split(";")
    got = tuple(dict.fromkeys(str(p).strip() for p in parts if str(p).strip()))
    if got == ("none",):
        return ()
    wrong = [n for n in got if n not in _NEEDS]
    if wrong:
        return f"expected some of {', '.join(_NEEDS)} (or none), separated by ';', got {raw!r}"
    return got


def _items(
    path: Path, rows: Iterable[tuple[str, Mapping[str, Any]]], rules: Rules, problems: list[str]
) -> dict[str, CatalogItem]:
    """Items by SKU from ``(place, row)`` pairs, ``place`` such as ``line 3``; a SKU seen twice
    is a problem."""
    items: dict[str, CatalogItem] = {}
    first: dict[str, str] = {}
    for place, row in rows:
        where = f"{path}: {place}"
        item = _item(row, where, rules, problems)
        sku = str(row.get("sku") or "").strip()
        if sku in first:
            problems.append(
                f"{where}: sku: expected each SKU once, got {sku!r} again (first at {first[sku]})"
            )
        elif sku:
            first[sku] = place.split(" (")[0]
        if item is not None and not problems:  # after the first problem only problems matter
            items[item.sku] = item
    return items


def _columns(path: Path, where: str, columns: Sequence[str]) -> list[str]:
    """A line for each required column that ``columns`` lacks, with the likeliest misspelling."""
    out = []
    unknown = [c for c in columns if c not in _REQUIRED]
    for need in _REQUIRED:
        if need not in columns:
            close = difflib.get_close_matches(need, unknown, n=1, cutoff=0.6)
            hint = f"; is {close[0]!r} meant to be {need!r}?" if close else ""
            out.append(
                f"{path}: {where}: expected a {need!r} column, got columns "
                f"{', '.join(repr(c) for c in columns) or 'none'}{hint}"
            )
    return out


def _csv_items(path: Path, text: str, rules: Rules, problems: list[str]) -> dict[str, CatalogItem]:
    reader = csv.DictReader(io.StringIO(text, newline=""))

    def rows(width: int) -> Iterator[tuple[str, dict[str, Any]]]:
        for row in reader:
            place = f"line {reader.line_num}"
            if sku := (row.get("sku") or "").strip():
                place += f" (sku {sku})"
            if None in row:  # more cells than the header has columns
                extra = len(row.pop(None) or ())
                problems.append(
                    f"{path}: {place}: expected {width} cells as in the header, got "
                    f"{width + extra}; quote cells that contain a comma"
                )
                continue
            yield place, row

    try:
        header = reader.fieldnames
        if header is None:
            problems.append(
                f"{path}: line 1: expected a header row ({','.join(_REQUIRED)}), got an empty file"
            )
            return {}
        if missing := _columns(path, "line 1 (header)", header):
            problems.extend(missing)
            return {}
        return _items(path, rows(len(header)), rules, problems)
    except csv.Error as exc:
        problems.append(f"{path}: line {reader.line_num}: expected CSV, got {exc}")
        return {}


def _json_items(path: Path, text: str, rules: Rules, problems: list[str]) -> dict[str, CatalogItem]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        problems.append(f"{path}: expected JSON (a list of items), got {exc}")
        return {}
    if not isinstance(data, list):
        problems.append(f"{path}: expected a JSON list of items, got a {type(data).__name__}")
        return {}
    rows = []
    for n, row in enumerate(data):
        place = f"$[{n}]"
        if not isinstance(row, dict):
            problems.append(
                f"{path}: {place}: expected an object with {', '.join(_REQUIRED)}, got {row!r}"
            )
            continue
        if isinstance(row.get("sku"), str) and row["sku"].strip():
            place += f" (sku {row['sku'].strip()})"
        rows.append((place, row))
    return _items(path, rows, rules, problems)


class _Shelf:
    """One category's items (with everything below it), indexed for search: an inverted
    index from words to items, and for each attribute which items have which value. It keeps
    the searches it answered until an item is added; a reload builds new shelves."""

    FOUND_MAX = 1024  # wants remembered per shelf; descriptions are the person's free text

    def __init__(self) -> None:
        self.items: list[CatalogItem] = []
        self.by_word: dict[str, set[int]] = {}
        self.has_attr: dict[str, set[int]] = {}
        self.attr_value: dict[tuple[str, str], set[int]] = {}
        self.found: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[CatalogItem, ...]] = {}

    def add(self, item: CatalogItem, words: frozenset[str]) -> None:
        n = len(self.items)
        self.items.append(item)
        self.found.clear()
        for w in words:
            self.by_word.setdefault(w, set()).add(n)
        for k, v in item.attributes.items():
            self.has_attr.setdefault(k, set()).add(n)
            self.attr_value.setdefault((k, v.lower()), set()).add(n)

    def search(self, want: schemas.Want) -> list[CatalogItem]:
        key = (want.description, tuple(sorted(want.attributes.items())))
        hit = self.found.get(key)
        if hit is None:
            if len(self.found) >= self.FOUND_MAX:
                self.found.clear()
            hit = self.found[key] = tuple(self._search(want))
        return list(hit)

    def _search(self, want: schemas.Want) -> list[CatalogItem]:
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

    def __init__(self, path: Path, check_seconds: float = 1.0, rules: Rules = Rules()) -> None:
        self.path, self.check_seconds, self.rules = path, check_seconds, rules
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
            raise ConfigError(f"{self.path}: expected a catalog file, got no such file") from None
        if mtime == self._mtime:
            return
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError(f"{self.path}: expected a readable catalog file, got {why}") from None
        try:
            text = data.decode("utf-8-sig")  # -sig: spreadsheets often start with a BOM
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"{self.path}: line {line}: expected UTF-8 text, got byte "
                f"0x{data[exc.start]:02x}, which is not; save the file as UTF-8"
            ) from None
        problems: list[str] = []
        read = _json_items if self.path.suffix == ".json" else _csv_items
        items = read(self.path, text, self.rules, problems)
        if problems:
            raise ConfigError(*problems)
        self.items = items
        self._by_category = None
        self._mtime = mtime

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        self._load()
        return await super().search(category, want, quantity)


class SqliteCatalog(_InMemory):
    """Items from a SQLite database via a query that returns the catalog columns."""

    def __init__(
        self, path: Path, query: str, refresh_seconds: float = 30.0, rules: Rules = Rules()
    ) -> None:
        self.path, self.query, self.refresh_seconds, self.rules = (
            path,
            query,
            refresh_seconds,
            rules,
        )
        self.items = {}
        self._loaded_at = float("-inf")
        self._refresh()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at < self.refresh_seconds:
            return
        self._loaded_at = now
        if not self.path.exists():
            raise ConfigError(f"{self.path}: expected a catalog database, got no such file")
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        problems: list[str] = []
        try:
            cur = db.execute(self.query)
            columns = [d[0] for d in cur.description or ()]
            if missing := _columns(self.path, "catalog.query", columns):
                raise ConfigError(*missing)
            rows = ((f"query row {n}", dict(r)) for n, r in enumerate(cur, 1))
            items = _items(self.path, rows, self.rules, problems)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"{self.path}: catalog.query: expected a query that runs, got {exc}"
            ) from None
        finally:
            db.close()
        if problems:
            raise ConfigError(*problems)
        self.items = items
        self._by_category = None

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        self._refresh()
        return await super().search(category, want, quantity)


def load_catalog(cfg: CatalogConfig, rules: Rules = Rules()) -> Catalog:
    """The catalog ``cfg`` names; file and SQLite catalogs also check every row (see
    :class:`Rules`) and raise :class:`ConfigError` with a line for each problem."""
    if cfg.kind in ("csv", "json"):
        if cfg.path is None:
            raise ConfigError(f"catalog.kind = {cfg.kind!r} needs catalog.path")
        return FileCatalog(cfg.path, rules=rules)
    if cfg.kind == "sqlite":
        if cfg.path is None:
            raise ConfigError("catalog.kind = 'sqlite' needs catalog.path")
        refresh = float(cfg.options.get("refresh_seconds", 30.0))
        return SqliteCatalog(cfg.path, cfg.query, refresh, rules=rules)
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
