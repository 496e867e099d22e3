"""A Hypothesis state machine drives the intent, offer, accept and receipt conversation
against a model: whatever the order of casts, offers, tampering, replays, acceptances,
repeats and the passing of time, the agent accepts only verified offers, each acceptance of a
live offer makes exactly one order, and every receipt binds what was accepted."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

import schemas
from runtime import InProcessTransport
from tests.factories import NOW, intent_for_test
from vendor_adapter import FileCatalog, VendorAdapter, VendorStore, load_config

ROOT = Path(__file__).resolve().parent.parent


async def _order(adapter: VendorAdapter, sealed: bytes) -> list[bytes]:
    """The adapter's answer to one acceptance, sent as a request to its order handler (on an
    in-process transport); none if it gave none."""
    async with InProcessTransport() as bus:
        adapter.transport = bus
        subject = schemas.vendor_subject(adapter.vendor_id, "order")
        await bus.subscribe(subject, adapter.on_order)
        try:
            async with asyncio.timeout(5):
                return [await bus.request(subject, sealed)]
        except TimeoutError:
            return []


@dataclass
class Sent:
    cast: schemas.CastIntent
    sealed: bytes
    opened: schemas.OpenedOffer
    expires: object


class Conversation(RuleBasedStateMachine):
    offers = Bundle("offers")

    @initialize()
    def setup(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="model-"))
        cfg = load_config(ROOT / "demo" / "vendors" / "sierra.toml").model_copy(
            update={"keys_dir": self.tmp / "k", "data_dir": self.tmp / "d"}
        )
        from vendor_adapter._keys import load_or_create_keys

        identity, signing, seal = load_or_create_keys(cfg.keys_dir)
        self.signer = schemas.make_profile(
            identity=identity,
            signing=signing,
            seal_key=seal,
            name=cfg.name,
            categories=cfg.categories,
            terms=cfg.terms.to_wire(),
            now=NOW,
        )
        self.now = NOW
        assert cfg.catalog.path is not None
        self.adapter = VendorAdapter(
            cfg,
            catalog=FileCatalog(cfg.catalog.path),
            store=VendorStore(self.tmp / "v.sqlite"),
            signer=self.signer,
            clock=lambda: self.now,
        )
        self.replay: dict[str, schemas.ReplayCache] = {}
        self.ordered: dict[str, str] = {}  # offer id -> order id (the model)
        self.accepts: dict[str, tuple[schemas.Verified[schemas.Accept], bytes]] = {}

    @rule(target=offers, minutes=st.integers(1, 90))
    def vendor_offers(self, minutes: int) -> Sent:
        cast = intent_for_test(now=self.now)
        v = schemas.open_intent(cast.wire, now=self.now, replay=None)
        _, sealed = schemas.make_offer(
            intent=v,
            signer=self.signer,
            item=schemas.Item("SO-TENT-2", "Tent"),
            quantity=1,
            unit_price=schemas.Money(12900, "EUR"),
            total_price=schemas.Money(12900, "EUR"),
            delivery_by=self.now.date() + timedelta(days=4),
            terms=self.signer.profile.terms,
            now=self.now,
            ttl=timedelta(minutes=minutes),
        )
        self.replay[cast.intent.id] = schemas.ReplayCache()
        opened = schemas.open_offer(
            sealed,
            intent=cast.intent,
            secrets=cast.secrets,
            now=self.now,
            replay=self.replay[cast.intent.id],
            profiles=schemas.ProfileCache(),
        )
        return Sent(cast, sealed, opened, opened.offer.header.expires)

    @rule(sent=offers, data=st.data())
    def tampered_offer_never_opens(self, sent: Sent, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(sent.sealed) - 1))
        bit = data.draw(st.integers(0, 7))
        bad = sent.sealed[:i] + bytes([sent.sealed[i] ^ (1 << bit)]) + sent.sealed[i + 1 :]
        try:
            schemas.open_offer(
                bad,
                intent=sent.cast.intent,
                secrets=sent.cast.secrets,
                now=self.now,
                replay=schemas.ReplayCache(),
                profiles=schemas.ProfileCache(),
            )
        except schemas.ProtocolError:
            return
        raise AssertionError("a tampered offer opened")

    @rule(sent=offers)
    def replayed_offer_is_refused(self, sent: Sent) -> None:
        try:
            schemas.open_offer(
                sent.sealed,
                intent=sent.cast.intent,
                secrets=sent.cast.secrets,
                now=self.now,
                replay=self.replay[sent.cast.intent.id],
                profiles=schemas.ProfileCache(),
            )
        except (schemas.Replayed, schemas.Expired):
            return
        raise AssertionError("a replayed offer opened")

    @rule(sent=offers, resend_same_bytes=st.booleans())
    def accept(self, sent: Sent, resend_same_bytes: bool) -> None:
        oid = sent.opened.offer.msg.id
        if oid in self.accepts and resend_same_bytes:
            accept, sealed = self.accepts[oid]
        else:
            accept, sealed = schemas.make_accept(
                intent_wire=sent.cast.wire,
                intent=sent.cast.intent,
                secrets=sent.cast.secrets,
                offer=sent.opened,
                disclosure=schemas.Disclosure(name="A"),
                payment_method="card",
                now=self.now,
            )
            self.accepts.setdefault(oid, (accept, sealed))
        replies = asyncio.run(_order(self.adapter, sealed))
        live = self.now <= sent.expires + schemas.CLOCK_SKEW  # type: ignore[operator]
        assert replies, "an authentic acceptance went unanswered"
        conf_wire, receipt_wire = schemas.unpack(
            schemas.unseal(sent.cast.secrets.seal, replies[0]), 2
        )
        got = schemas.verify(
            conf_wire, schemas.OrderConfirmation, key=self.signer.ring, now=None
        ).msg
        if oid in self.ordered:
            assert got.order_id == self.ordered[oid], "a repeated acceptance made a new order"
        elif got.status == "rejected":
            assert got.reason in ("offer_expired", "acceptance_expired"), got.reason
            assert not live or got.reason == "acceptance_expired", "a live offer was refused"
            return
        else:
            assert live, "an expired offer was ordered"
            self.ordered[oid] = got.order_id
        receipt = schemas.verify(receipt_wire, schemas.Receipt, key=self.signer.ring, now=None).msg
        assert receipt.offer_hash == sent.opened.offer.digest
        assert receipt.order_id == got.order_id

    @rule(minutes=st.integers(1, 120))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @invariant()
    def one_order_per_accepted_offer(self) -> None:
        if not hasattr(self, "adapter"):
            return
        rows = self.adapter.store.orders()
        assert sorted(r["offer_id"] for r in rows) == sorted(self.ordered)
        assert len({r["order_id"] for r in rows}) == len(rows)


TestConversation = Conversation.TestCase
TestConversation.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
