"""Accept only what was shown (issue 10 item 1), over the real `intentcast` command and a real
nats-server: an offer the agent dropped, one that no longer passes the person's trust
policy, one that expired, and a second order on an intent that asked for one. Each test
starts from the bad input and asserts what the person sees (the exact line), what is stored
(no new acceptance) and what the vendor does (no order in its store)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import schemas
from runtime import ServiceProcess
from tests.conftest import Agent, VendorFactory, agent_db, vendor_db

pytestmark = pytest.mark.e2e

NOT_SHOWN = "it cannot be accepted: pick a ranked offer from `intentcast history`"


def _one_line_error(cp: subprocess.CompletedProcess[str]) -> str:
    assert cp.returncode == 2, (cp.returncode, cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stderr and cp.stdout == ""
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    return lines[0]


def _stored_offers(home: Path, vendor_name: str) -> list[Any]:
    q = "SELECT * FROM offers WHERE vendor_name = ? ORDER BY received"
    return agent_db(home).execute(q, (vendor_name,)).fetchall()


def _accepts(home: Path) -> list[str]:
    return [r[0] for r in agent_db(home).execute("SELECT offer_id FROM accepts")]


def _orders(tmp_path: Path, vendor: str) -> list[str]:
    return [r[0] for r in vendor_db(tmp_path, vendor).execute("SELECT offer_id FROM orders")]


def _no_order_heard(p: ServiceProcess) -> None:
    """The vendor logged no order of any kind: nothing reached its order endpoint that it
    took, refused or repeated (the CLI returns only after an answer, so none is in flight)."""
    assert p.count(("order.stored", "order.refused", "order.repeat")) == 0


def test_an_offer_dropped_for_breach_cannot_be_accepted(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """DataHoarder breaks #NoStalking and its offer is dropped; `intentcast accept` of that
    offer is one line saying it was dropped and why, exit 2; no acceptance is stored and the
    vendor takes no order."""
    vendor("sierra")
    hoarder = vendor("hoarder")
    got = person.want("--expect", "2")
    assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    (breach,) = [d for d in got["dropped"] if d["reason"] == "breach"]
    (dropped,) = _stored_offers(person.home, "DataHoarder Deals")
    assert dropped["rank"] is None
    line = _one_line_error(person.run("accept", dropped["id"][:8]))
    assert line == (
        f"intentcast: error: offer {dropped['id'][:8]} from DataHoarder Deals was dropped, never"
        f" shown to you (breach: {breach['detail']}); {NOT_SHOWN}"
    )
    assert "no_tracking" in line and "no_sharing" in line
    assert _accepts(person.home) == []
    assert _orders(tmp_path, "hoarder") == []
    _no_order_heard(hoarder)


def test_an_untrusted_vendor_cannot_be_accepted_dropped_or_once_shown(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """With a trust threshold of 0.3, Cumbre (new: 0.33) is shown on two intents; the person
    orders from it on the first and rates that order 1/5, not delivered (trust 0.20). Its
    offer on the second intent, shown before the rating, is judged again at accept time and
    refused; on a third intent it is dropped as untrusted and refused as dropped. Neither
    refusal stores an acceptance or reaches the vendor."""
    cfg = person.home / "config.toml"
    cfg.write_text(cfg.read_text().replace("threshold = 0.2 ", "threshold = 0.3 "))
    cumbre = vendor("cumbre")
    first = person.want("--expect", "1")["offers"][0]
    shown_before = person.want("--expect", "1")["offers"][0]
    assert first["vendor"] == shown_before["vendor"] == "Cumbre Sports"
    receipt = json.loads(person.ok("accept", first["offer"][:8], "--json"))["receipt"]["id"]
    rated = person.ok("rate", receipt[:8], "--score", "1", "--outcome", "not_delivered")
    assert rated.strip().endswith("trust is now 0.20")
    orders_before = _orders(tmp_path, "cumbre")
    assert orders_before == [first["offer"]]

    line = _one_line_error(person.run("accept", shown_before["offer"][:8]))
    assert line == (
        f"intentcast: error: offer {shown_before['offer'][:8]} from Cumbre Sports no longer passes"
        " your terms (untrusted: trust 0.20 is below your threshold 0.30); it cannot be accepted"
    )
    later = person.want("--wait", "1s")
    assert later["offers"] == []
    assert [d["reason"] for d in later["dropped"]] == ["untrusted"]
    dropped = _stored_offers(person.home, "Cumbre Sports")[-1]
    assert dropped["rank"] is None
    line = _one_line_error(person.run("accept", dropped["id"][:8]))
    assert line == (
        f"intentcast: error: offer {dropped['id'][:8]} from Cumbre Sports was dropped, never shown"
        f" to you (untrusted: trust 0.20 is below your threshold 0.30); {NOT_SHOWN}"
    )
    assert _accepts(person.home) == [first["offer"]]
    assert _orders(tmp_path, "cumbre") == orders_before
    assert cumbre.count("order.stored") == 1


def test_an_expired_offer_cannot_be_accepted(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """An offer valid for one second, accepted after its expiry: one line saying when it
    expired and to cast again, exit 2; no acceptance stored, no order at the vendor. (The
    wait is for the clock to pass a signed deadline, not for another process.)"""
    sierra = vendor("sierra", offer_validity='"1s"')
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    (row,) = _stored_offers(person.home, "Sierra Outfitters")
    expires = datetime.fromisoformat(row["expires"])
    while (left := (expires - datetime.now(UTC)).total_seconds()) >= 0:
        time.sleep(left + 0.01)
    line = _one_line_error(person.run("accept", offer[:8]))
    assert line == (
        f"intentcast: error: offer {offer[:8]} from Sierra Outfitters expired at"
        f" {expires.isoformat(timespec='seconds')}; cast the intent again with `intentcast want`"
    )
    assert _accepts(person.home) == []
    assert _orders(tmp_path, "sierra") == []
    _no_order_heard(sierra)


def test_a_second_order_on_a_quantity_1_intent_needs_another(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """One intent for one tent, two offers shown: the first accept orders; accepting the
    second is refused with a line that names --another (nothing stored, no order at that
    vendor); with --another it is ordered. A repeat of the first accept is no new order."""
    vendor("sierra")
    vendor("cumbre")
    got = person.want("--expect", "2")
    first, second = got["offers"][0], got["offers"][1]
    by_name = {"Cumbre Sports": "cumbre", "Sierra Outfitters": "sierra"}
    assert json.loads(person.ok("accept", first["offer"][:8], "--json"))["status"] == "confirmed"
    line = _one_line_error(person.run("accept", second["offer"][:8]))
    assert line == (
        f"intentcast: error: intent {got['intent'][:8]} already has an order for the 1 it asked"
        f" for (offer {first['offer'][:8]}); to order again on the same intent, add --another"
    )
    assert _accepts(person.home) == [first["offer"]]
    assert _orders(tmp_path, by_name[second["vendor"]]) == []
    again = json.loads(person.ok("accept", first["offer"][:8], "--json"))
    assert again["repeated"] is True
    assert _orders(tmp_path, by_name[first["vendor"]]) == [first["offer"]]

    more = json.loads(person.ok("accept", second["offer"][:8], "--another", "--json"))
    assert more["status"] == "confirmed"
    assert sorted(_accepts(person.home)) == sorted([first["offer"], second["offer"]])
    assert _orders(tmp_path, by_name[second["vendor"]]) == [second["offer"]]


def test_a_stored_offer_edited_on_disk_cannot_be_accepted(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """An offer shown to the person whose stored bytes were then edited (its price, inside
    the signed offer) is re-verified at accept time: one line saying it does not verify,
    exit 2; nothing stored, no order at the vendor."""
    sierra = vendor("sierra")
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    db = agent_db(person.home)
    bundle = db.execute("SELECT bundle FROM offers WHERE id = ?", (offer,)).fetchone()[0]
    profile_wire, offer_wire = schemas.unpack(bundle, 2)
    at = offer_wire.rindex(b'"total_price":{"amount":') + len(b'"total_price":{"amount":')
    digit = b"2" if offer_wire[at : at + 1] != b"2" else b"3"
    edited = schemas.pack(profile_wire, offer_wire[:at] + digit + offer_wire[at + 1 :])
    assert edited != bundle
    db.execute("UPDATE offers SET bundle = ? WHERE id = ?", (edited, offer))
    db.commit()
    line = _one_line_error(person.run("accept", offer[:8]))
    assert line == (
        f"intentcast: error: offer {offer[:8]} as stored does not verify (bad_signature);"
        " it cannot be accepted"
    )
    assert _accepts(person.home) == []
    assert _orders(tmp_path, "sierra") == []
    _no_order_heard(sierra)
