"""Per-role access on a real secured nats-server (deploy/nats/single.conf with credentials
from make_credentials.py): each violation is refused by the server, reaches the client as an
error event, and is logged and counted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import nats.errors
import pytest
from structlog.testing import capture_logs

import schemas
from runtime import Bus, EmbeddedServer
from tests.cluster import free_port, prepare

VENDOR_A = "aa" * 32
VENDOR_B = "bb" * 32


@pytest.fixture
def secured(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    d = prepare(
        tmp_path,
        persons=["app"],
        vendors={"va": (VENDOR_A, ["outdoor/tents"]), "vb": (VENDOR_B, ["outdoor"])},
    )
    port = free_port()
    text = (
        (d / "single.conf").read_text().replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
    )
    text = text.replace("http: 127.0.0.1:8222\n", "").replace(
        '"/var/lib/nats/jetstream"', f'"{d / "js"}"'
    )
    (d / "local-single.conf").write_text(text)
    server = EmbeddedServer(config_file=d / "local-single.conf").start()
    try:
        yield server.url, d / "secrets"
    finally:
        server.stop()


async def _violation(bus: Bus) -> None:
    await _until_more(bus, 0)


async def test_vendor_cannot_read_replies_publish_intents_or_answer_twice(
    secured: tuple[str, Path],
) -> None:
    """A vendor may not subscribe to replies, may not publish an intent, and may answer each
    message it received at most once."""
    url, secrets = secured
    async with (
        Bus(url, name="person", nkey_seed=secrets / "app.nk") as person,
        Bus(url, name="vendor-a", nkey_seed=secrets / "va.nk") as vendor,
    ):
        with capture_logs() as logs:
            await vendor.nc.subscribe("ic.v1.reply.>")
            await asyncio.wait_for(_violation(vendor), 5)
        assert any(e["event"] == "bus.error" and e["kind"] == "permission_violation" for e in logs)

        before = vendor.errors.value(kind="permission_violation")
        await vendor.nc.publish("ic.v1.intent.outdoor.tents", b"fake intent")
        await asyncio.wait_for(_until_more(vendor, before), 5)

        got: asyncio.Queue[bytes] = asyncio.Queue()
        answered = asyncio.Event()

        async def answer_twice(msg) -> None:  # type: ignore[no-untyped-def]
            await vendor.nc.publish(msg.reply, b"first")
            await vendor.nc.publish(msg.reply, b"second")
            answered.set()

        await vendor.nc.subscribe("ic.v1.intent.outdoor.tents", cb=answer_twice)
        await vendor.nc.flush()
        # A one-shot reply subject has two tokens after the root (the connection's token and
        # the request's); one token is a watched intent's, which vendors may always publish to.
        reply = "ic.v1.reply." + os.urandom(16).hex() + "." + os.urandom(8).hex()

        async def on_reply(msg) -> None:  # type: ignore[no-untyped-def]
            await got.put(msg.data)

        await person.nc.subscribe(reply, cb=on_reply)
        await person.nc.flush()
        before = vendor.errors.value(kind="permission_violation")
        await person.nc.publish("ic.v1.intent.outdoor.tents", b"intent", reply=reply)
        await asyncio.wait_for(answered.wait(), 5)
        await asyncio.wait_for(_until_more(vendor, before), 5)
        assert await asyncio.wait_for(got.get(), 5) == b"first"
        await person.nc.flush()
        assert got.empty()


async def _until_more(bus: Bus, before: float, seconds: float = 5.0) -> None:
    """Until one more permission violation has arrived (the server's -ERR comes before the
    PONG). The deadline is checked here: on Python 3.11 a wait_for around a flush loop can
    lose its cancellation, so a violation that never comes would hang instead of failing."""
    deadline = asyncio.get_running_loop().time() + seconds
    while bus.errors.value(kind="permission_violation") <= before:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"expected a permission violation on {bus.name}")
        await bus.nc.flush()


async def test_vendor_cannot_hear_another_vendors_orders_or_other_categories(
    secured: tuple[str, Path],
) -> None:
    """Vendor A may not subscribe to B's order endpoint, nor to intents outside its categories."""
    url, secrets = secured
    async with Bus(url, name="vendor-a", nkey_seed=secrets / "va.nk") as vendor:
        await vendor.nc.subscribe(f"ic.v1.vendor.{VENDOR_B}.order")
        await asyncio.wait_for(_violation(vendor), 5)
        before = vendor.errors.value(kind="permission_violation")
        await vendor.nc.subscribe("ic.v1.intent.electronics.>")
        await asyncio.wait_for(_until_more(vendor, before), 5)
        # ...while its own are fine
        await vendor.nc.subscribe(f"ic.v1.vendor.{VENDOR_A}.order")
        await vendor.nc.subscribe("ic.v1.intent.outdoor.tents")
        await vendor.nc.flush()
        await vendor.nc.flush()
        assert vendor.errors.value(kind="permission_violation") == before + 1


async def test_person_cannot_publish_offers_or_listen_to_vendor_endpoints(
    secured: tuple[str, Path],
) -> None:
    """A customer may not publish on a reply subject (an offer), nor subscribe to a vendor's
    order endpoint or to intents."""
    url, secrets = secured
    async with Bus(url, name="person", nkey_seed=secrets / "app.nk") as person:
        with capture_logs() as logs:
            await person.nc.publish("ic.v1.reply." + "00" * 16, b"a fake offer")
            await asyncio.wait_for(_violation(person), 5)
        assert [e for e in logs if e.get("kind") == "permission_violation"]
        for subject in (f"ic.v1.vendor.{VENDOR_A}.order", "ic.v1.intent.>"):
            before = person.errors.value(kind="permission_violation")
            await person.nc.subscribe(subject)
            await asyncio.wait_for(_until_more(person, before), 5)


async def test_a_person_connection_works_on_static_permissions_too(
    secured: tuple[str, Path],
) -> None:
    """A person's connection (which presents its reply-key proof as the connect token) is
    accepted by a bus with static nkey permissions, which ignores the token, and hears a
    reply on a subject under its reply prefix."""
    url, secrets = secured
    async with (
        Bus(url, name="person", nkey_seed=secrets / "app.nk", person=True) as person,
        Bus(url, name="ops", nkey_seed=secrets / "ops.nk") as ops,
    ):
        prefix = await person.next_reply_prefix()
        # Until a reply reaches a fresh subscription: right after the server starts, an
        # interest can go unseen for a moment (each try waits on delivery, with a timeout).
        async with asyncio.timeout(10):
            while True:
                sub = await person.nc.subscribe(schemas.new_reply_subject(prefix))
                await person.nc.flush()
                await ops.nc.publish(sub.subject, b"an offer")
                try:
                    assert (await sub.next_msg(timeout=0.5)).data == b"an offer"
                    break
                except nats.errors.TimeoutError:
                    await sub.unsubscribe()

        assert person.errors.value(kind="permission_violation") == 0


async def test_no_credential_no_connection(secured: tuple[str, Path]) -> None:
    """Without an nkey the secured server refuses the connection outright."""
    url, _ = secured
    with pytest.raises(Exception, match=r"(?i)authorization"):
        async with Bus(
            url, name="anon", reconnect_forever=False, connect_timeout=2, allow_reconnect=False
        ):
            pass
