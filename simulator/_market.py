"""One simulated market over the real protocol code.

A real ``nats-server`` (embedded, unless a bus URL is given), real vendor adapters with their
SQLite stores and generated catalogs, hostile bus clients, and people whose agents cast,
verify, rank, accept and rate exactly as the CLI does, each with their own SQLite store and
trust. Only what happens off the bus is modelled: whether goods arrive, and the rating the
person then gives. Every random choice comes from one seeded generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType

import msgspec
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas
from agent import (
    AcceptState,
    Agent,
    AgentConfig,
    AgentSession,
    BetaTrust,
    Home,
    NetworkTrust,
    PersonDetails,
    TrustPolicy,
    TrustScore,
    rating_bundle,
)
from runtime import (
    Bus,
    EmbeddedServer,
    Handler,
    Message,
    NatsTransport,
    NoRespondersHandler,
    RatingsBoard,
    Subscription,
    Transport,
    WrappedTransport,
)
from vendor_adapter import CSV_HEADER, FileCatalog, Vendor, VendorConfig, VendorStore

from ._hostile import HOSTILE_SKU_PREFIX, Rogue
from ._scenario import PersonGroup, Scenario, VendorGroup

__all__ = ["MARKER", "Market", "RoundRecord"]

MARKER = ".intentcast-sim"  # marks a work directory the simulator made (and may replace)

FAIR_TERMS = schemas.example_vendor_terms()
GREEDY_TERMS = schemas.example_vendor_terms(
    data_retention_days=3650,
    no_tracking=False,
    no_sharing=False,
    contact_via_agent_only=False,
    return_days=14,
    warranty_months=12,
    agreements=[],
)
ADJECTIVES = ["Classic", "Light", "Pro", "Compact", "Family", "Trail", "Urban", "Eco"]


class RoundRecord(msgspec.Struct, frozen=True):
    """What happened to one intent, from cast to rating."""

    seed: int
    round: int
    person: int
    group: int  # the person's group, in the order of [[persons]]
    category: str
    budget: int
    online: int  # vendor adapters up this round
    expected: int  # vendor adapters that chose to offer (asked beforehand, without side effects)
    offers: int  # verified offers collected
    shown: int  # offers that passed terms, budget and trust
    dropped_unverified: int
    dropped_terms: int
    dropped_other: int
    hostile_shown: int  # offers of a hostile vendor among those shown: must be 0
    winner_kind: str  # "" when nothing was accepted
    paid: int
    saving_pct: float
    outcome: str  # delivered | not_delivered | rejected | none
    collect_ms: float
    accept_ms: float


@dataclass
class _Person:
    index: int
    group_index: int
    group: PersonGroup
    agent: Agent  # the person's own agent, over their own home, on the market's session


class _Gate(WrappedTransport):
    """A vendor's transport that the market can take offline: then it hears no intents."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.online = True

    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        if subject.startswith(schemas.INTENT_ROOT + "."):

            async def gated(msg: Message, handler: Handler = handler) -> None:
                if self.online:
                    await handler(msg)

            handler = gated
        return await super().subscribe(
            subject, handler, queue=queue, pending_limit=pending_limit,
            on_no_responders=on_no_responders,
        )  # fmt: skip


class _NoTrust:
    """A trust scorer that knows nothing: every vendor at the prior, so price, delivery and
    terms alone decide (the baseline a trust mode is compared with)."""

    def __init__(self, policy: TrustPolicy) -> None:
        p = policy
        self.value = p.prior_positive / (p.prior_positive + p.prior_negative)

    def score(self, vendor_id: str, now: datetime) -> TrustScore:
        return TrustScore(self.value, 0.0, new=True)


@dataclass
class _Vendor:
    kind: str
    vendor: Vendor
    gate: _Gate
    store: VendorStore
    categories: list[str]
    availability: float


def _want(category: str) -> str:
    return category.rsplit("/", 1)[-1].replace("-", " ")


class Market:
    """A market for one scenario and seed, as an async context manager. For example::

        async with Market(scenario, workdir, seed=3) as market:
            records = await market.run()

    ``workdir`` must be empty or new: the people's stores (their history and trust) and the
    vendors' order stores are made there."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        seed: int | None = None,
        bus_url: str | None = None,
        progress: Callable[[int, int, RoundRecord], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.workdir = workdir
        self.bus_url = bus_url
        self.progress = progress
        self.rng = random.Random(self.seed)
        self.persons: list[_Person] = []
        self.vendors: list[_Vendor] = []
        self.rogues: list[Rogue] = []
        self.kind_of: dict[str, str] = {}
        self.delivers: dict[str, float] = {}  # vendor id -> chance an order arrives
        self._stack = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._rogue_tasks: list[asyncio.Task[None]] = []
        self._bus: Bus | None = None
        self._agent: AgentSession | None = None  # every person's agent talks through it
        self._board: RatingsBoard | None = None  # with any group in trust_mode "network"

    # --- setting up -----------------------------------------------------------------------

    async def __aenter__(self) -> Market:
        # Every run starts from nothing: people's histories and trust live in these stores.
        if self.workdir.exists() and any(self.workdir.iterdir()):
            raise FileExistsError(f"expected an empty or new work directory, got {self.workdir}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / MARKER).write_text("made by intentcast-sim; replaced on the next run\n")
        try:
            url = self.bus_url
            if url is None:
                server = await self._stack.enter_async_context(
                    EmbeddedServer(self.workdir / "nats")
                )
                url = server.url
            # A simulation is a batch job: an unreachable bus is an error, not a wait.
            vendor_bus = await self._stack.enter_async_context(
                Bus(url, name="sim-vendors", reconnect_forever=False)
            )
            self._bus = await self._stack.enter_async_context(
                Bus(url, name="sim-people", reconnect_forever=False)
            )
            self._agent = await self._stack.enter_async_context(
                AgentSession(NatsTransport(self._bus))
            )
            if any(p.trust_mode == "network" for p in self.scenario.persons):
                self._board = await self._stack.enter_async_context(RatingsBoard(self._bus))
            self._stack.callback(self._close_vendor_stores)  # runs after every task has ended
            self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
            self._stack.callback(self._stop_tasks)
            # Hostile clients first, so they overhear the adapters' profiles as they start.
            groups = sorted(self.scenario.vendors, key=lambda g: g.kind != "hostile")
            for vendors in groups:
                for _ in range(vendors.count):
                    await self._add_vendor(vendors, vendor_bus)
            for g, people in enumerate(self.scenario.persons):
                for _ in range(people.count):
                    await self._add_person(g, people)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def _stop_tasks(self) -> None:
        self._stop.set()  # vendor adapters return
        for t in self._rogue_tasks:
            t.cancel()

    def _close_vendor_stores(self) -> None:
        for v in self.vendors:
            v.store.close()

    async def _add_vendor(self, group: VendorGroup, bus: Bus) -> None:
        assert self._tasks is not None
        n = len(self.vendors) + len(self.rogues)
        if group.kind == "hostile":
            rogue = Rogue(set(group.modes))
            ready = asyncio.Event()
            self._rogue_tasks.append(self._tasks.create_task(rogue.serve(bus, ready.set)))
            await asyncio.wait_for(ready.wait(), 10)
            self.rogues.append(rogue)
            self.kind_of[rogue.me.vendor_id] = "hostile"
            return
        rng = self.rng
        categories = group.categories or sorted(self.scenario.categories)
        home = self.workdir / "vendors" / f"v{n:03d}-{group.kind}"
        home.mkdir(parents=True, exist_ok=True)
        catalog = home / "catalog.csv"
        rows = [CSV_HEADER]
        for c in categories:
            base = self.scenario.categories[c]
            for j in range(3):
                price = round(base * rng.uniform(*group.price_factor)) / 100
                title = f"{rng.choice(ADJECTIVES)} {_want(c)} {j + 1}"
                rows.append(f'{n}-{j}-{c.replace("/", "-")},{title},{c},{price:.2f},'
                            f'{self.scenario.currency},1000000,,"{_want(c)}"')  # fmt: skip
        catalog.write_text("\n".join(rows) + "\n")
        terms = GREEDY_TERMS if group.kind == "breach" else FAIR_TERMS
        cfg = VendorConfig.model_validate({
            "name": f"{group.kind.title()} Vendor {n}", "categories": categories,
            "keys_dir": str(home / "keys"), "data_dir": str(home / "data"), "health_port": -1,
            "delivery_days": rng.randint(*group.delivery_days),
            "limits": {"intents_per_key_per_minute": 1000, "intents_per_category_per_second": 100_000},
            "terms": {k: getattr(terms, k) for k in terms.__struct_fields__},
            "catalog": {"kind": "csv", "path": str(catalog)},
            "pricing": {"floor_percent": 90, "meet_budget": True},
        })  # fmt: skip
        signer = schemas.make_profile(
            identity=SigningKey(rng.randbytes(32)), signing=SigningKey(rng.randbytes(32)),
            seal_key=PrivateKey(rng.randbytes(32)), name=cfg.name, categories=categories,
            terms=terms, now=datetime.now(UTC),
        )  # fmt: skip
        store = VendorStore(home / "orders.sqlite")
        gate = _Gate(NatsTransport(bus))
        vendor = Vendor(cfg, gate, catalog=FileCatalog(catalog), signer=signer, store=store)
        await self._stack.enter_async_context(vendor)
        self.vendors.append(
            _Vendor(group.kind, vendor, gate, store, categories, group.availability)
        )
        self.kind_of[signer.vendor_id] = group.kind
        p = group.delivery_probability
        self.delivers[signer.vendor_id] = (1.0 if group.kind != "bait" else 0.0) if p is None else p

    async def _add_person(self, g: int, group: PersonGroup) -> None:
        assert self._agent is not None
        i = len(self.persons)
        home = Home(self.workdir / "people" / f"p{i:03d}")
        config = AgentConfig(
            agreement=group.agreement,
            disclose=["name", "address"],  # what a delivery needs (postal_address)
            person=PersonDetails(
                name=f"Person {i}",
                address=[f"Calle {i}"],
                postcode="28013",
                city="Madrid",
                country="ES",
                payment_methods=["card"],
            ),
            trust=group.trust,
            ranking=group.ranking,
        )
        agent = Agent(home, session=self._agent, config=config)
        # Closed with the stack, before the session it shares.
        await self._stack.enter_async_context(agent)
        if group.trust_mode == "none":
            agent.trust = _NoTrust(group.trust)
        elif group.trust_mode == "network" and self._board is not None:
            own = agent.trust
            if not isinstance(own, BetaTrust):  # pragma: no cover - the agent's default
                raise TypeError(f"expected the agent's own BetaTrust, got {type(own).__name__}")
            agent.trust = NetworkTrust(own, self._board.bundles, group.trust)
        self.persons.append(_Person(i, g, group, agent))

    # --- running --------------------------------------------------------------------------

    async def run(self, rounds: int | None = None) -> list[RoundRecord]:
        total = self.scenario.rounds if rounds is None else rounds
        records = []
        for r in range(total):
            rec = await self.run_round(r)
            records.append(rec)
            if self.progress is not None:
                self.progress(r + 1, total, rec)
        return records

    async def run_round(self, r: int) -> RoundRecord:
        assert self._agent is not None
        rng, sc = self.rng, self.scenario
        person = self.persons[rng.randrange(len(self.persons))]
        category = rng.choice(sorted(sc.categories))
        budget = round(sc.categories[category] * rng.uniform(*person.group.budget_factor))
        wanted_by = date.today() + timedelta(days=rng.randint(*person.group.wanted_within_days))
        score_if_delivered = rng.randint(4, 5)
        now = datetime.now(UTC)
        a = person.agent
        if person.group.trust_mode == "network" and self._board is not None:
            async with asyncio.timeout(10):
                await self._board.catch_up()  # what others rated so far
        cast = schemas.cast_intent(
            category=category, want=schemas.Want(_want(category)), quantity=1,
            max_price=schemas.Money(budget, sc.currency), wanted_by=wanted_by,
            region=schemas.Region("ES", "28"), terms=a.standing_terms() or schemas.Terms(),
            now=now, ttl=timedelta(minutes=5),
        )  # fmt: skip
        expected = 0
        for v in self.vendors:
            v.gate.online = v.availability >= 1 or rng.random() < v.availability
            if category in v.categories and v.gate.online:
                choice = await v.vendor.choose(cast.intent, now)
                expected += not isinstance(choice, str)
        online = sum(v.gate.online for v in self.vendors)
        t0 = time.perf_counter()
        got = await a.cast(
            cast, window=sc.window_seconds if expected else min(sc.window_seconds, 0.2),
            expect=expected or None,
        )  # fmt: skip
        collect_ms = (time.perf_counter() - t0) * 1e3
        drops = [d.reason for d in got.dropped for _ in range(d.count)]  # kept as counts
        unverified = sum(d.startswith("unverified") or d == "duplicate" for d in drops)
        terms_dropped = sum(d == "breach" for d in drops)
        hostile_shown = sum(x.offer.item.sku.startswith(HOSTILE_SKU_PREFIX) for x in got.ranked)
        winner, paid, outcome, accept_ms = "", 0, "none", 0.0
        if got.ranked:
            best = got.ranked[0]
            t1 = time.perf_counter()
            result = await a.accept(best.offer.id)
            accept_ms = (time.perf_counter() - t1) * 1e3
            winner = self.kind_of.get(best.opened.profile.msg.vendor_id, "unknown")
            if result.status is AcceptState.CONFIRMED and result.receipt is not None:
                paid = best.offer.total_price.amount
                p = self.delivers.get(best.opened.profile.msg.vendor_id, 1.0)
                # Only a chance strictly between 0 and 1 draws: earlier seeds replay as before.
                arrives = p >= 1.0 or (p > 0.0 and rng.random() < p)
                outcome = "delivered" if arrives else "not_delivered"
                score = 1 if outcome == "not_delivered" else score_if_delivered
                a.rate(result.receipt.msg.id, score, outcome)
                if person.group.trust_mode == "network" and self._board is not None:
                    vendor_id, bundle = rating_bundle(
                        a.store, result.receipt.msg.id, score=score, outcome=outcome,
                        now=datetime.now(UTC),
                    )  # fmt: skip
                    await self._board.publish(vendor_id, bundle)
            else:
                outcome = "rejected"
        return RoundRecord(
            seed=self.seed, round=r, person=person.index, group=person.group_index,
            category=category, budget=budget, online=online,
            expected=expected, offers=len(got.offers), shown=len(got.ranked),
            dropped_unverified=unverified, dropped_terms=terms_dropped,
            dropped_other=len(drops) - unverified - terms_dropped, hostile_shown=hostile_shown,
            winner_kind=winner, paid=paid,
            saving_pct=round(100 * (1 - paid / budget), 2) if paid else 0.0,
            outcome=outcome, collect_ms=round(collect_ms, 3), accept_ms=round(accept_ms, 3),
        )  # fmt: skip

    def hostile_sent(self) -> dict[str, int]:
        """What the hostile vendors sent, by kind."""
        out: dict[str, int] = {}
        for rogue in self.rogues:
            for k, n in rogue.sent_by_kind.items():
                out[k] = out.get(k, 0) + n
        return out
