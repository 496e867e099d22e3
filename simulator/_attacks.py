"""The attacks a scenario's vendor groups make on the ratings board, each the only way the
protocol leaves open (see ``_fakes`` and docs/trust.md):

- ``praise_per_round``: each identity of the group mints that many fake five-star ratings of
  itself per round (free: it signs both sides);
- ``smear_every``: every so many rounds, one vendor of the group has a shill agent buy from
  the rival it fears most (the top offer from another group), pays, and rates it 1, not
  delivered. A smear needs the rival's own signature on a real receipt, so it costs the
  rival's price every time; what was spent is reported.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import schemas
from agent import (
    AcceptState,
    Agent,
    AgentConfig,
    AgentSession,
    Home,
    PersonDetails,
    TrustPolicy,
    rating_bundle,
)

from ._builtins import NoTrust
from ._fakes import self_praise

if TYPE_CHECKING:
    from ._market import Market

__all__ = ["Attacks", "fractional"]


def fractional(rate: float, rng: random.Random) -> int:
    """``rate`` events this round: the whole part always, the fraction by a draw (no draw
    for a whole rate, so scenarios without it replay as before)."""
    whole = math.floor(rate)
    frac = rate - whole
    return whole + (1 if frac > 0 and rng.random() < frac else 0)


class Attacks:
    def __init__(self, market: Market) -> None:
        self.market = market
        self.shills: dict[int, Agent] = {}  # attacking vendor group -> its buyer
        self.praised = 0
        self.smears = 0
        self.smear_spent = 0  # minor units paid to rivals for the orders behind smears

    async def open(self, session: AgentSession) -> None:
        m = self.market
        for g, group in enumerate(m.scenario.vendors):
            if group.smear_every is None:
                continue
            policy = TrustPolicy(threshold=0.0)
            config = AgentConfig(
                agreement=None, disclose=["name", "address"], trust=policy,
                person=PersonDetails(
                    name=f"Shill {g}", address=[f"Calle Falsa {g}"], postcode="28013",
                    city="Madrid", country="ES", payment_methods=["card"],
                ),
            )  # fmt: skip
            agent = Agent(Home(m.workdir / "shills" / f"g{g}"), session=session, config=config,
                          clock=m.clock.now)  # fmt: skip
            await m._stack.enter_async_context(agent)
            own = agent.trust
            agent.trust = NoTrust().scorer(own, policy, None)  # type: ignore[arg-type]
            self.shills[g] = agent

    async def before_round(self, r: int) -> None:
        m = self.market
        for v in m.vendors:
            if v.group.praise_per_round:
                for _ in range(fractional(v.group.praise_per_round, m.rng)):
                    c = v.categories[0]
                    price = schemas.Money(m.scenario.categories[c], m.scenario.currency)
                    bundle = self_praise(v.live.signer, category=c, price=price, now=m.clock.now())
                    await m.publish(v.vendor_id, bundle)
                    self.praised += 1
        for g, shill in self.shills.items():
            every = m.scenario.vendors[g].smear_every
            if every is not None and r > 0 and r % every == 0:
                await self._smear(g, shill)

    async def _smear(self, g: int, shill: Agent) -> None:
        m = self.market
        mine = next((v for v in m.vendors if v.group_index == g), None)
        if mine is None:
            return
        category = m.rng.choice(mine.categories)
        budget = round(m.scenario.categories[category] * 1.5)
        got, _ = await m.collect(shill, category, budget, 20)
        options = m.options(got.ranked)
        rival = next((i for i, o in enumerate(options) if o.vendor_group not in (g, -1)), None)
        if rival is None:
            return
        target = got.ranked[rival]
        result = await shill.accept(target.offer.id)
        if result.status is not AcceptState.CONFIRMED or result.receipt is None:
            return
        vendor_id, bundle = rating_bundle(
            shill.store, result.receipt.msg.id, score=1, outcome="not_delivered",
            now=m.clock.now(),
        )  # fmt: skip
        await m.publish(vendor_id, bundle)
        if (rival_vendor := m.by_id.get(vendor_id)) is not None:
            rival_vendor.orders += 1
            rival_vendor.bad_ratings += rival_vendor.vendor_id == vendor_id
        self.smears += 1
        self.smear_spent += target.offer.total_price.amount

    def summary(self) -> dict[str, Any]:
        return {"fake_praise": self.praised, "smears": self.smears, "smear_spent": self.smear_spent}
