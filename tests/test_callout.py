"""Per-connection permissions through the auth callout (deploy/nats/callout.conf and
`intentcast-bus-auth`): each agent connection may listen only to the reply tokens of its own
ephemeral key, so nobody, not even another holder of the person credential who learnt a
token from an intent, can listen to replies meant for another connection."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import pytest
from nats.aio.msg import Msg
from structlog.testing import capture_logs

import agent
import schemas
from agent import AgentConfig, Collected, Home
from runtime import REPLY_TOKENS, Bus, EmbeddedServer, NatsTransport, ServiceProcess
from tests.cluster import free_port, prepare, vendor_id
from tests.conftest import ADDRESS_FLAGS, BIN, DEMO, Agent

pytestmark = pytest.mark.e2e


class Secured:
    def __init__(self, tmp: Path) -> None:
        shutil.copytree(DEMO / "vendors", tmp / "market" / "vendors")
        shutil.copytree(DEMO / "catalogs", tmp / "market" / "catalogs")
        self.sierra_cfg = tmp / "market" / "vendors" / "sierra.toml"
        vid = vendor_id(self.sierra_cfg)
        self.dir = prepare(
            tmp, persons=["app"], vendors={"sierra": (vid, ["outdoor/tents"])}, callout=True
        )
        port = free_port()
        conf = self.dir / "callout.conf"
        text = (
            conf.read_text()
            .replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
            .replace("http: 127.0.0.1:8222\n", "")
        )
        conf.write_text(text.replace('"/var/lib/nats/jetstream"', f'"{tmp / "js"}"'))
        self.server = EmbeddedServer(config_file=conf).start()
        self.url = self.server.url
        s = self.dir / "secrets"
        self.auth = ServiceProcess(
            [
                str(BIN / "intentcast-bus-auth"),
                "--bus",
                self.url,
                "--policy",
                str(s / "callout.json"),
                "--issuer-seed",
                str(s / "issuer.nk"),
                "--seed",
                str(s / "callout.nk"),
            ],
            ready_event="bus_auth.ready",
            name="bus-auth",
        ).start()
        self.secrets = s
        self.vendor: ServiceProcess | None = None

    def start_sierra(self) -> ServiceProcess:
        self.vendor = ServiceProcess(
            [
                str(BIN / "intentcast-vendor"),
                "run",
                "--config",
                str(self.sierra_cfg),
                "--bus",
                self.url,
            ],
            ready_event="vendor.ready",
            name="sierra",
            env={"INTENTCAST_BUS_SEED": str(self.secrets / "sierra.nk")},
        ).start()
        return self.vendor

    def close(self) -> None:
        if self.vendor is not None:
            self.vendor.stop()
        self.auth.stop()
        self.server.stop()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    s = Secured(tmp_path)
    try:
        yield s
    finally:
        s.close()


async def _violation(bus: Bus, before: float = 0, seconds: float = 5.0) -> None:
    """Until the server's -ERR for a refused subscription has arrived (it comes before the
    PONG of a flush). The deadline is checked here: on Python 3.11 a wait_for around a
    flush loop can lose its own cancellation, and a broken grant would hang, not fail."""
    deadline = asyncio.get_running_loop().time() + seconds
    while bus.errors.value(kind="permission_violation") <= before:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"expected a permission violation on {bus.name} within {seconds}s")
        await bus.nc.flush()


def _person(secured: Secured, name: str) -> Bus:
    return Bus(secured.url, name=name, nkey_seed=secured.secrets / "app.nk", person=True)


def _token_of(reply_subject: str) -> str:
    """The connection's reply token in ``ic.v1.reply.<token>.<random>``."""
    return reply_subject.split(".")[3]


async def _cast(bus: Bus, home: Path, prefix: str) -> Collected:
    """One intent for a 2-person tent under ``prefix``, cast and collected by the person's
    agent (the public Agent API, in ``home``) on ``bus`` until one offer arrived (or 20 s)."""
    cast = schemas.example_tent_intent(now=datetime.now(UTC), reply_prefix=prefix)
    async with agent.Agent(Home(home), NatsTransport(bus), config=AgentConfig()) as a:
        return await a.cast(cast, window=20, expect=1)


async def test_a_person_connection_hears_only_its_own_reply_tokens(secured: Secured) -> None:
    """Connection A may subscribe under each reply token of its own key, and not to
    ic.v1.reply.*, ic.v1.reply.>, a token it made up, or connection B's tokens."""
    async with _person(secured, "a") as a, _person(secured, "b") as b:
        for prefix in (a.reply_prefix, await a.next_reply_prefix(), a.nc._inbox_prefix.decode()):
            await a.nc.subscribe(f"{prefix}.x")
        await a.nc.flush()
        assert a.errors.value(kind="permission_violation") == 0
        theirs = [b.reply_prefix, await b.next_reply_prefix()]
        made_up = schemas.connection_reply_prefix(os.urandom(16).hex())
        for subject in ("ic.v1.reply.*", "ic.v1.reply.>", "ic.v1.reply.*.*", made_up + ".>"):
            before = a.errors.value(kind="permission_violation")
            await a.nc.subscribe(subject)
            await _violation(a, before)
        for prefix in theirs:
            before = a.errors.value(kind="permission_violation")
            await a.nc.subscribe(f"{prefix}.>")
            await _violation(a, before)


async def test_connections_without_proof_or_known_key_are_refused(secured: Secured) -> None:
    """The callout refuses a person connection without a reply-key proof, with a bare 32-hex
    token (the old client-chosen form), with a proof for another credential, and an
    unknown nkey even with a valid proof."""
    seed = secured.secrets / "app.nk"
    once = {"reconnect_forever": False, "allow_reconnect": False}
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with Bus(secured.url, name="no-proof", nkey_seed=seed, **once):  # type: ignore[arg-type]
            pass
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with Bus(
            secured.url, name="bare", nkey_seed=seed, token=os.urandom(16).hex(), **once
        ):  # type: ignore[arg-type]
            pass
    stranger = secured.secrets / "stranger.nk"
    stranger.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with Bus(secured.url, name="stranger", nkey_seed=stranger, person=True, **once):  # type: ignore[arg-type]
            pass
    # A proof signed for the stranger's credential, presented with the person credential.
    other = nkeys.from_seed(bytearray(stranger.read_bytes())).public_key.decode()
    wrong = Bus(secured.url, name="wrong", nkey_seed=seed, person=True, **once)  # type: ignore[arg-type]
    wrong._reply_proof = lambda nc, key, cred: Bus._reply_proof(wrong, nc, key, other)  # type: ignore[method-assign]
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with wrong:
            pass
    assert await asyncio.to_thread(secured.auth.wait_count, "bus_auth.denied", 4, 10) >= 4
    assert secured.auth.count("bus_auth.granted") == 0


async def test_a_token_learnt_from_an_intent_gets_its_replies_to_nobody_else(
    secured: Secured, tmp_path: Path
) -> None:
    """The attack of issue 11: a vendor (here an ops observer of intents, standing in for
    it) learns the reply token from an intent, then, holding the same person credential,
    connects presenting that token (refused by the callout) and connects as a person and
    subscribes to the token (refused by the server). A late reply published on the intent's
    reply subject reaches the person and not the attacker, who counts zero messages."""
    await asyncio.to_thread(secured.start_sierra)
    seen: asyncio.Queue[Msg] = asyncio.Queue()
    got: list[Msg] = []
    async with (
        Bus(secured.url, name="ops", nkey_seed=secured.secrets / "ops.nk") as ops,
        _person(secured, "person") as person,
    ):
        await ops.nc.subscribe("ic.v1.intent.>", cb=seen.put)
        await ops.nc.flush()
        first = await _cast(person, tmp_path, await person.next_reply_prefix())
        assert [o.profile.msg.name for o in first.offers] == ["Sierra Outfitters"]
        intent = await asyncio.wait_for(seen.get(), 5)
        learnt = _token_of(intent.reply)
        assert intent.reply == first.cast.intent.reply_subject

        with pytest.raises(Exception, match=r"(?i)authori"):
            async with Bus(
                secured.url, name="replayer", nkey_seed=secured.secrets / "app.nk",
                token=learnt, reconnect_forever=False, allow_reconnect=False,
            ):  # fmt: skip
                pass
        person_heard: asyncio.Queue[Msg] = asyncio.Queue()
        await person.nc.subscribe(intent.reply, cb=person_heard.put)
        await person.nc.flush()
        async with _person(secured, "attacker") as attacker:

            async def stolen(msg: Msg) -> None:
                got.append(msg)

            for subject in (f"ic.v1.reply.{learnt}.>", intent.reply):
                before = attacker.errors.value(kind="permission_violation")
                await attacker.nc.subscribe(subject, cb=stolen)
                await _violation(attacker, before)
            await ops.nc.publish(intent.reply, b"a late reply")
            assert (await asyncio.wait_for(person_heard.get(), 5)).data == b"a late reply"
            await attacker.nc.flush()
    assert got == []


async def test_intents_on_one_long_lived_connection_share_no_reply_token(
    secured: Secured, tmp_path: Path
) -> None:
    """Two intents cast one after the other on one person connection travel with different
    reply tokens (captured by an ops observer), each gets its offer; once the connection's
    tokens are used up it changes key on a fresh connection, and an intent cast there still
    gets its offer, under a token of the new key."""
    await asyncio.to_thread(secured.start_sierra)
    seen: list[Msg] = []
    async with (
        Bus(secured.url, name="ops", nkey_seed=secured.secrets / "ops.nk") as ops,
        _person(secured, "person") as person,
    ):

        async def spy(msg: Msg) -> None:
            seen.append(msg)

        await ops.nc.subscribe("ic.v1.intent.>", cb=spy)
        await ops.nc.flush()
        casts = [await _cast(person, tmp_path, await person.next_reply_prefix()) for _ in range(2)]
        assert [len(c.offers) for c in casts] == [1, 1]
        first_key = list(person._tokens)
        with capture_logs() as logs:
            for _ in range(REPLY_TOKENS):
                prefix = await person.next_reply_prefix()
        assert [e["event"] for e in logs if e["event"] == "bus.rekeyed"] == ["bus.rekeyed"]
        assert _token_of(prefix + ".x") not in first_key
        third = await _cast(person, tmp_path, prefix)
        assert [o.profile.msg.name for o in third.offers] == ["Sierra Outfitters"]
        await ops.nc.flush()
    tokens = [_token_of(m.reply) for m in seen]
    assert len(tokens) == 3 and len(set(tokens)) == 3
    assert tokens[:2] == [_token_of(c.cast.intent.reply_subject) for c in casts]
    assert all(schemas.is_reply_subject(m.reply) for m in seen)
    assert secured.auth.count("bus_auth.granted", role="person") == 2  # one per key


def test_the_whole_conversation_works_through_the_callout(secured: Secured, tmp_path: Path) -> None:
    """want, accept and the countersigned receipt, with a vendor and an agent each granted
    per-connection permissions by the callout service."""
    secured.start_sierra()
    person = Agent(tmp_path / "person", secured.url, secured.secrets / "app.nk")
    assert person.run("init", "--name", "Ada", "--region", "ES-28", *ADDRESS_FLAGS).returncode == 0
    out = person.run(*person.want_args("--expect", "1", "--wait", "5s"))
    assert out.returncode == 0, out.stderr
    offers = json.loads(out.stdout)["offers"]
    assert [o["vendor"] for o in offers] == ["Sierra Outfitters"]
    acc = person.run("accept", offers[0]["offer"], "--json")
    assert acc.returncode == 0, acc.stderr
    assert json.loads(acc.stdout)["vendor_acknowledged"] is True
    assert secured.auth.wait_count("bus_auth.granted", 2, timeout=10, role="person") >= 2
    assert secured.auth.wait_count("bus_auth.granted", 1, timeout=10, role="vendor") == 1
