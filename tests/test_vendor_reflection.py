"""A vendor answers requests only under the reply root: a stranger who replays a captured
request naming an intent subject or a vendor's endpoint as its reply gets nothing published
there, on a real nats-server with a real vendor and a real purchase."""

from __future__ import annotations

import asyncio

import nats

import schemas
from runtime import EmbeddedServer
from tests.conftest import Agent, VendorFactory


async def _replay(url: str, subject: str, captured: bytes, replies: list[str]) -> dict[str, int]:
    """Send ``captured`` to ``subject`` once per reply subject; count what lands on each."""
    nc = await nats.connect(url)
    heard = dict.fromkeys(replies, 0)
    got = asyncio.Event()

    def counter(name: str):  # type: ignore[no-untyped-def]
        async def cb(msg: object) -> None:
            heard[name] += 1
            got.set()

        return cb

    try:
        for r in replies:
            await nc.subscribe(r, cb=counter(r))
        await nc.flush()
        for r in replies:
            await nc.publish(subject, captured, reply=r)
        await nc.flush()
        async with asyncio.timeout(10):
            await got.wait()  # the honest reply arrives; the others have had their chance
        await nc.flush()
    finally:
        await nc.close()
    return heard


def test_a_replayed_countersignature_is_answered_only_under_the_reply_root(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer
) -> None:
    """The sealed countersignature of a real order, captured on the bus and replayed with
    reply subjects of an intent subject and the vendor's own order endpoint: nothing is
    published to either; replayed under the reply root it gets the stored answer (the
    vendor's log says where it would not answer)."""
    sierra = vendor("sierra")
    captured: list[bytes] = []

    async def capture() -> None:
        nc = await nats.connect(nats_server.url)
        seen = asyncio.Event()

        async def keep(msg: nats.aio.msg.Msg) -> None:
            captured.append(msg.data)
            seen.set()

        await nc.subscribe("ic.v1.vendor.*.receipt", cb=keep)
        await nc.flush()
        offer = await asyncio.to_thread(lambda: person.want("--expect", "1")["offers"][0])
        await asyncio.to_thread(person.ok, "accept", offer["offer"])
        async with asyncio.timeout(10):
            await seen.wait()
        await nc.close()
        vendor_ids.append(offer["vendor_id"])

    vendor_ids: list[str] = []
    asyncio.run(capture())
    vendor_id = vendor_ids[0]
    reflected = [
        schemas.intent_subject("outdoor/tents"),
        schemas.vendor_subject(vendor_id, "order"),
    ]
    honest = schemas.REPLY_ROOT + "." + "ab" * 16
    heard = asyncio.run(
        _replay(nats_server.url, schemas.vendor_subject(vendor_id, "receipt"), captured[0],
                [*reflected, honest])
    )  # fmt: skip
    assert heard[honest] == 1
    assert all(heard[r] == 0 for r in reflected), heard
    assert sierra.wait_count("reply.nowhere", 2, timeout=10) >= 2
