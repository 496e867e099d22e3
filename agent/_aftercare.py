"""After the order, as the :class:`Agent`'s API: what each vendor holds about the person
(``_relationships``), their details changed once for all (``_updating``), erasure asked of
a vendor (``_forgetting``), and the person's word that an order arrived beside what the
vendor signed of it (``_status``). The CLI, the app and the running agent's schedule all
come through here, so each rule (which vendor a typed name means, that details are saved
before any vendor is told) lives once.

One exchange about relationships at a time: the running agent's scheduled retries and a
request from the app share one store and one session, and the same stored bytes must not
be in flight twice."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._forgetting import forget_vendor
from ._home import HomeError, PersonDetails
from ._profile import changed_fields, save_details
from ._relationships import Holding, has_pending, holdings
from ._status import statuses_of
from ._updating import retry_pending, send_updates

if TYPE_CHECKING:
    from ._agent import Agent, Rated

__all__ = ["Aftercare", "Changed", "Delivered", "Forgotten"]


@dataclass(frozen=True)
class Changed:
    """A change of the person's details: the fields that changed, the holdings an update
    went to (with their answers), and those this home holds no keys to sign for."""

    fields: list[str]
    sent: list[Holding]
    unsigned: list[Holding]

    @property
    def acknowledged(self) -> bool:
        return all(h.updates and h.updates[-1] == "applied" for h in self.sent)


@dataclass(frozen=True)
class Forgotten:
    vendor_id: str
    vendor_name: str
    holdings: list[Holding]

    @property
    def confirmed(self) -> bool:
        """Every order's erasure confirmed, signed by the vendor."""
        return all(h.erasure == "erased" for h in self.holdings)


@dataclass(frozen=True)
class Delivered:
    rated: Rated
    vendor_said: int | None  # the seq of the vendor's signed ``delivered`` status, if any


class Aftercare:
    """The agent's relationships and order news; made by :class:`Agent`, one per agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._one_at_a_time = asyncio.Lock()

    def relationships(self) -> list[Holding]:
        """Per order, what its vendor holds, until when, and what was asked of it."""
        return holdings(self.agent.store)

    def pending(self) -> bool:
        """Whether an update or erasure request still waits for its vendor's answer."""
        return has_pending(self.agent.store)

    def vendor(self, text: str) -> tuple[str, str]:
        """(id, name) of the one vendor the person bought from that ``text`` names: its name
        (any case) or the first characters of its id."""
        known = {h.vendor_id: h.vendor_name for h in self.relationships()}
        wanted = text.casefold()
        match = [v for v, n in known.items() if v.startswith(wanted) or n.casefold() == wanted]
        if not text or len(match) != 1:
            raise HomeError(
                f"forget: expected one vendor you bought from, got {len(match)} matching"
                f" {text!r}; see `intentcast relationships`"
            )
        return match[0], known[match[0]]

    async def change_details(self, details: PersonDetails) -> Changed:
        """Save ``details`` (durably, before any vendor hears of them), then send each vendor
        that still holds an old value a signed update of what changed."""
        a = self.agent
        fields = changed_fields(a.config.person, details)
        if fields:
            a.config = save_details(a.home, details)
        async with self._one_at_a_time:
            sent, unsigned = await send_updates(
                a._live(), a.store, a.config.person, per_try_seconds=a.per_try_seconds,
                clock=a.clock,
            )  # fmt: skip
        ids = {h.order_id for h in sent}
        return Changed(fields, [h for h in self.relationships() if h.order_id in ids], unsigned)

    async def forget(self, vendor: str) -> Forgotten:
        """Ask the vendor ``vendor`` names to erase what it holds of the person (a signed
        request per order, stored before it is sent)."""
        vendor_id, name = self.vendor(vendor)
        a = self.agent
        async with self._one_at_a_time:
            hs = await forget_vendor(
                a._live(), a.store, vendor_id, per_try_seconds=a.per_try_seconds, clock=a.clock
            )
        return Forgotten(vendor_id, name, hs)

    async def retry(self, per_try_seconds: float | None = None) -> tuple[int, int]:
        """Send again, the same bytes, what vendors have not answered: (asked, answered)."""
        a = self.agent
        async with self._one_at_a_time:
            return await retry_pending(
                a._live(), a.store, per_try_seconds=per_try_seconds or a.per_try_seconds,
                clock=a.clock,
            )  # fmt: skip

    def delivered(self, receipt_prefix: str, score: int = 5) -> Delivered:
        """The person's word that an order arrived (a ``delivered`` rating), and whether the
        vendor signed so too."""
        rated = self.agent.rate(receipt_prefix, score, "delivered")
        said = [s.seq for s in statuses_of(self.agent.store, rated.receipt.receipt_id)
                if s.state == "delivered"]  # fmt: skip
        return Delivered(rated, said[-1] if said else None)
