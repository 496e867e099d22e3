"""The agent's conversations on the bus: cast an intent and collect offers; accept one;
cancel; deliver countersignatures. They travel through a :class:`runtime.Transport`, held by
an :class:`AgentSession` with what the agent keeps between intents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

import structlog

import schemas
from runtime import Message, NoResponders, Transport, failpoint

from ._home import RankingWeights, TrustPolicy
from ._opening import OfferOpener, Opened, admit
from ._ranking import Dropped, Ranked, rank_offers
from ._store import AgentStore
from ._trust import TrustScorer

__all__ = [
    "AcceptError",
    "AcceptResult",
    "AgentSession",
    "CancelError",
    "Collected",
    "accept_offer",
    "cancel_order",
    "cast_and_collect",
    "deliver_countersignature",
    "sync_receipts",
]

log = structlog.get_logger("intentcast.agent")


def utcnow() -> datetime:
    return datetime.now(UTC)


class AgentSession:
    """The agent's side of its conversations: the transport it talks through, and what it
    keeps from one intent to the next while open:

    - ``profiles``: vendor profiles already verified. A profile travels with each offer but is
      checked once (found by its exact bytes; times are re-checked).
    - ``opener``: bursts of offers are opened on two threads (see ``_opening``), started on
      the first burst, with the switch interval that makes them pay.

    ::

        async with AgentSession(NatsTransport(bus)) as session:
            got = await cast_and_collect(session, cast, ...)

    It does not own the transport: whoever opened it closes it, after the session. Closing
    the session joins the opener's threads and puts the switch interval back."""

    def __init__(self, transport: Transport, *, opener: OfferOpener | None = None) -> None:
        """``opener``, if given, becomes the session's own: it closes with the session."""
        self.transport = transport
        self.profiles = schemas.ProfileCache()
        self.opener = opener or OfferOpener()
        self.state = "new"

    async def __aenter__(self) -> AgentSession:
        if self.state != "new":
            raise RuntimeError(f"expected a new agent session, it is {self.state}")
        self.state = "open"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Join the opener's threads and restore the switch interval. Safe to repeat."""
        self.state = "closed"
        self.opener.close()

    def _live(self) -> Transport:
        """The transport, once the session is open and until it closes."""
        if self.state != "open":
            raise RuntimeError(f"expected an open agent session, it is {self.state}")
        return self.transport


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
            o = admit(result, self.replay, now)
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
    bus = session._live()
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
    ranked, dropped = rank_offers(
        intent, inbox.offers, trust=trust, policy=policy, weights=weights, now=now
    )
    rank_of = {r.offer.id: i + 1 for i, r in enumerate(ranked)}
    score_of = {r.offer.id: (r.score, r.reasons) for r in ranked}
    all_dropped = inbox.dropped + dropped
    # Intent, keys, offers and drops in one transaction. Nothing here is acknowledged to
    # anyone, so it is not waited onto the disk; accepting one of these offers is.
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
        for o in inbox.offers:
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
        for d in all_dropped:
            store.add_drop(
                intent_id=intent.id,
                vendor_id=d.vendor_id,
                vendor_name=d.vendor_name,
                reason=d.reason,
                detail=d.detail,
                received=now,
            )
    log.info("intent.ranked", intent=intent.id, offers=len(ranked), dropped=len(all_dropped))
    return Collected(cast, inbox.offers, all_dropped, ranked, inbox.no_responders)


class AcceptError(Exception):
    """Acceptance could not complete; the message says why and what to do."""


@dataclass(frozen=True)
class AcceptResult:
    status: str  # confirmed | rejected
    reason: str
    receipt: schemas.Verified[schemas.Receipt] | None
    vendor_name: str
    vendor_acknowledged: bool
    repeated: bool


async def accept_offer(
    session: AgentSession,
    store: AgentStore,
    offer_id: str,
    *,
    disclosure: schemas.Disclosure,
    payment_method: str,
    per_try_seconds: float = 5.0,
    attempts: int = 3,
    clock: Callable[[], datetime] = utcnow,
) -> AcceptResult:
    """Accept one stored offer. Safe to repeat: the same acceptance (same bytes) is re-sent,
    and the vendor answers a repeated acceptance with the order it already made."""
    session._live()
    rows = store.find_offer(offer_id)
    if not rows:
        raise AcceptError(
            f"no offer {offer_id!r} in your history; run `intentcast history` to see offers"
        )
    if len(rows) > 1:
        raise AcceptError(f"{offer_id!r} matches {len(rows)} offers; type more of the id")
    row = rows[0]
    done = store.receipt_for_offer(row["id"])
    if done is not None:
        r = schemas.verify(done["receipt_wire"], schemas.Receipt, key=schemas.self_signed, now=None)
        acked = bool(done["vendor_acknowledged"]) or await deliver_countersignature(
            session, store, done, per_try_seconds
        )
        return AcceptResult("confirmed", "", r, row["vendor_name"], acked, True)
    irow, secrets = _intent_keys(store, row["intent_id"])
    intent = schemas.verify(irow["wire"], schemas.Intent, key=schemas.self_signed, now=None).msg
    now = clock()
    prior = store.accept(row["id"])
    try:
        # Once an acceptance went out, an order may exist whatever the offer's expiry says.
        opened = schemas.open_offer_bundle(
            row["bundle"],
            intent=intent,
            now=None if prior is not None else now,
            replay=None,
            profiles=schemas.ProfileCache(),
        )
    except schemas.Expired as err:
        raise AcceptError(
            f"offer {row['id'][:8]} expired ({err.got}); cast the intent again with `intentcast want`"
        ) from None
    vendor = opened.profile.msg
    ring = schemas.KeyRing.from_profile(vendor)
    for _ in range(2):
        if prior is None:
            accept, sealed = schemas.make_accept(
                intent_wire=irow["wire"],
                intent=intent,
                secrets=secrets,
                offer=opened,
                disclosure=disclosure,
                payment_method=payment_method,
                now=clock(),
            )
            store.add_accept(
                offer_id=row["id"],
                intent_id=intent.id,
                vendor_id=vendor.vendor_id,
                accept_wire=accept.wire,
                sealed=sealed,
                created=clock(),
            )
            failpoint("agent.accept.stored")
        else:
            accept = schemas.verify(
                prior["accept_wire"], schemas.Accept, key=schemas.self_signed, now=None
            )
            sealed = prior["sealed"]
        reply = await _request_with_retries(
            session, schemas.vendor_subject(vendor.vendor_id, "order"), sealed, vendor.name,
            attempts=attempts, per_try_seconds=per_try_seconds, what=row["id"],
        )  # fmt: skip
        failpoint("agent.reply.received")
        try:
            conf = schemas.open_confirmation(
                reply, secrets=secrets, accept=accept, ring=ring, now=clock(), replay=None
            )
        except schemas.ProtocolError as err:
            log.warning("confirmation.rejected", code=err.code, error=str(err))
            raise AcceptError(
                f"the answer from {vendor.name} did not verify ({err.code}); nothing was stored as an order"
            ) from None
        if conf.receipt is None and conf.confirmation.msg.reason == "acceptance_expired":
            prior = None  # the vendor holds no order for it: accept afresh, once
            continue
        break
    c = conf.confirmation.msg
    if conf.receipt is None:
        store.set_accept_status(row["id"], "rejected")
        if c.reason not in ("offer_expired", "acceptance_expired"):  # the vendor's doing
            store.add_outcome(
                vendor_id=vendor.vendor_id,
                kind="rejected",
                positive=0.0,
                negative=0.5,
                at=clock(),
                ref=c.order_id,
            )
        return AcceptResult("rejected", c.reason, None, vendor.name, False, False)
    cs_wire, _ = schemas.countersign(
        conf.receipt, secrets, schemas.seal_key_for(vendor, conf.receipt.kid), clock()
    )
    store.add_receipt(
        receipt_id=conf.receipt.msg.id,
        order_id=c.order_id,
        intent_id=intent.id,
        offer_id=row["id"],
        vendor_id=vendor.vendor_id,
        vendor_name=vendor.name,
        receipt_wire=conf.receipt.wire,
        confirmation_wire=conf.confirmation.wire,
        countersignature_wire=cs_wire,
        created=clock().isoformat(),
        outcome_at=clock(),
    )
    failpoint("agent.receipt.stored")
    stored = store.receipt_for_offer(row["id"])
    assert stored is not None
    acknowledged = await deliver_countersignature(session, store, stored, per_try_seconds)
    return AcceptResult("confirmed", "", conf.receipt, vendor.name, acknowledged, prior is not None)


async def deliver_countersignature(
    session: AgentSession, store: AgentStore, receipt: sqlite3.Row, per_try_seconds: float = 5.0
) -> bool:
    """Send the stored countersignature to the vendor (sealed afresh) and record its
    acknowledgement. Safe to repeat: the vendor answers a copy it already keeps."""
    profile, _, seal_to = _receipt_vendor(store, receipt)
    sealed = schemas.seal(seal_to, schemas.pack(receipt["countersignature_wire"]))
    subject = schemas.vendor_subject(profile.vendor_id, "receipt")
    bus = session._live()
    try:
        async with asyncio.timeout(per_try_seconds):
            ack = await bus.request(subject, sealed)
        stored = bool(json.loads(ack).get("stored"))
    except (TimeoutError, NoResponders, ValueError) as exc:
        log.warning(
            "countersignature.unacknowledged",
            receipt=receipt["receipt_id"],
            error=type(exc).__name__,
        )
        return False
    if stored:
        store.mark_acknowledged(receipt["receipt_id"])
    return stored


async def sync_receipts(
    session: AgentSession, store: AgentStore, per_try_seconds: float = 5.0
) -> tuple[int, int]:
    """Re-send every countersignature a vendor has not acknowledged: (sent, acknowledged)."""
    pending = [r for r in store.rows("receipts", "created") if not r["vendor_acknowledged"]]
    acked = 0
    for r in pending:
        acked += await deliver_countersignature(session, store, r, per_try_seconds)
    return len(pending), acked


async def _request_with_retries(
    session: AgentSession,
    subject: str,
    data: bytes,
    vendor_name: str,
    *,
    attempts: int,
    per_try_seconds: float,
    what: str,
) -> bytes:
    bus = session._live()
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(per_try_seconds):
                return await bus.request(subject, data)
        except (TimeoutError, NoResponders) as exc:
            log.warning("accept.retry", offer=what, attempt=attempt, error=type(exc).__name__)
            if attempt == attempts:
                break
            # NoResponders comes back at once while a vendor restarts: give it a moment.
            await asyncio.sleep(min(2.0, 0.2 * attempt))
    raise AcceptError(
        f"{vendor_name} did not answer after {attempts} tries; your acceptance is saved, run the same `intentcast accept` again later"
    )


class CancelError(AcceptError):
    """The cancellation could not be completed; the message says why and what to do."""


async def cancel_order(
    session: AgentSession,
    store: AgentStore,
    receipt_id: str,
    *,
    reason: str = "",
    per_try_seconds: float = 5.0,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[str, str]:
    """Ask the vendor to cancel the order a receipt records: (status, vendor's reason).
    ``("rejected", "cancelled")`` means the order is off. Safe to repeat."""
    session._live()
    rows = store.find_receipt(receipt_id)
    if len(rows) != 1:
        raise CancelError(
            f"expected one receipt starting {receipt_id!r}, found {len(rows)}; see `intentcast receipts`"
        )
    row = rows[0]
    _, secrets = _intent_keys(store, row["intent_id"])
    profile, receipt, seal_to = _receipt_vendor(store, row)
    cancel_wire, sealed = schemas.make_cancel(receipt, secrets, seal_to, reason, clock())
    store.set_cancel(row["receipt_id"], cancel_wire, "cancelling")
    reply = await _request_with_retries(
        session, schemas.vendor_subject(profile.vendor_id, "cancel"), sealed, profile.name,
        attempts=3, per_try_seconds=per_try_seconds, what=row["offer_id"],
    )  # fmt: skip
    cancel = schemas.verify(cancel_wire, schemas.Cancel, key=schemas.self_signed, now=None)
    try:
        answer = schemas.open_cancel_answer(
            reply,
            secrets=secrets,
            cancel=cancel,
            ring=schemas.KeyRing.from_profile(profile),
            now=clock(),
        )
    except schemas.ProtocolError as err:
        raise CancelError(f"the answer from {profile.name} did not verify ({err.code})") from None
    a = answer.msg
    done = a.status == "rejected" and a.reason == "cancelled"
    store.set_cancel(row["receipt_id"], cancel_wire, "cancelled" if done else "confirmed")
    return a.status, a.reason


def _intent_keys(store: AgentStore, intent_id: str) -> tuple[sqlite3.Row, schemas.IntentSecrets]:
    """A stored intent and the private keys it was cast with."""
    irow = store.intent(intent_id)
    assert irow is not None, intent_id
    return irow, schemas.IntentSecrets.from_hex(irow["sign_seed"], irow["seal_secret"])


def _receipt_vendor(
    store: AgentStore, receipt: sqlite3.Row
) -> tuple[schemas.VendorProfile, schemas.Verified[schemas.Receipt], str]:
    """For a stored receipt: the vendor's profile (kept with the offer), the receipt, and the
    key to seal messages about it to (the one beside the key that signed the receipt)."""
    offer = store.find_offer(receipt["offer_id"])[0]
    profile_wire = schemas.unpack(offer["bundle"], 2)[0]
    profile = schemas.verify(
        profile_wire, schemas.VendorProfile, key=schemas.self_signed, now=None
    ).msg
    r = schemas.verify(receipt["receipt_wire"], schemas.Receipt, key=schemas.self_signed, now=None)
    return profile, r, schemas.seal_key_for(profile, r.kid)
