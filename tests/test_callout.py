"""Per-connection permissions through the auth callout (deploy/nats/callout.conf and
`intentcast-bus-auth`): each agent connection may listen only to its own reply subjects, so
nobody, not even another holder of the person credential, can listen to everyone's replies."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import pytest

from runtime import Bus, EmbeddedServer, ServiceProcess
from tests.cluster import free_port, prepare, vendor_id
from tests.conftest import BIN, DEMO, Agent

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

    def close(self) -> None:
        self.auth.stop()
        self.server.stop()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    s = Secured(tmp_path)
    try:
        yield s
    finally:
        s.close()


async def _violation(bus: Bus, before: float = 0) -> None:
    while bus.errors.value(kind="permission_violation") <= before:
        await bus.nc.flush()


async def test_a_person_connection_hears_only_its_own_replies(secured: Secured) -> None:
    """Connection A may subscribe under ic.v1.reply.<A's token> but not to ic.v1.reply.*,
    ic.v1.reply.> or another connection's token."""
    ta, tb = os.urandom(16).hex(), os.urandom(16).hex()
    seed = secured.secrets / "app.nk"
    async with Bus(secured.url, name="a", nkey_seed=seed, reply_token=ta) as a:
        await a.nc.subscribe(f"ic.v1.reply.{ta}.x")
        await a.nc.subscribe(f"ic.v1.reply.{ta}.>")
        await a.nc.flush()
        assert a.errors.value(kind="permission_violation") == 0
        for subject in ("ic.v1.reply.*", "ic.v1.reply.>", f"ic.v1.reply.{tb}.>", "ic.v1.reply.*.*"):
            before = a.errors.value(kind="permission_violation")
            await a.nc.subscribe(subject)
            await asyncio.wait_for(_violation(a, before), 5)


async def test_connections_without_token_or_known_key_are_refused(secured: Secured) -> None:
    """A person connection without a reply token, and an unknown nkey, are refused."""
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with Bus(
            secured.url,
            name="no-token",
            nkey_seed=secured.secrets / "app.nk",
            reconnect_forever=False,
            allow_reconnect=False,
        ):
            pass
    stranger = secured.secrets / "stranger.nk"
    stranger.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    with pytest.raises(Exception, match=r"(?i)authori"):
        async with Bus(
            secured.url,
            name="stranger",
            nkey_seed=stranger,
            reply_token=os.urandom(16).hex(),
            reconnect_forever=False,
            allow_reconnect=False,
        ):
            pass
    assert secured.auth.wait_count("bus_auth.denied", 2, timeout=10) >= 2


def test_the_whole_conversation_works_through_the_callout(secured: Secured, tmp_path: Path) -> None:
    """want, accept and the countersigned receipt, with a vendor and an agent each granted
    per-connection permissions by the callout service."""
    vendor = ServiceProcess(
        [
            str(BIN / "intentcast-vendor"),
            "run",
            "--config",
            str(secured.sierra_cfg),
            "--bus",
            secured.url,
        ],
        ready_event="vendor.ready",
        name="sierra",
        env={"INTENTCAST_BUS_SEED": str(secured.secrets / "sierra.nk")},
    ).start()
    try:
        person = Agent(tmp_path / "person", secured.url, secured.secrets / "app.nk")
        assert person.run("init", "--region", "ES-28").returncode == 0
        out = person.run(*person.want_args("--expect", "1", "--wait", "5s"))
        assert out.returncode == 0, out.stderr
        offers = json.loads(out.stdout)["offers"]
        assert [o["vendor"] for o in offers] == ["Sierra Outfitters"]
        acc = person.run("accept", offers[0]["offer"], "--json")
        assert acc.returncode == 0, acc.stderr
        assert json.loads(acc.stdout)["vendor_acknowledged"] is True
        assert secured.auth.wait_count("bus_auth.granted", 2, timeout=10, role="person") >= 2
        assert secured.auth.wait_count("bus_auth.granted", 1, timeout=10, role="vendor") == 1
    finally:
        vendor.stop()
