"""The agent's conversations with real vendor adapters, through the transport seam on one
in-process transport: no nats-server, no sockets, the whole file in a few seconds. The
same conversations over a real nats-server are the end-to-end suite's (test_e2e_market and
the fault tests); these pin what the agent and the vendor say to each other."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

import schemas
from agent import (
    AcceptError,
    AcceptState,
    Agent,
    AgentConfig,
    AgentSession,
    AgentStore,
    Collected,
    Home,
    OfferOpener,
)
from runtime import (
    InProcessTransport,
    Message,
    NoResponders,
    Transport,
    WrappedTransport,
)
from tests.conftest import TEST_PERSON
from vendor_adapter import FileCatalog, VendorAdapter, VendorStore, load_config

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"sierra": "Sierra Outfitters", "cumbre": "Cumbre Sports", "hoarder": "DataHoarder Deals"}


class _Outage(WrappedTransport):
    """The in-process transport, except that requests to subjects in ``down`` find nobody,
    as they would while that endpoint's vendor is away (the asker hears "no responders")."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.down = set[str]()

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        if subject in self.down:
            subject = "nobody.listens." + subject
        await self.inner.publish(subject, data, reply=reply)


@dataclass
class Market:
    bus: InProcessTransport
    agent: Agent
    vendors: dict[str, VendorAdapter]
    tasks: asyncio.TaskGroup
    stops: dict[str, asyncio.Event] = field(default_factory=dict)
    runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def session(self) -> AgentSession:
        assert self.agent.session is not None
        return self.agent.session

    @property
    def store(self) -> AgentStore:
        return self.agent.store

    async def start(self, name: str) -> None:
        """Run the vendor ``name`` on the bus until :meth:`stop`; return once it hears."""
        ready, self.stops[name] = asyncio.Event(), asyncio.Event()
        v = self.vendors[name]
        self.runs[name] = self.tasks.create_task(
            v.run(self.bus, self.stops[name], on_ready=ready.set)
        )
        async with asyncio.timeout(5):
            await ready.wait()

    async def stop(self, name: str) -> None:
        """Stop the vendor ``name``; return once it has left the bus."""
        self.stops[name].set()
        async with asyncio.timeout(5):
            await self.runs[name]


def _vendor(tmp: Path, name: str) -> VendorAdapter:
    cfg = load_config(ROOT / "demo" / "vendors" / f"{name}.toml").model_copy(
        update={"keys_dir": tmp / name / "keys", "data_dir": tmp / name / "data"}
    )
    signer = schemas.make_profile(
        identity=SigningKey.generate(), signing=SigningKey.generate(),
        seal_key=PrivateKey.generate(), name=cfg.name, categories=cfg.categories,
        terms=cfg.terms.to_wire(), now=datetime.now(UTC),
    )  # fmt: skip
    assert cfg.catalog.path is not None
    (tmp / name).mkdir(parents=True)
    return VendorAdapter(
        cfg,
        catalog=FileCatalog(cfg.catalog.path),
        store=VendorStore(tmp / name / "vendor.sqlite"),
        signer=signer,
    )


@contextlib.asynccontextmanager
async def market(
    tmp: Path,
    *names: str,
    agent_side: Callable[[Transport], Transport] = lambda bus: bus,
    opener: OfferOpener | None = None,
) -> AsyncIterator[Market]:
    """Real vendor adapters (demo configs and catalogs, fresh keys and stores) serving on one
    in-process transport, and the person's agent on it (through ``agent_side(bus)``)."""
    vendors = {name: _vendor(tmp, name) for name in names}
    try:
        async with InProcessTransport() as bus, asyncio.TaskGroup() as tg:
            m = None
            person = Agent(
                Home(tmp / "person"),
                agent_side(bus),
                config=AgentConfig(person=TEST_PERSON),
                opener=opener,
            )
            try:
                async with person:
                    m = Market(bus, person, vendors, tg)
                    for name in names:
                        await m.start(name)
                    yield m
            finally:
                for stop in m.stops.values() if m else ():
                    stop.set()
    finally:
        for v in vendors.values():
            v.store.close()


def _cast(category: str = "outdoor/tents") -> schemas.CastIntent:
    return schemas.example_tent_intent(now=datetime.now(UTC), category=category)


async def want(
    m: Market, *, expect: int | None, window: float = 5.0, category: str = "outdoor/tents"
) -> Collected:
    return await m.agent.cast(_cast(category), window=window, expect=expect)


async def accept_from(m: Market, vendor: str) -> tuple[str, VendorAdapter]:
    """Cast, and accept the offer of ``vendor``: (offer id, that adapter)."""
    got = await want(m, expect=len(m.vendors))
    offer = next(r.offer.id for r in got.ranked if r.vendor_name == NAMES[vendor])
    res = await m.agent.accept(offer)
    assert res.status is AcceptState.CONFIRMED, res
    return offer, m.vendors[vendor]


def _only(kid: str) -> schemas.KeyResolver:
    """A resolver that trusts one key: an archived frame must verify against the key it must
    come from, not the key it names."""

    def resolve(got: str, at: datetime | None) -> VerifyKey:
        if got != kid:
            raise schemas.UnknownSigner(kid[:16], got[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve


async def test_a_want_collects_offers_from_two_vendors(tmp_path: Path) -> None:
    """One intent reaches both vendors of its category; both sealed offers come back,
    verify, are ranked, and are stored with the intent."""
    async with market(tmp_path, "sierra", "cumbre") as m:
        got = await want(m, expect=2)
        offers, intents = m.store.offers(), m.store.intents()
    two = {NAMES["sierra"], NAMES["cumbre"]}
    assert sorted(r.vendor_name for r in got.ranked) == sorted(two)
    assert got.dropped == [] and not got.no_responders
    assert {r.vendor_name for r in offers} == two
    assert [r.id for r in intents] == [got.cast.intent.id]


async def test_an_accept_ends_in_a_receipt_both_sides_signed(tmp_path: Path) -> None:
    """Accepting an offer makes one order at the vendor; the person keeps the receipt the
    vendor signed and the countersignature they signed, the vendor acknowledged it and keeps
    the same countersignature beside its order."""
    async with market(tmp_path, "sierra", "cumbre") as m:
        offer, sierra = await accept_from(m, "sierra")
        mine = m.store.receipt_for_offer(offer)
        theirs = sierra.store.by_offer(offer)
        assert mine is not None
        intent_row = m.store.intent(mine.intent_id)
        orders = sierra.store.orders()
    assert theirs is not None and intent_row is not None
    assert mine.vendor_acknowledged
    assert theirs.status == "confirmed"
    receipt = schemas.verify(mine.receipt_wire, schemas.Receipt, key=sierra.signer.ring, now=None)
    assert receipt.wire == theirs.receipt_wire
    person = schemas.open_intent(intent_row.wire, now=None, replay=None)
    cs = schemas.verify(
        mine.countersignature_wire,
        schemas.Countersignature,
        key=_only(person.msg.keys.sign),
        now=None,
    )
    assert cs.msg.receipt_hash == receipt.digest
    assert theirs.countersignature_wire == mine.countersignature_wire
    assert len(orders) == 1


async def test_a_cancel_takes_the_order_off_and_gives_the_stock_back(tmp_path: Path) -> None:
    """A person's cancellation of a confirmed order is answered, signed, as cancelled; the
    vendor's order is cancelled and its stock is free again; asking again gets the same."""
    async with market(tmp_path, "sierra") as m:
        offer, sierra = await accept_from(m, "sierra")
        row = sierra.store.by_offer(offer)
        assert row is not None
        sku = sierra.store.orders()[0]["sku"]
        item = await sierra.catalog.get(sku)
        assert item is not None
        held = sierra.store.available(sku, item.stock)
        receipt = m.store.receipt_for_offer(offer)
        assert receipt is not None
        first = await m.agent.cancel(receipt.receipt_id[:8])
        again = await m.agent.cancel(receipt.receipt_id[:8])
        order = sierra.store.order(row.order_id)
        assert order is not None
        assert (
            first.done and again.done and (first.status, first.reason) == ("rejected", "cancelled")
        )
        assert order["status"] == "cancelled"
        assert sierra.store.available(sku, item.stock) == held + 1
        mine = m.store.receipt_for_offer(offer)
        assert mine is not None and mine.status == "cancelled"


async def test_a_countersignature_the_vendor_missed_is_acknowledged_on_sync(
    tmp_path: Path,
) -> None:
    """While the vendor's receipt endpoint finds nobody, the order still completes and the
    countersignature waits unacknowledged; `sync` later delivers it, the vendor acknowledges
    and keeps it, and a second sync has nothing left to send."""
    async with market(tmp_path, "sierra", agent_side=_Outage) as m:
        outage, sierra = m.session.transport, m.vendors["sierra"]
        assert isinstance(outage, _Outage)
        outage.down.add(schemas.vendor_subject(sierra.vendor_id, "receipt"))
        m.agent.per_try_seconds = 0.5  # each try waits out its timeout: "nobody" is a hint
        offer, _ = await accept_from(m, "sierra")
        mine = m.store.receipt_for_offer(offer)
        theirs = sierra.store.by_offer(offer)
        assert mine is not None and theirs is not None
        assert not mine.vendor_acknowledged and theirs.countersignature_wire is None
        outage.down.clear()
        assert await m.agent.sync() == (1, 1)
        assert await m.agent.sync() == (0, 0)
        theirs = sierra.store.by_offer(offer)
    assert theirs is not None and theirs.countersignature_wire == mine.countersignature_wire


async def test_a_want_nobody_serves_says_no_responders(tmp_path: Path) -> None:
    """An intent for a category no vendor hears comes back marked "no responders" (what the
    CLI turns into "no vendor on this bus serves ..."), with no offers; one that is heard is
    not so marked."""
    async with market(tmp_path, "sierra") as m:
        nobody = await want(m, expect=None, window=0.1, category="electronics/phones")
        heard = await want(m, expect=1)
    assert nobody.no_responders and nobody.ranked == [] and nobody.offers == []
    assert not heard.no_responders and len(heard.ranked) == 1


async def test_an_accept_to_a_vendor_gone_away_fails_and_repeats_later(tmp_path: Path) -> None:
    """With the vendor gone, an acceptance finds nobody: AcceptError says to try again and the
    acceptance stays stored; once the vendor is back, the same acceptance is confirmed."""
    async with market(tmp_path, "sierra") as m:
        got = await want(m, expect=1)
        offer = got.ranked[0].offer.id
        await m.stop("sierra")
        m.agent.attempts, m.agent.per_try_seconds = 1, 0.5
        with pytest.raises(AcceptError, match="did not answer after 1 tries"):
            await m.agent.accept(offer)
        stored = m.store.accept(offer)
        assert stored is not None and stored.status is AcceptState.SENT
        await m.start("sierra")
        res = await m.agent.accept(offer)
        orders = m.vendors["sierra"].store.orders()
    assert res.status is AcceptState.CONFIRMED and res.repeated
    assert len(orders) == 1


async def test_the_in_process_request_to_nobody_raises_no_responders() -> None:
    """A request nobody listens to raises NoResponders at once; one that is heard returns the
    first answer."""
    async with InProcessTransport() as bus:
        with pytest.raises(NoResponders):
            await bus.request("ic.v1.vendor.x.order", b"hello")

        async def echo(msg: Message) -> None:
            await bus.publish(msg.reply, msg.data[::-1])

        await bus.subscribe("ic.v1.vendor.*.order", echo, queue="q")
        async with asyncio.timeout(5):
            assert await bus.request("ic.v1.vendor.x.order", b"hello") == b"olleh"


def _opener_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("intentcast-open")]


async def test_closing_the_session_restores_the_switch_interval_and_ends_its_threads(
    tmp_path: Path,
) -> None:
    """The session's opener lowers the switch interval and starts its threads only for the
    offers it opens on them; once the session closes, the interval is what it was and the
    threads are gone."""
    before = sys.getswitchinterval()
    assert not _opener_threads()
    async with market(tmp_path, "sierra", "cumbre", opener=OfferOpener(min_batch=1)) as m:
        got = await want(m, expect=2)
        assert len(got.ranked) == 2
        assert sys.getswitchinterval() < before
        assert _opener_threads()
        session = m.session
    assert session.state == "closed"
    assert sys.getswitchinterval() == before
    assert not _opener_threads()
    with pytest.raises(RuntimeError, match="open agent session"):
        await want(m, expect=2)


def _stale_acceptance(m: Market, offer_id: str, state: AcceptState) -> bytes:
    """Store, as the agent would have, an acceptance of ``offer_id`` made 11 minutes ago and
    never answered (the vendor was away), in ``state``; its signed bytes."""
    row = m.store.offer(offer_id)
    irow = m.store.intent(row.intent_id) if row else None
    assert row is not None and irow is not None
    intent = schemas.open_intent(irow.wire, now=None, replay=None).msg
    opened = schemas.open_offer_bundle(
        row.bundle, intent=intent, now=None, replay=None, profiles=schemas.ProfileCache()
    )
    then = datetime.now(UTC) - timedelta(minutes=11)
    accept, sealed = schemas.make_accept(
        intent_wire=irow.wire, intent=intent, secrets=m.store.intent_secrets(intent.id),
        offer=opened, disclosure=schemas.Disclosure(name="Ada"), payment_method="card", now=then,
    )  # fmt: skip
    with m.store.transaction():
        m.store.add_accept(
            offer_id=offer_id, intent_id=intent.id, vendor_id=row.vendor_id,
            accept_wire=accept.wire, sealed=sealed, created=then, state=state,
        )  # fmt: skip
    return accept.wire


@pytest.mark.parametrize("state", [AcceptState.SENT, AcceptState.RENEWED])
async def test_an_expired_acceptance_is_made_afresh_once(
    tmp_path: Path, state: AcceptState
) -> None:
    """A stored acceptance that expired unanswered is re-sent; the vendor refuses it as
    acceptance_expired. From SENT the agent stores a fresh one (RENEWED), sends it once, and
    the order is confirmed with it. From RENEWED (already made afresh once) the refusal is
    final: REJECTED, reason acceptance_expired, no order, and no trust lost by the vendor
    for the person's stale acceptance."""
    async with market(tmp_path, "sierra") as m:
        got = await want(m, expect=1)
        offer = got.ranked[0].offer.id
        stale = _stale_acceptance(m, offer, state)
        res = await m.agent.accept(offer)
        stored = m.store.accept(offer)
        orders = m.vendors["sierra"].store.orders()
        outcomes = [r["kind"] for r in m.store.all_outcomes()]
    assert stored is not None
    if state is AcceptState.SENT:
        assert res.status is AcceptState.CONFIRMED and res.receipt is not None
        assert stored.status is AcceptState.CONFIRMED and stored.accept_wire != stale
        assert res.receipt.msg.accept_hash == schemas.digest(stored.accept_wire[64:])
        assert [o["offer_id"] for o in orders] == [offer]
        assert outcomes == ["receipt"]
    else:
        assert (res.status, res.reason) == (AcceptState.REJECTED, "acceptance_expired")
        assert stored.status is AcceptState.REJECTED and stored.accept_wire == stale
        assert orders == [] and outcomes == []


def test_every_acceptance_state_has_a_way_out_and_unknown_moves_are_refused() -> None:
    """The table is the machine: every state but the final ones (rejected; confirmed, but
    for a receipt gone missing) can move on a vendor's answer, and a move the table lacks is
    an error, never a silent no-op."""
    from agent import TRANSITIONS, AcceptEvent, transition

    sources = {s for s, _ in TRANSITIONS}
    assert sources == {None, AcceptState.SENT, AcceptState.RENEWED, AcceptState.CONFIRMED}
    assert transition(AcceptState.SENT, AcceptEvent.ACCEPTANCE_EXPIRED) is AcceptState.RENEWED
    assert transition(AcceptState.RENEWED, AcceptEvent.ACCEPTANCE_EXPIRED) is AcceptState.REJECTED
    with pytest.raises(AssertionError, match="expected a transition from rejected"):
        transition(AcceptState.REJECTED, AcceptEvent.RECEIPT)


async def test_the_library_api_refuses_a_dropped_offer_as_the_cli_does(tmp_path: Path) -> None:
    """Through agent.Agent (what the web page, the simulator and the bench use), accepting
    DataHoarder's breach-dropped offer raises NotAcceptable saying it was dropped; nothing is
    stored and the vendor takes no order."""
    from agent import NotAcceptable

    async with market(tmp_path, "sierra", "hoarder") as m:
        await want(m, expect=2)
        (dropped,) = [o for o in m.store.offers() if o.rank is None]
        with pytest.raises(NotAcceptable, match="was dropped, never shown to you \\(breach: "):
            await m.agent.accept(dropped.id)
        assert m.store.accept(dropped.id) is None
        assert m.vendors["hoarder"].store.orders() == []


async def test_two_accepts_racing_on_one_intent_make_one_order(tmp_path: Path) -> None:
    """Both offers of one intent pass admission before either is stored (two accepts at
    once); the second to store its acceptance is refused inside that transaction, so it is
    never stored or sent, and only one vendor holds an order."""
    from agent import NotAcceptable
    from agent._accepting import accept_offer
    from agent._rereading import stored_offer

    async with market(tmp_path, "sierra", "cumbre") as m:
        got = await want(m, expect=2)
        first, second = (stored_offer(m.store, r.offer.id, got.cast.intent) for r in got.ranked)
        disclosure = schemas.disclosure_for(
            ["name", "postal_address"],
            schemas.Disclosure(**TEST_PERSON.model_dump(exclude={"payment_methods"})),
        )
        kw = {"disclosure": disclosure, "payment_method": "card"}
        res = await accept_offer(m.session, m.store, first, **kw)  # type: ignore[arg-type]
        assert res.status is AcceptState.CONFIRMED
        with pytest.raises(NotAcceptable, match="add --another"):
            await accept_offer(m.session, m.store, second, **kw)  # type: ignore[arg-type]
        assert m.store.accept(second.offer.msg.id) is None
        orders = [o for v in m.vendors.values() for o in v.store.orders()]
    assert [o["offer_id"] for o in orders] == [first.offer.msg.id]
