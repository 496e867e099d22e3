"""A repeated acceptance long after the first (unit level: a real vendor adapter on the
in-process transport). Every answer carries an expiry and the agent believes none that has
passed, so a vendor answers a repeat with the order it made (the same receipt bytes) under a
freshly signed confirmation, bound to the acceptance it answers now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import schemas
from agent import AcceptError, AcceptState
from runtime import Transport, WrappedTransport
from tests.test_conversations import market, want


class _LoseFirstAnswer(WrappedTransport):
    """The first acceptance reaches the vendor, but its answer goes nowhere (the agent's
    connection dropped it), as after a crash between sending and hearing."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.lost = False

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        if subject.endswith(".order") and not self.lost:
            self.lost, reply = True, "nowhere.listens"
        await self.inner.publish(subject, data, reply=reply)


async def test_a_repeat_twenty_minutes_later_gets_the_same_order_freshly_confirmed(
    tmp_path: Path,
) -> None:
    """The vendor made the order, the answer was lost; twenty minutes on (past every expiry
    of the first answer and of the acceptance itself) the agent re-sends the same
    acceptance: it is confirmed with the receipt the vendor stored, one order on each side."""
    async with market(tmp_path, "sierra", agent_side=_LoseFirstAnswer) as m:
        sierra = m.vendors["sierra"]
        m.agent.attempts, m.agent.per_try_seconds = 1, 0.3
        got = await want(m, expect=1)
        offer = got.ranked[0].offer.id
        with pytest.raises(AcceptError, match="did not answer"):
            await m.agent.accept(offer)
        later = datetime.now(UTC) + timedelta(minutes=20)
        m.agent.clock = lambda: later
        sierra.shop.clock = lambda: later
        res = await m.agent.accept(offer)
        orders = sierra.store.orders()
        mine = m.store.receipt_for_offer(offer)
    assert res.status is AcceptState.CONFIRMED and res.receipt is not None
    assert len(orders) == 1 and mine is not None
    assert bytes(orders[0]["receipt_wire"]) == mine.receipt_wire
    conf = schemas.verify(
        mine.confirmation_wire, schemas.OrderConfirmation,
        key=schemas.KeyRing.from_profile(got.ranked[0].opened.profile.msg), now=None,
    )  # fmt: skip
    assert conf.header.created >= later.replace(microsecond=0) - timedelta(seconds=1)
