"""A stranger on the bus answers the person's requests before the vendor can: the acceptance,
the countersignature and the cancellation, each with junk, an old vendor's unsigned ack, a
forged "no responders" status, a rejection signed by its own key in the vendor's name, and
every genuine answer of that vendor it overheard earlier. On a real nats-server, with the
real vendor adapter and the real `intentcast` command: the person's agent believes none of
it, waits for the vendor's own signed answer, and both sides end up holding the same order.

To put the stranger first every time, not just usually, the vendor runs with stop
failpoints (``vendor.accept.received:stop`` and the like): it stops itself (SIGSTOP) where it
takes each request in, before it can answer; the stranger waits until the vendor is stopped
there, sends its answers, and only then lets it go on (SIGCONT). (Stopping the vendor when
the stranger heard the request raced a vendor quicker than the stranger under load.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.msg import Msg

import schemas
from runtime import FAILPOINTS_ENV, Bus, EmbeddedServer, ServiceProcess
from tests.conftest import Agent, VendorFactory, agent_db, vendor_db
from tests.factories import vendor_for_test

pytestmark = pytest.mark.adversarial


class Impostor:
    """Answers every request to one vendor's endpoints first, and overhears every answer."""

    def __init__(self, bus: Bus, vendor: ServiceProcess, vendor_id: str, *, only_503: bool) -> None:
        self.bus, self.vendor, self.vendor_id, self.only_503 = bus, vendor, vendor_id, only_503
        self.me = vendor_for_test("Sierra Outfitters")  # a look-alike, with keys of its own
        self.intents: dict[str, schemas.Intent] = {}
        self.overheard: list[bytes] = []  # the vendor's genuine answers, to replay later
        self.inboxes: set[str] = set()  # the request inboxes it heard of
        self.mine: set[bytes] = set()  # what it sent itself, never overheard as an answer
        self.sent: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()

    async def start(self) -> None:
        nc = self.bus.nc
        await nc.subscribe("ic.v1.intent.>", cb=self.on_intent)
        await nc.subscribe(f"ic.v1.vendor.{self.vendor_id}.*", cb=self.on_request)
        await nc.subscribe("ic.v1.reply.>", cb=self.on_reply)
        await nc.flush()

    async def on_intent(self, msg: Msg) -> None:
        try:
            v = schemas.open_intent(msg.data, now=None, replay=None)
        except schemas.ProtocolError:
            return
        self.intents[v.msg.id] = v.msg
        await self.bus.nc.publish(v.msg.reply_subject, b"", headers={"Status": "503"})
        self.sent["intent_503"] += 1

    async def on_reply(self, msg: Msg) -> None:
        if msg.subject in self.inboxes and msg.data and msg.data not in self.mine:
            self.overheard.append(msg.data)  # the vendor's own answer to an earlier request

    def forged(self, intent: schemas.Intent, endpoint: str) -> bytes:
        """A well-formed answer in the vendor's name for ``endpoint``, sealed to the intent,
        but signed by the impostor's own key: an ack refusing the countersignature, else a
        rejection."""
        now = datetime.now(UTC)
        msg: schemas.OrderConfirmation | schemas.CountersignatureAck
        if endpoint == "receipt":
            msg = schemas.CountersignatureAck(
                receipt_id=schemas.new_id(), request_hash=os.urandom(32).hex(),
                intent_id=intent.id, vendor_id=self.vendor_id, status="refused",
                reason="unknown_receipt",
            )  # fmt: skip
        else:
            msg = schemas.OrderConfirmation(
                order_id=schemas.new_id(), intent_id=intent.id, offer_id=schemas.new_id(),
                vendor_id=self.vendor_id, status="rejected", reason="out_of_stock",
                request_hash=os.urandom(32).hex(),
            )  # fmt: skip
        wire = schemas.sign(
            msg, self.me.signing, created=now, expires=now + schemas.ACK_LIFETIME,
            intent=intent.id, vendor=self.vendor_id,
        )  # fmt: skip
        frames = (wire,) if endpoint == "receipt" else (wire, wire)
        return schemas.seal(intent.keys.seal, schemas.pack(*frames))

    async def on_request(self, msg: Msg) -> None:
        endpoint = msg.subject.rsplit(".", 1)[1]
        self.requests[endpoint] += 1
        self.inboxes.add(msg.reply)
        async with asyncio.timeout(30):
            await asyncio.to_thread(_until_stopped, self.vendor.pid)
        try:
            nc, reply = self.bus.nc, msg.reply
            await nc.publish(reply, b"", headers={"Status": "503"})
            self.sent[f"{endpoint}:503"] += 1
            if not self.only_503:
                answers = [
                    ("garbage", os.urandom(900)),
                    ("list", b"[]"),
                    ("dict", b"{}"),
                    ("legacy_ack", b'{"stored": true}'),
                    *(("forged", self.forged(i, endpoint)) for i in self.intents.values()),
                    *(("replayed", old) for old in self.overheard),
                ]
                for kind, data in answers:
                    self.mine.add(data)
                    await nc.publish(reply, data)
                    self.sent[f"{endpoint}:{kind}"] += 1
            await nc.flush()
        finally:
            self.vendor.signal(signal.SIGCONT)


# The vendor's points of taking in each request: it stops itself there (test_signed_answers).
HELD = ",".join(
    f"{point}:stop"
    for point in ("vendor.accept.received", "vendor.receipt.received", "vendor.cancel.received")
)


def _until_stopped(pid: int) -> None:
    """Block until child process ``pid`` stops (held at a stop failpoint): the kernel tells
    its parent, this test, through waitpid. AssertionError if it ended instead."""
    _, status = os.waitpid(pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"expected process {pid} stopped at a failpoint, got {status}"


def _refused(stderr: str) -> dict[str, set[str]]:
    """What the agent said it refused, per request kind, from its verbose log."""
    out: dict[str, set[str]] = {}
    for line in stderr.splitlines():
        if "answer.refused" in line:
            fields = dict(p.split("=", 1) for p in line.split() if "=" in p)
            out.setdefault(fields["answer_to"], set()).add(fields["reason"])
    return out


async def _impostor(
    url: str, vendor: ServiceProcess, *, only_503: bool = False
) -> tuple[Bus, Impostor]:
    bus = await Bus(url, name="impostor").connect()
    imp = Impostor(bus, vendor, str(vendor.wait_for("vendor.ready")["vendor"]), only_503=only_503)
    await imp.start()
    return bus, imp


async def test_a_stranger_answering_first_is_ignored_and_the_vendors_answer_taken(
    nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent, tmp_path: Path
) -> None:
    """The stranger answers the acceptance, the countersignature and the cancellation before
    Sierra, every time: the person is told the order is confirmed, the countersignature held
    and the order cancelled, exactly as Sierra signed it; the agent logged each refusal by
    reason; the agent and Sierra hold the same confirmation, countersignature and
    cancellation."""
    sierra = await asyncio.to_thread(vendor, "sierra", env={FAILPOINTS_ENV: HELD})
    bus, imp = await _impostor(nats_server.url, sierra)
    try:
        got = await asyncio.to_thread(person.want, "--expect", "1")
        assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
        assert got["no_responders"] is False  # the forged 503 on the intent was only a hint
        cp = await asyncio.to_thread(
            person.run, "-v", "accept", got["offers"][0]["offer"], "--json"
        )
        assert cp.returncode == 0, cp.stderr
        accepted = json.loads(cp.stdout)
        receipt = accepted["receipt"]["id"]
        cancel = await asyncio.to_thread(person.run, "-v", "cancel", receipt[:8], "--json")
        assert cancel.returncode == 0, cancel.stderr
    finally:
        await bus.close()
    print(f"impostor sent {dict(imp.sent)} to requests {dict(imp.requests)}")
    # What the person saw: the vendor's own answers.
    assert accepted["status"] == "confirmed" and accepted["vendor_acknowledged"] is True
    assert accepted["countersignature_problem"] == ""
    assert json.loads(cancel.stdout) == {
        "cancelled": True,
        "status": "rejected",
        "reason": "cancelled",
    }
    # The stranger really did answer first, and each answer was refused for what it was.
    assert imp.requests == {"order": 1, "receipt": 1, "cancel": 1}
    refused = _refused(cp.stderr)
    refused.update(_refused(cancel.stderr))
    # (the unsigned {"stored": true} is "outdated" only where old vendors sent it: as an ack)
    assert refused["acceptance"] == {"malformed", "unknown_signer"}, refused
    assert refused["countersignature"] == {"malformed", "outdated", "unknown_signer"}, refused
    # the replayed answer to the acceptance: Sierra's, same order, but not this request's
    assert refused["cancellation"] == {"malformed", "unknown_signer", "rebound"}, refused
    assert "request.no_responders_hint" in cp.stderr and "did not answer" not in cp.stderr
    # What each side holds: the same signed frames.
    mine = agent_db(person.home).execute("SELECT * FROM receipts").fetchone()
    theirs = vendor_db(tmp_path, "sierra").execute("SELECT * FROM orders").fetchone()
    assert mine["status"] == "cancelled" and theirs["status"] == "cancelled"
    assert mine["vendor_acknowledged"] == 1
    assert bytes(mine["confirmation_wire"]) == bytes(theirs["confirmation_wire"])
    assert bytes(mine["countersignature_wire"]) == bytes(theirs["countersignature_wire"])
    assert bytes(mine["cancel_wire"]) == bytes(theirs["cancel_wire"])
    accepts = agent_db(person.home).execute("SELECT status FROM accepts").fetchall()
    assert [a["status"] for a in accepts] == ["confirmed"]


async def test_a_forged_no_responders_status_ends_nothing(
    nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent, tmp_path: Path
) -> None:
    """A stranger puts a "503 no responders" status into the intent's reply subject and into
    every request inbox before the vendor answers: the person still sees Sierra's offer (not
    "no vendor serves this"), the acceptance is confirmed at the first try, and Sierra holds
    the one order."""
    sierra = await asyncio.to_thread(vendor, "sierra", env={FAILPOINTS_ENV: HELD})
    bus, imp = await _impostor(nats_server.url, sierra, only_503=True)
    try:
        got = await asyncio.to_thread(person.want, "--expect", "1")
        cp = await asyncio.to_thread(
            person.run, "-v", "accept", got["offers"][0]["offer"], "--json"
        )
    finally:
        await bus.close()
    print(f"impostor sent {dict(imp.sent)}")
    assert got["no_responders"] is False and len(got["offers"]) == 1
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["status"] == "confirmed"
    assert imp.sent["intent_503"] == 1 and imp.sent["order:503"] == 1
    assert "request.retry" not in cp.stderr  # the first try got the answer
    orders = vendor_db(tmp_path, "sierra").execute("SELECT status FROM orders").fetchall()
    assert [o["status"] for o in orders] == ["confirmed"]


def test_a_stranger_answering_a_vendors_registration_first_is_ignored(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """What vendors receive: a stranger answers Sierra's registration request before the
    registrar, with garbage, a forged 503 and a "refused: name_taken" signed by its own key.
    Sierra does not stop as refused: it counts the forgeries, and registers with the
    registrar's own answer."""
    from nacl.signing import SigningKey

    from tests.test_registry import registered, registrar

    reg = registrar(tmp_path, nats_server.url, "--auto-approve")
    key = str(reg.wait_for("registry.ready")["registrar"])
    forger, sent = SigningKey.generate(), Counter[str]()

    async def run() -> ServiceProcess:
        async with Bus(nats_server.url, name="stranger") as bus:

            async def answer_first(msg: Msg) -> None:
                request = schemas.open_registration(msg.data, registrar=key, now=None, replay=None)
                refusal = schemas.make_registration_answer(
                    forger, request, status="refused", now=datetime.now(UTC),
                    code="name_taken", detail="taken",
                )  # fmt: skip
                for kind, data in (("garbage", os.urandom(300)), ("forged", refusal)):
                    await bus.nc.publish(msg.reply, data)
                    sent[kind] += 1
                await bus.nc.publish(msg.reply, b"", headers={"Status": "503"})
                sent["503"] += 1

            await bus.nc.subscribe(schemas.registry_subject(key), cb=answer_first)
            await bus.nc.flush()
            sierra = await asyncio.to_thread(vendor, "sierra", registry=registered(key))
            await asyncio.to_thread(sierra.wait_for, "vendor.registered")
            return sierra

    try:
        sierra = asyncio.run(run())
    finally:
        reg.stop()
    assert sent == {"garbage": 1, "forged": 1, "503": 1}
    assert sierra.returncode is None
    refused = {
        str(e["code"]) for e in sierra.events if e.get("event") == "vendor.registration.unverified"
    }
    assert refused == {"malformed", "unknown_signer"}, refused
