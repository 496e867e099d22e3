"""A bus client that speaks the person's side of the protocol by hand, for tests that need
to do what no honest agent does: cast real intents with fresh keys, open the offers, accept,
and countersign only when told to (or never)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from nacl.signing import VerifyKey

import schemas
from runtime import Message, Transport


def intent(
    *,
    quantity: int = 1,
    budget: int = 15000,
    region: schemas.Region | None = None,
    attributes: dict[str, str] | None = None,
) -> schemas.CastIntent:
    """A fresh intent for a 2-person tent in Madrid (by default), fresh keys and all."""
    return schemas.example_tent_intent(
        now=datetime.now(UTC), want=schemas.Want("2-person tent", attributes or {}),
        quantity=quantity, max_price=schemas.Money(budget, "EUR"),
        region=region or schemas.Region("ES", "28"),
    )  # fmt: skip


@dataclass(frozen=True)
class Order:
    cast: schemas.CastIntent
    offer: schemas.OpenedOffer
    accept: schemas.Verified[schemas.Accept]
    confirmation: schemas.OpenedConfirmation


class Shopper:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def offers(
        self,
        cast: schemas.CastIntent,
        *,
        subject: str | None = None,
        reply: str = "",
        expect: int = 1,
        within: float = 10.0,
    ) -> list[schemas.OpenedOffer]:
        """Publish ``cast`` (on its own subject unless told otherwise) and return the first
        ``expect`` offers that open; TimeoutError if fewer come within ``within`` seconds."""
        got: asyncio.Queue[schemas.OpenedOffer | Exception] = asyncio.Queue()
        profiles = schemas.ProfileCache()

        async def hear(msg: Message) -> None:
            try:
                opened = schemas.open_offer_bundle(
                    schemas.unseal(cast.secrets.seal, msg.data), intent=cast.intent, now=datetime.now(UTC), replay=None,
                    profiles=profiles,
                )  # fmt: skip
            except Exception as exc:  # the test's to see, not the transport's to log
                got.put_nowait(exc)
            else:
                got.put_nowait(opened)

        sub = await self.transport.subscribe(cast.intent.reply_subject, hear)
        try:
            await self.transport.flush()
            await self.transport.publish(subject or cast.subject, cast.wire, reply=reply)
            async with asyncio.timeout(within):
                out = [await got.get() for _ in range(expect)]
            for o in out:
                if isinstance(o, Exception):
                    raise o
            return [o for o in out if not isinstance(o, Exception)]
        finally:
            await sub.unsubscribe()

    async def order(
        self,
        cast: schemas.CastIntent,
        offer: schemas.OpenedOffer,
        *,
        name: str = "Mallory",
        disclosure: schemas.Disclosure | None = None,
    ) -> Order:
        """Accept ``offer``, disclosing ``name`` and a postal address, or ``disclosure``
        (without countersigning what comes back)."""
        if disclosure is None:
            disclosure = schemas.Disclosure(
                name=name, address=["Calle Falsa 1"], postcode="28013", city="Madrid",
                country="ES",
            )  # fmt: skip
        accept, sealed = schemas.make_accept(
            intent_wire=cast.wire, intent=cast.intent, secrets=cast.secrets, offer=offer,
            disclosure=disclosure, payment_method="card",
            now=datetime.now(UTC),
        )  # fmt: skip
        subject = schemas.vendor_subject(offer.profile.msg.vendor_id, "order")
        async with asyncio.timeout(10):
            reply = await self.transport.request(subject, sealed)
        conf = schemas.open_confirmation(
            reply, secrets=cast.secrets, accept=accept,
            ring=schemas.KeyRing.from_profile(offer.profile.msg), now=datetime.now(UTC),
            replay=None,
        )  # fmt: skip
        return Order(cast, offer, accept, conf)

    async def countersign(self, order: Order) -> dict[str, object]:
        """Countersign the order's receipt; the vendor's signed answer, verified, as
        ``{"stored": True}`` or ``{"stored": False, "reason": code}``."""
        receipt = order.confirmation.receipt
        assert receipt is not None
        profile = order.offer.profile.msg
        cs_wire, sealed = schemas.countersign(
            receipt, order.cast.secrets, schemas.seal_key_for(profile, receipt.kid),
            datetime.now(UTC),
        )  # fmt: skip
        async with asyncio.timeout(10):
            answer = await self.transport.request(
                schemas.vendor_subject(profile.vendor_id, "receipt"), sealed
            )
        cs = schemas.verify(
            cs_wire, schemas.Countersignature, key=_only(order.cast.intent.keys.sign), now=None
        )
        ack = schemas.open_acknowledgement(
            answer, secrets=order.cast.secrets, countersignature=cs,
            ring=schemas.KeyRing.from_profile(profile), now=datetime.now(UTC),
        ).msg  # fmt: skip
        if ack.status == "stored":
            return {"stored": True}
        return {"stored": False, "reason": ack.reason}


def _only(key_hex: str) -> schemas.KeyResolver:
    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        if kid != key_hex:
            raise schemas.UnknownSigner(key_hex[:16], kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve
