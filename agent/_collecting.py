"""Collecting offers: cast an intent, open and verify the replies as they arrive, rank them,
and keep the intent, its keys, the offers and what was dropped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

import schemas
from runtime import Message, NoResponders

from ._certified import note_certified
from ._home import RankingWeights, TrustPolicy
from ._opening import Opened, admit_opened
from ._ranking import Dropped, Ranked, rank_offers
from ._session import AgentSession, utcnow
from ._store import AgentStore
from ._trust import TrustScorer

__all__ = ["Collected", "cast_and_collect"]

log = structlog.get_logger("intentcast.agent")


@dataclass
class Collected:
    cast: schemas.CastIntent
    offers: list[schemas.OpenedOffer] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    ranked: list[Ranked] = field(default_factory=list)
    no_responders: bool = False


class _OfferInbox:
    """Verifies replies as they arrive; only verified offers are kept.

    The subscription's callback only queues a reply; :meth:`drain` opens whatever has queued
    since it last looked: one reply inline on the event loop, a burst on two threads (see
    ``_opening``). Replay checks, duplicates and the tally stay on the loop, in arrival order."""

    def __init__(
        self,
        cast: schemas.CastIntent,
        clock: Callable[[], datetime],
        expect: int | None,
        session: AgentSession,
    ) -> None:
        self.cast, self.clock, self.expect = cast, clock, expect
        self.opener, self.profiles = session.opener, session.profiles
        self.replay = schemas.ReplayCache()
        self.offers: list[schemas.OpenedOffer] = []
        self.dropped: list[Dropped] = []
        self.vendors: set[str] = set()
        self.enough = asyncio.Event()
        self.no_responders = False
        self._queued: list[bytes] = []
        self._arrived = asyncio.Event()
        self._closing = False

    async def on_msg(self, msg: Message) -> None:
        self._queued.append(msg.data)
        self._arrived.set()

    def on_no_responders(self, _: NoResponders) -> None:
        # Nobody serves this category right now. The window still runs its course: anyone
        # allowed to answer this intent could forge the server's "no responders" too.
        self.no_responders = True
        log.info("intent.no_responders", intent=self.cast.intent.id)

    async def drain(self) -> None:
        """Open queued replies until :meth:`close`; a batch once taken is always finished."""
        while not self._closing:
            await self._arrived.wait()
            await self.open_queued()

    def close(self) -> None:
        self._closing = True
        self._arrived.set()

    async def open_queued(self) -> None:
        self._arrived.clear()
        batch, self._queued = self._queued, []
        if not batch:
            return
        now = self.clock()
        c = self.cast
        opened = await self.opener.open(
            batch, intent=c.intent, secrets=c.secrets, now=now, profiles=self.profiles
        )
        for result in opened:
            self._admit(result, now)

    def _admit(self, result: Opened, now: datetime) -> None:
        try:
            o = admit_opened(result, self.replay, now)
        except schemas.ProtocolError as err:
            self.dropped.append(Dropped(f"unverified:{err.code}", ""))  # its text is a stranger's
            log.warning(
                "offer.dropped", reason=err.code, error=str(err), intent=self.cast.intent.id
            )
            return
        p = o.profile.msg
        if p.vendor_id in self.vendors:
            why = "a second offer from this vendor for one intent"
            self.dropped.append(Dropped("duplicate", why, p.vendor_id, p.name))
            return
        self.vendors.add(p.vendor_id)
        self.offers.append(o)
        if self.expect is not None and len(self.offers) >= self.expect:
            self.enough.set()


async def cast_and_collect(
    session: AgentSession,
    cast: schemas.CastIntent,
    *,
    window: float,
    store: AgentStore,
    trust: TrustScorer,
    policy: TrustPolicy,
    weights: RankingWeights,
    expect: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Collected:
    """Broadcast the intent, collect and verify replies until the window closes (or ``expect``
    offers arrived), rank, and store the intent with its keys, the offers and the drops in one
    transaction (committed, not fsynced: see :meth:`AgentStore.transaction`)."""
    intent = cast.intent
    bus = session.live()
    inbox = _OfferInbox(cast, clock, expect, session)
    sub = await bus.subscribe(
        intent.reply_subject,
        inbox.on_msg,
        pending_limit=10_000,
        on_no_responders=inbox.on_no_responders,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(inbox.drain())
            await bus.publish(cast.subject, cast.wire, reply=intent.reply_subject)
            log.info("intent.cast", intent=intent.id, category=intent.category, window=window)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inbox.enough.wait(), window)
            inbox.close()
    finally:
        await sub.unsubscribe()
    await inbox.open_queued()  # replies that arrived in time but were not opened yet
    now = clock()
    note_certified(trust, inbox.offers, now)
    ranked, dropped = rank_offers(
        intent, inbox.offers, trust=trust, policy=policy, weights=weights, now=now
    )
    all_dropped = inbox.dropped + dropped
    _keep(store, cast, inbox.offers, ranked, all_dropped, now)
    log.info("intent.ranked", intent=intent.id, offers=len(ranked), dropped=len(all_dropped))
    return Collected(cast, inbox.offers, all_dropped, ranked, inbox.no_responders)


def _keep(
    store: AgentStore,
    cast: schemas.CastIntent,
    offers: list[schemas.OpenedOffer],
    ranked: list[Ranked],
    dropped: list[Dropped],
    now: datetime,
) -> None:
    """Intent, keys, offers and drops in one transaction. Nothing here is acknowledged to
    anyone, so it is not waited onto the disk; accepting one of these offers is. An offer
    shown to the person is stored with its rank; a dropped one without (so it can never be
    taken for one that was shown)."""
    intent = cast.intent
    rank_of = {r.offer.id: i + 1 for i, r in enumerate(ranked)}
    score_of = {r.offer.id: (r.score, r.reasons) for r in ranked}
    with store.transaction(fsync=False):
        sign_seed, seal_secret = cast.secrets.to_hex()
        store.add_intent(
            id=intent.id,
            created=cast.created,
            expires=cast.expires,
            category=intent.category,
            description=intent.want.description,
            wire=cast.wire,
            sign_seed=sign_seed,
            seal_secret=seal_secret,
        )
        for o in offers:
            m, p = o.offer.msg, o.profile.msg
            score, reasons = score_of.get(m.id, (0.0, []))
            store.add_offer(
                id=m.id,
                intent_id=intent.id,
                vendor_id=p.vendor_id,
                vendor_name=p.name,
                bundle=o.bundle,
                total_amount=m.total_price.amount,
                currency=m.total_price.currency,
                delivery_by=m.delivery_by.isoformat(),
                expires=o.offer.header.expires.isoformat(),
                rank=rank_of.get(m.id),
                score=score,
                reasons=reasons,
                received=now.isoformat(),
            )
        for d in dropped:
            store.add_drop(
                intent_id=intent.id,
                vendor_id=d.vendor_id,
                vendor_name=d.vendor_name,
                reason=d.reason,
                detail=d.detail,
                received=now,
            )
