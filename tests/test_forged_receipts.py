"""Archival verification on the agent's side (issue 10 item 2): receipts forged in a real
home (re-signed with another key and the price edited, another order's authentic receipt,
a swapped intent) are shown as not verifying everywhere the person looks, and never count
for trust. Real nats-server, real vendor, the real `intentcast` command."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
from nacl.signing import SigningKey, VerifyKey

import schemas
from tests.conftest import Agent, VendorFactory, agent_db, web_page

pytestmark = pytest.mark.e2e


def _named_key(kid: str, at: datetime | None) -> VerifyKey:
    """Only to read what a stored frame says; never to decide whether to believe it."""
    return VerifyKey(bytes.fromhex(kid))


def _set(db: sqlite3.Connection, sql: str, *args: object) -> None:
    assert db.execute(sql, args).rowcount == 1
    db.commit()


def test_forged_receipts_show_no_and_never_count_for_trust(
    person: Agent, vendor: VendorFactory
) -> None:
    """Four orders from Sierra, then three forged in the person's store: A re-signed with an
    arbitrary key at 1.00 EUR, B holding C's authentic receipt, D's intent swapped for
    another intent. `intentcast receipts` says NO for A, B, D and yes for C, shows nothing of
    A's forged price; the web page says DO NOT VERIFY three times; Sierra's trust falls from
    four receipts' worth (0.714) to one (0.5), and rating a forged receipt changes nothing."""
    vendor("sierra")
    receipts = []
    for _ in range(4):
        offer = person.want("--expect", "1")["offers"][0]["offer"]
        receipts.append(json.loads(person.ok("accept", offer[:8], "--json"))["receipt"]["id"])
    spare = person.want("--expect", "1")
    assert spare["offers"][0]["trust"] == round(5 / 7, 3)
    a, b, c, d = receipts

    db = agent_db(person.home)
    row = {r["receipt_id"]: r for r in db.execute("SELECT * FROM receipts")}
    original = schemas.verify(row[a]["receipt_wire"], schemas.Receipt, key=_named_key, now=None)
    cheap = msgspec.structs.replace(original.msg, total_price=schemas.Money(100, "EUR"))
    h = original.header
    forged = schemas.sign(
        cheap, SigningKey.generate(), created=h.created, expires=h.expires,
        intent=h.intent, vendor=h.vendor,
    )  # fmt: skip
    _set(db, "UPDATE receipts SET receipt_wire = ? WHERE receipt_id = ?", forged, a)
    _set(db, "UPDATE receipts SET receipt_wire = ? WHERE receipt_id = ?", row[c]["receipt_wire"], b)
    other = db.execute("SELECT wire FROM intents WHERE id = ?", (spare["intent"],)).fetchone()[0]
    _set(db, "UPDATE intents SET wire = ? WHERE id = ?", other, row[d]["intent_id"])

    listed = {r["receipt"]: r for r in json.loads(person.ok("receipts", "--json"))}
    assert {k: v["signatures_verify"] for k, v in listed.items()} == {
        a: False, b: False, c: True, d: False,
    }  # fmt: skip
    assert listed[a]["total"] == "?" and listed[a]["item"] == "?"
    table = person.ok("receipts")
    verdicts = {ln.split()[0]: ln.split()[-1] for ln in table.splitlines()[2:]}
    assert verdicts == {a[:8]: "NO", b[:8]: "NO", c[:8]: "yes", d[:8]: "NO"}
    assert "1.00 EUR" not in table
    html = web_page(person.home)
    assert html.count("DO NOT VERIFY") == 3 and html.count("<span class=ok>verify</span>") == 1

    assert person.want("--expect", "1")["offers"][0]["trust"] == 0.5
    rated = person.ok("rate", a[:8], "--score", "5")
    assert rated.strip().endswith("trust is now 0.50")
    assert person.want("--expect", "1")["offers"][0]["trust"] == 0.5


def test_a_forged_receipt_is_not_delivered_or_cancelled(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """A receipt re-signed with another key: `intentcast cancel` refuses it in one line
    (exit 2) and the vendor's order stays confirmed; `intentcast sync` does not send its
    countersignature to anybody."""
    from tests.conftest import vendor_db

    v = vendor("sierra")
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    receipt = json.loads(person.ok("accept", offer[:8], "--json"))["receipt"]["id"]
    db = agent_db(person.home)
    wire = db.execute("SELECT receipt_wire FROM receipts").fetchone()[0]
    r = schemas.verify(wire, schemas.Receipt, key=_named_key, now=None)
    forged = schemas.sign(
        r.msg, SigningKey.generate(), created=r.header.created, expires=r.header.expires,
        intent=r.header.intent, vendor=r.header.vendor,
    )  # fmt: skip
    _set(db, "UPDATE receipts SET receipt_wire = ?, vendor_acknowledged = 0", forged)
    cp = person.run("cancel", receipt[:8])
    assert cp.returncode == 2 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert cp.stderr.startswith(f"intentcast: error: receipt {receipt[:8]} does not verify (")
    assert vendor_db(tmp_path, "sierra").execute("SELECT status FROM orders").fetchone()[0] == (
        "confirmed"
    )
    assert v.count("order.cancelled") == 0
    cp = person.run("sync")
    assert cp.returncode == 1
    assert cp.stdout.strip() == "0 of 1 pending countersignatures acknowledged by their vendors"
