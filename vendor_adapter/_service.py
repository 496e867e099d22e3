"""The vendor adapter: hears intents for its categories, answers with signed, sealed offers,
takes acceptances into orders on disk, and keeps countersigned receipts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import msgspec
import structlog
from nacl.signing import VerifyKey

import schemas
from runtime import Message, Registry, Transport, failpoint

from ._catalog import Catalog, CatalogItem
from ._config import VendorConfig
from ._pricing import Quote, quote
from ._ratelimit import RateLimiter
from ._store import VendorStore

__all__ = ["VendorAdapter"]

log = structlog.get_logger("intentcast.vendor")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Choice:
    """What a vendor offers for an intent: the item, its price and when it arrives."""

    item: CatalogItem
    quote: Quote
    delivery_by: date


class VendorAdapter:
    def __init__(
        self,
        cfg: VendorConfig,
        *,
        catalog: Catalog,
        store: VendorStore,
        signer: schemas.VendorSigner,
        metrics: Registry | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.store = store
        self.signer = signer
        self.terms = cfg.terms.to_wire()
        self.clock = clock
        self.metrics = m = metrics or Registry()
        self.intents_seen = m.counter("vendor_intents_seen_total", "Intents received", ())
        self.offers_made = m.counter("vendor_offers_made_total", "Offers signed and sent", ())
        self.declines = m.counter(
            "vendor_declines_total", "Intents answered with no offer, by reason", ("reason",)
        )
        self.rejected = m.counter(
            "vendor_rejected_total",
            "Messages refused by verification, by kind and reason",
            ("kind", "reason"),
        )
        self.orders = m.counter(
            "vendor_orders_total", "Acceptances handled, by outcome", ("outcome",)
        )
        self.latency = m.histogram(
            "vendor_intent_seconds", "Time from intent received to offer sent"
        )
        self.intent_replay = schemas.ReplayCache()
        self.accept_replay = schemas.ReplayCache()
        self.receipt_replay = schemas.ReplayCache()
        lim = cfg.limits
        self.per_key = RateLimiter(lim.intents_per_key_per_minute, 60.0)
        self.per_category = RateLimiter(lim.intents_per_category_per_second, 1.0)
        self.transport: Transport | None = None  # the one it runs on (see run)

    @property
    def vendor_id(self) -> str:
        return self.signer.vendor_id

    # --- intents -> offers --------------------------------------------------------------

    def _decline(self, reason: str, intent_id: str, **detail: object) -> None:
        self.declines.inc(reason=reason.split(":")[0])
        log.info("offer.declined", intent=intent_id, reason=reason, **detail)

    def _reject(self, kind: str, err: schemas.ProtocolError) -> None:
        self.rejected.inc(kind=kind, reason=err.code)
        log.warning(f"{kind}.rejected", code=err.code, error=str(err))

    def _running(self) -> Transport:
        if self.transport is None:
            raise RuntimeError("expected a running vendor adapter: call run() first")
        return self.transport

    async def _respond(self, msg: Message, data: bytes) -> None:
        """Answer a request; a message that names nowhere to answer gets nothing."""
        if msg.reply:
            await self._running().publish(msg.reply, data)
        else:
            log.warning("reply.nowhere", subject=msg.subject)

    async def on_intent(self, msg: Message) -> None:
        t0 = time.perf_counter()
        self.intents_seen.inc()
        if not self.per_category.allow(msg.subject, time.monotonic()):
            self._decline("rate_limited", "?", scope="category", subject=msg.subject)
            return
        now = self.clock()
        try:
            v = schemas.open_intent(msg.data, now=now, replay=self.intent_replay)
            intent = v.msg
            if schemas.intent_subject(intent.category) != msg.subject:
                raise schemas.Rebound(
                    f"an intent for {schemas.category_of(msg.subject)}",
                    f"one for {intent.category}",
                    "$.msg.category",
                )
            if msg.reply and msg.reply != intent.reply_subject:
                raise schemas.Rebound(f"reply subject {intent.reply_subject}", msg.reply, "reply")
        except schemas.ProtocolError as err:
            self._reject("intent", err)
            return
        if not self.per_key.allow(v.kid, time.monotonic()):
            self._decline("rate_limited", intent.id, scope="intent_key")
            return
        choice = await self.choose(intent, now)
        if isinstance(choice, str):
            self._decline(choice, intent.id)
            return
        currency = intent.max_price.currency
        _, sealed = schemas.make_offer(
            intent=v, signer=self.signer,
            item=schemas.Item(choice.item.sku, choice.item.title, choice.item.attributes),
            quantity=intent.quantity,
            unit_price=schemas.Money(choice.quote.unit, currency),
            total_price=schemas.Money(choice.quote.total, currency),
            delivery_by=choice.delivery_by, terms=self.terms, now=now, ttl=self.cfg.offer_validity,
        )  # fmt: skip
        await self._running().publish(intent.reply_subject, sealed)
        self.offers_made.inc()
        self.latency.observe(time.perf_counter() - t0)
        log.info(
            "offer.sent",
            intent=intent.id,
            sku=choice.item.sku,
            total=choice.quote.total,
            note=choice.quote.note,
        )

    async def choose(self, intent: schemas.Intent, now: datetime) -> Choice | str:
        """The best item to offer for ``intent``, or the reason there is none. Changes
        nothing: what :meth:`on_intent` would offer, for dry runs and simulations."""
        person = schemas.expand_terms(intent.terms)
        breaches = schemas.match_terms(person, self.terms).breaches
        if breaches and self.cfg.terms_policy == "honour":
            return "breach:" + ",".join(b.clause for b in breaches)
        items = await self.catalog.search(intent.category, intent.want, intent.quantity)
        reason = "no_match"
        for item in items:  # best matches first: offer the first that can be sold
            if item.currency != intent.max_price.currency:
                reason = "currency" if reason == "no_match" else reason
                continue
            if self.store.available(item.sku, item.stock) < intent.quantity:
                reason = "out_of_stock" if reason in ("no_match", "currency") else reason
                continue
            q = quote(item, intent.quantity, intent.max_price.amount, self.cfg.pricing)
            if q is None:
                reason = "over_budget"
                continue
            days = item.delivery_days if item.delivery_days is not None else self.cfg.delivery_days
            by = now.date() + timedelta(days=days)
            if by > intent.wanted_by:
                reason = "too_late"
                continue
            return Choice(item, q, by)
        return reason

    # --- acceptances -> orders -----------------------------------------------------------

    async def on_order(self, msg: Message) -> None:
        failpoint("vendor.accept.received")
        now = self.clock()
        try:
            opened = schemas.open_accept(
                msg.data, signer=self.signer, now=now, replay=None, allow_expired=True
            )
            a = opened.accept.msg
            existing = self.store.by_offer(a.offer_id)
            if existing is None and not (opened.offer_expired or opened.accept_expired):
                h = opened.accept.header
                self.accept_replay.add(opened.accept.kid, h.nonce, h.expires, now)
        except schemas.ProtocolError as err:
            self._reject("accept", err)
            return
        if existing is None and (opened.offer_expired or opened.accept_expired):
            # Authentic but stale, and no order was made: say so, signed, so the person's
            # agent can act at once (cast again, or accept afresh) instead of timing out.
            reason = "offer_expired" if opened.offer_expired else "acceptance_expired"
            _, _, sealed = schemas.make_confirmation(
                opened, signer=self.signer, order_id=schemas.new_id(), status="rejected",
                reason=reason, now=now,
            )  # fmt: skip
            self.orders.inc(outcome=reason)
            log.info("order.refused", offer=a.offer_id, reason=reason)
            await self._respond(msg, sealed)
            return
        if existing is None:
            existing = await self._take_order(opened, now)
            failpoint("vendor.order.committed")
        else:
            self.orders.inc(outcome="repeat")
            log.info("order.repeat", order=existing.order_id, offer=a.offer_id)
        await self._respond(msg, existing.reply_sealed)

    async def _take_order(self, opened: schemas.OpenedAccept, now: datetime):  # type: ignore[no-untyped-def]
        a, offer, intent = opened.accept.msg, opened.offer.msg, opened.intent.msg
        item = await self.catalog.get(offer.item.sku)
        stock = item.stock if item is not None else 0
        order_id = schemas.new_id()
        for status, reason in (("confirmed", ""), ("rejected", "out_of_stock")):
            conf, receipt, sealed = schemas.make_confirmation(
                opened, signer=self.signer, order_id=order_id, status=status, reason=reason, now=now
            )
            keep = self.cfg.terms.data_retention_days
            if intent.terms.data_retention_days is not None:
                keep = min(keep, intent.terms.data_retention_days.value)
            row = dict(
                order_id=order_id, offer_id=a.offer_id, intent_id=a.intent_id,
                intent_key=intent.keys.sign, sku=offer.item.sku, quantity=offer.quantity,
                total_amount=offer.total_price.amount, currency=offer.total_price.currency,
                status=status, reason=reason, created=now.isoformat(),
                intent_wire=opened.intent.wire, offer_wire=opened.offer.wire,
                accept_wire=opened.accept.wire, confirmation_wire=conf, receipt_wire=receipt,
                receipt_id=None, receipt_hash=None, reply_sealed=sealed,
                disclosure=msgspec.json.encode(a.disclosure).decode() if status == "confirmed" else None,
                purge_after=(now + timedelta(days=keep)).isoformat(),
            )  # fmt: skip
            if receipt is not None:
                r = schemas.verify(receipt, schemas.Receipt, key=schemas.self_signed, now=None)
                row.update(receipt_id=r.msg.id, receipt_hash=r.digest)
            if self.store.insert_order(row, stock=stock if status == "confirmed" else None):
                self.orders.inc(outcome=status)
                log.info(
                    "order.stored", order=order_id, offer=a.offer_id, status=status, reason=reason
                )
                break
            prior = self.store.by_offer(a.offer_id)
            if prior is not None:  # another replica took the same acceptance first
                self.orders.inc(outcome="repeat")
                return prior
        got = self.store.by_offer(a.offer_id)
        assert got is not None
        return got

    async def on_receipt(self, msg: Message) -> None:
        now = self.clock()

        try:
            cs = schemas.open_countersignature(
                msg.data, signer=self.signer, intent_key=self._intent_key, now=now, replay=None
            )
            # A person re-sending a countersignature we already keep gets the same answer;
            # anything else must be fresh.
            if not self.store.has_countersignature(cs.wire):
                self.receipt_replay.add(cs.kid, cs.header.nonce, cs.header.expires, now)
        except schemas.ProtocolError as err:
            self._reject("countersignature", err)
            return
        failpoint("vendor.receipt.received")
        stored = self.store.add_countersignature(cs.msg.receipt_id, cs.msg.receipt_hash, cs.wire)
        failpoint("vendor.receipt.stored")
        log.info("receipt.countersigned", receipt=cs.msg.receipt_id, stored=stored)
        await self._respond(msg, json.dumps({"stored": stored}).encode())

    async def on_cancel(self, msg: Message) -> None:
        """A person cancels one of their confirmed orders. Idempotent: asking again gets the
        same answer."""
        now = self.clock()
        try:
            cv = schemas.open_cancel(
                msg.data, signer=self.signer, intent_key=self._intent_key, now=now, replay=None
            )
            row = self.store.order(cv.msg.order_id)
            if row is None or row["intent_key"] != cv.kid or row["offer_id"] != cv.msg.offer_id:
                raise schemas.Rebound(
                    "a cancellation of an order made with this intent key",
                    f"order {cv.msg.order_id}",
                    "$.msg.order_id",
                )
        except schemas.ProtocolError as err:
            self._reject("cancel", err)
            return
        intent = schemas.verify(
            row["intent_wire"], schemas.Intent, key=schemas.self_signed, now=None
        ).msg
        if self.store.cancel(row["order_id"], cv.wire) or row["status"] == "cancelled":
            status, reason = "rejected", "cancelled"
            self.orders.inc(outcome="cancelled")
            log.info("order.cancelled", order=row["order_id"])
        else:
            status, reason = row["status"], f"order is {row['status']}, nothing to cancel"
        sealed = schemas.confirm_cancel(
            cv, signer=self.signer, seal_to=intent.keys.seal, status=status, reason=reason, now=now
        )
        await self._respond(msg, sealed)

    def _intent_key(self, kid: str, at: datetime | None) -> VerifyKey:
        """Resolves only the intent keys of orders this vendor holds."""
        if not self.store.has_intent_key(kid):
            raise schemas.UnknownSigner("the intent key of one of our orders", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    # --- running -------------------------------------------------------------------------

    async def purge_once(self) -> int:
        n = self.store.purge(self.clock())
        if n:
            log.info("disclosure.purged", orders=n)
        return n

    async def run(
        self,
        transport: Transport,
        stop: asyncio.Event,
        *,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve on ``transport`` until ``stop`` is set (``on_ready`` once it hears)."""
        self.transport = bus = transport
        queue = f"vendor-{self.vendor_id[:16]}"
        subs = []
        for cat in self.cfg.categories:
            for subject in schemas.vendor_intent_subscriptions(cat):
                subs.append(
                    await bus.subscribe(subject, self.on_intent, queue=queue, pending_limit=20_000)
                )
        for endpoint, handler in (
            ("order", self.on_order),
            ("receipt", self.on_receipt),
            ("cancel", self.on_cancel),
        ):
            subs.append(
                await bus.subscribe(
                    schemas.vendor_subject(self.vendor_id, endpoint), handler, queue=queue
                )
            )
        await bus.publish(schemas.profile_subject(self.vendor_id), self.signer.profile_wire)
        async with asyncio.timeout(5):
            await bus.flush()
        log.info(
            "vendor.ready",
            vendor=self.vendor_id,
            name=self.cfg.name,
            categories=self.cfg.categories,
        )
        if on_ready:
            on_ready()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._purge_loop(stop))
            await stop.wait()
        for s in subs:
            await s.unsubscribe()

    async def _purge_loop(self, stop: asyncio.Event) -> None:
        interval = self.cfg.purge_interval.total_seconds()
        while not stop.is_set():
            await self.purge_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
