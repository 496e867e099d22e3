"""The public vendor API: ``async with Vendor(config, transport)`` serves until the block
ends and leaves nothing behind; a vendor that cannot start says why from the ``async with``.
On the in-process transport: what is pinned is the object's life, not the bus."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

import schemas
from runtime import Handler, InProcessTransport, Subscription
from tests.conftest import DEMO
from tests.shopper import Shopper, intent
from vendor_adapter import StoreUnavailable, Vendor, VendorConfig, load_vendor


def _sierra(tmp_path: Path) -> Path:
    shutil.copytree(DEMO / "vendors", tmp_path / "vendors")
    shutil.copytree(DEMO / "catalogs", tmp_path / "catalogs")
    return tmp_path / "vendors" / "sierra.toml"


async def test_a_vendor_from_a_config_path_serves_in_the_block_and_closes_after(
    tmp_path: Path,
) -> None:
    """Entered, it answers a real intent with a signed offer that says where it delivers;
    its keys and store are made where the config says; left, it hears nothing more and its
    store is closed."""
    async with InProcessTransport() as bus:
        async with Vendor(_sierra(tmp_path), bus) as sierra:
            (offer,) = await Shopper(bus).offers(intent())
            assert offer.profile.msg.vendor_id == sierra.vendor_id
            assert offer.offer.msg.delivers_to == [schemas.Region("ES")]
            assert (tmp_path / "vendors" / "keys" / "sierra" / "identity.key").exists()
        with pytest.raises(TimeoutError):
            await Shopper(bus).offers(intent(), within=0.2)
    with pytest.raises(sqlite3.ProgrammingError):
        sierra.store.db.execute("SELECT 1")


class _Refusing(InProcessTransport):
    async def subscribe(self, subject: str, handler: Handler, **kw: object) -> Subscription:
        raise PermissionError(f"not allowed to subscribe to {subject}")


async def test_a_vendor_that_cannot_subscribe_raises_that_from_async_with(
    tmp_path: Path,
) -> None:
    """The error that stopped it, unwrapped, and its store closed: not a hang, not an
    exception group."""
    cfg, catalog = load_vendor(_sierra(tmp_path))
    vendor = Vendor(cfg, _Refusing(), catalog=catalog)
    with pytest.raises(PermissionError, match="not allowed to subscribe"):
        async with vendor:
            pytest.fail("entered a vendor that could not subscribe")
    with pytest.raises(sqlite3.ProgrammingError):
        vendor.store.db.execute("SELECT 1")


def test_a_loaded_config_needs_its_catalog() -> None:
    """A config object alone does not say where the catalog is loaded from: a clear error."""
    cfg = VendorConfig.model_validate(
        {"name": "X", "categories": ["outdoor"], "catalog": {"kind": "csv", "path": "x.csv"},
         "terms": {"data_retention_days": 1, "no_tracking": True, "no_sharing": True,
                   "contact_via_agent_only": True, "return_days": 1, "warranty_months": 1,
                   "payment_methods": ["card"], "jurisdiction": "es"}}
    )  # fmt: skip
    with pytest.raises(TypeError, match="catalog"):
        Vendor(cfg, InProcessTransport())


def test_the_breaches_a_vendor_remembers_follow_the_terms_on_both_sides(tmp_path: Path) -> None:
    """Which clauses a person's terms breach is remembered per terms: the same terms again
    get the same answer, other terms their own, and new vendor terms a fresh match."""
    vendor = Vendor(_sierra(tmp_path), InProcessTransport())
    try:
        room = vendor.adapter.intents
        strict = schemas.Terms(data_retention_days=schemas.DaysClause(7))
        lenient = schemas.Terms(no_tracking=schemas.BoolClause())
        assert room.breaches(strict) == room.breaches(strict) == "data_retention_days"
        assert room.breaches(lenient) == ""
        room.terms = schemas.VendorTerms(
            **{**msgspec.structs.asdict(room.terms), "data_retention_days": 5}
        )
        assert room.breaches(strict) == ""
    finally:
        vendor.store.close()


async def test_an_acceptance_whose_order_could_not_be_stored_is_taken_when_sent_again(
    tmp_path: Path,
) -> None:
    """The store fails the first insert of an acceptance (its database away): no answer, no
    order. The person's agent sends the same bytes again, as it does, and they make the
    order: the failed try did not use up the acceptance's nonce."""
    async with InProcessTransport() as bus, Vendor(_sierra(tmp_path), bus) as sierra:
        cast = intent()
        (offer,) = await Shopper(bus).offers(cast)
        _, sealed = schemas.make_accept(
            intent_wire=cast.wire, intent=cast.intent, secrets=cast.secrets, offer=offer,
            disclosure=schemas.Disclosure(name="Ada", address=["Calle Mayor 1"],
                                          postcode="28013", city="Madrid", country="ES"),
            payment_method="card", now=datetime.now(UTC),
        )  # fmt: skip
        insert, failed = sierra.store.aio.insert_order, []

        async def away(*args: object, **kwargs: object) -> object:
            if not failed:
                failed.append(1)
                raise StoreUnavailable("the order store is away")
            return await insert(*args, **kwargs)  # type: ignore[arg-type]

        sierra.store.aio.insert_order = away  # type: ignore[method-assign]
        subject = schemas.vendor_subject(offer.profile.msg.vendor_id, "order")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await bus.request(subject, sealed)
        assert failed and sierra.store.db.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
        async with asyncio.timeout(10):
            reply = await bus.request(subject, sealed)
        (status,) = sierra.store.db.execute("SELECT status FROM orders").fetchone()
    assert status == "confirmed" and reply
