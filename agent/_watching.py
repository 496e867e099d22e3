"""Watched intents on the person's side: cast one into JetStream, and take in its offers
whenever they come, judged and stored exactly as a one-shot ``want`` judges and stores them.

- :func:`cast_watched` stores the intent and its keys (fsynced), records the watch, makes the
  intent's reply stream, and only then publishes the intent to its lifetime bucket's stream:
  an intent a vendor can hear is always one the agent holds the keys of.
- :class:`OfferIntake` is one watched intent's offers: each reply is opened and verified by
  the session's opener and ``admit_opened`` (the same rooms as ``_collecting``), judged by
  ``rank_offers`` against the person's trust and terms as they are when it arrives, and
  stored (an offer shown with its score, a dropped one with why) in one fsynced
  transaction before the stream is acknowledged. An offer id already held, or a second
  offer from a vendor for one intent, is kept once and never duplicated, across restarts.

The watches themselves (which intents are open, until when, which notices were raised) are
in ``watches.sqlite`` in the home, beside ``agent.sqlite``, so the store's schema stays as
it is; an export carries them beside the store's tables (``_carried_watches``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

import schemas
from runtime import WatchStreams, failpoint, watch_consumer_name

from ._agent import Agent
from ._opening import admit_opened
from ._ranking import Dropped, rank_offers
from ._screen import shown
from ._watch_book import OPEN_STATES, WATCHES_FILE, Notice, WatchBook, WatchRow

__all__ = [
    "OPEN_STATES",
    "WATCHES_FILE",
    "Notice",
    "OfferIntake",
    "WatchBook",
    "WatchRow",
    "cast_watched",
]

log = structlog.get_logger("intentcast.agent")


async def cast_watched(
    agent: Agent, streams: WatchStreams, book: WatchBook, cast: schemas.CastIntent
) -> None:
    """Keep, then publish, a watched intent (see the module's docstring); repeating it for
    an intent in state ``casting`` (the agent died half-way) publishes the same bytes."""
    intent, store = cast.intent, agent.store
    if store.intent(intent.id) is None:
        sign_seed, seal_secret = cast.secrets.to_hex()
        with store.transaction(fsync=True):
            store.add_intent(
                id=intent.id, created=cast.created, expires=cast.expires,
                category=intent.category, description=intent.want.description, wire=cast.wire,
                sign_seed=sign_seed, seal_secret=seal_secret,
            )  # fmt: skip
    book.add(cast)
    failpoint("agent.watch.kept")  # kept, not yet on the bus: a restart publishes it
    await streams.open_replies(
        intent.id, intent.reply_subject, cast.expires - cast.created, watch_consumer_name(cast)
    )
    await streams.publish_intent(cast)
    book.set_state(intent.id, "open")
    log.info(
        "watch.cast", intent=intent.id, category=intent.category, expires=cast.expires.isoformat()
    )


def stored_cast(agent: Agent, intent_id: str) -> schemas.CastIntent:
    """A watched intent as cast, from the store (its exact bytes and keys)."""
    row = agent.store.intent(intent_id)
    if row is None:
        raise LookupError(f"expected intent {intent_id} in the store, found none")
    v = schemas.open_intent(row.wire, now=None, replay=None)
    return schemas.CastIntent(
        row.wire, v.msg, agent.store.intent_secrets(intent_id),
        schemas.intent_subject(v.msg.category), v.header.created, v.header.expires,
    )  # fmt: skip


OnStored = Callable[[Notice], None]


class OfferIntake:
    """One watched intent's replies (the handler of its reply stream's consumer)."""

    def __init__(
        self, agent: Agent, book: WatchBook, cast: schemas.CastIntent, on_notice: OnStored
    ) -> None:
        self.agent, self.book, self.cast, self.on_notice = agent, book, cast, on_notice
        self.replay = schemas.ReplayCache()

    async def on_reply(self, _subject: str, data: bytes) -> None:
        agent, cast = self.agent, self.cast
        session = agent.session
        if session is None:
            raise RuntimeError("expected an agent with a session, got one that only reads")
        now = agent.clock()
        (opened,) = await session.opener.open(
            [data], intent=cast.intent, secrets=cast.secrets, now=now, profiles=session.profiles
        )
        try:
            o = admit_opened(opened, self.replay, now)
        except schemas.Replayed:
            log.info("watch.offer_again", intent=cast.intent.id)  # redelivered: kept already
            return
        except schemas.ProtocolError as err:
            self._store_drop(Dropped(f"unverified:{err.code}", ""), now, data)
            log.warning("offer.dropped", reason=err.code, error=str(err), intent=cast.intent.id)
            return
        self._judge(o, now)

    def _judge(self, o: schemas.OpenedOffer, now: datetime) -> None:
        agent, intent = self.agent, self.cast.intent
        store, m, p = agent.store, o.offer.msg, o.profile.msg
        if store.offer(m.id) is not None:
            log.info("watch.offer_again", intent=intent.id, offer=m.id)
            return
        if any(x.vendor_id == p.vendor_id for x in store.offers() if x.intent_id == intent.id):
            why = "a second offer from this vendor for one intent"
            self._store_drop(Dropped("duplicate", why, p.vendor_id, p.name), now, m.id.encode())
            return
        cfg = agent.config
        ranked, dropped = rank_offers(
            intent, [o], trust=agent.trust, policy=cfg.trust, weights=cfg.ranking, now=now
        )
        shown_before = sum(1 for x in store.offers() if x.intent_id == intent.id and x.rank)
        with store.transaction(fsync=True):
            store.add_offer(
                id=m.id, intent_id=intent.id, vendor_id=p.vendor_id, vendor_name=p.name,
                bundle=o.bundle, total_amount=m.total_price.amount,
                currency=m.total_price.currency, delivery_by=m.delivery_by.isoformat(),
                expires=o.offer.header.expires.isoformat(), rank=shown_before + 1 if ranked else None,
                score=ranked[0].score if ranked else 0.0,
                reasons=ranked[0].reasons if ranked else [], received=now.isoformat(),
            )  # fmt: skip
            for d in dropped:
                store.add_drop(
                    intent_id=intent.id, vendor_id=d.vendor_id, vendor_name=d.vendor_name,
                    reason=d.reason, detail=d.detail, received=now,
                )  # fmt: skip
        kind = "offer" if ranked else "dropped"
        body: dict[str, object] = {
            "vendor": shown(p.name), "total": str(m.total_price), "offer": m.id,
            "why": [shown(x, 200) for x in (ranked[0].reasons if ranked else [d.reason for d in dropped])],
        }  # fmt: skip
        log.info("watch.offer_stored", intent=intent.id, offer=m.id, shown=bool(ranked))
        self._notice(now, kind, m.id, body)

    def _store_drop(self, d: Dropped, now: datetime, ref: bytes) -> None:
        import hashlib

        with self.agent.store.transaction(fsync=True):
            self.agent.store.add_drop(
                intent_id=self.cast.intent.id, vendor_id=d.vendor_id, vendor_name=d.vendor_name,
                reason=d.reason, detail=d.detail, received=now,
            )  # fmt: skip
        self._notice(now, "dropped", hashlib.sha256(ref).hexdigest(), {"why": [d.reason]})

    def _notice(self, now: datetime, kind: str, ref: str, body: dict[str, object]) -> None:
        notice = self.book.notify(now, self.cast.intent.id, kind, ref, body)
        if notice is not None:
            self.on_notice(notice)
