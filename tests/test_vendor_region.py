"""Region (issue 10): vendors declare where they deliver and make no offer outside it; the
person's agent drops an offer whose stated delivery area leaves out the intent's region.

Over a real nats-server with the real vendor and the real ``intentcast`` CLI; the offers
that lie about nothing but where they deliver come from a small hostile publisher that
signs them validly."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from datetime import UTC, date, datetime, timedelta

from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas
from runtime import Bus, EmbeddedServer, Message, NatsTransport
from tests.conftest import Agent, VendorFactory
from vendor_adapter._delivery import covers, regions

TERMS = schemas.example_vendor_terms()


def _declines(metrics_url: str) -> dict[str, float]:
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^vendor_declines_total\{reason="([^"]+)"\} (\S+)$', text, re.M)
    }


async def test_a_spain_only_vendor_offers_in_madrid_and_not_in_tokyo(
    vendor: VendorFactory, person: Agent
) -> None:
    """`--region JP-100` gets no offer from Sierra, which delivers only in Spain: its log
    says why and for which region, and its metrics count it; `ES-28` gets Sierra's offer."""
    sierra = vendor("sierra")
    metrics = str(sierra.wait_for("vendor.health")["metrics"])
    tokyo = await asyncio.to_thread(person.want, "--region", "JP-100", wait="800ms")
    assert tokyo["offers"] == []
    ev = await asyncio.to_thread(sierra.wait_for, "offer.declined", reason="outside_delivery_area")
    assert ev["region"] == "JP-100"
    assert (await asyncio.to_thread(_declines, metrics)) == {"outside_delivery_area": 1.0}
    madrid = await asyncio.to_thread(person.want, "--expect", "1")
    assert [o["vendor"] for o in madrid["offers"]] == ["Sierra Outfitters"]
    assert sierra.count("offer.declined") == 1


class _AreaLiar:
    """Answers every tent intent with two validly signed offers, fit to show in every way
    but one: where they say they deliver."""

    def __init__(self, transport: NatsTransport) -> None:
        self.transport = transport
        now = datetime.now(UTC)
        areas = {
            "Spain Only Goods": [schemas.Region("ES")],
            "Kanto Goods": [schemas.Region("JP", "1"), schemas.Region("ES")],
        }
        self.vendors = {name: (self._identity(name, now), a) for name, a in areas.items()}
        self.answered = asyncio.Event()

    @staticmethod
    def _identity(name: str, now: datetime) -> schemas.VendorSigner:
        return schemas.make_profile(
            identity=SigningKey.generate(), signing=SigningKey.generate(),
            seal_key=PrivateKey.generate(), name=name, categories=["outdoor"], terms=TERMS,
            now=now,
        )  # fmt: skip

    async def on_intent(self, msg: Message) -> None:
        now = datetime.now(UTC)
        intent = schemas.open_intent(msg.data, now=now, replay=None)
        i = intent.msg
        price = schemas.Money(i.max_price.amount // 2, i.max_price.currency)
        for signer, areas in self.vendors.values():
            _, sealed = schemas.make_offer(
                intent=intent, signer=signer, item=schemas.Item("LIAR-1", "Two-person tent"),
                quantity=i.quantity, unit_price=price, total_price=price,
                delivery_by=date.today() + timedelta(days=2), terms=TERMS, now=now,
                ttl=timedelta(minutes=10), delivers_to=areas,
            )  # fmt: skip
            await self.transport.publish(i.reply_subject, sealed)
        self.answered.set()


async def test_the_agent_drops_a_signed_offer_whose_area_leaves_out_the_region(
    nats_server: EmbeddedServer, person: Agent
) -> None:
    """Two validly signed offers for an intent from JP-100: the one that delivers only in
    Spain is dropped as outside_delivery_area (named, with the areas it gave), the one whose
    areas include JP-1 is shown. The person's table says why in words."""
    async with Bus(nats_server.url, name="area-liar") as bus:
        liar = _AreaLiar(NatsTransport(bus))
        sub = await liar.transport.subscribe(
            schemas.intent_subject("outdoor/tents"), liar.on_intent
        )
        await liar.transport.flush()
        got = await asyncio.to_thread(person.want, "--region", "JP-100", "--expect", "2")
        as_table = [
            a for a in Agent.want_args("--region", "JP-100", "--expect", "2") if a != "--json"
        ]
        table = await asyncio.to_thread(person.ok, *as_table)
        await sub.unsubscribe()
    assert liar.answered.is_set()
    assert [o["vendor"] for o in got["offers"]] == ["Kanto Goods"]
    (dropped,) = got["dropped"]
    assert dropped["reason"] == "outside_delivery_area"
    assert dropped["vendor"] == "Spain Only Goods"
    assert dropped["detail"] == "delivers to ES, not to JP-100"
    assert "does not deliver to your region" in table


def test_an_area_covers_a_region_only_when_it_contains_all_of_it() -> None:
    """A country covers every postcode in it; a prefix covers longer prefixes that start
    with it, not a coarser region that may lie outside it; no areas means not stated."""
    es, madrid = schemas.Region("ES"), schemas.Region("ES", "28")
    assert covers([es], madrid) and covers([madrid], schemas.Region("ES", "280"))
    assert not covers([madrid], es) and not covers([madrid], schemas.Region("ES", "08"))
    assert not covers([es], schemas.Region("PT", "1")) and covers([], schemas.Region("JP"))
    assert regions(["ES", "PT-1"]) == [es, schemas.Region("PT", "1")]
