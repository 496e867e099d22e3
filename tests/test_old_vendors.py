"""A new agent and a vendor older than signed, bound answers (unit level: real vendor
adapters on the in-process transport, with one endpoint answered as an old vendor would).
The agent believes nothing of an old answer and says, as a typed error, that the vendor must
upgrade: it never crashes, and what it had verified before stays stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import schemas
from agent import AcceptState, VendorTooOld
from runtime import Transport, WrappedTransport
from tests.test_conversations import market, want

Answer = Callable[[bytes], bytes]


class _OldEndpoint(WrappedTransport):
    """The in-process transport, except that requests to a subject in ``old`` are answered
    by that function (as an old vendor would) instead of reaching the adapter."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.old: dict[str, Answer] = {}

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        answer = self.old.get(subject)
        if answer is None:
            await self.inner.publish(subject, data, reply=reply)
        else:
            await self.inner.publish(reply, answer(data))


async def test_an_old_vendors_unsigned_ack_is_a_typed_error_not_a_crash(tmp_path: Path) -> None:
    """The vendor answers the countersignature with the old unsigned ``{"stored": true}``:
    the order is confirmed and its receipt kept, the countersignature is not marked
    acknowledged, and the result says the vendor runs an older version; `sync` tries again
    and counts it unacknowledged, without raising."""
    async with market(tmp_path, "sierra", agent_side=_OldEndpoint) as m:
        old, sierra = m.session.transport, m.vendors["sierra"]
        assert isinstance(old, _OldEndpoint)
        old.old[schemas.vendor_subject(sierra.vendor_id, "receipt")] = lambda _: b'{"stored": true}'
        m.agent.per_try_seconds = 0.3  # the old ack is not believed: the try waits it out
        got = await want(m, expect=1)
        res = await m.agent.accept(got.ranked[0].offer.id)
        row = m.store.receipt_for_offer(got.ranked[0].offer.id)
        assert await m.agent.sync() == (1, 0)
    assert res.status is AcceptState.CONFIRMED and res.receipt is not None
    assert not res.vendor_acknowledged
    assert "older version of intentcast" in res.problem and "Sierra Outfitters" in res.problem
    assert row is not None and not row.vendor_acknowledged


async def test_an_old_vendors_unbound_rejection_is_vendor_too_old(tmp_path: Path) -> None:
    """The vendor answers the acceptance with a rejection signed by its real key but bound to
    no request (as vendors did before request_hash): accept raises VendorTooOld, the
    acceptance stays stored as sent (safe to repeat once the vendor upgrades), and no
    rejection counts against the vendor."""
    async with market(tmp_path, "sierra", agent_side=_OldEndpoint) as m:
        old, sierra = m.session.transport, m.vendors["sierra"]
        assert isinstance(old, _OldEndpoint)

        def unbound_rejection(sealed: bytes) -> bytes:
            now = datetime.now(UTC)
            opened = schemas.open_accept(sealed, signer=sierra.signer, now=now, replay=None)
            a = opened.accept.msg
            conf = schemas.OrderConfirmation(
                order_id=schemas.new_id(), intent_id=a.intent_id, offer_id=a.offer_id,
                vendor_id=sierra.vendor_id, status="rejected", reason="out_of_stock",
            )  # fmt: skip
            wire = schemas.sign(
                conf, sierra.signer.signing, created=now, expires=now + timedelta(minutes=10),
                intent=a.intent_id, vendor=sierra.vendor_id,
            )  # fmt: skip
            return schemas.seal(opened.intent.msg.keys.seal, schemas.pack(wire, wire))

        old.old[schemas.vendor_subject(sierra.vendor_id, "order")] = unbound_rejection
        m.agent.attempts, m.agent.per_try_seconds = 1, 0.3
        got = await want(m, expect=1)
        offer = got.ranked[0].offer.id
        with pytest.raises(VendorTooOld, match="must upgrade"):
            await m.agent.accept(offer)
        stored = m.store.accept(offer)
        outcomes = m.store.db.execute("SELECT kind FROM outcomes").fetchall()
    assert stored is not None and stored.status is AcceptState.SENT
    assert outcomes == []
