"""Fast mode: the same market without the bus, the crypto or the disk.

What decides a round is the real code, called through its public names: each vendor's offer
choice (``VendorAdapter.choose``: terms, catalog, pricing, dates), the agent's ranking
(``agent.rank_offers``: terms matching, offer rules, trust threshold, veto, newcomer policy)
over the person's trust (``BetaTrust`` over an in-memory ``AgentStore``, ``NetworkTrust``
over an in-memory ratings board, or the scenario's trust model), the scenario's plug-ins
(choice, vendor behaviour, rating behaviour), the attacks' decisions (``_attacks``) and the
round loop itself (``_rounds``). What is left out is the transport and its proofs: an intent
is not signed nor broadcast, an offer is built as the vendor would sign it and handed to the
ranking already opened (the seam: ``rank_offers`` takes opened offers), an acceptance is
always confirmed, a rating goes on the board already opened (``_board``), and nothing is
fsynced.

Every random draw is the round loop's, so a seed replays the same choices, orders and
outcomes in both modes (tests/test_simulator_fast.py pins it).

A hostile bus client (``_hostile``) sends nothing in fast mode that could be shown: what it
would send to each intent is counted as dropped with the reason the agent's checks give it
in full mode (``unverified:unknown_signer`` for an offer under an honest vendor's profile,
``unverified:bad_signature`` for a tampered one, ``unverified:expired``, and
``unverified:replayed`` for each honest offer it repeats), and never reaches the ranking.
Full mode stops listening once every expected honest offer is in, so it can miss replays
that come after the last of them: fast mode counts every one.

Over 300 lines: the mode's set-up and every step the round loop and the attacks ask of it,
each beside the others so what fast mode leaves out can be read in one place.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import schemas
from agent import (
    AgentStore,
    BetaTrust,
    NetworkTrust,
    Ranked,
    RankingWeights,
    TrustPolicy,
    TrustScorer,
    rank_offers,
    rating_evidence,
)
from runtime import InProcessTransport
from vendor_adapter import VendorAdapter

from ._attacks import Attacks
from ._board import FastBoard, opened_trust
from ._builtins import NoTrust
from ._clock import SimClock
from ._hostile import RogueDrops
from ._market import MARKER, _behaviour, _want
from ._plugins import ChoiceModel, Option, RatingBehaviour, TrustModel, load_plugin
from ._rounds import (
    Collected,
    RoundPerson,
    RoundRecord,
    befriend,
    options,
    rejoins_now,
    retained,
    run_round,
    run_rounds,
)
from ._scenario import PersonGroup, Scenario, ScenarioError
from ._vendors import Gate, SimVendor, make_vendor

__all__ = ["FastMarket", "check_fast"]

_NO_KEY = "0" * 64  # an intent's keys and a header's nonce: nobody seals to or checks them


def check_fast(scenario: Scenario) -> None:
    """Refuse, in one line naming the key, what fast mode cannot model."""
    for g, v in enumerate(scenario.vendors):
        carried = getattr(_behaviour(v), "certified", None)
        if getattr(carried, "attach", False):
            raise ScenarioError(
                f"vendors.{g}.behaviour: a vendor carrying its ratings on its offers "
                "(certified) reads them from the bus's board, which fast mode leaves out; "
                "use mode full"
            )
    for g, p in enumerate(scenario.persons):
        model: TrustModel = load_plugin("trust", p.trust_mode)
        if model.uses_ratings and not isinstance(_scorer(model, p.trust), NetworkTrust):
            raise ScenarioError(
                f"persons.{g}.trust_mode: {p.trust_mode!r} reads signed rating bundles, which "
                "fast mode does not make (it serves opened ratings to agent.NetworkTrust "
                "only); use mode full"
            )


def _scorer(model: TrustModel, policy: TrustPolicy) -> TrustScorer:
    """What ``model`` makes for a person with no history, over a board that is empty."""
    return model.scorer(BetaTrust(AgentStore(Path(":memory:")), policy), policy, lambda v: [])


class _Person:
    def __init__(
        self, index: int, group_index: int, group: PersonGroup, board: FastBoard | None
    ) -> None:
        self.index, self.group_index, self.group = index, group_index, group
        self.store = AgentStore(Path(":memory:"))
        model: TrustModel = load_plugin("trust", group.trust_mode)
        own = BetaTrust(self.store, group.trust)
        self.publishes = model.uses_ratings and board is not None
        if board is not None and model.uses_ratings:
            made = model.scorer(own, group.trust, board.source)
            assert isinstance(made, NetworkTrust)  # check_fast refused any other
            self.trust: TrustScorer = opened_trust(made, board)
        else:
            self.trust = model.scorer(own, group.trust, None)
        self.choice: ChoiceModel = load_plugin("choice", group.choice)
        self.rating: RatingBehaviour = load_plugin("rating", group.rating)
        self.friend: schemas.FriendIdentity | None = None
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
        self.kind_of: dict[str, str] = {}
        self.attacks = Attacks(self)
        self._models = [load_plugin("trust", p.trust_mode) for p in scenario.persons]
        needs_board = any(m.uses_ratings for m in self._models) or any(
            v.praise_per_round or v.smear_every for v in scenario.vendors
        )
        self.board = FastBoard() if needs_board else None
        self._shills: dict[int, TrustScorer] = {}
        self._profiles: dict[str, schemas.Verified[schemas.VendorProfile]] = {}
        self._intents: dict[str, schemas.Intent] = {}  # this round's intents, by id
        self._ordered: tuple[str, Ranked] | None = None  # the receipt id and offer in this round
        self._rogues = RogueDrops(scenario)
        self._stack = contextlib.ExitStack()

    async def __aenter__(self) -> FastMarket:
        if self.workdir.exists() and any(self.workdir.iterdir()):
            raise FileExistsError(f"expected an empty or new work directory, got {self.workdir}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / MARKER).write_text("made by intentcast-sim; replaced on the next run\n")
        self._stack.callback(self._close)
        sc = self.scenario
        for g, group in enumerate(sc.vendors):
            if group.kind == "hostile":
                continue
            for _ in range(group.count):
                n = self._rogues.count + len(self.vendors)  # full mode numbers rogues first
                v = make_vendor(
                    g, group, n, sc, self.workdir / "vendors", self.rng,
                    gate=Gate(InProcessTransport()), behaviour=_behaviour(group), clock=self.clock,
                )  # fmt: skip
                self.vendors.append(v)
                self.adapters.append(v.start_offline(self.rng))
                self._known(v, self.adapters[-1])
        if self.board is not None:
            keep = sc.ratings_retention_days
            self.board.source = retained(self.board.bundles, self.board.day, self.clock, keep)
        for g, people in enumerate(sc.persons):
            for _ in range(people.count):
                self.persons.append(_Person(len(self.persons), g, people, self.board))
        befriend(
            self.persons, sc, self.rng, self._models,
            lambda q, f: schemas.Friend(f"Person {q.index}", f.key, f.secret),
        )  # fmt: skip
        await self.attacks.open()
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

    def _known(self, v: SimVendor, adapter: VendorAdapter) -> None:
        self.by_id[v.vendor_id] = v
        self.kind_of[v.vendor_id] = v.kind
        now = self.clock.now()
        header = schemas.Header(created=now, expires=now, nonce=_NO_KEY[:32], vendor=v.vendor_id)
        self._profiles[v.vendor_id] = schemas.Verified(
            adapter.signer.profile, header, v.vendor_id, b""
        )

    @property
    def people(self) -> list[_Person]:
        return self.persons

    async def run(self, rounds: int | None = None) -> list[RoundRecord]:
        total = self.scenario.rounds if rounds is None else rounds
        return await run_rounds(self, total, self.progress)

    async def run_round(self, r: int) -> RoundRecord:
        return await run_round(self, r)

    # --- one round's steps, as the round loop (``_rounds``) asks for them -----------------

    async def before_round(self, r: int) -> None:
        self._intents.clear()
        for i, v in enumerate(self.vendors):
            if rejoins_now(v, r):
                self.adapters[i] = v.start_offline(self.rng, r)
                self._known(v, self.adapters[i])
        await self.attacks.before_round(r)

    async def catch_up(self) -> None:
        """The in-memory board holds every rating as soon as it is published."""

    def _intent(
        self, category: str, budget: int, wanted_within: int, terms: schemas.Terms
    ) -> schemas.Intent:
        intent = schemas.Intent(
            id=schemas.new_id(), category=category, want=schemas.Want(_want(category)),
            quantity=1, max_price=schemas.Money(budget, self.scenario.currency),
            wanted_by=self.clock.today() + timedelta(days=wanted_within),
            region=schemas.Region("ES", "28"), terms=terms,
            keys=schemas.IntentKeys(sign=_NO_KEY, seal=_NO_KEY),
            reply_subject=schemas.new_reply_subject(),
        )  # fmt: skip
        self._intents[intent.id] = intent
        return intent

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
            profile = schemas.Verified(adapter.signer.profile, header, v.vendor_id, b"")
            out.append(schemas.OpenedOffer(schemas.Verified(offer, header, "", b""), profile, b""))
        return out

    async def collect(
        self, person: RoundPerson, category: str, budget: int, wanted_within: int
    ) -> Collected:
        assert isinstance(person, _Person)
        intent = self._intent(category, budget, wanted_within, person.terms)
        offers = await self._offers(intent)
        group = person.group
        ranked, dropped = rank_offers(
            intent, offers, trust=person.trust, policy=group.trust, weights=group.ranking,
            now=self.clock.now(),
        )  # fmt: skip
        return Collected(
            len(offers), len(offers), ranked, self._rogues.answer(len(offers)) + dropped
        )

    async def accept(self, person: RoundPerson, best: Ranked) -> str | None:
        receipt_id = schemas.new_id()  # every acceptance is confirmed
        self._ordered = (receipt_id, best)
        return receipt_id

    def _order(self, receipt_id: str) -> Ranked:
        if self._ordered is None or self._ordered[0] != receipt_id:  # pragma: no cover
            raise KeyError(f"expected the receipt of this round's order, got {receipt_id!r}")
        return self._ordered[1]

    def record(self, person: RoundPerson, receipt_id: str, score: int, outcome: str) -> None:
        assert isinstance(person, _Person)
        pos, neg = rating_evidence(score, outcome)
        person.store.add_outcome(
            vendor_id=self._order(receipt_id).offer.vendor_id, kind="rating", positive=pos,
            negative=neg, at=self.clock.now(), ref=receipt_id,
        )  # fmt: skip

    async def publish(self, person: RoundPerson, receipt_id: str, score: int, outcome: str) -> None:
        self._rate(self._order(receipt_id), receipt_id, score, outcome, person.friend)

    def _rate(
        self,
        order: Ranked,
        receipt_id: str,
        score: int,
        outcome: str,
        author: schemas.FriendIdentity | None = None,
    ) -> None:
        assert self.board is not None
        intent = self._intents[order.offer.intent_id]
        self.board.rate(
            order.opened.profile, intent, receipt_id, score, outcome, self.clock, author=author
        )

    # --- the attacks' steps (``_attacks``) -------------------------------------------------

    def options(self, shown: list[Ranked]) -> list[Option]:
        return options(shown, self.by_id)

    async def open_shill(self, g: int) -> None:
        policy = TrustPolicy(threshold=0.0)
        own = BetaTrust(AgentStore(Path(":memory:")), policy)
        self._shills[g] = NoTrust().scorer(own, policy, None)

    async def praise(self, v: SimVendor) -> None:
        assert self.board is not None
        c = v.categories[0]
        intent = self._intent(c, self.scenario.categories[c], 7, schemas.Terms())
        profile = self._profiles[v.vendor_id]
        self.board.rate(profile, intent, schemas.new_id(), 5, "delivered", self.clock)

    async def shill_ranked(self, g: int, category: str, budget: int) -> list[Ranked]:
        intent = self._intent(category, budget, 20, schemas.Terms())
        offers = await self._offers(intent)
        self._rogues.answer(len(offers))  # the hostile clients answer the shill too
        ranked, _ = rank_offers(
            intent, offers, trust=self._shills[g],
            policy=TrustPolicy(threshold=0.0), weights=RankingWeights(), now=self.clock.now(),
        )  # fmt: skip
        return ranked

    async def shill_buys(self, g: int, target: Ranked) -> bool:
        self._rate(target, schemas.new_id(), 1, "not_delivered")
        return True

    def hostile_sent(self) -> dict[str, int]:
        """What the hostile clients would have sent, by kind (none of it reached anyone)."""
        return dict(self._rogues.sent)

    def attack_summary(self) -> dict[str, Any]:
        return self.attacks.summary()
