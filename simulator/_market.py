"""One simulated market over the real protocol code.

A real ``nats-server`` (embedded, unless a bus URL is given), real vendor adapters with their
SQLite stores and generated catalogs, hostile bus clients, and people whose agents cast,
verify, rank, accept and rate exactly as the CLI does, each with their own SQLite store and
trust. Only what happens off the bus is modelled, by plug-ins (``_plugins``): whether goods
arrive, which shown offer a person takes, what they publish about it, when a vendor sheds
its identity; and the attacks the protocol leaves open (``_attacks``). Every random choice
comes from one seeded generator; every clock is the market's simulated one (``_clock``).

Over 300 lines: one round is one story (cast, choose, accept, deliver, rate), told here in
order; set-up and the round's steps are methods beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

import schemas
from agent import (
    AcceptState,
    Agent,
    AgentConfig,
    AgentSession,
    BetaTrust,
    Collected,
    Home,
    NetworkTrust,
    PersonDetails,
    Ranked,
    rating_bundle,
)
from runtime import Bus, EmbeddedServer, NatsTransport, RatingsBoard

from ._attacks import Attacks
from ._builtins import Delivers
from ._clock import SimClock
from ._hostile import HOSTILE_SKU_PREFIX, Rogue
from ._plugins import (
    ChoiceModel,
    Option,
    RatingBehaviour,
    RatingSource,
    Sale,
    TrustModel,
    VendorBehaviour,
    load_plugin,
)
from ._scenario import PersonGroup, Scenario, VendorGroup
from ._vendors import Gate, SimVendor, make_vendor

__all__ = ["MARKER", "Market", "RoundRecord"]

MARKER = ".intentcast-sim"  # marks a work directory the simulator made (and may replace)


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
    winner_vendor: str = ""  # the accepted vendor's id
    winner_group: int = -1  # its group, in the order of [[vendors]]
    winner_generation: int = -1  # how many identities that vendor had shed before this one
    chosen_rank: int = -1  # the place of the accepted offer in the person's list (0: top)
    day: float = 0.0  # simulated days since the run began


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


def _want(category: str) -> str:
    return category.rsplit("/", 1)[-1].replace("-", " ")


def _behaviour(group: VendorGroup) -> VendorBehaviour:
    if group.behaviour is not None:
        made: VendorBehaviour = load_plugin("vendor", group.behaviour)
        return made
    p = group.delivery_probability
    return Delivers((0.0 if group.kind == "bait" else 1.0) if p is None else p)


def options(shown: list[Ranked], by_id: dict[str, SimVendor]) -> list[Option]:
    """The shown offers as a choice model sees them (both modes)."""
    return [
        Option(
            vendor_id=(vid := x.opened.profile.msg.vendor_id),
            vendor_group=v.group_index if (v := by_id.get(vid)) else -1,
            score=x.score,
            trust=x.trust.value,
            new=x.trust.new,
            price=x.offer.total_price.amount,
        )
        for x in shown
    ]


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
            await self.attacks.open(self._agent)
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
        board, keep = self.board, self.scenario.ratings_retention_days
        if board is None or keep is None:
            return None if board is None else board.bundles

        def young(vendor_id: str) -> list[tuple[int, bytes]]:
            oldest = self.day() - keep
            return [
                (s, b)
                for s, b in board.bundles(vendor_id)
                if self._published_at.get(s, 0) >= oldest
            ]

        return young

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
        """Draw each group's friends graph: every person follows ``friends`` others of their
        group; a person someone follows signs their ratings so followers know them."""
        for g, group in enumerate(self.scenario.persons):
            if not group.friends:
                continue
            members = [p for p in self.persons if p.group_index == g]
            for p in members:
                p.friend = schemas.FriendIdentity(self.rng.randbytes(32), self.rng.randbytes(32))
            for p in members:
                others = [q for q in members if q is not p]
                chosen = self.rng.sample(others, min(group.friends, len(others)))
                cards = [q.friend.card(f"Person {q.index}").friend() for q in chosen if q.friend]
                if getattr(self._trust_models[g], "uses_friends", False):
                    trust = p.agent.trust
                    if isinstance(trust, NetworkTrust):
                        trust.friends = tuple(cards)

    # --- running --------------------------------------------------------------------------

    def day(self) -> float:
        return self.clock.offset / timedelta(days=1)

    async def run(self, rounds: int | None = None) -> list[RoundRecord]:
        total = self.scenario.rounds if rounds is None else rounds
        records = []
        for r in range(total):
            rec = await self.run_round(r)
            records.append(rec)
            if self.progress is not None:
                self.progress(r + 1, total, rec)
        return records

    async def _rejoins(self, r: int) -> None:
        for v in self.vendors:
            await v.renew_if_due()
            every = v.group.rejoin_every
            due = every is not None and r > v.since_round and r % every == 0
            if due or v.behaviour.rejoins(v.identity(), r):
                self._known(v, await v.start(self.rng, r))

    async def collect(
        self, a: Agent, category: str, budget: int, wanted_within: int
    ) -> tuple[Collected, int]:
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

    def options(self, shown: list[Ranked]) -> list[Option]:
        return options(shown, self.by_id)

    async def publish(self, vendor_id: str, bundle: bytes) -> None:
        assert self.board is not None
        self._published_at[await self.board.publish(vendor_id, bundle)] = self.day()

    async def run_round(self, r: int) -> RoundRecord:
        assert self._agent is not None
        self.clock.at_round(r)
        await self._rejoins(r)
        await self.attacks.before_round(r)
        rng, sc = self.rng, self.scenario
        person = self.persons[rng.randrange(len(self.persons))]
        category = rng.choice(sorted(sc.categories))
        budget = round(sc.categories[category] * rng.uniform(*person.group.budget_factor))
        wanted_within = rng.randint(*person.group.wanted_within_days)
        score_if_delivered = rng.randint(4, 5)
        a = person.agent
        if self.board is not None and person.publishes:
            async with asyncio.timeout(10):
                await self.board.catch_up()  # what others rated so far
        for v in self.vendors:
            v.gate.online = v.group.availability >= 1 or rng.random() < v.group.availability
        online = sum(v.gate.online for v in self.vendors)
        t0 = time.perf_counter()
        got, expected = await self.collect(a, category, budget, wanted_within)
        collect_ms = (time.perf_counter() - t0) * 1e3
        drops = [d.reason for d in got.dropped for _ in range(d.count)]  # kept as counts
        unverified = sum(d.startswith("unverified") or d == "duplicate" for d in drops)
        terms_dropped = sum(d == "breach" for d in drops)
        hostile_shown = sum(x.offer.item.sku.startswith(HOSTILE_SKU_PREFIX) for x in got.ranked)
        winner, paid, outcome, accept_ms = "", 0, "none", 0.0
        won: SimVendor | None = None
        shown = got.ranked[: person.group.ranking.show]
        pick = person.choice.choose(self.options(shown), rng) if shown else None
        if pick is not None:
            best = shown[pick]
            vendor_id = best.opened.profile.msg.vendor_id
            t1 = time.perf_counter()
            result = await a.accept(best.offer.id)
            accept_ms = (time.perf_counter() - t1) * 1e3
            winner = self.kind_of.get(vendor_id, "unknown")
            won = self.by_id.get(vendor_id)
            if result.status is AcceptState.CONFIRMED and result.receipt is not None:
                paid = best.offer.total_price.amount
                p = 1.0
                if won is not None:
                    won.orders += 1
                    p = won.behaviour.delivery_probability(
                        Sale(won.identity(), r, self.clock.now())
                    )
                # Only a chance strictly between 0 and 1 draws: earlier seeds replay as before.
                arrives = p >= 1.0 or (p > 0.0 and rng.random() < p)
                outcome = "delivered" if arrives else "not_delivered"
                score = 1 if outcome == "not_delivered" else score_if_delivered
                a.rate(result.receipt.msg.id, score, outcome)  # the person's own record: the truth
                if person.publishes:
                    group = won.group_index if won is not None else -1
                    told = person.rating.publish(group, score, outcome, rng)
                    if told is not None:
                        await self._publish_rating(
                            a, result.receipt.msg.id, *told, friend=person.friend
                        )
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
            winner_vendor=won.vendor_id if won is not None else "",
            winner_group=won.group_index if won is not None else -1,
            winner_generation=won.generation if won is not None else -1,
            chosen_rank=-1 if pick is None else pick, day=round(self.day(), 4),
        )  # fmt: skip

    async def _publish_rating(
        self,
        a: Agent,
        receipt_id: str,
        score: int,
        outcome: str,
        friend: schemas.FriendIdentity | None = None,
    ) -> None:
        vendor_id, bundle = rating_bundle(
            a.store, receipt_id, score=score, outcome=outcome, now=self.clock.now(),
            friend=friend,
        )  # fmt: skip
        await self.publish(vendor_id, bundle)
        if outcome == "not_delivered" and (v := self.by_id.get(vendor_id)) is not None:
            v.bad_ratings += v.vendor_id == vendor_id  # only the identity still in use

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
