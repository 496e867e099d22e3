"""Collecting offers: cast an intent, open and verify the replies as they arrive, rank them,
and keep the intent, its keys, the offers and what was dropped.

Bounded under a flood, per intent: of replies that did not verify the agent keeps counts by
reason, never the replies (nor a row each); of verified ones at most one offer per vendor
(later ones from that vendor are a count) and at most :data:`MAX_OFFERS` in all (the rest a
count, ``too_many_offers``); replies waiting to be opened at most :data:`MAX_QUEUED_BYTES`
(the rest are counted unread, ``unverified:unread``).

Which offers keep a place once :data:`MAX_OFFERS` are held: those of vendors the person
knows (evidence in their own history: a receipt, a rating, an outcome; or an entry from a
registrar they trust) before those of unknown identities, and among each, the first to
come. A known vendor's offer arriving when every place is taken takes the place of the
unknown identity that came last; fresh identities cost nothing to make, so arriving first
must not be enough to crowd out a vendor the person has dealt with."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
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
from ._registered import RegisteredTrust
from ._session import AgentSession, utcnow
from ._store import AgentStore
from ._trust import TrustScorer

__all__ = ["MAX_OFFERS", "MAX_QUEUED_BYTES", "Collected", "cast_and_collect"]

log = structlog.get_logger("intentcast.agent")
# Verified offers kept per intent: more than any market this runs in answers with (the bench
# fans out to 200 vendors), few enough that a crowd of fresh identities costs at most this
# many rows (about 3 KiB each) and offers held (about 10 KiB each).
MAX_OFFERS = 256
# Replies waiting for the opener, each charged its size plus what holding it costs, so that
# a flood of tiny messages is bounded too: 8 MiB holds 2,000 offers of 4 KiB.
MAX_QUEUED_BYTES = 8 * 1024 * 1024
_HOLDING_COST = 256
_BATCH = 256  # replies opened at once


@dataclass
class Collected:
    cast: schemas.CastIntent
    offers: list[schemas.OpenedOffer] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    ranked: list[Ranked] = field(default_factory=list)
    no_responders: bool = False


Known = Callable[[schemas.OpenedOffer], bool]


def _known_vendors(store: AgentStore, trust: TrustScorer, clock: Callable[[], datetime]) -> Known:
    """Whether an offer's vendor is one the person knows (see the module's docstring). Only
    asked once the cap is reached, so the history is read then, once per intent."""
    evidence: set[str] | None = None

    def known(o: schemas.OpenedOffer) -> bool:
        nonlocal evidence
        p = o.profile.msg
        if evidence is None:
            evidence = {r["vendor_id"] for r in store.all_outcomes()}
        if p.vendor_id in evidence:
            return True
        if isinstance(trust, RegisteredTrust):
            return trust.standing(p.vendor_id, p.name, clock()).registered_name is not None
        return False

    return known


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
        known: Known,
    ) -> None:
        self.cast, self.clock, self.expect, self.known = cast, clock, expect, known
        self.opener, self.profiles = session.opener, session.profiles
        self.replay = schemas.ReplayCache()
        self.offers: list[schemas.OpenedOffer] = []
        self.unverified: Counter[str] = Counter()  # by error code: counts, never the replies
        self.repeats: Counter[tuple[str, str]] = Counter()  # (vendor id, name): later offers
        self.too_many = 0
        # Held offers of unknown identities, in arrival order: found once the cap is reached.
        self._unknown: list[schemas.OpenedOffer] | None = None
        self.vendors: set[str] = set()
        self.enough = asyncio.Event()
        self.no_responders = False
        self._queued: deque[bytes] = deque()
        self._queued_bytes = 0
        self._arrived = asyncio.Event()
        self._closing = False

    async def on_msg(self, msg: Message) -> None:
        size = len(msg.data) + _HOLDING_COST
        if len(msg.data) > schemas.MAX_SEALED_BYTES:
            self._refuse("oversized")
        elif self._queued_bytes + size > MAX_QUEUED_BYTES:
            self._refuse("unread")
        else:
            self._queued.append(msg.data)
            self._queued_bytes += size
            self._arrived.set()

    def _refuse(self, code: str, error: str = "") -> None:
        self.unverified[code] += 1
        if self.unverified[code] == 1:  # the first of each reason; the counts are kept
            log.warning("offer.dropped", reason=code, error=error, intent=self.cast.intent.id)

    @property
    def dropped(self) -> list[Dropped]:
        """What was dropped before ranking, as counts: one entry per reason (per vendor for a
        second offer), whatever the flood."""
        out = [Dropped(f"unverified:{c}", "", count=n) for c, n in sorted(self.unverified.items())]
        why = "a second offer from this vendor for one intent"
        out += [Dropped("duplicate", why, v, name, n) for (v, name), n in self.repeats.items()]
        if self.too_many:
            why = f"more than {MAX_OFFERS} verified offers for one intent"
            out.append(Dropped("too_many_offers", why, count=self.too_many))
        return out

    def _make_room(self, o: schemas.OpenedOffer) -> bool:
        """Every place is taken: give ``o`` the place of the unknown identity that came
        last, if ``o``'s vendor is known and there is one."""
        if self._unknown is None:
            self._unknown = [held for held in self.offers if not self.known(held)]
        if not self._unknown or not self.known(o):
            return False
        self.offers.remove(self._unknown.pop())
        return True

    def on_no_responders(self, _: NoResponders) -> None:
        # Nobody serves this category right now. The window still runs its course: anyone
        # allowed to answer this intent could forge the server's "no responders" too.
        self.no_responders = True
        log.info("intent.no_responders", intent=self.cast.intent.id)

    async def drain(self) -> None:
        """Open queued replies, a batch at a time, until :meth:`close`; a batch once taken
        is always finished."""
        while not self._closing:
            await self._arrived.wait()
            await self.open_batch()

    def close(self) -> None:
        self._closing = True
        self._arrived.set()

    async def open_queued(self) -> None:
        """Open everything still queued (once the subscription has ended)."""
        while self._queued:
            await self.open_batch()

    async def open_batch(self) -> None:
        """Open up to :data:`_BATCH` queued replies (what is held while opening is bounded
        too); the rest wait for the next call."""
        take = min(_BATCH, len(self._queued))
        batch = [self._queued.popleft() for _ in range(take)]
        self._queued_bytes -= sum(len(b) + _HOLDING_COST for b in batch)
        if not self._queued:
            self._arrived.clear()
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
            self._refuse(err.code, str(err))  # its text is a stranger's: logged, never shown
            return
        p = o.profile.msg
        if p.vendor_id in self.vendors:
            self.repeats[p.vendor_id, p.name] += 1
            return
        if len(self.offers) >= MAX_OFFERS:
            self.too_many += 1  # this offer, or the one whose place it takes
            if not self._make_room(o):
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
    inbox = _OfferInbox(cast, clock, expect, session, _known_vendors(store, trust, clock))
    sub = await bus.subscribe(
        intent.reply_subject,
        inbox.on_msg,
        pending_limit=2048,  # and 8 MiB: beyond it the bus drops them, as a slow consumer's
        on_no_responders=inbox.on_no_responders,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(inbox.drain())
            await bus.publish(cast.subject, cast.wire, reply=intent.reply_subject)
            log.info("intent.cast", intent=intent.id, category=intent.category, window=window)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(window):  # a deadline, not wait_for's extra task
                    await inbox.enough.wait()
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
    log.info(
        "intent.ranked", intent=intent.id, offers=len(ranked),
        dropped=sum(d.count for d in all_dropped), unverified=dict(inbox.unverified),
    )  # fmt: skip
    # "Nobody is listening" is believed only when no verified offer came: anyone allowed to
    # answer this intent could forge the server's status (see schemas/README.md).
    nobody = inbox.no_responders and not inbox.offers
    return Collected(cast, inbox.offers, all_dropped, ranked, nobody)


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
        received = now.isoformat()
        rows = []
        for o in offers:
            m, p = o.offer.msg, o.profile.msg
            score, reasons = score_of.get(m.id, (0.0, []))
            rows.append(
                (
                    m.id, intent.id, p.vendor_id, p.name, o.bundle, m.total_price.amount,
                    m.total_price.currency, m.delivery_by.isoformat(),
                    o.offer.header.expires.isoformat(), rank_of.get(m.id), score, reasons,
                    received,
                )
            )  # fmt: skip
        store.add_offers(rows)
        store.add_drops(
            (intent.id, d.vendor_id, d.vendor_name, d.reason, d.detail, received, d.count)
            for d in dropped
        )
