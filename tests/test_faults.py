"""A process killed at every step of acceptance: on restart each flow completes, with one
order per offer and the same receipt on both sides. The vendor and the agent are real
subprocesses; failpoints (runtime.failpoint) SIGKILL them at the named step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime import FAILPOINTS_ENV
from tests.conftest import Agent, VendorFactory, agent_db, archived, vendor_db

pytestmark = pytest.mark.e2e

VENDOR_STEPS = [
    ("vendor.accept.received", "no order yet: the acceptance is simply taken again"),
    ("vendor.order.committed", "the order is on disk but unanswered: the stored reply is sent"),
    ("vendor.receipt.received", "the receipt is confirmed; the countersignature arrives later"),
    ("vendor.receipt.stored", "the countersignature is kept but unacknowledged"),
]
AGENT_STEPS = [
    ("agent.accept.stored", "the acceptance is saved but never sent"),
    ("agent.reply.received", "the vendor made the order; the agent never stored the receipt"),
    ("agent.receipt.stored", "the receipt is kept; the countersignature was never sent"),
]


def _settled(person: Agent, tmp_path: Path, offer: str) -> None:
    """One order for the offer, the same receipt and countersignature on both sides."""
    orders = vendor_db(tmp_path, "sierra").execute("SELECT * FROM orders").fetchall()
    assert [o["offer_id"] for o in orders] == [offer]
    mine = agent_db(person.home).execute("SELECT * FROM receipts").fetchall()
    assert len(mine) == 1 and mine[0]["vendor_acknowledged"] == 1
    assert mine[0]["receipt_wire"] == orders[0]["receipt_wire"]
    assert mine[0]["countersignature_wire"] == orders[0]["countersignature_wire"]
    assert archived(person.home)[mine[0]["receipt_id"]] is not None  # re-reads whole


@pytest.mark.parametrize(("step", "meaning"), VENDOR_STEPS, ids=[s for s, _ in VENDOR_STEPS])
def test_vendor_killed_at_each_step_then_the_flow_completes(
    person: Agent, vendor: VendorFactory, tmp_path: Path, step: str, meaning: str
) -> None:
    """Vendor SIGKILLed at {step} ({meaning}); after a restart, `accept` again (or `sync`)
    completes the flow without a second order."""
    v = vendor("sierra", env={FAILPOINTS_ENV: step})
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    first = person.run("accept", offer, "--json", "--timeout", "1s")
    v.wait_for("failpoint.hit", name=step)
    assert v.stop() == -9
    vendor("sierra", replica="restarted")
    if first.returncode == 0:  # the receipt arrived before the kill
        assert json.loads(first.stdout)["vendor_acknowledged"] is False
        assert "1 of 1" in person.ok("sync")
    else:
        assert first.returncode == 2 and "accept` again" in first.stderr
        again = json.loads(person.ok("accept", offer, "--json"))
        assert again["status"] == "confirmed"
    _settled(person, tmp_path, offer)


@pytest.mark.parametrize(("step", "meaning"), AGENT_STEPS, ids=[s for s, _ in AGENT_STEPS])
def test_agent_killed_at_each_step_then_the_flow_completes(
    person: Agent, vendor: VendorFactory, tmp_path: Path, step: str, meaning: str
) -> None:
    """Agent SIGKILLed at {step} ({meaning}); the same `accept` run again completes it."""
    vendor("sierra")
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    killed = person.run("accept", offer, "--json", env={FAILPOINTS_ENV: step})
    assert killed.returncode == -9
    again = json.loads(person.ok("accept", offer, "--json"))
    assert again["status"] == "confirmed" and again["vendor_acknowledged"] is True
    _settled(person, tmp_path, offer)
