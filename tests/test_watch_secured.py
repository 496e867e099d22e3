"""Watched intents on a secured bus, behind the real auth callout (bus_auth._grants) and on
one node's static users (deploy/nats/single.conf, make_credentials.py): a person
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
from runtime import (
    WATCH_REPLIES,
    WATCH_REPLIES_OPEN,
    EmbeddedServer,
    ServiceProcess,
    StreamConsumer,
    WatchStreams,
    watch_consumer_name,
)
from tests.cluster import free_port
from tests.conftest import BIN, Agent
from tests.test_callout import _violation
from tests.test_grants import Market

pytestmark = pytest.mark.e2e
LIFETIME = timedelta(days=3)


@pytest.fixture(params=["callout", "single"])
def market(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Market]:
    """Each test on both secured buses: behind the auth callout (callout.conf) and with the
    static users of one node (single.conf), where ``intentcast-bus-auth --ops-seed`` runs as
    the reply broker alone."""
    m = Market(tmp_path, callout=request.param == "callout")
    try:
        yield m
    finally:
        m.close()


def _watched() -> schemas.CastIntent:
    return schemas.example_tent_intent(now=datetime.now(UTC), ttl=LIFETIME)


def _sierra(market: Market, tmp: Path) -> ServiceProcess:
    cfg = tmp / "market" / "vendors" / "sierra.toml"
    return ServiceProcess(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", market.url],
        ready_event="vendor.ready", name="sierra",
        env={"INTENTCAST_BUS_SEED": str(market.secrets / "sierra.nk")},
    )  # fmt: skip


def _person(market: Market, tmp: Path, name: str) -> Agent:
    a = Agent(tmp / name, market.url, market.secrets / "app.nk")
    a.ok("init", "--name", name, "--region", "ES-28")
    return a


def _running(person: Agent) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
        ready_event="agent.ready", name="intentcast agent", env=person.env,
    )  # fmt: skip


def _violations(proc: ServiceProcess) -> list[str]:
    return [str(e.get("error")) for e in proc.events if e.get("kind") == "permission_violation"]


def test_a_person_gets_offers_from_a_vendor_that_started_later(
    market: Market, tmp_path: Path
) -> None:
    """Through the real callout: a person casts a watched intent with no agent and no vendor
    running (the broker makes its consumer); the vendor starts and answers it from its
    durable consumer; the person's agent, started last, stores the offer and `offers` lists
    it. Neither refuses a JetStream subject (the vendor's config names a category the
    policy does not grant: only that core subscription is refused)."""
    person = _person(market, tmp_path, "ada")
    cast = json.loads(person.ok(*Agent.want_args("--watch", "3d")))
    assert cast["watching"] is True
    intent = str(cast["intent"])
    with _sierra(market, tmp_path) as sierra:
        sierra.wait_for("offer.sent", timeout=30, intent=intent)
        assert sierra.count("watch.ready") == 1
        refused = _violations(sierra)
        assert refused and all("sleeping-bags" in r for r in refused), refused
    with _running(person) as a:
        a.wait_for("watch.offer_stored", intent=intent, shown=True, timeout=30)
        # the operator made no ratings board here: the agent's try to make one is refused
        assert [v for v in _violations(a) if "ic_ratings" not in v] == []
    (listed,) = json.loads(person.ok("offers", "--json"))
    (offer,) = listed["offers"]
    assert listed["intent"] == intent and offer["vendor"] == "Sierra Outfitters"


async def test_a_person_cannot_capture_or_read_others_offers(market: Market) -> None:
    """A watched intent has an offer in the operator's reply stream. A second person's
    connection, knowing the intent's reply subject, tries to create a stream capturing
    ``ic.v1.reply.>``, to create a consumer over every reply subject, to read the intent's
    bucket stream, and asks the broker for a consumer of that reply subject under a name of
    its own: the server refuses the first three, the broker the last; no stream was made
    and the reply stream still has only the owner's consumer, its offer undelivered."""
    cast = _watched()
    async with market.person() as owner:
        streams = WatchStreams(owner)
        name = watch_consumer_name(cast)
        await streams.open_replies(cast.intent.id, cast.intent.reply_subject, LIFETIME, name)
        await streams.publish_intent(cast)
    async with market.vendor() as vendor:
        await vendor.nc.publish(cast.intent.reply_subject, b"a sealed offer")
        await vendor.nc.flush()
    api = "$JS.API"
    wild = {"name": "spy", "filter_subject": "ic.v1.reply.>"}
    attempts = [
        (f"{api}.STREAM.CREATE.IC_SPY", {"name": "IC_SPY", "subjects": ["ic.v1.reply.>"]}),
        (
            f"{api}.CONSUMER.CREATE.{WATCH_REPLIES}.spy.ic.v1.reply.>",
            {"stream_name": WATCH_REPLIES, "config": wild},
        ),
        (f"{api}.CONSUMER.CREATE.IC_WATCH_3D.spy", {"stream_name": "IC_WATCH_3D"}),
    ]
    async with market.person() as spy:
        for subject, body in attempts:
            before = spy.errors.value(kind="permission_violation")
            await spy.nc.publish(subject, json.dumps(body).encode())
            await _violation(spy, before)
        ask = {"reply_subject": cast.intent.reply_subject, "consumer": "w" + "0" * 32}
        answer = await spy.nc.request(
            WATCH_REPLIES_OPEN, json.dumps({**ask, "seconds": 3600}).encode(), timeout=5
        )
        assert json.loads(answer.data) == {"error": "that reply subject has a consumer already"}
    async with market.ops() as ops:
        js = ops.nc.jetstream()
        assert "IC_SPY" not in [s.config.name for s in await js.streams_info()]
        consumers = await js.consumers_info(WATCH_REPLIES)
        assert [c.name for c in consumers] == [name] and consumers[0].num_pending == 1
        assert (await js.stream_info("IC_WATCH_3D")).state.consumer_count == 0


async def test_a_vendor_cannot_read_another_vendors_consumer(market: Market) -> None:
    """Another vendor's durable consumer of a watch stream holds one intent; this vendor's
    connection asks it for messages, for its info and to make a consumer of another name:
    each is a permission violation and the other vendor's intent is still undelivered."""
    cast = _watched()
    other = f"vendor-{'ef' * 8}"
    stream = schemas.watch_stream(LIFETIME)
    async with market.ops() as ops:
        async with StreamConsumer(ops, stream, other, [f"{schemas.WATCH_ROOT}.>"], _never):
            pass  # the other vendor's durable, made
        await WatchStreams(ops).publish_intent(cast)
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


async def test_a_flood_on_a_reply_subject_cannot_push_out_the_offers_before_it(
    market: Market,
) -> None:
    """A vendor's connection (anyone who heard the intent could) sends an offer and then 300
    junk messages to one watched intent's reply subject: the operator's stream keeps 256 for
    that intent, the first still the offer, and refuses the rest."""
    cast = _watched()
    subject = cast.intent.reply_subject
    async with market.vendor() as vendor:
        await vendor.nc.publish(subject, b"the real offer")
        for _ in range(300):
            await vendor.nc.publish(subject, b"junk")
        marker = f"ic.v1.reply.{'c' * 32}"  # acknowledged after all of the above
        await vendor.nc.jetstream().publish(marker, b"marker", stream=WATCH_REPLIES)
    async with market.ops() as ops:
        js = ops.nc.jetstream()
        info = await js.stream_info(WATCH_REPLIES, subjects_filter=subject)
        assert (info.state.subjects or {}).get(subject) == 256
        assert (await js.get_msg(WATCH_REPLIES, subject=subject, next=True, seq=1)).data == (
            b"the real offer"
        )


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
