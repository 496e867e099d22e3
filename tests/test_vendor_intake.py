"""The vendor's intake of intents (issue 11): a nonce enters the replay cache only after
every other check passed; junk is verified away before it can charge a rate limit; and a
flood of junk costs a few log lines, not one per message.

A real nats-server and the real vendor process; the junk and the misdirected intents come
from a plain bus client."""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.request

import pytest
import structlog.testing

import schemas
from runtime import Bus, EmbeddedServer, NatsTransport, Registry, ServiceProcess
from tests.conftest import VendorFactory
from tests.shopper import Shopper, intent
from vendor_adapter._rejections import RejectionLog

pytestmark = pytest.mark.adversarial

JUNK = 1200


def _refused(sierra: ServiceProcess) -> dict[str, int]:
    """Refusals the vendor has logged so far, by ``kind:code``: those logged in full and those
    counted in summaries."""
    out: dict[str, int] = {}
    for e in list(sierra.events):
        name = str(e.get("event"))
        if name.endswith(".rejected"):
            key = f"{name.removesuffix('.rejected')}:{e['code']}"
            out[key] = out.get(key, 0) + 1
        elif name == "rejections.summary":
            for k, v in dict(e["counts"]).items():  # type: ignore[call-overload]
                out[k] = out.get(k, 0) + int(v)
    return out


def _page(url: str) -> str:
    return str(urllib.request.urlopen(url, timeout=5).read().decode())


LOGGED = ("intent.rejected", "rejections.summary")


async def _until_refused(sierra: ServiceProcess, key: str, n: int) -> None:
    """Wait, on the vendor's log, until it has logged ``n`` refusals ``key``."""
    while _refused(sierra).get(key, 0) < n:
        await asyncio.to_thread(sierra.wait_count, LOGGED, sierra.count(LOGGED) + 1, 10)


async def test_an_intent_refused_for_where_it_came_is_still_answered_where_it_belongs(
    nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """A valid intent first published on another category's subject, then with another reply
    subject than the one it names, is refused both times (rebound, logged), and answered
    with an offer when it finally comes as cast: refusals did not use up its nonce. The same
    bytes once more are a replay."""
    sierra = vendor("sierra", limits='{ rejection_log_interval = "1s" }')
    cast = intent()
    async with Bus(nats_server.url, name="misdirector") as bus:
        t = NatsTransport(bus)
        await t.publish(schemas.intent_subject("outdoor/sleeping-bags"), cast.wire)
        ev = await asyncio.to_thread(sierra.wait_for, "intent.rejected")
        assert ev["code"] == "rebound" and "outdoor/tents" in str(ev["error"])
        await t.publish(cast.subject, cast.wire, reply=schemas.new_reply_subject())
        await _until_refused(sierra, "intent:rebound", 2)
        (offer,) = await Shopper(t).offers(cast)
        assert offer.profile.msg.name == "Sierra Outfitters"
        await t.publish(cast.subject, cast.wire)
        await _until_refused(sierra, "intent:replayed", 1)
    assert _refused(sierra) == {"intent:rebound": 2, "intent:replayed": 1}
    assert sierra.count("offer.sent") == 1


def _junk(n: int) -> list[bytes]:
    """Unverifiable intents of three kinds: random bytes, a real intent cut short, and a
    real intent with one bit of its signature flipped."""
    real = intent().wire
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(os.urandom(200))
        elif kind == 1:
            out.append(real[: 64 + i % 300])
        else:
            sig = bytearray(intent().wire) if i < 30 else bytearray(real)
            sig[i % 64] ^= 1 << (i % 8)
            out.append(bytes(sig))
    return out


async def test_a_flood_of_junk_costs_a_few_log_lines_and_a_real_intent_still_its_offer(
    nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """1200 unverifiable intents on the tent subject, against a category limit of 5 a
    second: every one is counted by reason in the metrics, the log has one full line per
    interval and summaries whose counts add up to the rest, and a real intent sent right
    after gets its offer, because junk never charged the rate limit."""
    sierra = vendor(
        "sierra",
        limits='{ intents_per_category_per_second = 5, rejection_log_interval = "2s" }',
    )
    metrics = str(sierra.wait_for("vendor.health")["metrics"])
    async with Bus(nats_server.url, name="junk") as bus:
        t0 = time.monotonic()
        for data in _junk(JUNK):
            await bus.nc.publish(schemas.intent_subject("outdoor/tents"), data)
        await bus.nc.flush()
        (offer,) = await Shopper(NatsTransport(bus)).offers(intent())
        assert offer.profile.msg.name == "Sierra Outfitters"
        while sum(_refused(sierra).values()) < JUNK:
            await asyncio.to_thread(sierra.wait_count, LOGGED, sierra.count(LOGGED) + 1, 10)
        elapsed = time.monotonic() - t0
    counts = _refused(sierra)
    full = sierra.count("intent.rejected")
    lines = sierra.count(LOGGED)
    print(f"{JUNK} junk intents in {elapsed:.1f}s: {lines} log lines ({full} in full), {counts}")
    assert sum(counts.values()) == JUNK
    assert {k.split(":")[1] for k in counts} <= {"malformed", "bad_signature", "oversized"}
    assert full <= elapsed / 2 + 1 and lines <= 2 * (elapsed / 2 + 1)
    assert sierra.count("offer.declined", reason="rate_limited") == 0
    page = await asyncio.to_thread(_page, metrics)
    counted = re.findall(
        r'^vendor_rejected_total\{kind="intent",reason="(\w+)"\} (\S+)$', page, re.M
    )
    assert {r: int(float(n)) for r, n in counted} == {k.split(":")[1]: v for k, v in counts.items()}


def test_refusals_are_counted_at_once_and_logged_once_per_interval() -> None:
    """The metric counts every refusal; the log has the first of each interval in full and
    one summary of the rest when the interval ends, nothing when nothing was refused."""
    now = [0.0]
    reg = Registry()
    metric = reg.counter("vendor_rejected_total", "")
    rl = RejectionLog(metric, 10.0, clock=lambda: now[0])
    err = schemas.Malformed("a frame", "junk", "$")
    with structlog.testing.capture_logs() as logs:
        for t in (0.0, 1.0, 2.0, 9.0, 10.0, 11.0):
            now[0] = t
            rl.reject("intent", err)
        rl.flush()
        rl.flush()
    assert metric.value(kind="intent", reason="malformed") == 6
    assert [(e["event"], e.get("total")) for e in logs] == [
        ("intent.rejected", None),
        ("rejections.summary", 3),
        ("intent.rejected", None),
        ("rejections.summary", 1),
    ]


def test_the_refusal_counts_stay_bounded_whatever_the_junk() -> None:
    """Counts are kept by kind and error code, a small fixed set: refusals that each say
    something different still hold one key per kind and code, not one per message."""
    rl = RejectionLog(Registry().counter("r", ""), 3600.0)
    errors = (schemas.Malformed, schemas.BadSignature, schemas.Oversized, schemas.Rebound)
    with structlog.testing.capture_logs() as logs:
        for i in range(40_000):
            kind = ("intent", "accept")[i % 2]
            rl.reject(kind, errors[i % 4]("a frame", f"junk {i}", f"$[{i}]"))
    assert len(logs) == 1  # the first, in full; the rest wait for the interval's summary
    assert len(rl._suppressed) == 4  # intent and accept, two codes each (i % 2, i % 4)
