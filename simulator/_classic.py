"""Behaviours the classic reputation experiments need (docs/reproductions.md), as built-in
plug-ins of the same interfaces as anyone's (``_plugins``).

In this market the peers who serve are vendors and those who rate are people, so a paper's
malicious peer is split in two: its serving side is a vendor group (``bait``, ``delivers``,
...), its rating side a group of people with one of the rating behaviours below.

- ``collective`` (rating): EigenTrust's malicious collective, rating side: praises the
  members' vendors whatever happened, says nothing of anyone else.
- ``spy`` (rating): EigenTrust's threat model D, rating side: honest about every vendor,
  except that it praises the collective's members whatever happened.
- ``reprices`` (vendor): a vendor whose price moves over the run: an introductory price
  until ``raise_after_round``, or until ``raise_after_orders`` of its orders arrived, then a
  higher one (undercut, then raise; or cash in on a good name).
- ``certifies`` (vendor): FIRE's certified reputation, the vendor's side: it carries its
  best ratings from the board on every offer (``Offer.certified``, as a real adapter's
  ``[certified]`` does).
- ``certified`` (trust): FIRE's certified reputation, the person's side: own evidence and
  the ratings offers carry, never the board (no witnesses); the person still publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable
from typing import Protocol

import schemas
from agent import BetaTrust, NetworkTrust, NetworkWeights, TrustPolicy, TrustScorer
from runtime import NatsTransport, RatingsBoard, Transport
from vendor_adapter import Catalog, CatalogItem, CertifiedConfig, EvidenceShelf, Vendor

from ._plugins import Identity, RatingSource, Sale

__all__ = [
    "CertifiedOnly",
    "Certifies",
    "Collective",
    "PricedCatalog",
    "Reprices",
    "Spy",
    "carry_certified",
    "price_factor_of",
]

BOARD_WAIT = 10.0  # seconds for a vendor's copy of the ratings board to catch up


class _Prices(Protocol):
    def price_factor(self, identity: Identity) -> float: ...


def price_factor_of(behaviour: object) -> Callable[[Identity], float] | None:
    """The behaviour's ``price_factor`` hook (optional: most behaviours leave prices be)."""
    hook = getattr(behaviour, "price_factor", None)
    return hook if callable(hook) else None


class PricedCatalog:
    """A vendor's catalog with every list price multiplied by ``factor()`` at the moment it
    is read (rounded to a minor unit, at least 1): what a ``price_factor`` behaviour sells
    at. The vendor's own pricing rules (floor, meeting a budget) then apply as ever."""

    def __init__(self, inner: Catalog, factor: Callable[[], float]) -> None:
        self.inner, self.factor = inner, factor

    def _priced(self, item: CatalogItem) -> CatalogItem:
        return dataclasses.replace(item, price=max(1, round(item.price * self.factor())))

    async def search(self, category: str, want: schemas.Want, quantity: int) -> list[CatalogItem]:
        return [self._priced(i) for i in await self.inner.search(category, want, quantity)]

    async def get(self, sku: str) -> CatalogItem | None:
        item = await self.inner.get(sku)
        return None if item is None else self._priced(item)


class Collective:
    """Praises vendors of ``groups`` (indices of [[vendors]]) with five stars, delivered,
    whatever happened; publishes nothing about any other vendor (EigenTrust's collective
    assigns its trust to members only)."""

    def __init__(self, groups: list[int]) -> None:
        self.groups = set(groups)

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return (5, "delivered") if vendor_group in self.groups else None


class Spy:
    """Publishes what happened, except about vendors of ``groups``, which it praises with five
    stars, delivered, whatever happened: honest enough to look like any good rater, while
    lending its word to the collective (EigenTrust's type-D peers)."""

    def __init__(self, groups: list[int]) -> None:
        self.groups = set(groups)

    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None:
        return (5, "delivered") if vendor_group in self.groups else (score, outcome)


class Reprices:
    """Delivers with ``probability`` and rejoins every ``rejoin_every`` rounds (as
    ``delivers`` does), and prices its catalog at ``before``
    times its list prices until the change, ``after`` times them from then on. The change
    comes at round ``raise_after_round``, or once ``raise_after_orders`` orders of the
    identity in use arrived (orders confirmed less those rated not delivered), whichever
    is set (one of them must be). A rejoin starts a fresh identity, so the order count
    starts again but the round does not.

    The market asks :meth:`price_factor` for every offer it prices; it learns the round
    from :meth:`rejoins`, which the market calls for every vendor at the start of each
    round, before any intent is cast (both modes)."""

    def __init__(
        self,
        before: float = 0.8,
        after: float = 1.2,
        raise_after_round: int | None = None,
        raise_after_orders: int | None = None,
        probability: float = 1.0,
        rejoin_every: int | None = None,
    ) -> None:
        _check_delivery(probability, rejoin_every)
        self.probability, self.rejoin_every = probability, rejoin_every
        if (raise_after_round is None) == (raise_after_orders is None):
            raise ValueError(
                "expected one of raise_after_round or raise_after_orders, got "
                f"{raise_after_round!r} and {raise_after_orders!r}"
            )
        for name, factor in (("before", before), ("after", after)):
            if not 0 < factor <= 10:
                raise ValueError(f"expected {name} between 0 and 10 (a price factor), got {factor}")
        self.before, self.after = before, after
        self.raise_after_round, self.raise_after_orders = raise_after_round, raise_after_orders
        self.round = 0

    def delivery_probability(self, sale: Sale) -> float:
        return self.probability

    def rejoins(self, identity: Identity, round: int) -> bool:
        self.round = round
        n = self.rejoin_every
        return n is not None and round > identity.since_round and round % n == 0

    def raised(self, identity: Identity) -> bool:
        if self.raise_after_round is not None:
            return self.round >= self.raise_after_round
        assert self.raise_after_orders is not None
        return identity.orders - identity.bad_ratings >= self.raise_after_orders

    def price_factor(self, identity: Identity) -> float:
        """What the vendor's list prices are multiplied by now."""
        return self.after if self.raised(identity) else self.before


def _check_delivery(probability: float, rejoin_every: int | None) -> None:
    if not 0 <= probability <= 1:
        raise ValueError(f"expected a probability between 0 and 1, got {probability}")
    if rejoin_every is not None and rejoin_every < 1:
        raise ValueError(f"expected rejoin_every of at least 1, got {rejoin_every}")


class Certifies:
    """Delivers with ``probability`` and rejoins every ``rejoin_every`` rounds (as
    ``delivers`` does), and carries on each offer up to ``count`` of its best ratings from
    the ratings board (score ``min_score`` or more, delivered or late), as a vendor adapter
    with ``[certified] attach = true`` does. Full mode only: fast-mode vendors read no board, so fast mode refuses them in one line."""

    def __init__(
        self,
        probability: float = 1.0,
        count: int = 3,
        min_score: int = 4,
        rejoin_every: int | None = None,
    ) -> None:
        _check_delivery(probability, rejoin_every)
        self.probability, self.rejoin_every = probability, rejoin_every
        self.certified = CertifiedConfig(attach=True, count=count, min_score=min_score)

    def delivery_probability(self, sale: Sale) -> float:
        return self.probability

    def rejoins(self, identity: Identity, round: int) -> bool:
        n = self.rejoin_every
        return n is not None and round > identity.since_round and round % n == 0


async def carry_certified(
    stack: contextlib.AsyncExitStack, vendor: Vendor, transport: Transport, behaviour: object
) -> None:
    """Have ``vendor`` carry its best ratings on its offers if ``behaviour`` says so (its
    ``certified``), read from the ratings board over the bus under ``transport`` for as long
    as ``stack`` is open. Nothing to do over a transport without a bus (fast mode)."""
    cfg = getattr(behaviour, "certified", None)
    inner = getattr(transport, "inner", transport)
    if not isinstance(cfg, CertifiedConfig) or not cfg.attach:
        return
    if not isinstance(inner, NatsTransport):
        return
    vendor_id = vendor.vendor_id
    board = await stack.enter_async_context(RatingsBoard(inner.bus, vendor_id=vendor_id))
    async with asyncio.timeout(BOARD_WAIT):
        await board.catch_up()
    shelf = EvidenceShelf(vendor_id, cfg, lambda: board.bundles(vendor_id))
    vendor.adapter.shop.evidence = shelf.best


def _no_ratings(vendor_id: str) -> list[tuple[int, bytes]]:
    return []


class CertifiedOnly:
    """``certified``: the person's own evidence and the certified ratings the offers carry
    (weighed as evidence the vendor chose: ``NetworkWeights.certified_weight``, capped with
    strangers' praise), never the board's other ratings. The person publishes their ratings
    to the board, so vendors have some to carry. Its ``NetworkWeights`` can be set here."""

    uses_ratings = True

    def __init__(self, **weights: float) -> None:
        self.weights = NetworkWeights(**weights)

    def scorer(
        self, own: BetaTrust, policy: TrustPolicy, ratings: RatingSource | None
    ) -> TrustScorer:
        return NetworkTrust(own, _no_ratings, policy, self.weights)
