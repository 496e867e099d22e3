"""The vendor adapter's parts on their own: pricing, catalog connectors, store, limits."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

import schemas
from tests.factories import NOW
from vendor_adapter import (
    CatalogItem,
    ConfigError,
    FileCatalog,
    SqliteCatalog,
    VendorStore,
    load_catalog,
    load_config,
    quote,
)
from vendor_adapter._config import CatalogConfig, PricingConfig
from vendor_adapter._ratelimit import RateLimiter

ITEM = CatalogItem("T1", "Two-person tent", "outdoor/tents", 10000, "EUR", 9)
RULES = PricingConfig.model_validate(
    {"quantity_discounts": [{"min_quantity": 2, "percent": 10}], "floor_percent": 80}
)


def test_pricing_applies_discounts_floor_and_budget() -> None:
    """List price; the best discount tier; priced down to the budget but never below floor."""
    assert quote(ITEM, 1, 20000, RULES) == quote(ITEM, 1, 10000, RULES)
    assert quote(ITEM, 1, 10000, RULES).total == 10000  # type: ignore[union-attr]
    assert quote(ITEM, 2, 99999, RULES).unit == 9000  # type: ignore[union-attr]
    q = quote(ITEM, 1, 8500, RULES)
    assert q is not None and q.total == 8500 and "budget" in q.note
    assert quote(ITEM, 1, 7999, RULES) is None
    strict = RULES.model_copy(update={"meet_budget": False})
    assert quote(ITEM, 1, 9999, strict) is None


def test_csv_json_and_sqlite_catalogs_find_the_same_items(tmp_path: Path) -> None:
    """The three built-in connectors read the same rows the same way."""
    csv = tmp_path / "c.csv"
    csv.write_text(
        'sku,title,category,price,currency,stock,attributes,keywords\nT1,Green Tent,outdoor/tents,99.50,EUR,3,colour=green,"tent,2-person"\n'
    )
    js = tmp_path / "c.json"
    js.write_text(
        json.dumps(
            [
                {
                    "sku": "T1",
                    "title": "Green Tent",
                    "category": "outdoor/tents",
                    "price": "99.50",
                    "currency": "EUR",
                    "stock": 3,
                    "attributes": {"colour": "green"},
                    "keywords": ["tent", "2-person"],
                }
            ]
        )
    )
    db = tmp_path / "c.sqlite"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE items (sku, title, category, price, currency, stock, attributes, keywords)"
    )
    con.execute(
        "INSERT INTO items VALUES ('T1','Green Tent','outdoor/tents',9950,'EUR',3,'{\"colour\":\"green\"}','tent,2-person')"
    )
    con.commit()
    con.close()
    want = schemas.Want("2-person tent", {"colour": "green"})
    import asyncio

    for cat in (
        FileCatalog(csv),
        FileCatalog(js),
        SqliteCatalog(db, CatalogConfig(kind="sqlite").query),
    ):
        found = asyncio.run(cat.search("outdoor/tents", want, 1))
        assert [(i.sku, i.price, i.attributes["colour"]) for i in found] == [("T1", 9950, "green")]
        assert (
            asyncio.run(cat.search("outdoor/tents", schemas.Want("tent", {"colour": "red"}), 1))
            == []
        )
        assert asyncio.run(cat.search("electronics", want, 1)) == []


def test_file_catalog_reloads_when_the_file_is_replaced(tmp_path: Path) -> None:
    """A vendor's export job rewrites the CSV; the next search sees the new stock and price."""
    import asyncio
    import os

    p = tmp_path / "c.csv"
    head = "sku,title,category,price,currency,stock\n"
    p.write_text(head + "T1,Tent,outdoor/tents,10.00,EUR,1\n")
    cat = FileCatalog(p, check_seconds=0)
    want = schemas.Want("tent")
    assert [(i.price, i.stock) for i in asyncio.run(cat.search("outdoor/tents", want, 1))] == [
        (1000, 1)
    ]
    p.write_text(head + "T1,Tent,outdoor/tents,12.00,EUR,7\nT2,Tent XL,outdoor/tents,20.00,EUR,1\n")
    os.utime(p, (1, 2_000_000_000))
    found = asyncio.run(cat.search("outdoor/tents", want, 1))
    assert [(i.sku, i.price, i.stock) for i in found] == [("T1", 1200, 7), ("T2", 2000, 1)]


class _Shop:
    def __init__(self, options: dict[str, object]) -> None:
        self.items = {"X": CatalogItem("X", str(options["title"]), "outdoor/tents", 100, "EUR", 1)}

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        return list(self.items.values())

    async def get(self, sku: str) -> CatalogItem | None:
        return self.items.get(sku)


def test_plugin_catalog_loads_by_dotted_path_and_bad_plugins_say_why() -> None:
    """A vendor's own backend plugs in as `module:factory`; a wrong one is a ConfigError."""
    cat = load_catalog(
        CatalogConfig(
            kind="plugin", plugin="tests.test_vendor_parts:_Shop", options={"title": "Shop tent"}
        )
    )
    assert cat.items["X"].title == "Shop tent"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="could not be loaded"):
        load_catalog(CatalogConfig(kind="plugin", plugin="tests.nope:factory"))
    with pytest.raises(ConfigError, match="lacks search"):
        load_catalog(CatalogConfig(kind="plugin", plugin="builtins:dict"))


def test_demo_configs_validate() -> None:
    """Every shipped vendor config loads, with paths resolved beside the file."""
    for cfg in Path("demo/vendors").glob("*.toml"):
        c = load_config(cfg)
        assert c.catalog.path is not None and c.catalog.path.exists()


def _row(offer: str, sku: str = "T1", qty: int = 1) -> dict[str, object]:
    return dict(
        order_id=offer,
        offer_id=offer,
        intent_id="i",
        intent_key="k",
        sku=sku,
        quantity=qty,
        total_amount=1,
        currency="EUR",
        status="confirmed",
        created=NOW.isoformat(),
        intent_wire=b"",
        offer_wire=b"",
        accept_wire=b"",
        confirmation_wire=b"",
        reply_sealed=b"r",
        disclosure='{"name":"A"}',
        purge_after=(NOW + timedelta(days=1)).isoformat(),
    )


def test_store_refuses_overselling_and_duplicates_then_purges_disclosures(tmp_path: Path) -> None:
    """Stock is checked inside the insert's transaction; an offer orders once; personal
    details are forgotten when their retention passes."""
    store = VendorStore(tmp_path / "v.sqlite")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.insert_order(_row("a", qty=2), stock=3)
    assert not store.insert_order(_row("b", qty=2), stock=3)
    assert not store.insert_order(_row("a"), stock=None)
    assert store.reserved("T1") == 2
    assert store.purge(NOW) == 0
    assert store.purge(NOW + timedelta(days=2)) == 1
    assert store.db.execute("SELECT disclosure FROM orders").fetchone()[0] is None


def test_rate_limiter_refills_over_time() -> None:
    """Burst up to the rate, then one token per period/rate."""
    rl = RateLimiter(3, 60.0)
    assert [rl.allow("k", 0.0) for _ in range(4)] == [True, True, True, False]
    assert rl.allow("other", 0.0)
    assert rl.allow("k", 20.0) and not rl.allow("k", 20.0)


async def test_search_puts_items_with_more_wanted_words_first_then_the_cheapest(
    tmp_path: Path,
) -> None:
    """Best first: the most wanted words matched, then the lowest price; an item whose
    attribute has another value than the one wanted is left out; nothing unrelated appears."""
    csv = tmp_path / "c.csv"
    csv.write_text(
        "sku,title,category,price,currency,stock,attributes,keywords\n"
        "A,Dome tent,outdoor/tents,50.00,EUR,1,colour=green,\n"
        "B,Two-person dome tent,outdoor/tents,90.00,EUR,1,colour=green,\n"
        "C,Two-person tent,outdoor/tents,80.00,EUR,1,colour=green,\n"
        "D,Two-person dome tent,outdoor/tents,70.00,EUR,1,colour=red,\n"
        "E,Sleeping bag,outdoor/tents,10.00,EUR,1,,\n"
        "F,Tent pegs,outdoor/tents,5.00,EUR,1,,\n"
    )
    cat = FileCatalog(csv)
    want = schemas.Want("two-person dome tent", {"colour": "green"})
    found = await cat.search("outdoor", want, 1)
    # B has all three words; A (dome, tent) and C (two-person, tent) two each, so the cheaper
    # A first; F has one; D has all three but clashes on colour.
    assert [i.sku for i in found] == ["B", "A", "C", "F"]
    same_words = await cat.search("outdoor", schemas.Want("tent"), 1)
    assert [i.sku for i in same_words] == ["F", "A", "D", "C", "B"]  # all match once: by price


async def test_a_remembered_search_is_forgotten_when_the_catalog_reloads(tmp_path: Path) -> None:
    """Searches are remembered per category and want (description and attributes): the same
    want again gets the same items, another attribute value its own, and a reload of the
    database with new prices and stock is seen by the very want searched before it."""
    db = tmp_path / "c.db"
    con = sqlite3.connect(db)
    con.execute("create table items (sku, title, category, price, currency, stock, attributes)")
    rows = [("A", "Tent", "outdoor/tents", 1000, "EUR", 1, "colour=green"),
            ("B", "Tent", "outdoor/tents", 2000, "EUR", 1, "colour=red")]  # fmt: skip
    con.executemany("insert into items values (?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    cat = SqliteCatalog(db, "select * from items", refresh_seconds=3600)
    green, red = schemas.Want("tent", {"colour": "green"}), schemas.Want("tent", {"colour": "red"})
    assert [i.sku for i in await cat.search("outdoor", green, 1)] == ["A"]
    assert [i.sku for i in await cat.search("outdoor", green, 1)] == ["A"]
    assert [i.sku for i in await cat.search("outdoor", red, 1)] == ["B"]
    con.execute("update items set price = 1500, stock = 4 where sku = 'A'")
    con.execute("insert into items values ('C', 'Tent', 'outdoor/tents', 900, 'EUR', 2, '')")
    con.commit()
    con.close()
    cat.refresh_seconds = 0
    found = await cat.search("outdoor", green, 1)
    assert [(i.sku, i.price, i.stock) for i in found] == [("C", 900, 2), ("A", 1500, 4)]
