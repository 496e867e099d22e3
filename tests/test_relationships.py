"""Relationships changed once for all: an address change goes, signed and sealed, to each
vendor that holds the old address and to no other; acknowledgements count only when signed
by that vendor and bound to the update; what is not acknowledged is retried; a vendor asked
to forget erases the person's details from its store and confirms it, signed. Real
nats-server, real vendor subprocesses, the real ``intentcast`` command."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey

import agent
import schemas
from agent import Home
from runtime import Bus, EmbeddedServer, Message, NatsTransport
from tests.conftest import Agent, VendorFactory, _shared_dir, agent_db, signed_by, vendor_db
from tests.shopper import Shopper, intent
from tests.test_adversarial import _metrics

pytestmark = pytest.mark.e2e

NEW_ADDRESS = ("--street", "Calle Nueva 7", "--postcode", "28004", "--city", "Madrid")


def _buy_from(person: Agent, name: str, expect: int) -> None:
    """Cast an intent and accept the offer of the vendor called ``name``."""
    got = person.want("--expect", str(expect))
    (offer,) = [o["offer"] for o in got["offers"] if o["vendor"] == name]
    acc = json.loads(person.ok("accept", offer[:8], "--json"))
    assert acc["status"] == "confirmed", acc


def _disclosures(tmp_path: Path, name: str) -> list[dict[str, object]]:
    rows = vendor_db(tmp_path, name).execute("SELECT disclosure FROM orders").fetchall()
    return [json.loads(r[0]) if r[0] else {} for r in rows]


def _relationships(person: Agent) -> dict[str, dict[str, object]]:
    return {r["vendor"]: r for r in json.loads(person.ok("relationships", "--json"))}


def test_an_address_change_reaches_every_vendor_that_holds_it_and_no_other(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """Orders from Sierra and Cumbre (both hold the postal address) and from a vendor of
    digital goods (holds the email only): `profile set address` sends one signed update to
    Sierra's order and one to Cumbre's, each acknowledged, signed; both stores hold the new
    street; the digital vendor is sent nothing and its store is unchanged."""
    vendor("sierra")
    vendor("cumbre")
    digital = vendor(
        "sierra", replica="digital", name='"Sierra Digital"', keys_dir='"keys/digital"',
        data_dir='"data/digital"', fulfilment='{ needs = ["email"] }',
    )  # fmt: skip
    for name in ("Sierra Outfitters", "Cumbre Sports", "Sierra Digital"):
        _buy_from(person, name, expect=3)
    out = person.ok("profile", "set", "address", *NEW_ADDRESS)
    assert "2 of" not in out and "not acknowledged" not in out.lower()
    for name in ("sierra", "cumbre"):
        (held,) = _disclosures(tmp_path, name)
        assert held["address"] == ["Calle Nueva 7"] and held["postcode"] == "28004"
        assert held["name"] == "Ada Lovelace"
    assert _disclosures(tmp_path, "digital") == [{"email": "ada@example.org"}]
    assert vendor_db(tmp_path, "digital").execute("SELECT COUNT(*) FROM details_updates").fetchone()[0] == 0  # fmt: skip
    assert not [e for e in digital.events if str(e.get("event", "")).startswith("details.")]
    sent = agent_db(person.home).execute("SELECT vendor_id, status FROM relationship_updates").fetchall()  # fmt: skip
    assert sorted(r["status"] for r in sent) == ["applied", "applied"]
    rel = _relationships(person)
    assert rel["Sierra Outfitters"]["update"] == "acknowledged"
    assert rel["Cumbre Sports"]["update"] == "acknowledged"
    assert rel["Sierra Digital"]["update"] == "none sent"
    assert rel["Sierra Digital"]["fields"] == ["email"]


def test_the_next_command_on_the_bus_retries_what_was_not_acknowledged(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """An update Sierra missed while it was down goes out again, the same bytes, when the
    person next runs any command that talks to the bus (here `sync`), once Sierra is back."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    sierra.stop()
    cp = person.run("profile", "set", "address", *NEW_ADDRESS, "--timeout", "1")
    assert cp.returncode == 1, cp.stderr
    back = vendor("sierra", replica="a")
    person.ok("sync")
    back.wait_for("details.updated")
    assert _relationships(person)["Sierra Outfitters"]["update"] == "acknowledged"
    (held,) = _disclosures(tmp_path, "sierra")
    assert held["address"] == ["Calle Nueva 7"]


def test_an_update_sent_while_the_vendor_is_down_is_retried_until_acknowledged(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """Sierra stopped when the address changes: the person is told it has not acknowledged
    (exit 1) and the update waits, stored; Sierra restarted, `relationships --retry` sends
    the same signed bytes, Sierra applies them and its acknowledgement is kept."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    sierra.stop()
    cp = person.run("profile", "set", "address", *NEW_ADDRESS, "--timeout", "1")
    assert cp.returncode == 1, cp.stderr
    assert "NOT acknowledged" in cp.stdout and "relationships --retry" in cp.stdout
    assert _relationships(person)["Sierra Outfitters"]["update"] == "NOT acknowledged"
    (before,) = agent_db(person.home).execute("SELECT update_wire FROM relationship_updates").fetchall()  # fmt: skip
    cp = person.run("relationships", "--retry", "--timeout", "1")
    assert cp.returncode == 1 and "still not answered" in cp.stdout
    back = vendor("sierra", replica="a")
    out = person.ok("relationships", "--retry")
    assert "every update and erasure request is answered" in out
    back.wait_for("details.updated")
    (held,) = _disclosures(tmp_path, "sierra")
    assert held["address"] == ["Calle Nueva 7"]
    (row,) = agent_db(person.home).execute("SELECT * FROM relationship_updates").fetchall()
    assert row["status"] == "applied" and row["update_wire"] == before[0] and row["ack_wire"]


async def test_a_forged_acknowledgement_from_a_stranger_is_not_counted(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent
) -> None:
    """With Sierra down, a stranger answers the update on Sierra's subject with an
    acknowledgement it signed itself, sealed to the intent: the agent does not count it (the
    update stays NOT acknowledged, exit 1) and Sierra's store is not touched."""
    sierra = vendor("sierra")
    await asyncio.to_thread(_buy_from, person, "Sierra Outfitters", 1)
    (order,) = vendor_db(tmp_path, "sierra").execute("SELECT * FROM orders").fetchall()
    vendor_id = sierra.wait_for("vendor.ready")["vendor"]
    sierra.stop()
    intent_msg = schemas.verify(
        bytes(order["intent_wire"]), schemas.Intent, key=signed_by(order["intent_key"]), now=None
    ).msg
    stranger = SigningKey.generate()
    async with Bus(nats_server.url, name="stranger") as bus:

        async def answer(msg: Message) -> None:
            now = datetime.now(UTC)
            ack = schemas.DetailsAck(
                order_id=order["order_id"], vendor_id=str(vendor_id), update_hash="00" * 32,
                status="applied",
            )  # fmt: skip
            wire = schemas.sign(
                ack, stranger, created=now, expires=now + timedelta(minutes=5),
                intent=intent_msg.id, vendor=str(vendor_id),
            )  # fmt: skip
            sealed = schemas.seal(intent_msg.keys.seal, schemas.pack(wire))
            await transport.publish(msg.reply, sealed)

        transport = NatsTransport(bus)
        await transport.subscribe(schemas.vendor_subject(str(vendor_id), "details"), answer)
        await transport.flush()
        cp = await asyncio.to_thread(
            person.run, "profile", "set", "address", *NEW_ADDRESS, "--timeout", "2"
        )
    assert cp.returncode == 1, cp.stderr
    assert "NOT acknowledged" in cp.stdout
    (row,) = agent_db(person.home).execute("SELECT * FROM relationship_updates").fetchall()
    assert row["status"] == "pending" and row["ack_wire"] is None
    (held,) = _disclosures(tmp_path, "sierra")
    assert held["address"] == ["Calle Mayor 1"]


def test_forget_erases_the_persons_details_from_the_vendors_store_with_a_signed_confirmation(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """`intentcast forget Sierra Outfitters` after an address update: Sierra confirms,
    signed; its store holds no disclosure, no signed acceptance and no update for the order
    (the receipt and its hashes stay), and neither the name nor either street is anywhere in
    its SQLite files; the agent keeps the confirmation, verified against Sierra's key."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    person.ok("profile", "set", "address", *NEW_ADDRESS)
    out = person.ok("forget", "Sierra Outfitters")
    assert "confirmed erasure" in out
    metrics = _metrics(str(sierra.wait_for("vendor.health")["metrics"]))
    assert metrics['vendor_relationships_total{event="applied"}'] == 1
    assert metrics['vendor_relationships_total{event="erased"}'] == 1
    db = vendor_db(tmp_path, "sierra")
    (order,) = db.execute("SELECT * FROM orders").fetchall()
    assert order["disclosure"] is None and bytes(order["accept_wire"]) == b""
    assert order["receipt_wire"] and order["receipt_hash"]
    assert db.execute("SELECT COUNT(*) FROM details_updates").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM erasures").fetchone()[0] == 1
    db.close()
    files = sorted((_shared_dir(tmp_path) / "vendors" / "data" / "sierra").glob("vendor.sqlite*"))
    for f in files:
        data = f.read_bytes()
        for secret in (b"Ada Lovelace", b"Calle Mayor", b"Calle Nueva"):
            assert secret not in data, (f.name, secret)
    assert _relationships(person)["Sierra Outfitters"]["erasure"] == "confirmed"
    (kept,) = agent_db(person.home).execute("SELECT * FROM relationship_erasures").fetchall()
    assert kept["status"] == "erased" and kept["confirmation_wire"]


async def test_an_update_signed_by_another_orders_key_is_refused(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """Two orders at Sierra from one client; an update of order A signed by order B's
    intent key (a key Sierra knows, but not A's) is refused (rebound, logged) and never
    answered, and so is one signed by a key Sierra has never seen; A's
    details are unchanged. Signed by A's own key, the same update is applied."""
    sierra = vendor("sierra")
    async with Bus(nats_server.url, name="two-orders") as bus:
        mallory = Shopper(NatsTransport(bus))
        orders = []
        for _ in range(2):
            cast = intent()
            (offer,) = await mallory.offers(cast)
            orders.append(await mallory.order(cast, offer))
        a, b = orders
        receipt = a.confirmation.receipt
        assert receipt is not None
        profile = a.offer.profile.msg
        subject = schemas.vendor_subject(profile.vendor_id, "details")

        def update(secrets: schemas.IntentSecrets) -> bytes:
            _, sealed = schemas.make_details_update(
                order_id=a.confirmation.confirmation.msg.order_id, intent_id=a.cast.intent.id,
                vendor_id=profile.vendor_id, receipt_hash=receipt.digest, changed=["address"],
                details=schemas.Disclosure(address=["Calle Robada 1"]), secrets=secrets,
                seal_to=schemas.seal_key_for(profile, receipt.kid), now=datetime.now(UTC),
            )  # fmt: skip
            return sealed

        stranger = schemas.IntentSecrets.generate()
        for secrets in (b.cast.secrets, stranger):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    await mallory.transport.request(subject, update(secrets))
        # The first refusal is logged in full; the next within the interval only counted.
        await asyncio.to_thread(sierra.wait_for, "details_update.rejected", code="rebound")
        assert [d.get("address") for d in _disclosures(tmp_path, "sierra")] == [
            ["Calle Falsa 1"], ["Calle Falsa 1"],
        ]  # fmt: skip
        async with asyncio.timeout(10):
            reply = await mallory.transport.request(subject, update(a.cast.secrets))
        assert reply
    assert sorted(str(d.get("address")) for d in _disclosures(tmp_path, "sierra")) == [
        "['Calle Falsa 1']", "['Calle Robada 1']",
    ]  # fmt: skip


AT = datetime.now(UTC) + timedelta(days=1)  # one instant for every score: no forgetting between


def _trust(home: Path, vendor_id: str) -> float:
    async def score() -> float:
        async with agent.Agent(Home(home)) as a:
            return a.trust.score(vendor_id, AT).value

    return asyncio.run(score())


def test_a_vendor_that_does_not_confirm_erasure_is_marked_and_trusted_less(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """`forget` while Sierra is down: one line says it has NOT confirmed (exit 1), the
    relationship is marked so, and Sierra's trust drops; once Sierra is back and confirms
    (`relationships --retry`), the mark and the penalty are gone. A vendor the person never
    bought from cannot be asked: one line, exit 2."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    vendor_id = str(sierra.wait_for("vendor.ready")["vendor"])
    before = _trust(person.home, vendor_id)
    sierra.stop()
    cp = person.run("forget", "Sierra Outfitters", "--timeout", "1")
    assert cp.returncode == 1 and "has NOT confirmed erasure" in cp.stdout, cp.stderr
    assert _relationships(person)["Sierra Outfitters"]["erasure"] == "asked, NOT confirmed"
    assert _trust(person.home, vendor_id) < before - 0.05
    vendor("sierra", replica="a")
    person.ok("relationships", "--retry")
    assert _relationships(person)["Sierra Outfitters"]["erasure"] == "confirmed"
    assert _trust(person.home, vendor_id) == before
    cp = person.run("forget", "Nobody Ltd")
    assert cp.returncode == 2
    assert cp.stderr.strip() == (
        "intentcast: error: forget: expected one vendor you bought from, got 0 matching"
        " 'Nobody Ltd'; see `intentcast relationships`"
    )


def test_an_update_carries_every_field_the_vendor_still_holds_old(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """An address changed with --no-send, then a name change: the update sent to Sierra
    carries both, as Sierra still held the old address; an update superseded while Sierra
    was down is replaced by the newer one, whose values are what Sierra ends up holding."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    person.ok("profile", "set", "address", *NEW_ADDRESS, "--no-send")
    person.ok("profile", "set", "name", "Ada King")
    (held,) = _disclosures(tmp_path, "sierra")
    assert (held["name"], held["address"]) == ("Ada King", ["Calle Nueva 7"])
    sierra.stop()
    person.run("profile", "set", "address", "--street", "Calle Uno 1", "--timeout", "1")
    person.run("profile", "set", "address", "--street", "Calle Dos 2", "--timeout", "1")
    vendor("sierra", replica="a")
    person.ok("relationships", "--retry")
    (held,) = _disclosures(tmp_path, "sierra")
    assert held["address"] == ["Calle Dos 2"] and held["name"] == "Ada King"
    statuses = [r[0] for r in agent_db(person.home).execute("SELECT status FROM relationship_updates ORDER BY id")]  # fmt: skip
    assert statuses == ["applied", "superseded", "applied"]


def test_purging_after_retention_takes_the_persons_signed_updates_too(tmp_path: Path) -> None:
    """When an order's retention has passed, the vendor's purge forgets its disclosure, its
    signed acceptance and the person's signed updates of it (which carry details too); an
    order still within retention keeps all three."""
    from vendor_adapter import VendorStore

    store = VendorStore(tmp_path / "vendor.sqlite")
    now = datetime.now(UTC)
    for order_id, purge_after in (("a" * 32, now - timedelta(days=1)), ("b" * 32, now + timedelta(days=1))):  # fmt: skip
        store.insert_order(
            dict(
                order_id=order_id, offer_id=order_id, intent_id=order_id, intent_key="k",
                sku="T", quantity=1, total_amount=1, currency="EUR", status="confirmed",
                created=now.isoformat(), intent_wire=b"i", offer_wire=b"o", accept_wire=b"a",
                confirmation_wire=b"c", reply_sealed=b"r",
                disclosure=json.dumps({"name": "Ada Lovelace"}), purge_after=purge_after.isoformat(),
            ),
            stock=None,
        )  # fmt: skip
        assert store.apply_details(order_id, order_id, b"update: Calle Nueva 7", {"address": ["Calle Nueva 7"]}, now)  # fmt: skip
    assert store.purge(now) == 1
    left = store.db.execute("SELECT order_id FROM details_updates").fetchall()
    assert [r[0] for r in left] == ["b" * 32]
    purged, kept = store.order("a" * 32), store.order("b" * 32)
    assert (
        purged is not None and purged["disclosure"] is None and bytes(purged["accept_wire"]) == b""
    )
    assert kept is not None and json.loads(kept["disclosure"])["address"] == ["Calle Nueva 7"]
    assert not store.apply_details(
        "a" * 32, "x", b"late", {"name": "Ada"}, now
    )  # nothing to update
    store.close()


def test_updates_erasures_and_their_signed_answers_travel_in_an_export(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """An export holds the updates and erasure requests with the vendors' signed answers;
    the imported home shows the same relationships. The same file with one acknowledgement
    re-signed by a stranger (and its digest recomputed, as a forger would) is refused in one
    line, exit 2, and no home is made."""
    import base64

    from tests.test_export_import import _redigest

    vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    person.ok("profile", "set", "address", *NEW_ADDRESS)
    person.ok("forget", "Sierra Outfitters")
    out = tmp_path / "mine.json"
    person.ok("export", "--out", str(out))
    doc = json.loads(out.read_text())
    tables = doc["content"]["tables"]
    assert [r["status"] for r in tables["relationship_updates"]] == ["applied"]
    assert [r["status"] for r in tables["relationship_erasures"]] == ["erased"]
    new = Agent(tmp_path / "new-home", person.bus)
    person.ok("import", str(out), "--home", str(new.home))
    assert new.ok("relationships", "--json") == person.ok("relationships", "--json")

    ack = base64.b64decode(tables["relationship_updates"][0]["ack_wire"])
    stranger = SigningKey.generate()
    body = ack[64:]
    kid_at = body.index(b"\n") - 64  # the tag line ends with the signer's key
    signed = body[:kid_at] + bytes(stranger.verify_key).hex().encode() + body[kid_at + 64 :]
    forged = stranger.sign(signed).signature + signed
    tables["relationship_updates"][0]["ack_wire"] = base64.b64encode(forged).decode()
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(_redigest(doc)))
    cp = person.run("import", str(bad), "--home", str(tmp_path / "forged-home"))
    assert cp.returncode == 2
    (line,) = cp.stderr.strip().splitlines()
    assert "expected every update and erasure request, and their answers, to verify" in line
    assert "update of order" in line and "the file was edited or damaged" in line
    assert not (tmp_path / "forged-home").exists()
