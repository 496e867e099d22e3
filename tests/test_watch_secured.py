"""Watched intents on a bus secured by the real auth callout (bus_auth._grants): a person
stores a watched intent in the operator's watch stream, a vendor started later answers it
through its own durable consumer; nobody reads what is not theirs. And the reason persons
are not (yet) granted the reply streams: a permission that pins a consumer's filter
subject with ``*`` admits a literal wildcard there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

import schemas
from runtime import EmbeddedServer, ServiceProcess, StreamConsumer, WatchStreams, reply_stream
from tests.cluster import free_port
from tests.conftest import BIN
from tests.test_callout import _violation
from tests.test_grants import Market

pytestmark = pytest.mark.e2e
LIFETIME = timedelta(days=3)


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    m = Market(tmp_path)
    try:
        yield m
    finally:
        m.close()


def _watched() -> schemas.CastIntent:
    return schemas.example_tent_intent(now=datetime.now(UTC), ttl=LIFETIME)


async def _operator_makes_streams(market: Market, cast: schemas.CastIntent) -> None:
    async with market.ops() as ops:
        streams = WatchStreams(ops)
        await streams.ensure_intent_streams()
        await streams.open_replies(cast.intent.id, cast.intent.reply_subject, LIFETIME)


def _sierra(market: Market, tmp: Path) -> ServiceProcess:
    cfg = tmp / "market" / "vendors" / "sierra.toml"
    return ServiceProcess(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", market.url],
        ready_event="vendor.ready", name="sierra",
        env={"INTENTCAST_BUS_SEED": str(market.secrets / "sierra.nk")},
    )  # fmt: skip


async def test_a_vendor_started_later_answers_a_watched_intent(
    market: Market, tmp_path: Path
) -> None:
    """The operator makes the watch streams and the intent's reply stream; a person's
    connection stores a watched intent (acknowledged on its own inbox); then the vendor
    starts, reads the intent through its durable consumer with no permission violation,
    and its sealed offer lands in the reply stream, where it opens with the intent's keys."""
    cast = _watched()
    await _operator_makes_streams(market, cast)
    async with market.person() as person:
        seq = await WatchStreams(person).publish_intent(cast)
        assert seq == 1 and person.errors.value(kind="permission_violation") == 0
    with _sierra(market, tmp_path) as sierra:
        sierra.wait_for("offer.sent", timeout=30, intent=cast.intent.id)
        assert sierra.count("watch.ready") == 1
        refused = [
            str(e.get("error")) for e in sierra.events if e.get("kind") == "permission_violation"
        ]
        # its config names a category the policy does not grant it: that one is refused
        assert refused and all("sleeping-bags" in r for r in refused), refused
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def keep(_subject: str, data: bytes) -> None:
        got.append(data)
        arrived.set()

    async with market.ops() as ops:
        durable = "check"
        stream = reply_stream(cast.intent.id)
        async with StreamConsumer(ops, stream, durable, [cast.intent.reply_subject], keep):
            async with asyncio.timeout(10):
                await arrived.wait()
    (sealed,) = got
    opened = schemas.open_offer(
        sealed, intent=cast.intent, secrets=cast.secrets, now=datetime.now(UTC),
        replay=None, profiles=schemas.ProfileCache(),
    )  # fmt: skip
    assert opened.offer.msg.intent_id == cast.intent.id
    assert opened.profile.msg.vendor_id == market.vendor_id


async def test_a_person_cannot_capture_or_read_others_offers(market: Market) -> None:
    """A second person's connection, knowing a watched intent's id and reply subject, tries
    to create a stream capturing ``ic.v1.reply.>``, to read the intent's reply stream and
    to read the watch stream itself: each is a permission violation, no such stream is made
    and the streams have no consumer of the person's."""
    cast = _watched()
    await _operator_makes_streams(market, cast)
    async with market.vendor() as vendor:
        await vendor.nc.publish(cast.intent.reply_subject, b"a sealed offer")
        await vendor.nc.flush()
    api = "$JS.API"
    attempts = [
        (f"{api}.STREAM.CREATE.IC_SPY", {"name": "IC_SPY", "subjects": ["ic.v1.reply.>"]}),
        (
            f"{api}.CONSUMER.CREATE.{reply_stream(cast.intent.id)}.spy",
            {"stream_name": reply_stream(cast.intent.id), "config": {"name": "spy"}},
        ),
        (
            f"{api}.CONSUMER.CREATE.IC_WATCH_3D.spy",
            {"stream_name": "IC_WATCH_3D", "config": {"name": "spy"}},
        ),
    ]
    async with market.person() as spy:
        for subject, body in attempts:
            before = spy.errors.value(kind="permission_violation")
            await spy.nc.publish(subject, json.dumps(body).encode())
            await _violation(spy, before)
    async with market.ops() as ops:
        js = ops.nc.jetstream()
        assert "IC_SPY" not in [s.config.name for s in await js.streams_info()]
        for stream in (reply_stream(cast.intent.id), "IC_WATCH_3D"):
            assert (await js.stream_info(stream)).state.consumer_count == 0
        assert (await js.stream_info(reply_stream(cast.intent.id))).state.messages == 1


async def test_a_vendor_cannot_read_another_vendors_consumer(market: Market) -> None:
    """Another vendor's durable consumer of a watch stream holds one intent; this vendor's
    connection asks it for messages, for its info and to make a consumer of another name:
    each is a permission violation and the other vendor's intent is still undelivered."""
    cast = _watched()
    await _operator_makes_streams(market, cast)
    other = f"vendor-{'ef' * 8}"
    stream = schemas.watch_stream(LIFETIME)
    async with market.ops() as ops:
        async with StreamConsumer(ops, stream, other, [f"{schemas.WATCH_ROOT}.>"], _never):
            pass  # the other vendor's durable, made
        await ops.nc.jetstream().publish(
            schemas.watch_subject(cast.intent.category, LIFETIME), cast.wire
        )
    api = "$JS.API"
    async with market.vendor() as vendor:
        for subject in (
            f"{api}.CONSUMER.MSG.NEXT.{stream}.{other}",
            f"{api}.CONSUMER.INFO.{stream}.{other}",
            f"{api}.CONSUMER.CREATE.{stream}.vendor-spy",
        ):
            before = vendor.errors.value(kind="permission_violation")
            await vendor.nc.publish(subject, b'{"batch": 1}', reply=vendor.nc.new_inbox())
            await _violation(vendor, before)
    async with market.ops() as ops:
        info = await ops.nc.jetstream().consumer_info(stream, other)
        assert info.delivered.stream_seq == 0 and info.num_pending == 1


async def _never(_subject: str, _data: bytes) -> None:
    raise AssertionError("expected no message to be handed to this consumer")


def test_a_wildcard_filter_passes_a_grant_that_pins_the_filter_with_star(tmp_path: Path) -> None:
    """Why persons get no ``CONSUMER.CREATE.<stream>.*.ic.v1.reply.*`` grant: on the real
    nats-server, a user holding only that grant creates a consumer whose filter is a
    literal ``ic.v1.reply.>`` and reads two intents' offers through it."""
    port = free_port()
    conf = tmp_path / "s.conf"
    grant = "$JS.API.CONSUMER.CREATE.R.*.ic.v1.reply.*"
    conf.write_text(
        f'listen: 127.0.0.1:{port}\njetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        "authorization { users = [\n"
        f' {{user: p, password: p, permissions: {{publish: {{allow: ["{grant}",'
        ' "$JS.API.CONSUMER.MSG.NEXT.R.>"]}, subscribe: {allow: ["_INBOX.>"]}}},\n'
        " {user: o, password: o}\n]}\n"
    )

    async def run() -> list[str]:
        o = await nats.connect(f"nats://o:o@127.0.0.1:{port}")
        p = await nats.connect(f"nats://p:p@127.0.0.1:{port}")
        try:
            await o.jetstream().add_stream(StreamConfig(name="R", subjects=["ic.v1.reply.*"]))
            for hex_ in ("a" * 32, "b" * 32):
                await o.jetstream().publish(f"ic.v1.reply.{hex_}", b"sealed")
            body = {
                "stream_name": "R",
                "config": {"name": "spy", "filter_subject": "ic.v1.reply.>"},
            }
            wild = "$JS.API.CONSUMER.CREATE.R.spy.ic.v1.reply.>"  # the filter, in the subject
            r = await p.request(wild, json.dumps(body).encode())
            assert b"error" not in r.data, r.data
            sub = await p.jetstream().pull_subscribe_bind("spy", stream="R")
            return [m.subject for m in await sub.fetch(2, timeout=5)]
        finally:
            await p.close()
            await o.close()

    with EmbeddedServer(config_file=conf):
        assert sorted(asyncio.run(run())) == [f"ic.v1.reply.{'a' * 32}", f"ic.v1.reply.{'b' * 32}"]
