"""Intents to offers: verify, check, search, price, offer.

An intent is verified in full (signature, times, the subject it came on, the reply subject it
names) before anything is charged or remembered: junk uses up neither a category's rate
limit nor a real intent's nonce, which enters the replay cache only after every other check
passed. Rate limits then bound what valid intents cost: searching, pricing, signing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
import structlog

import schemas
from runtime import Message

from ._catalog import CatalogItem
from ._certified import seal_within
from ._delivery import covers, regions
from ._needs import item_needs
from ._pricing import Quote, quote
from ._ratelimit import RateLimiter
from ._shop import Shop

if TYPE_CHECKING:
    from ._watching import AnswerLog

__all__ = ["Choice", "IntentRoom", "RateLimited"]

log = structlog.get_logger("intentcast.vendor")


class RateLimited(Exception):
    """A watched intent over the rate limits: not answered now, so not acknowledged either
    (the stream delivers it again later)."""


@dataclass(frozen=True)
class Choice:
    """What a vendor offers for an intent: the item, its price and when it arrives."""

    item: CatalogItem
    quote: Quote
    delivery_by: date


class IntentRoom:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        cfg, m = shop.cfg, shop.metrics
        self.terms = cfg.terms.to_wire()
        self.areas = regions(cfg.delivery.areas)
        self.intents_seen = m.counter("vendor_intents_seen_total", "Intents received", ())
        self.offers_made = m.counter("vendor_offers_made_total", "Offers signed and sent", ())
        self.declines = m.counter(
            "vendor_declines_total", "Intents answered with no offer, by reason", ("reason",)
        )
        self.latency = m.histogram(
            "vendor_intent_seconds", "Time from intent received to offer sent"
        )
        self.replay = schemas.ReplayCache()
        # The clauses a person's terms breach, by the terms' JSON (a market's intents carry
        # few distinct terms), for the vendor terms they were matched with.
        self._breaches: dict[bytes, str] = {}
        self._breaches_of = self.terms
        self._terms_json = msgspec.json.Encoder()
        self.per_key = RateLimiter(cfg.limits.intents_per_key_per_minute, 60.0)
        self.per_category = RateLimiter(cfg.limits.intents_per_category_per_second, 1.0)

    def _decline(self, reason: str, intent_id: str, **detail: object) -> None:
        self.declines.inc(reason=reason.split(":")[0])
        log.info("offer.declined", intent=intent_id, reason=reason, **detail)

    def _open(self, msg: Message, now: datetime) -> schemas.Verified[schemas.Intent]:
        """The intent, verified and bound to where it came from; its nonce is recorded last."""
        v = schemas.open_intent(msg.data, now=now, replay=None)
        intent = v.msg
        if schemas.intent_subject(intent.category) != msg.subject:
            raise schemas.Rebound(
                f"an intent for {schemas.category_of(msg.subject)}",
                f"one for {intent.category}",
                "$.msg.category",
            )
        if msg.reply and msg.reply != intent.reply_subject:
            raise schemas.Rebound(f"reply subject {intent.reply_subject}", msg.reply, "reply")
        self.replay.add(v.kid, v.header.nonce, v.header.expires, now)
        return v

    async def on_intent(self, msg: Message, answers: AnswerLog | None = None) -> None:
        """Answer one intent. ``answers`` (watched intents, see ``_watching``): what was
        answered before is answered again byte for byte, and a new answer is on disk before
        it is sent."""
        t0 = time.perf_counter()
        self.intents_seen.inc()
        now = self.shop.clock()
        try:
            v = self._open(msg, now)
        except schemas.ProtocolError as err:
            self.shop.rejections.reject("intent", err)
            return
        intent = v.msg
        before = None if answers is None else answers.answer_of(intent.id)
        if before is not None:
            log.info("intent.already_answered", intent=intent.id, offer=before.sealed is not None)
            if before.sealed is not None:
                await self.shop.publish(intent.reply_subject, before.sealed)
            return
        for scope, key, limiter in (
            ("category", msg.subject, self.per_category),
            ("intent_key", v.kid, self.per_key),
        ):
            if not limiter.allow(key, time.monotonic()):
                self._decline("rate_limited", intent.id, scope=scope, subject=msg.subject)
                if answers is not None:
                    raise RateLimited(intent.id)
                return
        choice = await self.choose(intent, now)
        if isinstance(choice, str):
            r = intent.region
            self._decline(choice, intent.id, region=f"{r.country}-{r.postcode_prefix}".rstrip("-"))
            if answers is not None:
                answers.record(intent.id, None, now)
            return
        currency = intent.max_price.currency

        def offer(certified: list[schemas.CertifiedRating]) -> bytes:
            return schemas.make_offer(
                intent=v, signer=self.shop.signer,
                item=schemas.Item(choice.item.sku, choice.item.title, choice.item.attributes),
                quantity=intent.quantity,
                unit_price=schemas.Money(choice.quote.unit, currency),
                total_price=schemas.Money(choice.quote.total, currency),
                delivery_by=choice.delivery_by, terms=self.terms, now=now,
                ttl=self.shop.cfg.offer_validity, delivers_to=self.areas, certified=certified,
                needs=item_needs(choice.item, self.shop.cfg),
            )[1]  # fmt: skip

        box = self.shop.cfg.certified.max_box_kib * 1024
        sealed = seal_within(offer, self.shop.evidence(now), box)
        if answers is not None:
            answers.record(intent.id, sealed, now)
        await self.shop.publish(intent.reply_subject, sealed)
        self.offers_made.inc()
        self.latency.observe(time.perf_counter() - t0)
        log.info(
            "offer.sent",
            intent=intent.id,
            sku=choice.item.sku,
            total=choice.quote.total,
            note=choice.quote.note,
        )

    def breaches(self, terms: schemas.Terms) -> str:
        """The clauses of ``terms`` this vendor breaches, comma-separated ("" for none)."""
        key = self._terms_json.encode(terms)
        if self._breaches_of is not self.terms:
            self._breaches, self._breaches_of = {}, self.terms
        got = self._breaches.get(key)
        if got is None:
            if len(self._breaches) >= 1024:
                self._breaches.clear()
            person = schemas.expand_terms(terms)
            found = schemas.match_terms(person, self.terms).breaches
            got = self._breaches[key] = ",".join(b.clause for b in found)
        return got

    async def choose(self, intent: schemas.Intent, now: datetime) -> Choice | str:
        """The best item to offer for ``intent``, or the reason there is none. Changes
        nothing: what :meth:`on_intent` would offer, for dry runs and simulations."""
        cfg, store = self.shop.cfg, self.shop.store
        breaches = self.breaches(intent.terms)
        if breaches and cfg.terms_policy == "honour":
            return "breach:" + breaches
        if not covers(self.areas, intent.region):
            return "outside_delivery_area"
        items = await self.shop.catalog.search(intent.category, intent.want, intent.quantity)
        reason = "no_match"
        for item in items:  # best matches first: offer the first that can be sold
            if item.currency != intent.max_price.currency:
                reason = "currency" if reason == "no_match" else reason
                continue
            if store.available(item.sku, item.stock) < intent.quantity:
                reason = "out_of_stock" if reason in ("no_match", "currency") else reason
                continue
            q = quote(item, intent.quantity, intent.max_price.amount, cfg.pricing)
            if q is None:
                reason = "over_budget"
                continue
            days = item.delivery_days if item.delivery_days is not None else cfg.delivery_days
            by = now.date() + timedelta(days=days)
            if by > intent.wanted_by:
                reason = "too_late"
                continue
            return Choice(item, q, by)
        return reason
