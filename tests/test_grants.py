"""Who may write what on a secured bus, through the real auth callout (and the static
auth.conf, which must say the same): only the registrar writes the registry bucket, only
persons publish ratings, and persons and vendors can still read what they need."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import nats.errors
import pytest
from nacl.signing import SigningKey

import bus_auth
import schemas
from runtime import Bus, EmbeddedServer, RatingsBoard, ServiceProcess
from tests.cluster import free_port, prepare, vendor_id
from tests.conftest import BIN, DEMO
from tests.factories import minted_rating, vendor_for_test
from tests.test_callout import _violation

pytestmark = pytest.mark.e2e
BUCKET = schemas.REGISTRY_BUCKET


def _make_credentials(d: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_credentials", d / "make_credentials.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_static_auth_conf_grants_what_the_callout_grants() -> None:
    """deploy/nats/make_credentials.py (standalone) and bus_auth list the same subjects for
    persons, vendors and registrars."""
    m = _make_credentials(Path(__file__).parent.parent / "deploy" / "nats")
    vid, key = "ab" * 32, "cd" * 32
    assert m.person_publish() == bus_auth.person_publish()
    assert m.vendor_publish(vid) == bus_auth.vendor_publish(vid)
    assert m.registrar_publish() == bus_auth.registrar_grant(key)["pub"]["allow"]  # type: ignore[index]
    assert "$KV.ic_registry.>" not in " ".join(m.person_publish() + m.vendor_publish(vid))
    registrar_subs = bus_auth.registrar_grant(key)["sub"]["allow"]  # type: ignore[index]
    assert registrar_subs == [schemas.registry_subject(key), schemas.registrar_inbox(key) + ".>"]
    assert schemas.rating_subject("*") in bus_auth.person_publish()
    for endpoint in schemas.VENDOR_ENDPOINTS:  # a person may ask every vendor endpoint
        assert schemas.vendor_subject("*", endpoint) in bus_auth.person_publish()
    assert schemas.profile_subject(vid) in bus_auth.vendor_publish(vid)
    assert f"$KV.{schemas.REGISTRY_BUCKET}.>" in m.registrar_publish()
    assert schemas.vendor_inbox(vid).startswith(f"ic.v1.vendor.{vid}.")  # under its sub grant
    assert not [s for s in m.vendor_publish(vid) if s.startswith("ic.v1.rating")]


class Market:
    """A secured nats-server with a person, a vendor, a registrar and ops: by default behind
    the auth callout (callout.conf, ``intentcast-bus-auth`` with its reply broker); with
    ``callout=False`` the static single-node users (single.conf) and the reply broker alone."""

    def __init__(self, tmp: Path, *, callout: bool = True) -> None:
        shutil.copytree(DEMO / "vendors", tmp / "market" / "vendors")
        shutil.copytree(DEMO / "catalogs", tmp / "market" / "catalogs")
        self.vendor_id = vendor_id(tmp / "market" / "vendors" / "sierra.toml")
        self.registrar = SigningKey.generate()
        self.registrar_key = self.registrar.verify_key.encode().hex()
        self.dir = prepare(
            tmp, persons=["app"], vendors={"sierra": (self.vendor_id, ["outdoor/tents"])},
            callout=callout, registrars={"reg": self.registrar_key},
        )  # fmt: skip
        conf = self.dir / ("callout.conf" if callout else "single.conf")
        text = conf.read_text().replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{free_port()}")
        text = text.replace("http: 127.0.0.1:8222\n", "")
        conf.write_text(text.replace('"/var/lib/nats/jetstream"', f'"{tmp / "js"}"'))
        self.server = EmbeddedServer(config_file=conf).start()
        self.url = self.server.url
        s = self.secrets = self.dir / "secrets"
        callout_args = [
            "--policy", str(s / "callout.json"), "--issuer-seed", str(s / "issuer.nk"),
            "--seed", str(s / "callout.nk"),
        ]  # fmt: skip
        self.auth = ServiceProcess(
            [str(BIN / "intentcast-bus-auth"), "--bus", self.url,
             *(callout_args if callout else []), "--ops-seed", str(s / "ops.nk")],
            ready_event="bus_auth.ready", name="bus-auth",
        ).start()  # fmt: skip

    def person(self) -> Bus:
        return Bus(self.url, name="person", nkey_seed=self.secrets / "app.nk", person=True)

    def vendor(self) -> Bus:
        return Bus(
            self.url, name="vendor", nkey_seed=self.secrets / "sierra.nk",
            inbox_prefix=schemas.vendor_inbox(self.vendor_id),
        )  # fmt: skip

    def registrar_bus(self) -> Bus:
        return Bus(
            self.url, name="registrar", nkey_seed=self.secrets / "reg.nk",
            inbox_prefix=schemas.registrar_inbox(self.registrar_key),
        )  # fmt: skip

    def ops(self) -> Bus:
        return Bus(self.url, name="ops", nkey_seed=self.secrets / "ops.nk")

    def close(self) -> None:
        self.auth.stop()
        self.server.stop()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    m = Market(tmp_path)
    try:
        yield m
    finally:
        m.close()


async def _refused_put(bus: Bus, key: str) -> None:
    """A put of ``key`` on ``bus`` is refused by the server: a permission violation."""
    before = bus.errors.value(kind="permission_violation")
    await bus.nc.publish(f"$KV.{BUCKET}.{key}", b"an entry of my own")
    await _violation(bus, before)


async def test_only_the_registrar_can_put_a_registry_entry(market: Market) -> None:
    """Through the real callout, a person's and a vendor's connection each try to put a
    registry entry: the server refuses both (a permission violation each) and the bucket
    holds only what the registrar's connection put."""
    key = schemas.vendor_entry_key(market.vendor_id)
    async with market.ops() as ops:
        await ops.nc.jetstream().create_key_value(bucket=BUCKET, history=1)
    async with market.person() as person:
        kv = await person.nc.jetstream(timeout=2.0).key_value(BUCKET)  # it may read the bucket
        with pytest.raises(nats.errors.TimeoutError):  # the put is never acknowledged
            await kv.put(key, b"an entry of my own")
        await _refused_put(person, key)
    async with market.vendor() as vendor:
        await _refused_put(vendor, key)
    async with market.registrar_bus() as registrar:
        kv = await registrar.nc.jetstream(timeout=5.0).key_value(BUCKET)
        await kv.put(key, b"the registrar's entry")
        assert registrar.errors.value(kind="permission_violation") == 0
    async with market.person() as person:
        entry = await (await person.nc.jetstream().key_value(BUCKET)).get(key)
        assert entry.value == b"the registrar's entry" and entry.revision == 1


async def test_persons_publish_ratings_and_vendors_cannot(market: Market) -> None:
    """A person's connection publishes a rating to the ratings board (the operator created
    it) and reads it back; a vendor's connection may read the board but its own rating is
    refused by the server and never stored."""
    v = vendor_for_test()
    async with market.ops() as ops, RatingsBoard(ops):
        pass  # the operator creates the stream once
    async with market.person() as person, RatingsBoard(person) as board:
        await board.publish(v.vendor_id, minted_rating(v))
    async with market.vendor() as vendor, RatingsBoard(vendor) as board:
        before = vendor.errors.value(kind="permission_violation")
        await vendor.nc.publish(schemas.rating_subject(v.vendor_id), minted_rating(v))
        await _violation(vendor, before)
        async with asyncio.timeout(10):
            await board.catch_up()
        assert len(board.bundles(v.vendor_id)) == 1
    async with market.person() as person, RatingsBoard(person) as board:
        async with asyncio.timeout(10):
            await board.catch_up()
        assert len(board.bundles(v.vendor_id)) == 1
