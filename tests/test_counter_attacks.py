"""Statuses nobody should believe, left in a person's order mailboxes on a real JetStream: one
forged by a stranger's key, a genuine one replayed (published again without the duplicate
header, as an attacker would), and a genuine one for another order. The person's agent
refuses each with its code and counts it, applies only the vendor's real statuses, and
the vendor's store is untouched by any of it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

import schemas
from runtime import Bus, EmbeddedServer
from tests.conftest import Agent, VendorFactory, agent_db, vendor_db
from tests.test_counter import bought, counter


def _stranger() -> schemas.VendorSigner:
    return schemas.make_profile(
        identity=SigningKey.generate(), signing=SigningKey.generate(),
        seal_key=PrivateKey.generate(), name="Sierra Outfitters", categories=["outdoor/tents"],
        terms=schemas.example_vendor_terms(), now=datetime.now(UTC),
    )  # fmt: skip


async def _post_raw(url: str, posts: list[tuple[str, bytes]]) -> None:
    async with Bus(url, name="stranger") as bus:
        js = bus.nc.jetstream()
        for subject, data in posts:
            await js.publish(subject, data, timeout=5)


def test_forged_replayed_and_misdirected_statuses_are_refused_and_counted(
    person: Agent, vendor: VendorFactory, tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """After two orders shipped and their statuses were applied: a stranger's "delivered"
    (unknown_signer), order A's own status again (replayed) and order A's status in order
    B's mailbox (it cannot even be opened there) are each refused, counted by reason, and
    leave both receipts "shipped" with one status each."""
    sierra = vendor("sierra")
    a, b = bought(person), None
    got = person.want("--expect", "1")
    person.ok("accept", got["offers"][0]["offer"][:8], "--another")
    b = next(r for r in json.loads(person.ok("receipts", "--json")) if r["receipt"] != a["receipt"])
    for n, r in enumerate((a, b), 1):
        assert counter(tmp_path, "ship", r["order"][:8]).returncode == 0
        sierra.wait_count("status.sent", n)
    assert len(json.loads(person.ok("inbox", "--json"))["statuses"]) == 2
    vdb = vendor_db(tmp_path, "sierra")
    box = {
        r["order_id"]: (r["subject"], r["sealed"])
        for r in vdb.execute("SELECT * FROM order_statuses")
    }
    (a_subject, a_sealed), (b_subject, _) = box[a["order"]], box[b["order"]]
    receipt_wire, intent_wire = agent_db(person.home).execute(
        "SELECT r.receipt_wire, i.wire FROM receipts r JOIN intents i ON i.id = r.intent_id"
        " WHERE r.receipt_id = ?", (a["receipt"],),
    ).fetchone()  # fmt: skip
    receipt = schemas.verify(
        receipt_wire, schemas.Receipt, key=lambda kid, at: VerifyKey(bytes.fromhex(kid)), now=None
    )
    intent = schemas.open_intent(intent_wire, now=None, replay=None)
    _, forged = schemas.make_status(
        receipt, signer=_stranger(), seal_to=intent.msg.keys.seal, seq=9, state="delivered",
        now=datetime.now(UTC), ttl=timedelta(days=1),
    )  # fmt: skip
    before = vdb.execute("SELECT order_id, status FROM orders ORDER BY order_id").fetchall()
    asyncio.run(
        _post_raw(
            nats_server.url, [(a_subject, forged), (a_subject, a_sealed), (b_subject, a_sealed)]
        )
    )
    seen = json.loads(person.ok("inbox", "--json"))
    assert seen["refused"] == {"unknown_signer": 1, "replayed": 1, "malformed": 1}
    assert [(s["receipt_id"], s["seq"]) for s in seen["statuses"]] == sorted(
        [(a["receipt"], 1), (b["receipt"], 1)]
    )
    assert {r["status"] for r in json.loads(person.ok("receipts", "--json"))} == {"shipped"}
    assert json.loads(person.ok("inbox", "--json"))["refused"] == seen["refused"]  # read once
    assert vdb.execute("SELECT order_id, status FROM orders ORDER BY order_id").fetchall() == before
