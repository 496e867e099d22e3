"""The attacks a scenario's vendor groups make on the ratings board, each the only way the
protocol leaves open (see ``_fakes`` and docs/trust.md):

- ``praise_per_round``: each identity of the group mints that many fake five-star ratings of
  itself per round (free: it signs both sides);
- ``smear_every``: every so many rounds, one vendor of the group has a shill agent buy from
  the rival it fears most (the top offer from another group), pays, and rates it 1, not
  delivered. A smear needs the rival's own signature on a real receipt, so it costs the
  rival's price every time; what was spent is reported.

What is decided (when, whom, how many, every draw) is here, for both modes; how a rating is
minted, how the shill casts and buys, is the mode's (:class:`Surface`).
"""

from __future__ import annotations

import math
import random
from typing import Any, Protocol

from agent import Ranked

from ._clock import SimClock
from ._plugins import Option
from ._scenario import Scenario
from ._vendors import SimVendor

__all__ = ["Attacks", "Surface", "fractional"]


def fractional(rate: float, rng: random.Random) -> int:
    """``rate`` events this round: the whole part always, the fraction by a draw (no draw
    for a whole rate, so scenarios without it replay as before)."""
    whole = math.floor(rate)
    frac = rate - whole
    return whole + (1 if frac > 0 and rng.random() < frac else 0)


class Surface(Protocol):
    """What a mode lends the attacks."""

    scenario: Scenario
    rng: random.Random
    clock: SimClock
    vendors: list[SimVendor]
    by_id: dict[str, SimVendor]

    async def open_shill(self, g: int) -> None:
        """Make the buyer vendor group ``g`` smears with (trusts nobody, takes anything)."""

    async def praise(self, v: SimVendor) -> None:
        """Put one five-star rating of ``v``'s identity in use, of an order it made up, on
        the board."""

    async def shill_ranked(self, g: int, category: str, budget: int) -> list[Ranked]:
        """What group ``g``'s shill is shown for an intent in ``category`` within ``budget``."""

    async def shill_buys(self, g: int, target: Ranked) -> bool:
        """The shill accepts ``target`` and, once confirmed, rates it 1, not delivered, on
        the board; False if the vendor did not confirm."""

    def options(self, shown: list[Ranked]) -> list[Option]: ...


class Attacks:
    def __init__(self, market: Surface) -> None:
        self.market = market
        self.shills: set[int] = set()  # vendor groups that smear
        self.praised = 0
        self.smears = 0
        self.smear_spent = 0  # minor units paid to rivals for the orders behind smears

    async def open(self) -> None:
        m = self.market
        for g, group in enumerate(m.scenario.vendors):
            if group.smear_every is not None:
                await m.open_shill(g)
                self.shills.add(g)

    async def before_round(self, r: int) -> None:
        m = self.market
        for v in m.vendors:
            if v.group.praise_per_round:
                for _ in range(fractional(v.group.praise_per_round, m.rng)):
                    await m.praise(v)
                    self.praised += 1
        for g in sorted(self.shills):
            every = m.scenario.vendors[g].smear_every
            if every is not None and r > 0 and r % every == 0:
                await self._smear(g)

    async def _smear(self, g: int) -> None:
        m = self.market
        mine = next((v for v in m.vendors if v.group_index == g), None)
        if mine is None:
            return
        category = m.rng.choice(mine.categories)
        budget = round(m.scenario.categories[category] * 1.5)
        ranked = await m.shill_ranked(g, category, budget)
        options = m.options(ranked)
        rival = next((i for i, o in enumerate(options) if o.vendor_group not in (g, -1)), None)
        if rival is None:
            return
        target = ranked[rival]
        if not await m.shill_buys(g, target):
            return
        vendor_id = target.opened.profile.msg.vendor_id
        if (rival_vendor := m.by_id.get(vendor_id)) is not None:
            rival_vendor.orders += 1
            rival_vendor.bad_ratings += rival_vendor.vendor_id == vendor_id
        self.smears += 1
        self.smear_spent += target.offer.total_price.amount

    def summary(self) -> dict[str, Any]:
        return {"fake_praise": self.praised, "smears": self.smears, "smear_spent": self.smear_spent}
