"""Offers fit to show: validly signed offers that no person should see are dropped with a
reason the person can read, by the rules schemas/README.md states (``schemas.offer_fault``),
through the real CLI on a real nats-server with a hostile vendor beside an honest one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

import schemas
from runtime import EmbeddedServer, ServiceProcess
from tests.conftest import DEMO, Agent, VendorFactory, agent_db, tent_intent

TODAY = datetime.now(UTC).date()


def _offer(**change: object) -> schemas.Offer:
    intent = tent_intent().intent
    base = schemas.Offer(
        id="0" * 32, intent_id=intent.id, vendor_id="ab" * 32,
        item=schemas.Item("SKU", "Tent"), quantity=1,
        unit_price=schemas.Money(10000, "EUR"), total_price=schemas.Money(10000, "EUR"),
        delivery_by=TODAY + timedelta(days=3),
        terms=schemas.example_vendor_terms(agreements=[]),
    )  # fmt: skip
    return msgspec.structs.replace(base, **change)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({}, None),
        ({"total_price": schemas.Money(0, "EUR"), "unit_price": schemas.Money(0, "EUR")}, "free"),
        ({"unit_price": schemas.Money(10000, "JPY")}, "inconsistent"),
        ({"unit_price": schemas.Money(5000, "EUR")}, "inconsistent"),
        ({"total_price": schemas.Money(10000, "USD")}, "currency"),
        ({"quantity": 2, "unit_price": schemas.Money(5000, "EUR")}, "wrong_quantity"),
        (
            {"total_price": schemas.Money(15001, "EUR"), "unit_price": schemas.Money(15001, "EUR")},
            "over_budget",
        ),
        ({"delivery_by": date(2000, 1, 1)}, "implausible_date"),
        ({"delivery_by": TODAY + timedelta(days=400)}, "too_late"),
    ],
)
def test_each_rule_names_its_code(change: dict[str, object], code: str | None) -> None:
    """One broken rule at a time gives that rule's code; every code is a documented rule."""
    fault = schemas.offer_fault(tent_intent().intent, _offer(**change), TODAY)
    assert (fault[0] if fault else None) == code
    if fault:
        assert fault[0] in schemas.OFFER_RULES


def test_every_rule_is_stated_in_the_contract() -> None:
    """schemas/README.md lists each rule's code, so other implementations drop the same."""
    text = (DEMO.parent / "schemas" / "README.md").read_text()
    for code, rule in schemas.OFFER_RULES.items():
        assert f"`{code}`" in text and rule in text, code


@pytest.fixture
def absurd(nats_server: EmbeddedServer) -> Iterator[ServiceProcess]:
    import sys

    p = ServiceProcess(
        [sys.executable, str(DEMO / "rogue_vendor.py"), "--bus", nats_server.url,
         "--modes", "absurd"],
        ready_event="rogue.ready", name="absurd",
    ).start()  # fmt: skip
    try:
        yield p
    finally:
        p.stop()


def test_validly_signed_absurd_offers_never_reach_the_person(
    person: Agent, vendor: VendorFactory, absurd: ServiceProcess
) -> None:
    """Free, two-currency, year-2000 and bad-arithmetic offers, each validly signed by an
    identity of its own, are dropped with readable reasons; only Sierra is ranked, and the
    person's store holds no offer row of theirs."""
    vendor("sierra")
    got = person.want("--expect", "5", "--wait", "5s")
    assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    dropped = {d["vendor"]: d["reason"] for d in got["dropped"]}
    assert dropped == {
        "Absurd free": "free",
        "Absurd two_currencies": "inconsistent",
        "Absurd backdated": "implausible_date",
        "Absurd arithmetic": "inconsistent",
    }
    offers = agent_db(person.home).execute("SELECT vendor_name, rank FROM offers").fetchall()
    assert [tuple(o) for o in offers if o[1] is not None] == [("Sierra Outfitters", 1)]
    text = person.ok(*[a for a in person.want_args("--expect", "5", "--wait", "5s")
                       if a != "--json"])  # fmt: skip
    assert "priced at nothing" in text and "before the offer was made" in text
    assert "Absurd" not in text.split("Dropped")[0]  # none of them above the dropped list
