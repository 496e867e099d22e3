"""Honest trust bookkeeping, over the real CLI and a real nats-server: one rating per receipt
(a later one replaces the earlier), ratings only for receipts the person holds, and a
cancelled order counts as neither delivered nor failed unless the person rates it."""

from __future__ import annotations

import json

from agent import AgentStore, BetaTrust, TrustPolicy
from tests.conftest import Agent, VendorFactory, agent_db


def _bought(person: Agent) -> tuple[str, str]:
    """(receipt id, vendor id) of one confirmed order from Sierra."""
    offer = person.want("--expect", "1")["offers"][0]
    receipt = json.loads(person.ok("accept", offer["offer"], "--json"))["receipt"]["id"]
    return receipt, offer["vendor_id"]


def _trust(person: Agent, vendor_id: str) -> float:
    from datetime import UTC, datetime

    with AgentStore(person.home / "agent.sqlite") as store:
        return BetaTrust(store, TrustPolicy()).score(vendor_id, datetime.now(UTC)).value


def test_rating_one_receipt_twice_keeps_only_the_later_rating(
    person: Agent, vendor: VendorFactory
) -> None:
    """Five ratings of one order count once: the store holds one rating row for the receipt,
    and the vendor's trust is what the last rating alone gives."""
    vendor("sierra")
    receipt, vendor_id = _bought(person)
    for _ in range(4):
        person.ok("rate", receipt[:8], "--score", "1", "--outcome", "not_delivered")
    low = _trust(person, vendor_id)
    person.ok("rate", receipt[:8], "--score", "5")
    rows = agent_db(person.home).execute(
        "SELECT positive, negative FROM outcomes WHERE kind = 'rating'"
    )
    assert [tuple(r) for r in rows] == [(1.0, 0.0)]
    assert _trust(person, vendor_id) > low
    # Beta(1 + 1, 2 + 0) under the default prior: the latest rating and nothing else
    assert abs(_trust(person, vendor_id) - 2 / 4) < 0.01


def test_a_receipt_the_person_does_not_hold_cannot_be_rated(
    person: Agent, vendor: VendorFactory
) -> None:
    """An unknown receipt id is one line and exit 2; no evidence is stored."""
    vendor("sierra")
    _bought(person)
    cp = person.run("rate", "ffffffff", "--score", "1", "--outcome", "not_delivered")
    assert cp.returncode == 2
    assert cp.stderr.count("\n") == 1 and "expected one receipt starting 'ffffffff'" in cp.stderr
    kinds = [r[0] for r in agent_db(person.home).execute("SELECT kind FROM outcomes")]
    assert kinds == ["receipt"]


def test_a_cancelled_order_counts_neither_way_until_the_person_rates_it(
    person: Agent, vendor: VendorFactory
) -> None:
    """Before the cancel the receipt is provisional good evidence; once the vendor confirms
    the cancel the vendor is back to having no evidence ("new"); a rating of that order
    still counts."""
    vendor("sierra")
    receipt, vendor_id = _bought(person)
    prior = 1 / 3
    assert _trust(person, vendor_id) > prior
    cancel = json.loads(person.ok("cancel", receipt[:8], "--json"))
    assert cancel["cancelled"] is True, cancel
    assert abs(_trust(person, vendor_id) - prior) < 1e-9
    person.ok("rate", receipt[:8], "--score", "1", "--outcome", "not_as_described")
    assert _trust(person, vendor_id) < prior
