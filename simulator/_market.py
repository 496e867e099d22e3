"""One simulated market over the real protocol code.

A real ``nats-server`` (embedded, unless a bus URL is given), real vendor adapters with their
SQLite stores and generated catalogs, hostile bus clients, and people whose agents cast,
verify, rank, accept and rate exactly as the CLI does, each with their own SQLite store and
trust. Only what happens off the bus is modelled, by plug-ins (``_plugins``): whether goods
arrive, which shown offer a person takes, what they publish about it, when a vendor sheds
its identity; and the attacks the protocol leaves open (``_attacks``). Every random choice
comes from one seeded generator; every clock is the market's simulated one (``_clock``).

The round itself (draws, choice, delivery, what is published) is the round loop's
(``_rounds``), shared with fast mode; this module supplies its steps over the real protocol.

Over 300 lines: set-up (bus, vendors, hostile clients, people, shills) and every step the
round loop and the attacks ask of it, side by side, so full mode can be read in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import schemas
from agent import (
    AcceptState,
    Agent,
    AgentConfig,
    AgentSession,
    BetaTrust,
    Home,
    PersonDetails,
    Ranked,
    TrustPolicy,
    TrustScorer,
    rating_bundle,
)
from agent import Collected as AgentCollected
from runtime import Bus, EmbeddedServer, NatsTransport, RatingsBoard

from ._attacks import Attacks
from ._builtins import Delivers, NoTrust
from ._clock import SimClock
from ._fakes import self_praise
from ._hostile import Rogue
from ._plugins import (
    ChoiceModel,
    Option,
    RatingBehaviour,
    RatingSource,
    TrustModel,
    VendorBehaviour,
    load_plugin,
)
from ._rounds import (
    Collected,
    RoundPerson,
    RoundRecord,
    befriend,
    day_of,
    options,
    rejoins_now,
    retained,
    run_round,
    run_rounds,
)
from ._scenario import PersonGroup, Scenario, VendorGroup
from ._vendors import Gate, SimVendor, make_vendor

__all__ = ["MARKER", "Market", "RoundRecord"]

MARKER = ".intentcast-sim"  # marks a work directory the simulator made (and may replace)


@dataclass
class _Person:
    index: int
    group_index: int
    group: PersonGroup
    agent: Agent  # the person's own agent, over their own home, on the market's session
    choice: ChoiceModel
    rating: RatingBehaviour
    publishes: bool  # their trust reads the ratings board, and they publish to it
    friend: schemas.FriendIdentity | None = None  # whose ratings their followers recognise

    @property
    def trust(self) -> TrustScorer:
        return self.agent.trust


def _want(category: str) -> str:
    return category.rsplit("/", 1)[-1].replace("-", " ")


def _behaviour(group: VendorGroup) -> VendorBehaviour:
    if group.behaviour is not None:
        made: VendorBehaviour = load_plugin("vendor", group.behaviour)
        return made
    p = group.delivery_probability
    return Delivers((0.0 if group.kind == "bait" else 1.0) if p is None else p)


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
        self.clock = SimClock(scenario.days_per_round)
        self.persons: list[_Person] = []
        self.vendors: list[SimVendor] = []
        self.rogues: list[Rogue] = []
        self.by_id: dict[str, SimVendor] = {}  # every identity any vendor had
        self.kind_of: dict[str, str] = {}
        self.attacks = Attacks(self)
        self._published_at: dict[int, float] = {}  # ratings board sequence -> simulated day
        self._stack = contextlib.AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self._rogue_tasks: list[asyncio.Task[None]] = []
        self._shills: dict[int, Agent] = {}  # attacking vendor group -> its buyer
        self._agent: AgentSession | None = None  # every person's agent talks through it
        self.board: RatingsBoard | None = None
        self._trust_models = [load_plugin("trust", p.trust_mode) for p in scenario.persons]

    # --- setting up -----------------------------------------------------------------------

    def _needs_board(self) -> bool:
        models: list[TrustModel] = self._trust_models
        return any(m.uses_ratings for m in models) or any(
            v.praise_per_round or v.smear_every for v in self.scenario.vendors
        )

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
            people_bus = await self._stack.enter_async_context(
                Bus(url, name="sim-people", reconnect_forever=False)
            )
            self._agent = await self._stack.enter_async_context(
                AgentSession(NatsTransport(people_bus))
            )
            if self._needs_board():
                self.board = await self._stack.enter_async_context(RatingsBoard(people_bus))
            self._stack.callback(self._close_vendor_stores)  # runs after every task has ended
            self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
            self._stack.callback(self._stop_tasks)
            self._stack.push_async_callback(self._stop_vendors)
            # Hostile clients first, so they overhear the adapters' profiles as they start.
            order = sorted(enumerate(self.scenario.vendors), key=lambda g: g[1].kind != "hostile")
            for g, vendors in order:
                for _ in range(vendors.count):
                    await self._add_vendor(g, vendors, vendor_bus)
            for g, people in enumerate(self.scenario.persons):
                for _ in range(people.count):
                    await self._add_person(g, people)
            self._befriend()
            await self.attacks.open()
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
        for t in self._rogue_tasks:
            t.cancel()

    async def _stop_vendors(self) -> None:
        for v in self.vendors:
            await v.stop()

    def _close_vendor_stores(self) -> None:
        for v in self.vendors:
            v.close_stores()

    async def _add_vendor(self, g: int, group: VendorGroup, bus: Bus) -> None:
        assert self._tasks is not None
        n = len(self.vendors) + len(self.rogues)
        if group.kind == "hostile":
            rogue = Rogue(set(group.modes), clock=self.clock.now)
            ready = asyncio.Event()
            self._rogue_tasks.append(self._tasks.create_task(rogue.serve(bus, ready.set)))
            await asyncio.wait_for(ready.wait(), 10)
            self.rogues.append(rogue)
            self.kind_of[rogue.me.vendor_id] = "hostile"
            return
        v = make_vendor(
            g, group, n, self.scenario, self.workdir / "vendors", self.rng,
            gate=Gate(NatsTransport(bus)), behaviour=_behaviour(group), clock=self.clock,
        )  # fmt: skip
        self.vendors.append(v)
        self._known(v, await v.start(self.rng))

    def _known(self, v: SimVendor, vendor_id: str) -> None:
        self.by_id[vendor_id] = v
        self.kind_of[vendor_id] = v.kind

    def ratings_source(self) -> RatingSource | None:
        """What people read from the board: everything, or only what is younger than the
        scenario's retention on the simulated clock."""
        if self.board is None:
            return None
        keep = self.scenario.ratings_retention_days
        return retained(self.board.bundles, self._published_at, self.clock, keep)

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
        agent = Agent(home, session=self._agent, config=config, clock=self.clock.now)
        # Closed with the stack, before the session it shares.
        await self._stack.enter_async_context(agent)
        own = agent.trust
        if not isinstance(own, BetaTrust):  # pragma: no cover - the agent's default
            raise TypeError(f"expected the agent's own BetaTrust, got {type(own).__name__}")
        model: TrustModel = self._trust_models[g]
        agent.trust = model.scorer(own, group.trust, self.ratings_source())
        self.persons.append(
            _Person(
                i, g, group, agent, load_plugin("choice", group.choice),
                load_plugin("rating", group.rating), model.uses_ratings and self.board is not None,
            )
        )  # fmt: skip

    def _befriend(self) -> None:
        befriend(
            self.persons, self.scenario, self.rng, self._trust_models,
            lambda q, f: f.card(f"Person {q.index}").friend(),
        )  # fmt: skip

    # --- one round's steps, as the round loop (``_rounds``) asks for them -----------------

    @property
    def people(self) -> list[_Person]:
        return self.persons

    def day(self) -> float:
        return day_of(self.clock)

    async def run(self, rounds: int | None = None) -> list[RoundRecord]:
        total = self.scenario.rounds if rounds is None else rounds
        return await run_rounds(self, total, self.progress)

    async def run_round(self, r: int) -> RoundRecord:
        return await run_round(self, r)

    async def before_round(self, r: int) -> None:
        for v in self.vendors:
            await v.renew_if_due()
            if rejoins_now(v, r):
                self._known(v, await v.start(self.rng, r))
        await self.attacks.before_round(r)

    async def catch_up(self) -> None:
        if self.board is not None:
            async with asyncio.timeout(10):
                await self.board.catch_up()

    async def cast(
        self, a: Agent, category: str, budget: int, wanted_within: int
    ) -> tuple[AgentCollected, int]:
        """Cast one intent for ``a`` and collect its offers: (what came back, how many
        vendors chose to offer). Vendors are asked first, without side effects, so the
        window ends as soon as every expected offer is in."""
        sc = self.scenario
        now = self.clock.now()
        cast = schemas.cast_intent(
            category=category, want=schemas.Want(_want(category)), quantity=1,
            max_price=schemas.Money(budget, sc.currency),
            wanted_by=self.clock.today() + timedelta(days=wanted_within),
            region=schemas.Region("ES", "28"), terms=a.standing_terms() or schemas.Terms(),
            now=now, ttl=timedelta(minutes=5),
        )  # fmt: skip
        expected = 0
        for v in self.vendors:
            if category in v.categories and v.gate.online:
                choice = await v.live.choose(cast.intent, now)
                expected += not isinstance(choice, str)
        got = await a.cast(
            cast, window=sc.window_seconds if expected else min(sc.window_seconds, 0.2),
            expect=expected or None,
        )  # fmt: skip
        return got, expected

    async def collect(
        self, person: RoundPerson, category: str, budget: int, wanted_within: int
    ) -> Collected:
        got, expected = await self.cast(_agent(person), category, budget, wanted_within)
        return Collected(len(got.offers), expected, got.ranked, got.dropped)

    async def accept(self, person: RoundPerson, best: Ranked) -> str | None:
        result = await _agent(person).accept(best.offer.id)
        if result.status is AcceptState.CONFIRMED and result.receipt is not None:
            return result.receipt.msg.id
        return None

    def record(self, person: RoundPerson, receipt_id: str, score: int, outcome: str) -> None:
        _agent(person).rate(receipt_id, score, outcome)

    async def publish(self, person: RoundPerson, receipt_id: str, score: int, outcome: str) -> None:
        vendor_id, bundle = rating_bundle(
            _agent(person).store, receipt_id, score=score, outcome=outcome,
            now=self.clock.now(), friend=person.friend,
        )  # fmt: skip
        await self.post(vendor_id, bundle)

    async def post(self, vendor_id: str, bundle: bytes) -> None:
        """Put one rating bundle on the board, noting the simulated day it was published."""
        assert self.board is not None
        self._published_at[await self.board.publish(vendor_id, bundle)] = self.day()

    # --- the attacks' steps (``_attacks``) -------------------------------------------------

    def options(self, shown: list[Ranked]) -> list[Option]:
        return options(shown, self.by_id)

    async def open_shill(self, g: int) -> None:
        assert self._agent is not None
        policy = TrustPolicy(threshold=0.0)
        config = AgentConfig(
            agreement=None, disclose=["name", "address"], trust=policy,
            person=PersonDetails(
                name=f"Shill {g}", address=[f"Calle Falsa {g}"], postcode="28013",
                city="Madrid", country="ES", payment_methods=["card"],
            ),
        )  # fmt: skip
        agent = Agent(
            Home(self.workdir / "shills" / f"g{g}"), session=self._agent, config=config,
            clock=self.clock.now,
        )  # fmt: skip
        await self._stack.enter_async_context(agent)
        own = agent.trust
        if not isinstance(own, BetaTrust):  # pragma: no cover - the agent's default
            raise TypeError(f"expected the agent's own BetaTrust, got {type(own).__name__}")
        agent.trust = NoTrust().scorer(own, policy, None)
        self._shills[g] = agent

    async def praise(self, v: SimVendor) -> None:
        c = v.categories[0]
        price = schemas.Money(self.scenario.categories[c], self.scenario.currency)
        await self.post(
            v.vendor_id, self_praise(v.live.signer, category=c, price=price, now=self.clock.now())
        )

    async def shill_ranked(self, g: int, category: str, budget: int) -> list[Ranked]:
        got, _ = await self.cast(self._shills[g], category, budget, 20)
        return got.ranked

    async def shill_buys(self, g: int, target: Ranked) -> bool:
        shill = self._shills[g]
        result = await shill.accept(target.offer.id)
        if result.status is not AcceptState.CONFIRMED or result.receipt is None:
            return False
        vendor_id, bundle = rating_bundle(
            shill.store, result.receipt.msg.id, score=1, outcome="not_delivered",
            now=self.clock.now(),
        )  # fmt: skip
        await self.post(vendor_id, bundle)
        return True

    def hostile_sent(self) -> dict[str, int]:
        """What the hostile vendors sent, by kind."""
        out: dict[str, int] = {}
        for rogue in self.rogues:
            for k, n in rogue.sent_by_kind.items():
                out[k] = out.get(k, 0) + n
        return out

    def attack_summary(self) -> dict[str, Any]:
        """What the attacks cost and made: fake ratings, smears and what they paid."""
        return self.attacks.summary()


def _agent(person: RoundPerson) -> Agent:
    assert isinstance(person, _Person)
    return person.agent
