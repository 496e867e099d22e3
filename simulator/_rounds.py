"""The round loop both modes run: one intent per round, from cast to rating, told once.

A mode (:class:`Mode`: full mode's ``Market``, fast mode's ``FastMarket``) supplies how an
intent is cast and its offers collected, how an offer is accepted, how the person records
what happened and how a rating reaches the ratings board. Everything else, and every random
draw, is here and in this order, so the same seed makes the same draws in both modes:

1. the mode's ``before_round`` (identities shed, profiles renewed, praise minted, smears);
2. the person, category, budget, wanted-within days and the score a delivery earns;
3. availability of every vendor;
4. the person's choice among the offers shown;
5. whether the goods arrive (only for a chance strictly between 0 and 1);
6. what the person publishes (their rating behaviour).

With ``in_flight = k`` in the scenario, rounds are taken k at a time (``run_tick``): 1 and 2
for each of the k rounds in turn, 3 once, the k intents cast and collected concurrently
(on the real bus in full mode), then 4 to 6 for each round in round order. So the k people
judge on what was known before any of them settled, in both modes alike.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import msgspec

import schemas
from agent import Dropped, NetworkTrust, Ranked, TrustScorer

from ._clock import SimClock
from ._hostile import HOSTILE_SKU_PREFIX
from ._plugins import ChoiceModel, Option, RatingBehaviour, RatingSource, Sale, TrustModel
from ._scenario import PersonGroup, Scenario
from ._vendors import SimVendor

__all__ = [
    "Collected",
    "Mode",
    "RoundPerson",
    "RoundRecord",
    "befriend",
    "day_of",
    "options",
    "rejoins_now",
    "retained",
    "run_round",
    "run_rounds",
]


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


@dataclass(frozen=True)
class Collected:
    """What one cast brought back, as the round loop reads it."""

    offers: int  # verified offers
    expected: int  # vendors that chose to offer
    ranked: list[Ranked]
    dropped: list[Dropped]


class RoundPerson(Protocol):
    index: int
    group_index: int
    group: PersonGroup
    choice: ChoiceModel
    rating: RatingBehaviour
    publishes: bool  # their trust reads the ratings board, and they publish to it
    friend: schemas.FriendIdentity | None

    @property
    def trust(self) -> TrustScorer: ...


class Mode(Protocol):
    scenario: Scenario
    seed: int
    rng: random.Random
    clock: SimClock
    vendors: list[SimVendor]
    by_id: dict[str, SimVendor]  # every identity any vendor had
    kind_of: dict[str, str]

    @property
    def people(self) -> Sequence[RoundPerson]: ...

    async def before_round(self, r: int) -> None: ...

    async def catch_up(self) -> None:
        """Bring the ratings board the person reads up to date."""

    async def collect(
        self, person: RoundPerson, category: str, budget: int, wanted_within: int
    ) -> Collected: ...

    async def accept(self, person: RoundPerson, best: Ranked) -> str | None:
        """The receipt's id once the vendor confirmed, None if it did not."""

    def record(self, person: RoundPerson, receipt_id: str, score: int, outcome: str) -> None:
        """The person's own rating of the order: the truth their own trust reads."""

    async def publish(
        self, person: RoundPerson, receipt_id: str, score: int, outcome: str
    ) -> None: ...


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


def day_of(clock: SimClock) -> float:
    return clock.offset / timedelta(days=1)


def retained(
    bundles: RatingSource, published_at: dict[int, float], clock: SimClock, keep: float | None
) -> RatingSource:
    """What people read from the board: everything, or only what is younger than the
    scenario's retention (``keep`` simulated days)."""
    if keep is None:
        return bundles

    def young(vendor_id: str) -> list[tuple[int, bytes]]:
        oldest = day_of(clock) - keep
        return [(s, b) for s, b in bundles(vendor_id) if published_at.get(s, 0) >= oldest]

    return young


def befriend(
    people: Sequence[RoundPerson],
    scenario: Scenario,
    rng: random.Random,
    models: Sequence[TrustModel],
    friend_of: Callable[[RoundPerson, schemas.FriendIdentity], schemas.Friend],
) -> None:
    """Draw each group's friends graph: every person follows ``friends`` others of their
    group; a person someone follows seals their ratings so followers know them.
    ``friend_of`` is how a follower holds someone (full mode: from their signed card)."""
    for g, group in enumerate(scenario.persons):
        if not group.friends:
            continue
        members = [p for p in people if p.group_index == g]
        for p in members:
            p.friend = schemas.FriendIdentity(rng.randbytes(32), rng.randbytes(32))
        for p in members:
            others = [q for q in members if q is not p]
            chosen = rng.sample(others, min(group.friends, len(others)))
            if getattr(models[g], "uses_friends", False):
                trust = p.trust
                if isinstance(trust, NetworkTrust):
                    trust.friends = tuple(friend_of(q, q.friend) for q in chosen if q.friend)


def rejoins_now(v: SimVendor, r: int) -> bool:
    """Whether ``v`` sheds its identity at the start of round ``r`` (its group's
    ``rejoin_every``, or its behaviour says so)."""
    every = v.group.rejoin_every
    due = every is not None and r > v.since_round and r % every == 0
    return due or v.behaviour.rejoins(v.identity(), r)


@dataclass(frozen=True)
class _Planned:
    """One round's draws before its intent is cast."""

    round: int
    person: RoundPerson
    category: str
    budget: int
    wanted_within: int
    score_if_delivered: int


def _plan(m: Mode, r: int) -> _Planned:
    rng, sc = m.rng, m.scenario
    people = m.people
    person = people[rng.randrange(len(people))]
    category = rng.choice(sorted(sc.categories))
    budget = round(sc.categories[category] * rng.uniform(*person.group.budget_factor))
    wanted_within = rng.randint(*person.group.wanted_within_days)
    return _Planned(r, person, category, budget, wanted_within, rng.randint(4, 5))


async def _collect(m: Mode, plan: _Planned) -> tuple[Collected, float]:
    t0 = time.perf_counter()
    got = await m.collect(plan.person, plan.category, plan.budget, plan.wanted_within)
    return got, (time.perf_counter() - t0) * 1e3


async def run_tick(m: Mode, rounds: Sequence[int]) -> list[RoundRecord]:
    """Rounds whose intents are in flight at once: each round's ``before_round`` and draws in
    turn, one availability draw for all, every intent cast and its offers collected
    concurrently, then each round's choice, acceptance, outcome and rating in round order.
    One round is a tick of one, drawing in exactly the order of the module's docstring."""
    plans = []
    for r in rounds:
        m.clock.at_round(r)
        await m.before_round(r)
        plans.append(_plan(m, r))
    if any(p.person.publishes for p in plans):
        await m.catch_up()  # what others rated so far
    rng = m.rng
    for v in m.vendors:
        v.gate.online = v.group.availability >= 1 or rng.random() < v.group.availability
    online = sum(v.gate.online for v in m.vendors)
    if len(plans) == 1:
        collected = [await _collect(m, plans[0])]
    else:
        async with asyncio.TaskGroup() as tg:  # one cast failing stops the others
            running = [tg.create_task(_collect(m, p)) for p in plans]
        collected = [t.result() for t in running]
    return [
        await _settle(m, plan, got, collect_ms, online)
        for plan, (got, collect_ms) in zip(plans, collected, strict=True)
    ]


async def run_round(m: Mode, r: int) -> RoundRecord:
    (record,) = await run_tick(m, [r])
    return record


async def _settle(
    m: Mode, plan: _Planned, got: Collected, collect_ms: float, online: int
) -> RoundRecord:
    rng, r, person = m.rng, plan.round, plan.person
    category, budget, score_if_delivered = plan.category, plan.budget, plan.score_if_delivered
    drops = [d.reason for d in got.dropped for _ in range(d.count)]  # kept as counts
    unverified = sum(d.startswith("unverified") or d == "duplicate" for d in drops)
    terms_dropped = sum(d == "breach" for d in drops)
    hostile_shown = sum(x.offer.item.sku.startswith(HOSTILE_SKU_PREFIX) for x in got.ranked)
    winner, paid, outcome, accept_ms = "", 0, "none", 0.0
    won: SimVendor | None = None
    shown = got.ranked[: person.group.ranking.show]
    pick = person.choice.choose(options(shown, m.by_id), rng) if shown else None
    if pick is not None:
        best = shown[pick]
        vendor_id = best.opened.profile.msg.vendor_id
        t1 = time.perf_counter()
        receipt_id = await m.accept(person, best)
        accept_ms = (time.perf_counter() - t1) * 1e3
        winner = m.kind_of.get(vendor_id, "unknown")
        won = m.by_id.get(vendor_id)
        if receipt_id is not None:
            paid = best.offer.total_price.amount
            p = 1.0
            if won is not None:
                won.orders += 1
                p = won.behaviour.delivery_probability(Sale(won.identity(), r, m.clock.now()))
            # Only a chance strictly between 0 and 1 draws: earlier seeds replay as before.
            arrives = p >= 1.0 or (p > 0.0 and rng.random() < p)
            outcome = "delivered" if arrives else "not_delivered"
            score = 1 if outcome == "not_delivered" else score_if_delivered
            m.record(person, receipt_id, score, outcome)
            if person.publishes:
                told = person.rating.publish(
                    won.group_index if won is not None else -1, score, outcome, rng
                )
                if told is not None:
                    await m.publish(person, receipt_id, *told)
                    if told[1] == "not_delivered" and won is not None:
                        won.bad_ratings += won.vendor_id == vendor_id  # only the identity in use
        else:
            outcome = "rejected"
    return RoundRecord(
        seed=m.seed, round=r, person=person.index, group=person.group_index,
        category=category, budget=budget, online=online,
        expected=got.expected, offers=got.offers, shown=len(got.ranked),
        dropped_unverified=unverified, dropped_terms=terms_dropped,
        dropped_other=len(drops) - unverified - terms_dropped, hostile_shown=hostile_shown,
        winner_kind=winner, paid=paid,
        saving_pct=round(100 * (1 - paid / budget), 2) if paid else 0.0,
        outcome=outcome, collect_ms=round(collect_ms, 3), accept_ms=round(accept_ms, 3),
        winner_vendor=won.vendor_id if won is not None else "",
        winner_group=won.group_index if won is not None else -1,
        winner_generation=won.generation if won is not None else -1,
        chosen_rank=-1 if pick is None else pick, day=round(day_of(m.clock), 4),
    )  # fmt: skip


async def run_rounds(
    m: Mode, total: int, progress: Callable[[int, int, RoundRecord], None] | None = None
) -> list[RoundRecord]:
    """``total`` rounds, ``m.scenario.in_flight`` of them in flight at a time (``run_tick``)."""
    records: list[RoundRecord] = []
    k = m.scenario.in_flight
    for first in range(0, total, k):
        for rec in await run_tick(m, range(first, min(first + k, total))):
            records.append(rec)
            if progress is not None:
                progress(len(records), total, rec)
    return records
