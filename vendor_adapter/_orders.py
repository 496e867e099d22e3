"""Acceptances to orders: verify the acceptance, reserve the stock, confirm with a receipt.

Acceptors are unlinkable by design (every intent has fresh keys), so no per-acceptor limit
can stop one party from taking all the stock with acceptances it never completes. What an
acceptance can hold is bounded instead: an order holds its stock for ``orders.hold`` unless
the person's countersignature confirms it first (see :mod:`._aftercare`); unconfirmed orders
together hold at most ``orders.max_held_share`` of an item's stock (at least one unit); an
acceptance beyond that is confirmed but holds nothing, and takes the stock when its
countersignature comes, if it is still there. Expired holds lapse and return to stock
(:meth:`OrderRoom.release_holds`, run by the service when the next hold is due).

While the service serves (:meth:`OrderRoom.serving`) on a store that takes more than one
writer (PostgreSQL), each acceptance is handled in a task of its own, at most
``store.concurrency`` at once (the subscription waits for a free slot, so
the bus holds the rest): a PostgreSQL replica keeps that many transactions in flight, and
stock stays exact because each is one transaction under its item's row lock. Two copies of
one acceptance on one replica are handled one after the other, so that the second finds the
first's order and answers it again. When serving ends, acceptances in flight get
``STOP_GRACE`` seconds to finish (their answers go out), then are cancelled: an acceptance
cancelled before its commit made no order, and the person's agent sends it again."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import msgspec
import structlog

import schemas
from runtime import Message, failpoint

from ._shop import Shop
from ._store import OrderRow, stamp

__all__ = ["STOP_GRACE", "OrderRoom", "held_cap"]

log = structlog.get_logger("intentcast.vendor")
STOP_GRACE = 2.0


def held_cap(stock: int, share: float) -> int:
    """Units of an item with ``stock`` that unconfirmed orders may hold together: the share,
    rounded down, but at least one, so that the last unit can still be sold."""
    return max(1, math.floor(stock * share))


class OrderRoom:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.replay = schemas.ReplayCache()
        self.ring = shop.signer.ring  # our own keys, for our own receipts
        self._slots = asyncio.Semaphore(shop.store.concurrency)
        self._tasks: set[asyncio.Task[None]] | None = None
        self._offers_in_hand: dict[str, asyncio.Event] = {}

    @property
    def in_flight(self) -> int:
        return 0 if self._tasks is None else len(self._tasks)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """While the block runs, :meth:`on_order` hands each acceptance to a task of its own
        (at most ``store.concurrency`` at once) and returns; leaving it waits up to
        ``STOP_GRACE`` seconds for those in flight, then cancels the rest."""
        tasks: set[asyncio.Task[None]] = set()
        self._tasks = tasks
        try:
            yield
        finally:
            self._tasks = None
            await self._finish(tasks)

    async def _finish(self, tasks: set[asyncio.Task[None]]) -> None:
        """Give the acceptances in hand ``STOP_GRACE`` seconds, then cancel the rest; also
        when this stop is itself cancelled, so that none outlives the room."""
        try:
            if tasks:
                _, late = await asyncio.wait(set(tasks), timeout=STOP_GRACE)
                if late:
                    log.warning("order.cancelled_at_stop", acceptances=len(late))
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def on_order(self, msg: Message) -> None:
        tasks = self._tasks
        if tasks is None or self.shop.store.concurrency == 1:  # a direct call, or one writer
            await self._failing_alone(msg)
            return
        await self._slots.acquire()
        if self._tasks is not tasks:  # the room stopped while this waited for a slot
            self._slots.release()
            return
        task = asyncio.create_task(self._in_slot(msg), name="acceptance")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _in_slot(self, msg: Message) -> None:
        try:
            await self._failing_alone(msg)
        finally:
            self._slots.release()

    async def _failing_alone(self, msg: Message) -> None:
        try:
            await self._on_order(msg)
        except Exception as exc:  # this acceptance fails alone; the person's agent retries
            log.warning("order.failed", error=repr(exc)[:300])

    async def _on_order(self, msg: Message) -> None:
        shop = self.shop
        failpoint("vendor.accept.received")
        now = shop.clock()
        try:
            opened = schemas.open_accept(
                msg.data, signer=shop.signer, now=now, replay=None, allow_expired=True
            )
            a = opened.accept.msg
        except schemas.ProtocolError as err:
            shop.rejections.reject("accept", err)
            return
        while (first := self._offers_in_hand.get(a.offer_id)) is not None:
            log.info("order.copy_waits", offer=a.offer_id)  # e.g. the agent sent it again
            await first.wait()
        self._offers_in_hand[a.offer_id] = done = asyncio.Event()
        try:
            await self._answer(msg, opened, now)
        finally:
            del self._offers_in_hand[a.offer_id]
            done.set()

    async def _answer(self, msg: Message, opened: schemas.OpenedAccept, now: datetime) -> None:
        shop = self.shop
        a = opened.accept.msg
        try:
            existing = await shop.store.aio.by_offer(a.offer_id)
            missing = schemas.missing_needs(opened.offer.msg.needs, a.disclosure)
            if existing is None and not (opened.offer_expired or opened.accept_expired or missing):
                h = opened.accept.header
                self.replay.add(opened.accept.kid, h.nonce, h.expires, now)
        except schemas.ProtocolError as err:
            shop.rejections.reject("accept", err)
            return
        if existing is None and (opened.offer_expired or opened.accept_expired or missing):
            # Authentic but stale or unfulfillable, and no order was made: say so, signed, so
            # the person's agent can act at once instead of timing out.
            reason = (
                "offer_expired" if opened.offer_expired
                else "acceptance_expired" if opened.accept_expired
                else "missing_details"
            )  # fmt: skip
            _, _, sealed = schemas.make_confirmation(
                opened, signer=shop.signer, order_id=schemas.new_id(), status="rejected",
                reason=reason, now=now,
            )  # fmt: skip
            shop.orders.inc(outcome=reason)
            log.info("order.refused", offer=a.offer_id, reason=reason, missing=missing)
            await shop.respond(msg, sealed)
            return
        if existing is None:
            try:
                existing = await self._take_order(opened, now)
            except BaseException:
                # Nothing was committed: the person's agent sends the same acceptance again,
                # which must not then be refused as a replay.
                h = opened.accept.header
                self.replay.forget(opened.accept.kid, h.nonce)
                raise
            failpoint("vendor.order.committed")
            await shop.respond(msg, existing.reply_sealed)
            return
        shop.orders.inc(outcome="repeat")
        log.info("order.repeat", order=existing.order_id, offer=a.offer_id)
        await shop.respond(msg, await self.answer_again(existing.order_id, opened, now))

    async def answer_again(
        self, order_id: str, opened: schemas.OpenedAccept, now: datetime
    ) -> bytes:
        """The answer to a repeated acceptance: the order as it was made (the same
        confirmation, the same receipt bytes), its confirmation signed afresh, so that it
        carries a live expiry and the hash of the acceptance it answers now."""
        row = await self.shop.store.aio.order(order_id)
        assert row is not None
        stored = schemas.verify(
            row["confirmation_wire"], schemas.OrderConfirmation, key=self.ring, now=None
        ).msg
        conf = msgspec.structs.replace(stored, request_hash=opened.accept.digest)
        wire = schemas.sign(
            conf, self.shop.signer.signing, created=now, expires=now + timedelta(minutes=10),
            intent=conf.intent_id, vendor=self.shop.vendor_id,
        )  # fmt: skip
        second = row["receipt_wire"] or wire
        return schemas.seal(opened.intent.msg.keys.seal, schemas.pack(wire, bytes(second)))

    async def _take_order(self, opened: schemas.OpenedAccept, now: datetime) -> OrderRow:
        shop = self.shop
        cfg, store = shop.cfg, shop.store
        a, offer, intent = opened.accept.msg, opened.offer.msg, opened.intent.msg
        item = await shop.catalog.get(offer.item.sku)
        stock = item.stock if item is not None else 0
        cap = held_cap(stock, cfg.orders.max_held_share)
        keep = cfg.terms.data_retention_days
        if intent.terms.data_retention_days is not None:
            keep = min(keep, intent.terms.data_retention_days.value)
        order_id = schemas.new_id()
        for status, reason in (("confirmed", ""), ("rejected", "out_of_stock")):
            conf, receipt, sealed = schemas.make_confirmation(
                opened, signer=shop.signer, order_id=order_id, status=status, reason=reason,
                now=now,
            )  # fmt: skip
            confirmed = status == "confirmed"
            row = dict(
                order_id=order_id, offer_id=a.offer_id, intent_id=a.intent_id,
                intent_key=intent.keys.sign, sku=offer.item.sku, quantity=offer.quantity,
                total_amount=offer.total_price.amount, currency=offer.total_price.currency,
                status=status, reason=reason, created=now.isoformat(),
                intent_wire=opened.intent.wire, offer_wire=opened.offer.wire,
                accept_wire=opened.accept.wire, confirmation_wire=conf, receipt_wire=receipt,
                receipt_id=None, receipt_hash=None, reply_sealed=sealed,
                disclosure=msgspec.json.encode(a.disclosure).decode() if confirmed else None,
                purge_after=(now + timedelta(days=keep)).isoformat(),
                held_until=stamp(now + cfg.orders.hold) if confirmed else None,
            )  # fmt: skip
            if receipt is not None:
                # Our own receipt, just signed: verified against our own key ring.
                r = schemas.verify(receipt, schemas.Receipt, key=self.ring, now=None)
                row.update(receipt_id=r.msg.id, receipt_hash=r.digest)
            stored = await store.aio.insert_order(
                row, stock=stock if confirmed else None, held_cap=cap if confirmed else None
            )
            if stored is not None:
                held = await store.aio.held(offer.item.sku)
                shop.orders.inc(outcome=status)
                if confirmed:
                    self.shop.holds.inc(event="held" if stored == "confirmed" else "unheld")
                # Nothing is awaited from this line to the answer, so that no other acceptance
                # in flight logs its order between this one's log line and its answer.
                log.info(
                    "order.stored", order=order_id, offer=a.offer_id, status=stored,
                    reason=reason, sku=offer.item.sku, held=held, held_cap=cap, stock=stock,
                    in_flight=self.in_flight,
                )  # fmt: skip
                return OrderRow(order_id, a.offer_id, stored, sealed, receipt, None)
            prior = await store.aio.by_offer(a.offer_id)
            if prior is not None:  # another replica took the same acceptance first
                shop.orders.inc(outcome="repeat")
                return prior
        got = await store.aio.by_offer(a.offer_id)
        assert got is not None
        return got

    def release_holds(self, now: datetime) -> int:
        """Return the stock of every hold that expired by ``now``; how many orders lapsed."""
        store = self.shop.store
        released = store.release_expired(now)
        if released:
            self.shop.holds.inc(len(released), event="released")
            log.info(
                "hold.released",
                orders=len(released),
                units=sum(r.quantity for r in released),
                skus=sorted({r.sku for r in released}),
                still_held=store.held_total(),
            )
        return len(released)
