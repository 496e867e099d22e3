"""One market on one machine, over a real nats-server, with vendor adapters as real
subprocesses and the agent run as the `intentcast` command."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

import schemas
from runtime import ServiceProcess, wait_total
from tests.conftest import Agent, VendorFactory, agent_db, archived, signed_by, vendor_db, web_page

pytestmark = pytest.mark.e2e


def test_happy_path_ends_in_a_receipt_both_sides_hold(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """want -> ranked offers -> accept -> the same receipt and countersignature bytes are in
    the person's store and the vendor's, and both still verify."""
    vendor("sierra")
    vendor("cumbre")
    got = person.want("--expect", "2")
    assert [o["vendor"] for o in got["offers"]] == ["Cumbre Sports", "Sierra Outfitters"]
    assert all(o["reasons"] for o in got["offers"])
    best = got["offers"][0]["offer"]
    acc = json.loads(person.ok("accept", best[:8], "--json"))
    assert acc["status"] == "confirmed" and acc["vendor_acknowledged"] is True
    mine = agent_db(person.home).execute("SELECT * FROM receipts").fetchall()
    theirs = vendor_db(tmp_path, "cumbre").execute("SELECT * FROM orders").fetchall()
    assert len(mine) == 1 and len(theirs) == 1
    assert mine[0]["receipt_wire"] == theirs[0]["receipt_wire"]
    assert mine[0]["countersignature_wire"] == theirs[0]["countersignature_wire"]
    order = archived(person.home)[mine[0]["receipt_id"]]
    assert order is not None and order.countersignature is not None
    r, cs = order.receipt, order.countersignature
    assert cs.msg.receipt_hash == r.digest and r.msg.offer_id == best
    assert json.loads(theirs[0]["disclosure"])["name"] == "Ada Lovelace"
    listing = json.loads(person.ok("receipts", "--json"))
    assert listing[0]["signatures_verify"] is True
    html = web_page(person.home)
    assert "Cumbre Sports" in html and "<span class=ok>verify</span>" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing on the page is fetched


def test_vendor_in_breach_of_a_must_have_term_never_appears(
    person: Agent, vendor: VendorFactory
) -> None:
    """A vendor that tracks and shares is dropped for breach when it offers anyway, and an
    honouring adapter makes no offer at all and logs why."""
    vendor("sierra")
    counter = vendor("hoarder")
    honour = vendor(
        "hoarder",
        replica="honour",
        terms_policy='"honour"',
        keys_dir='"keys/hoarder2"',
        data_dir='"data/hoarder2"',
    )
    got = person.want("--wait", "1500ms")
    assert {o["vendor"] for o in got["offers"]} == {"Sierra Outfitters"}
    breach = [d for d in got["dropped"] if d["reason"] == "breach"]
    assert len(breach) == 1 and breach[0]["vendor"] == "DataHoarder Deals"
    assert "no_tracking" in breach[0]["detail"]
    ev = honour.wait_for("offer.declined")
    assert str(ev["reason"]).startswith("breach:no_tracking")
    assert counter.wait_count("offer.sent", 1, timeout=10) == 1


def test_forged_tampered_expired_and_replayed_offers_never_appear(
    person: Agent, vendor: VendorFactory, rogue: ServiceProcess
) -> None:
    """Every hostile offer is dropped with its reason; only honest vendors are ranked."""
    vendor("sierra")
    got = person.want()
    assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    reasons = sorted(d["reason"] for d in got["dropped"])
    assert reasons == [
        "unverified:bad_signature",
        "unverified:expired",
        "unverified:replayed",
        "unverified:unknown_signer",
    ]
    stored = {r["reason"] for r in agent_db(person.home).execute("SELECT reason FROM drops")}
    assert stored == set(reasons)
    offers = agent_db(person.home).execute("SELECT vendor_name FROM offers").fetchall()
    assert [o[0] for o in offers] == ["Sierra Outfitters"]


def test_two_replicas_of_one_vendor_make_one_offer_per_intent(
    person: Agent, vendor: VendorFactory
) -> None:
    """Replicas in one queue group answer each intent once between them."""
    a = vendor("sierra", replica="a")
    b = vendor("sierra", replica="b")
    for _ in range(3):
        got = person.want("--wait", "1s")
        assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    assert wait_total([a, b], "offer.sent", 3, timeout=10) == 3


def test_second_accept_of_the_same_offer_makes_no_second_order(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """Accepting twice returns the same receipt; the vendor holds one order. Even when the
    person's store forgot the receipt, the re-sent acceptance gets the stored order back."""
    v = vendor("sierra")
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    first = json.loads(person.ok("accept", offer, "--json"))
    second = json.loads(person.ok("accept", offer, "--json"))
    assert second["repeated"] is True and second["receipt"]["id"] == first["receipt"]["id"]
    db = agent_db(person.home)
    db.execute("DELETE FROM receipts")
    db.commit()
    third = json.loads(person.ok("accept", offer, "--json"))
    assert third["receipt"]["id"] == first["receipt"]["id"]
    assert vendor_db(tmp_path, "sierra").execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
    assert v.wait_count("order.repeat", 1, timeout=10) == 1


def test_vendor_killed_after_acknowledging_loses_no_order(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """SIGKILL right after the confirmation: the order and its exact receipt are on disk,
    and a restarted vendor answers the repeated acceptance with that same order."""
    v = vendor("sierra")
    offers = [person.want("--expect", "1")["offers"][0]["offer"] for _ in range(3)]
    receipts = [json.loads(person.ok("accept", o, "--json"))["receipt"] for o in offers]
    v.signal(signal.SIGKILL)
    v.stop()
    rows = (
        vendor_db(tmp_path, "sierra")
        .execute("SELECT offer_id, receipt_wire FROM orders")
        .fetchall()
    )
    assert {r["offer_id"] for r in rows} == set(offers)
    for r in rows:
        assert schemas.digest(r["receipt_wire"][64:]) in {x["hash"] for x in receipts}
    vendor("sierra", replica="restarted")
    db = agent_db(person.home)
    db.execute("DELETE FROM receipts")
    db.commit()
    again = json.loads(person.ok("accept", offers[0], "--json"))
    assert again["receipt"]["id"] == receipts[0]["id"]
    assert vendor_db(tmp_path, "sierra").execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 3


def test_out_of_stock_at_acceptance_is_a_signed_rejection(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """When stock ran out between offer and acceptance, the vendor signs a rejection; the
    person is told, nothing is ordered, and the vendor's trust takes a small hit."""
    vendor("cumbre")
    offers = [
        person.want("--expect", "1", "--quantity", "3", "--max-price", "500EUR")["offers"][0][
            "offer"
        ]
        for _ in range(2)
    ]
    assert json.loads(person.ok("accept", offers[0], "--json"))["status"] == "confirmed"
    cp = person.run("accept", offers[1], "--json")
    assert cp.returncode == 1
    out = json.loads(cp.stdout)
    assert out["status"] == "rejected" and out["reason"] == "out_of_stock"
    assert (
        agent_db(person.home).execute("SELECT kind FROM outcomes ORDER BY id").fetchall()[-1][0]
        == "rejected"
    )


def test_a_person_cancels_a_confirmed_order_and_the_stock_comes_back(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """`intentcast cancel` is answered with a signed confirmation; the vendor keeps the signed
    request, frees the stock, and a repeat gets the same answer."""
    vendor("cumbre")
    offer = person.want("--expect", "1", "--quantity", "5", "--max-price", "800EUR")["offers"][0][
        "offer"
    ]
    receipt = json.loads(person.ok("accept", offer, "--json"))["receipt"]["id"]
    sold_out = person.want(
        "--expect", "1", "--quantity", "5", "--max-price", "800EUR", "--wait", "1s"
    )
    assert sold_out["offers"] == []  # all five are promised
    assert (
        json.loads(person.ok("cancel", receipt[:8], "--reason", "changed my mind", "--json"))[
            "cancelled"
        ]
        is True
    )
    assert json.loads(person.ok("cancel", receipt[:8], "--json"))["cancelled"] is True
    row = vendor_db(tmp_path, "cumbre").execute("SELECT status, cancel_wire FROM orders").fetchone()
    assert row["status"] == "cancelled"
    (order,) = archived(person.home).values()
    assert order is not None
    person_key = signed_by(order.intent.msg.keys.sign)
    c = schemas.verify(row["cancel_wire"], schemas.Cancel, key=person_key, now=None)
    assert c.msg.reason == "changed my mind" and c.msg.by == "person"
    assert json.loads(person.ok("receipts", "--json"))[0]["status"] == "cancelled"
    again = person.want("--expect", "1", "--quantity", "5", "--max-price", "800EUR")
    assert [o["vendor"] for o in again["offers"]] == ["Cumbre Sports"]
