"""The hold rules of the vendor's order store, on a real SQLite file: what a held, unheld
or lapsed order becomes when the person's countersignature comes, when its time runs out,
or when it is cancelled, and what each holds of the stock meanwhile."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_vendor_check import ERR, check, shop
from tests.test_vendor_parts import NOW, _row
from vendor_adapter import VendorStore, load_config
from vendor_adapter._orders import held_cap
from vendor_adapter._store import stamp

HOLD = timedelta(minutes=2)


def _acceptance(offer: str, qty: int = 1) -> dict[str, object]:
    return {
        **_row(offer, qty=qty),
        "receipt_id": "r" + offer,
        "receipt_hash": "h" + offer,
        "held_until": stamp(NOW + HOLD),
    }


def test_the_cap_is_a_share_of_the_stock_rounded_down_but_at_least_one_unit() -> None:
    """So the last unit can still be sold, and a share never rounds up past itself."""
    assert [held_cap(s, 0.25) for s in (0, 1, 3, 4, 10, 25)] == [1, 1, 1, 1, 2, 6]
    assert held_cap(8, 0.5) == 4 and held_cap(8, 1.0) == 8


def test_acceptances_past_the_cap_are_stored_unheld_and_hold_nothing(tmp_path: Path) -> None:
    """Within the cap an acceptance holds its units; past it the order is stored (and was
    confirmed to the person) but holds nothing, so the stock others can buy is untouched."""
    store = VendorStore(tmp_path / "v.sqlite")
    assert store.insert_order(_acceptance("a", qty=2), stock=10, held_cap=2) == "confirmed"
    assert store.insert_order(_acceptance("b"), stock=10, held_cap=2) == "unheld"
    assert store.held("T1") == 2 and store.reserved("T1") == 2
    assert store.available("T1", 10) == 8
    assert store.insert_order(_acceptance("c", qty=9), stock=10, held_cap=20) is None  # oversell


def test_a_countersignature_confirms_a_held_order_and_takes_stock_for_an_unheld_one(
    tmp_path: Path,
) -> None:
    """The countersignature turns a hold into a sale; for an order that held nothing it takes
    the stock if there is still some, and otherwise says out_of_stock and changes nothing
    but keeping the person's signed copy."""
    store = VendorStore(tmp_path / "v.sqlite")
    store.insert_order(_acceptance("a"), stock=2, held_cap=1)
    store.insert_order(_acceptance("b"), stock=2, held_cap=1)  # unheld
    store.insert_order(_acceptance("c"), stock=2, held_cap=1)  # unheld
    assert store.confirm("a", b"cs-a", stock=2) == "held"
    assert store.held("T1") == 0 and store.reserved("T1") == 1
    assert store.confirm("a", b"cs-a", stock=2) == "already"
    assert store.confirm("b", b"cs-b", stock=2) == "taken"
    assert store.confirm("c", b"cs-c", stock=2) == "out_of_stock"
    rows = {r["order_id"]: r for r in store.orders()}
    assert (rows["b"]["status"], rows["b"]["held_until"]) == ("confirmed", None)
    assert rows["c"]["status"] == "unheld" and rows["c"]["countersignature_wire"] == b"cs-c"
    assert store.reserved("T1") == 2


def test_holds_that_expire_lapse_and_return_their_stock_and_a_late_confirmation_takes_it(
    tmp_path: Path,
) -> None:
    """Nothing is released before its time; at it, held and unheld orders lapse and the held
    units are back. What the person disclosed stays as their terms allow, so a late
    countersignature, which still takes the stock if it is there, can be fulfilled."""
    store = VendorStore(tmp_path / "v.sqlite")
    store.insert_order(_acceptance("a"), stock=5, held_cap=1)
    store.insert_order(_acceptance("b"), stock=5, held_cap=1)  # unheld
    assert store.next_hold_expiry() == NOW + HOLD
    assert store.release_expired(NOW + HOLD - timedelta(microseconds=1)) == []
    released = store.release_expired(NOW + HOLD)
    assert [(r.order_id, r.quantity) for r in released] == [("a", 1)]
    assert store.held("T1") == 0 and store.reserved("T1") == 0
    assert store.next_hold_expiry() is None
    rows = list(store.orders())
    assert {r["status"] for r in rows} == {"lapsed"} and all(r["disclosure"] for r in rows)
    assert store.confirm("a", b"late", stock=5) == "taken"
    assert store.reserved("T1") == 1


def test_a_cancelled_hold_frees_its_stock_at_once(tmp_path: Path) -> None:
    """A person who cancels before confirming gives the stock back without waiting for the
    hold to run out; an unheld or lapsed order can be cancelled too."""
    store = VendorStore(tmp_path / "v.sqlite")
    store.insert_order(_acceptance("a"), stock=5, held_cap=1)
    store.insert_order(_acceptance("b"), stock=5, held_cap=1)
    assert store.cancel("a", b"c") and store.cancel("b", b"c")
    assert store.held("T1") == 0 and store.release_expired(NOW + HOLD) == []


def test_hold_settings_default_to_two_minutes_and_a_quarter() -> None:
    """Two minutes and a quarter of each item by default; the demo vendors deliver in
    Spain."""
    cfg = load_config(Path("demo/vendors/sierra.toml"))
    assert cfg.orders.hold == HOLD and cfg.orders.max_held_share == 0.25
    assert [str(a) for a in cfg.delivery.areas] == ["ES"]


def test_check_shows_the_hold_policy_and_areas_and_refuses_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`intentcast-vendor check` prints the hold policy and the delivery areas it will
    serve with, and refuses a hold of zero, a share above one and malformed areas, one line
    each naming the key."""
    good = '\n[orders]\nhold = "90s"\nmax_held_share = 0.5\n\n[delivery]\nareas = ["ES-28", "PT"]\n'
    cfg, _ = shop(tmp_path, pricing=good)
    rc, err, out = check(cfg, capsys)
    assert rc == 0, err
    assert "delivers:   ES-28, PT" in out
    assert "holds stock for 90s" in out and "at most 50% of an item's stock" in out
    bad = '\n[orders]\nhold = "0s"\nmax_held_share = 1.5\n\n[delivery]\nareas = ["es", "ES-2800"]\n'
    cfg, _ = shop(tmp_path, pricing=bad)
    rc, err, _ = check(cfg, capsys)
    assert rc == 2
    keys = [line.split(": ")[3] for line in err]
    assert keys == [
        "orders.hold",
        "orders.max_held_share",
        "delivery.areas[0]",
        "delivery.areas[1]",
    ]
    assert all(line.startswith(ERR) and "expected" in line for line in err)
