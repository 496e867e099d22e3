"""The counter's parts, in process: the mailbox name both parties derive and nobody else
can, a status bound to its own receipt, the retention a mailbox may keep, and the stock a
shipped or cancelled order takes."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.public import PrivateKey

import schemas
from runtime import InProcessTransport
from tests.conftest import DEMO
from tests.shopper import Shopper, intent
from vendor_adapter import Vendor, VendorStore
from vendor_adapter._counter import (
    TRANSITIONS,
    CounterAction,
    CounterState,
    IllegalTransition,
    apply_action,
)
from vendor_adapter._feed import Outbox


def test_both_parties_derive_one_mailbox_and_each_order_gets_its_own() -> None:
    """The vendor (its seal key, the intent's public one) and the person (the intent's seal
    key, the vendor's public one) compute the same token; another receipt of the same pair
    of keys, or another intent's key with the same receipt, gives an unrelated one."""
    vendor, person, other = PrivateKey.generate(), PrivateKey.generate(), PrivateKey.generate()
    receipt, receipt2 = "ab" * 32, "cd" * 32

    def pub(k: PrivateKey) -> str:
        return bytes(k.public_key).hex()

    theirs = schemas.mailbox_token(vendor, pub(person), receipt)
    assert theirs == schemas.mailbox_token(person, pub(vendor), receipt)
    assert len({theirs, schemas.mailbox_token(vendor, pub(person), receipt2),
                schemas.mailbox_token(vendor, pub(other), receipt)}) == 3  # fmt: skip
    assert receipt[:8] not in schemas.mailbox_subject(30, theirs)


@pytest.mark.parametrize(
    ("days", "kept"), [(0, None), (1, 1), (6, 1), (30, 30), (89, 30), (9999, 365)]
)
def test_a_mailbox_keeps_no_longer_than_the_terms_allow(days: int, kept: int | None) -> None:
    """The longest mailbox retention within the terms, never longer; under a day, none."""
    assert schemas.mailbox_days(days) == kept


async def test_shipped_keeps_the_stock_taken_cancel_frees_it_and_statuses_bind_their_order(
    tmp_path: Path,
) -> None:
    """With two tents and two countersigned orders, none is on offer; shipped, one still
    is not; the vendor's cancel of the other puts one back. Each status opens with its own
    receipt and is ``rebound`` with the other's (same person, same vendor); a second cancel
    is an IllegalTransition and stores nothing."""
    shutil.copytree(DEMO / "vendors", tmp_path / "vendors")
    shutil.copytree(DEMO / "catalogs", tmp_path / "catalogs")
    csv = tmp_path / "catalogs" / "sierra.csv"
    lines = csv.read_text().splitlines()
    col = lines[0].split(",").index("stock")
    csv.write_text("\n".join([lines[0], *(",".join([*ln.split(",")[:col], "2", *ln.split(",")[col + 1:]]) for ln in lines[1:])]) + "\n")  # fmt: skip
    async with InProcessTransport() as bus, Vendor(tmp_path / "vendors" / "sierra.toml", bus) as v:
        shopper = Shopper(bus)
        orders = []
        for _ in range(2):
            cast = intent()
            (offer,) = await shopper.offers(cast)
            order = await shopper.order(cast, offer)
            assert await shopper.countersign(order) == {"stored": True}
            orders.append(order)
        with pytest.raises(TimeoutError):
            await shopper.offers(intent(), within=1.0)
        now = datetime.now(UTC)
        ids = [o.confirmation.confirmation.msg.order_id for o in orders]
        common = dict(signer=v.signer, retention_days=30, now=now)
        apply_action(v.store, ids[0], CounterAction.SHIP, **common)  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await shopper.offers(intent(), within=1.0)
        apply_action(v.store, ids[1], CounterAction.CANCEL, reason="no", **common)  # type: ignore[arg-type]
        assert len(await shopper.offers(intent())) == 1
        with pytest.raises(IllegalTransition):
            apply_action(v.store, ids[1], CounterAction.CANCEL, reason="again", **common)  # type: ignore[arg-type]
        sealed = {
            r["order_id"]: r["sealed"] for r in v.store.db.execute("SELECT * FROM order_statuses")
        }
        assert len(sealed) == 2
        for mine, theirs in ((0, 1), (1, 0)):
            o = orders[mine]
            receipt = o.confirmation.receipt
            assert receipt is not None
            ring = schemas.KeyRing.from_profile(o.offer.profile.msg)
            got = schemas.open_status(sealed[ids[mine]], secrets=o.cast.secrets, receipt=receipt, vendor_key=ring, now=now)  # fmt: skip
            assert got.msg.state == ("shipped", "cancelled")[mine] and got.msg.seq == 1
            other = orders[theirs].confirmation.receipt
            assert other is not None
            # Opened with the keys that open it, checked against the other order's receipt:
            # the strongest case, as if one person held both orders' keys.
            with pytest.raises(schemas.Rebound):
                schemas.open_status(sealed[ids[mine]], secrets=o.cast.secrets, receipt=other, vendor_key=ring, now=now)  # fmt: skip


def test_the_transitions_table_is_the_only_way_forward() -> None:
    """Only confirmed orders ship; only confirmed or shipped ones are delivered; only open or
    confirmed ones are cancelled by the vendor; nothing leaves delivered or cancelled."""
    assert {(str(s), str(a)) for s, a in TRANSITIONS} == {
        ("confirmed", "ship"), ("confirmed", "deliver"), ("shipped", "deliver"),
        ("open", "cancel"), ("confirmed", "cancel"),
    }  # fmt: skip
    assert all(s not in (CounterState.DELIVERED, CounterState.CANCELLED) for s, _ in TRANSITIONS)


def test_the_feed_forgets_only_events_it_sent_longer_ago_than_the_stream_keeps(
    tmp_path: Path,
) -> None:
    """An event sent 31 days ago goes; one sent today, and one never sent however old,
    stay (an unsent event is never dropped)."""
    store = VendorStore(tmp_path / "vendor.sqlite")
    row = "INSERT INTO feed_events (order_id, state, at, sku, quantity, total_amount, currency, reason, carrier, tracking, sent) VALUES (?, 'open', ?, 'T', 1, 1, 'EUR', '', '', '', ?)"
    old = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    new = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for order, at, sent in (("gone", old, 1), ("kept", new, 1), ("unsent", old, 0)):
        store.db.execute(row, (order, at, sent))
    assert Outbox(store, None, "ab" * 32).prune() == 1  # type: ignore[arg-type]
    assert {r[0] for r in store.db.execute("SELECT order_id FROM feed_events")} == {
        "kept",
        "unsent",
    }
    store.close()
