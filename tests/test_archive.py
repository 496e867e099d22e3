"""Archival verification against the right keys: an order stored by a real agent after a
real purchase re-reads as valid, and each forgery of its stored bytes is refused with the
typed error of the first frame or binding that fails, never "verified"."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from nacl.signing import SigningKey

import schemas
from tests.conftest import Agent, VendorFactory, agent_db

NOW = datetime.now(UTC)


def _orders(person: Agent, vendor: VendorFactory, n: int) -> list[dict[str, Any]]:
    """``n`` confirmed orders from Sierra; each as the stored frames reread_order takes."""
    vendor("sierra")
    for _ in range(n):
        offer = person.want("--expect", "1")["offers"][0]["offer"]
        assert json.loads(person.ok("accept", offer, "--json"))["status"] == "confirmed"
    db = agent_db(person.home)
    out = []
    for r in db.execute("SELECT * FROM receipts ORDER BY created"):
        out.append(_frames(db, r))
    return out


def _frames(db: sqlite3.Connection, r: sqlite3.Row) -> dict[str, Any]:
    i = db.execute("SELECT * FROM intents WHERE id = ?", (r["intent_id"],)).fetchone()
    o = db.execute("SELECT * FROM offers WHERE id = ?", (r["offer_id"],)).fetchone()
    a = db.execute("SELECT * FROM accepts WHERE offer_id = ?", (r["offer_id"],)).fetchone()
    return dict(
        intent_wire=i["wire"], intent_key=schemas.intent_key_of_seed(bytes.fromhex(i["sign_seed"])),
        offer_bundle=o["bundle"], vendor_id=o["vendor_id"], accept_wire=a["accept_wire"],
        receipt_wire=r["receipt_wire"], countersignature_wire=r["countersignature_wire"],
    )  # fmt: skip


def _resigned(v: schemas.Verified[schemas.Receipt], key: SigningKey, **change: Any) -> bytes:
    msg = msgspec.structs.replace(v.msg, **change)
    return schemas.sign(
        msg, key, created=NOW, expires=NOW + timedelta(minutes=10),
        intent=v.header.intent, vendor=v.header.vendor,
    )  # fmt: skip


def test_a_real_order_rereads_from_its_anchors(person: Agent, vendor: VendorFactory) -> None:
    """The stored intent, offer, acceptance, receipt and countersignature of a real purchase
    verify against the person's seed and the vendor's profile, long after they expired."""
    (order,) = _orders(person, vendor, 1)
    got = schemas.reread_order(**order)
    assert got.receipt.msg.vendor_id == order["vendor_id"]
    assert got.countersignature is not None
    assert got.countersignature.msg.receipt_hash == got.receipt.digest


def test_forged_receipts_are_refused_each_with_its_reason(
    person: Agent, vendor: VendorFactory
) -> None:
    """Re-signed with another key and the price cut to 1 EUR: UnknownSigner. The same edit
    without re-signing: BadSignature. The receipt of another order under this one's intent,
    offer and acceptance: Rebound. An intent re-signed by a key the person does not hold:
    UnknownSigner. Another order's countersignature: UnknownSigner (another intent's key).
    Another vendor id than the one the offer came from: UnknownSigner."""
    first, second = _orders(person, vendor, 2)
    stranger = SigningKey.generate()
    receipt = schemas.reread_order(**first).receipt
    forged = _resigned(receipt, stranger, total_price=schemas.Money(100, "EUR"))
    with pytest.raises(schemas.UnknownSigner):
        schemas.reread_order(**{**first, "receipt_wire": forged})

    edited = first["receipt_wire"].replace(b'"amount":', b'"amount":1', 1)
    with pytest.raises(schemas.ProtocolError) as exc:
        schemas.reread_order(**{**first, "receipt_wire": edited})
    assert exc.value.code in ("bad_signature", "malformed")

    with pytest.raises(schemas.Rebound):
        schemas.reread_order(**{**first, "receipt_wire": second["receipt_wire"]})
    with pytest.raises(schemas.ProtocolError):
        schemas.reread_order(**{**first, "intent_wire": second["intent_wire"]})
    with pytest.raises(schemas.UnknownSigner):
        schemas.reread_order(**{**first, "intent_key": second["intent_key"]})
    with pytest.raises(schemas.UnknownSigner):
        schemas.reread_order(**{**first, "countersignature_wire": second["countersignature_wire"]})
    with pytest.raises(schemas.UnknownSigner):
        schemas.reread_order(**{**first, "vendor_id": "ab" * 32})


def test_no_public_resolver_believes_the_key_a_frame_names() -> None:
    """Outside the contract nothing can verify a stored frame against "whatever key it names":
    the self-certifying resolver is private to schemas (intents, profiles and registration
    requests, each then bound to the key by its own check), so callers name a key ring."""
    assert not hasattr(schemas, "self_signed")
    assert "self_signed" not in schemas.__all__
