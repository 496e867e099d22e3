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
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Protocol

import schemas
from vendor_adapter import Catalog, CatalogItem

from ._plugins import Identity, Sale

__all__ = ["Collective", "PricedCatalog", "Reprices", "Spy", "price_factor_of"]


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
        if not 0 <= probability <= 1:
            raise ValueError(f"expected a probability between 0 and 1, got {probability}")
        if rejoin_every is not None and rejoin_every < 1:
            raise ValueError(f"expected rejoin_every of at least 1, got {rejoin_every}")
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
