"""Honest vendors publish offers only on well-formed reply subjects: an intent that names a
vendor's order endpoint or an intent subject as its reply subject is refused, and nothing is
published there."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from nats.aio.msg import Msg

import schemas
from runtime import Bus, EmbeddedServer
from tests.conftest import VendorFactory, tent_intent


@pytest.mark.parametrize(
    ("subject", "ok"),
    [
        ("ic.v1.reply." + "ab" * 16, True),
        ("ic.v1.reply." + "ab" * 16 + "." + "cd" * 16, True),
        ("ic.v1.reply." + "ab" * 16 + "." + "cd" * 16 + ".x", False),
        ("ic.v1.reply." + "AB" * 16, False),
        ("ic.v1.reply.>", False),
        ("ic.v1.reply.*", False),
        ("ic.v1.reply." + "ab" * 15, False),
        ("ic.v1.vendor." + "aa" * 32 + ".order", False),
        ("ic.v1.intent.outdoor.tents", False),
        ("ic.v1.reply." + "ab" * 16 + "\n", False),
        ("", False),
    ],
)
def test_is_reply_subject(subject: str, ok: bool) -> None:
    """Only ic.v1.reply.<32 hex>[.<32 hex>] is a reply subject; wildcards, upper case,
    deeper or shorter tokens, order endpoints and intent subjects are not."""
    assert schemas.is_reply_subject(subject) is ok


def _hostile_intent(reply: str) -> bytes:
    """A correctly signed intent whose reply subject is ``reply``."""
    cast = tent_intent()
    intent = msgspec.structs.replace(cast.intent, reply_subject=reply)
    now = datetime.now(UTC).replace(microsecond=0)
    return schemas.sign(
        intent, cast.secrets.sign, created=now, expires=now + timedelta(minutes=5), intent=intent.id
    )


def test_open_intent_refuses_a_reply_subject_that_is_not_one() -> None:
    """The contract check: open_intent raises Malformed at $.msg.reply_subject."""
    with pytest.raises(schemas.Malformed) as err:
        schemas.open_intent(_hostile_intent("ic.v1.intent.outdoor.tents"), now=None, replay=None)
    assert err.value.where == "$.msg.reply_subject"


async def test_no_offer_goes_to_an_order_endpoint_or_an_intent_subject(
    nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """Intents whose reply subject (also the NATS reply of the publish) is Sierra's own order
    endpoint or the intent subject are rejected by the real vendor as malformed; a hostile
    subscriber on both counts nothing but the intents it sent, while an honest intent sent
    after them gets its offer (the barrier: the vendor answers intents in order)."""
    sierra = await asyncio.to_thread(vendor, "sierra")
    ready = await asyncio.to_thread(sierra.wait_for, "vendor.ready")
    order = schemas.vendor_subject(str(ready["vendor"]), "order")
    intent_subject = "ic.v1.intent.outdoor.tents"
    heard: dict[str, list[bytes]] = {order: [], intent_subject: []}
    offer: asyncio.Queue[Msg] = asyncio.Queue()
    async with Bus(nats_server.url, name="hostile") as hostile:

        async def spy(msg: Msg) -> None:
            heard[msg.subject].append(msg.data)

        for s in heard:
            await hostile.nc.subscribe(s, cb=spy)
        honest = tent_intent()
        await hostile.nc.subscribe(honest.intent.reply_subject, cb=offer.put)
        await hostile.nc.flush()
        sent = []
        for reply in (order, intent_subject):
            wire = _hostile_intent(reply)
            sent.append(wire)
            await hostile.nc.publish(intent_subject, wire, reply=reply)
        # Refusals are logged once in full, the rest counted (vendor_adapter's RejectionLog).
        await asyncio.to_thread(sierra.wait_count, "intent.rejected", 1, 10, code="malformed")
        await hostile.nc.publish(intent_subject, honest.wire, reply=honest.intent.reply_subject)
        got = await asyncio.wait_for(offer.get(), 10)
        schemas.open_offer(
            got.data, intent=honest.intent, secrets=honest.secrets, now=datetime.now(UTC),
            replay=None, profiles=schemas.ProfileCache(),
        )  # fmt: skip
    assert heard[order] == []
    assert heard[intent_subject] == [*sent, honest.wire]
    assert sierra.wait_count("offer.sent", 1) == 1  # its log line may trail the offer
    url = str(sierra.wait_for("vendor.health")["metrics"])
    metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    assert b'vendor_rejected_total{kind="intent",reason="malformed"} 2.0' in metrics
