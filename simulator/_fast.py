"""Fast mode: the same market without the bus, the crypto or the disk.

What decides a round is the real code, called through its public names: each vendor's offer
choice (``VendorAdapter.choose``: terms, catalog, pricing, dates), the agent's ranking
(``agent.rank_offers``: terms matching, offer rules, trust threshold, veto, newcomer policy)
over the person's trust (``BetaTrust`` over an in-memory ``AgentStore``, or the scenario's
trust model), and the scenario's plug-ins (choice, vendor behaviour). What is left out is
the transport and its proofs: an intent is not signed nor broadcast, an offer is built as
the vendor would sign it and handed to the ranking already opened (the seam: ``rank_offers``
takes opened offers), an acceptance is always confirmed, and nothing is fsynced.

Every random draw is made in the order ``Market.run_round`` makes it, so a seed replays the
same choices, orders and outcomes in both modes (tests/test_simulator_fast.py pins it).
Scenarios that need the bus (hostile vendors, a ratings board: network trust, praise,
smears) are refused by :func:`check_fast`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import schemas
from agent import AgentStore, BetaTrust, TrustScorer, rank_offers, rating_evidence
from runtime import InProcessTransport
from vendor_adapter import VendorAdapter

from ._clock import SimClock
from ._market import MARKER, RoundRecord, _behaviour, _want, options
from ._plugins import ChoiceModel, Sale, TrustModel, load_plugin
from ._scenario import PersonGroup, Scenario, ScenarioError
from ._vendors import Gate, SimVendor, make_vendor

__all__ = ["FastMarket", "check_fast"]

_NO_KEY = "0" * 64  # an intent's keys and a header's nonce: nobody seals to or checks them


def check_fast(scenario: Scenario) -> None:
    """Refuse, in one line naming the key, what fast mode cannot model."""
    for g, v in enumerate(scenario.vendors):
        if v.kind == "hostile":
            raise ScenarioError(
                f"vendors.{g}.kind: hostile vendors attack the bus and the crypto, which fast "
                "mode leaves out; use mode full"
            )
        for key in ("praise_per_round", "smear_every"):
            if getattr(v, key):
                raise ScenarioError(
                    f"vendors.{g}.{key}: attacks on the ratings board need mode full"
                )
    for g, p in enumerate(scenario.persons):
        model: TrustModel = load_plugin("trust", p.trust_mode)
        if model.uses_ratings:
            raise ScenarioError(
                f"persons.{g}.trust_mode: {p.trust_mode!r} reads signed ratings from the "
                "bus's board, which fast mode leaves out; use own or none, or mode full"
            )


class _Person:
    def __init__(self, index: int, group_index: int, group: PersonGroup) -> None:
        self.index, self.group_index, self.group = index, group_index, group
        self.store = AgentStore(Path(":memory:"))
        model: TrustModel = load_plugin("trust", group.trust_mode)
        self.trust: TrustScorer = model.scorer(
            BetaTrust(self.store, group.trust), group.trust, None
        )
        self.choice: ChoiceModel = load_plugin("choice", group.choice)
        a = group.agreement
        self.terms = (
            schemas.Terms() if a is None else schemas.expand_terms(schemas.Terms(agreement=a))
        )


class FastMarket:
    """A fast-mode market for one scenario and seed, used as :class:`Market` is."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        seed: int | None = None,
        progress: Callable[[int, int, RoundRecord], None] | None = None,
    ) -> None:
        check_fast(scenario)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.workdir, self.progress = workdir, progress
        self.rng = random.Random(self.seed)
        self.clock = SimClock(scenario.days_per_round)
        self.vendors: list[SimVendor] = []
        self.adapters: list[VendorAdapter] = []
        self.persons: list[_Person] = []
        self.by_id: dict[str, SimVendor] = {}
        self._stack = contextlib.ExitStack()

    async def __aenter__(self) -> FastMarket:
        if self.workdir.exists() and any(self.workdir.iterdir()):
            raise FileExistsError(f"expected an empty or new work directory, got {self.workdir}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / MARKER).write_text("made by intentcast-sim; replaced on the next run\n")
        self._stack.callback(self._close)
        sc = self.scenario
        for g, group in enumerate(sc.vendors):
            for _ in range(group.count):
                v = make_vendor(
                    g, group, len(self.vendors), sc, self.workdir / "vendors", self.rng,
                    gate=Gate(InProcessTransport()), behaviour=_behaviour(group), clock=self.clock,
                )  # fmt: skip
                self.vendors.append(v)
                self.adapters.append(v.start_offline(self.rng))
                self.by_id[v.vendor_id] = v
        for g, people in enumerate(sc.persons):
            for _ in range(people.count):
                self.persons.append(_Person(len(self.persons), g, people))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _close(self) -> None:
        for v in self.vendors:
            v.close_stores()
        for p in self.persons:
            p.store.close()

    async def run(self, rounds: int | None = None) -> list[RoundRecord]:
        total = self.scenario.rounds if rounds is None else rounds
        records = []
        for r in range(total):
            rec = await self.run_round(r)
            records.append(rec)
            if self.progress is not None:
                self.progress(r + 1, total, rec)
        return records

    def _rejoins(self, r: int) -> None:
        for i, v in enumerate(self.vendors):
            every = v.group.rejoin_every
            due = every is not None and r > v.since_round and r % every == 0
            if due or v.behaviour.rejoins(v.identity(), r):
                self.adapters[i] = v.start_offline(self.rng, r)
                self.by_id[v.vendor_id] = v

    async def _offers(self, intent: schemas.Intent) -> list[schemas.OpenedOffer]:
        """What each online vendor of the category would offer, as the agent holds it once
        opened and verified (built here, never signed: the seam)."""
        now = self.clock.now()
        out = []
        for v, adapter in zip(self.vendors, self.adapters, strict=True):
            if intent.category not in v.categories or not v.gate.online:
                continue
            choice = await adapter.choose(intent, now)
            if isinstance(choice, str):
                continue
            currency = intent.max_price.currency
            offer = schemas.Offer(
                id=schemas.new_id(), intent_id=intent.id, vendor_id=v.vendor_id,
                item=schemas.Item(choice.item.sku, choice.item.title, choice.item.attributes),
                quantity=intent.quantity, unit_price=schemas.Money(choice.quote.unit, currency),
                total_price=schemas.Money(choice.quote.total, currency),
                delivery_by=choice.delivery_by, terms=adapter.intents.terms,
                delivers_to=adapter.intents.areas,
            )  # fmt: skip
            header = schemas.Header(
                created=now, expires=now + adapter.cfg.offer_validity, nonce=_NO_KEY[:32],
                intent=intent.id, vendor=v.vendor_id,
            )  # fmt: skip
            signer = adapter.signer
            profile = schemas.Verified(signer.profile, header, v.vendor_id, b"")
            out.append(schemas.OpenedOffer(schemas.Verified(offer, header, "", b""), profile, b""))
        return out

    async def run_round(self, r: int) -> RoundRecord:
        # The draws below are Market.run_round's, in its order.
        self.clock.at_round(r)
        self._rejoins(r)
        rng, sc = self.rng, self.scenario
        person = self.persons[rng.randrange(len(self.persons))]
        category = rng.choice(sorted(sc.categories))
        budget = round(sc.categories[category] * rng.uniform(*person.group.budget_factor))
        wanted_within = rng.randint(*person.group.wanted_within_days)
        score_if_delivered = rng.randint(4, 5)
        for v in self.vendors:
            v.gate.online = v.group.availability >= 1 or rng.random() < v.group.availability
        online = sum(v.gate.online for v in self.vendors)
        t0 = time.perf_counter()
        intent = schemas.Intent(
            id=schemas.new_id(), category=category, want=schemas.Want(_want(category)),
            quantity=1, max_price=schemas.Money(budget, sc.currency),
            wanted_by=self.clock.today() + timedelta(days=wanted_within),
            region=schemas.Region("ES", "28"), terms=person.terms,
            keys=schemas.IntentKeys(sign=_NO_KEY, seal=_NO_KEY),
            reply_subject=schemas.new_reply_subject(),
        )  # fmt: skip
        offers = await self._offers(intent)
        group = person.group
        ranked, dropped = rank_offers(
            intent, offers, trust=person.trust, policy=group.trust, weights=group.ranking,
            now=self.clock.now(),
        )  # fmt: skip
        collect_ms = (time.perf_counter() - t0) * 1e3
        terms_dropped = sum(d.count for d in dropped if d.reason == "breach")
        winner, paid, outcome = "", 0, "none"
        won: SimVendor | None = None
        shown = ranked[: group.ranking.show]
        pick = person.choice.choose(options(shown, self.by_id), rng) if shown else None
        if pick is not None:
            best = shown[pick]
            won = self.by_id.get(best.opened.profile.msg.vendor_id)
            winner = won.kind if won is not None else "unknown"
            paid = best.offer.total_price.amount
            p = 1.0
            if won is not None:
                won.orders += 1
                p = won.behaviour.delivery_probability(Sale(won.identity(), r, self.clock.now()))
            arrives = p >= 1.0 or (p > 0.0 and rng.random() < p)
            outcome = "delivered" if arrives else "not_delivered"
            score = 1 if outcome == "not_delivered" else score_if_delivered
            pos, neg = rating_evidence(score, outcome)
            person.store.add_outcome(
                vendor_id=best.offer.vendor_id, kind="rating", positive=pos, negative=neg,
                at=self.clock.now(), ref=best.offer.id,
            )  # fmt: skip
        return RoundRecord(
            seed=self.seed, round=r, person=person.index, group=person.group_index,
            category=category, budget=budget, online=online, expected=len(offers),
            offers=len(offers), shown=len(ranked), dropped_unverified=0,
            dropped_terms=terms_dropped,
            dropped_other=sum(d.count for d in dropped) - terms_dropped, hostile_shown=0,
            winner_kind=winner, paid=paid,
            saving_pct=round(100 * (1 - paid / budget), 2) if paid else 0.0,
            outcome=outcome, collect_ms=round(collect_ms, 3), accept_ms=0.0,
            winner_vendor=won.vendor_id if won is not None else "",
            winner_group=won.group_index if won is not None else -1,
            winner_generation=won.generation if won is not None else -1,
            chosen_rank=-1 if pick is None else pick, day=round(self.clock.offset / timedelta(days=1), 4),
        )  # fmt: skip

    def hostile_sent(self) -> dict[str, int]:
        return {}

    def attack_summary(self) -> dict[str, Any]:
        return {"fake_praise": 0, "smears": 0, "smear_spent": 0}
