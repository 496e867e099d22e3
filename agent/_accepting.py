"""Accepting an offer: an explicit state machine, stored by state name.

::

    (none) --accept-------------> SENT       a new acceptance stored, then sent
    SENT ----receipt------------> CONFIRMED  the vendor's receipt verified and stored
    SENT ----acceptance_expired-> RENEWED    a fresh acceptance stored and sent, once
    SENT ----refused------------> REJECTED   any other signed refusal
    RENEWED -receipt------------> CONFIRMED
    RENEWED -acceptance_expired-> REJECTED   the second expiry is final
    RENEWED -refused------------> REJECTED
    CONFIRMED -receipt_missing--> SENT       the row is gone: re-send the same acceptance

Every transition is in :data:`TRANSITIONS` and taken by :func:`transition`; the store holds
the state's name. Whether a *new* acceptance may be made at all (the offer was shown, is
live, still passes the person's terms, and the intent is not already ordered) is
``_admission``'s."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

import schemas
from runtime import failpoint

from ._admission import check_quantity
from ._answers import AnswerCheck, VendorTooOld, ask_vendor
from ._receipts import deliver_countersignature
from ._records import AcceptRow, AcceptState, ReceiptRow
from ._rereading import check_receipt, person_key, stored_intent
from ._session import AcceptError, AgentSession, utcnow
from ._store import AgentStore

__all__ = ["TRANSITIONS", "AcceptEvent", "AcceptResult", "accept_offer", "transition"]

log = structlog.get_logger("intentcast.agent")
S = AcceptState


class AcceptEvent(enum.StrEnum):
    ACCEPT = "accept"
    RECEIPT = "receipt"
    ACCEPTANCE_EXPIRED = "acceptance_expired"
    REFUSED = "refused"
    RECEIPT_MISSING = "receipt_missing"


E = AcceptEvent
TRANSITIONS: dict[tuple[AcceptState | None, AcceptEvent], AcceptState] = {
    (None, E.ACCEPT): S.SENT,
    (S.SENT, E.RECEIPT): S.CONFIRMED,
    (S.SENT, E.ACCEPTANCE_EXPIRED): S.RENEWED,
    (S.SENT, E.REFUSED): S.REJECTED,
    (S.RENEWED, E.RECEIPT): S.CONFIRMED,
    (S.RENEWED, E.ACCEPTANCE_EXPIRED): S.REJECTED,
    (S.RENEWED, E.REFUSED): S.REJECTED,
    (S.CONFIRMED, E.RECEIPT_MISSING): S.SENT,
}
AWAITING = frozenset({S.SENT, S.RENEWED})  # an acceptance is out; its answer is not held


def transition(state: AcceptState | None, event: AcceptEvent) -> AcceptState:
    """The state after ``event``; a pair not in :data:`TRANSITIONS` is a bug of ours."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise AssertionError(f"expected a transition from {state} on {event}, got none") from None


@dataclass(frozen=True)
class AcceptResult:
    status: AcceptState  # CONFIRMED or REJECTED
    reason: str
    receipt: schemas.Verified[schemas.Receipt] | None
    vendor_name: str
    vendor_acknowledged: bool
    repeated: bool
    problem: str = ""  # why the countersignature is not acknowledged, when the agent knows


@dataclass
class _Acceptance:
    """One offer's acceptance as it moves through its states."""

    session: AgentSession
    store: AgentStore
    offer: schemas.OpenedOffer
    intent: schemas.Verified[schemas.Intent]
    secrets: schemas.IntentSecrets
    disclosure: schemas.Disclosure
    payment_method: str
    another: bool
    clock: Callable[[], datetime]

    @property
    def vendor(self) -> schemas.VendorProfile:
        return self.offer.profile.msg

    def store_new(self, state: AcceptState) -> None:
        accept, sealed = schemas.make_accept(
            intent_wire=self.intent.wire, intent=self.intent.msg, secrets=self.secrets,
            offer=self.offer, disclosure=self.disclosure, payment_method=self.payment_method,
            now=self.clock(),
        )  # fmt: skip
        with self.store.transaction():
            check_quantity(
                self.store, self.intent.msg, self.offer.offer.msg.id, another=self.another
            )
            self.store.add_accept(
                offer_id=self.offer.offer.msg.id, intent_id=self.intent.msg.id,
                vendor_id=self.vendor.vendor_id, accept_wire=accept.wire, sealed=sealed,
                created=self.clock(), state=state,
            )  # fmt: skip
        failpoint("agent.accept.stored")

    async def send(
        self, row: AcceptRow, attempts: int, per_try: float
    ) -> schemas.OpenedConfirmation:
        """Send the stored acceptance; the first answer that verifies as the vendor's answer
        to exactly this acceptance (anything else on the inbox is counted and ignored)."""
        accept = schemas.verify(
            row.accept_wire, schemas.Accept, key=person_key(self.intent.msg), now=None
        )
        ring = schemas.KeyRing.from_profile(self.vendor)

        def open_answer(data: bytes) -> schemas.OpenedConfirmation:
            return schemas.open_confirmation(
                data, secrets=self.secrets, accept=accept, ring=ring, now=self.clock(),
                replay=None,
            )  # fmt: skip

        check = AnswerCheck(open_answer, what="acceptance", about=row.offer_id)
        conf = await ask_vendor(
            self.session, schemas.vendor_subject(self.vendor.vendor_id, "order"), row.sealed,
            check, self.vendor.name, attempts=attempts, per_try_seconds=per_try,
            then="your acceptance is saved, run the same `intentcast accept` again later",
        )  # fmt: skip
        failpoint("agent.reply.received")
        return conf

    def keep_receipt(self, conf: schemas.OpenedConfirmation, state: AcceptState) -> None:
        receipt, c = conf.receipt, conf.confirmation.msg
        assert receipt is not None and state is S.CONFIRMED
        cs_wire, _ = schemas.countersign(
            receipt, self.secrets, schemas.seal_key_for(self.vendor, receipt.kid), self.clock()
        )
        self.store.add_receipt(
            receipt_id=receipt.msg.id, order_id=c.order_id, intent_id=self.intent.msg.id,
            offer_id=self.offer.offer.msg.id, vendor_id=self.vendor.vendor_id,
            vendor_name=self.vendor.name, receipt_wire=receipt.wire,
            confirmation_wire=conf.confirmation.wire, countersignature_wire=cs_wire,
            created=self.clock().isoformat(), outcome_at=self.clock(), accept_state=state,
        )  # fmt: skip
        failpoint("agent.receipt.stored")

    def keep_refusal(self, conf: schemas.OpenedConfirmation, state: AcceptState) -> None:
        c = conf.confirmation.msg
        with self.store.transaction():
            self.store.set_accept_state(self.offer.offer.msg.id, state)
            if c.reason not in ("offer_expired", "acceptance_expired"):  # the vendor's doing
                self.store.add_outcome(
                    vendor_id=self.vendor.vendor_id, kind="rejected", positive=0.0,
                    negative=0.5, at=self.clock(), ref=c.order_id,
                )  # fmt: skip


def _event(conf: schemas.OpenedConfirmation) -> AcceptEvent:
    if conf.receipt is not None:
        return E.RECEIPT
    if conf.confirmation.msg.reason == "acceptance_expired":
        return E.ACCEPTANCE_EXPIRED
    return E.REFUSED


async def accept_offer(
    session: AgentSession,
    store: AgentStore,
    offer: schemas.OpenedOffer,
    *,
    disclosure: schemas.Disclosure,
    payment_method: str,
    another: bool = False,
    per_try_seconds: float = 5.0,
    attempts: int = 3,
    clock: Callable[[], datetime] = utcnow,
) -> AcceptResult:
    """Take one stored offer, already admitted (``_admission``), through its acceptance.
    Safe to repeat: a stored acceptance is re-sent as the same bytes, and the vendor answers
    a repeated acceptance with the order it already made."""
    session.live()
    oid, vendor = offer.offer.msg.id, offer.profile.msg
    intent = stored_intent(store, offer.offer.msg.intent_id)
    done = store.receipt_for_offer(oid)
    if done is not None:
        checked = check_receipt(store, done)
        if checked.order is None:
            raise AcceptError(
                f"offer {oid[:8]} was accepted, but the receipt kept for it does not verify"
                f" ({checked.problem}); see `intentcast receipts`"
            )
        acked, problem = bool(done.vendor_acknowledged), ""
        if not acked:
            acked, problem = await _deliver(session, store, done, per_try_seconds, clock)
        return AcceptResult(
            S.CONFIRMED, "", checked.order.receipt, vendor.name, acked, True, problem
        )
    a = _Acceptance(
        session, store, offer, intent, store.intent_secrets(intent.msg.id), disclosure,
        payment_method, another, clock,
    )  # fmt: skip
    row = store.accept(oid)
    state = None if row is None else row.status
    repeated = row is not None
    if state is S.CONFIRMED:  # the receipt row is gone
        state = transition(state, E.RECEIPT_MISSING)
        store.set_accept_state(oid, state)
    if state is S.REJECTED:
        raise AcceptError(
            f"{vendor.name} already declined offer {oid[:8]}; pick another offer from `intentcast history`"
        )
    if state is None:
        state = transition(None, E.ACCEPT)
        a.store_new(state)
    conf = None
    while state in AWAITING:
        row = store.accept(oid)
        assert row is not None
        conf = await a.send(row, attempts, per_try_seconds)
        state = transition(state, _event(conf))
        log.info("accept.state", offer=oid, state=str(state))
        if state is S.RENEWED:
            a.store_new(state)
        elif state is S.CONFIRMED:
            a.keep_receipt(conf, state)
        else:
            a.keep_refusal(conf, state)
    assert conf is not None
    if conf.receipt is None:
        return AcceptResult(
            S.REJECTED, conf.confirmation.msg.reason, None, vendor.name, False, False
        )
    stored = store.receipt_for_offer(oid)
    assert stored is not None
    acked, problem = await _deliver(session, store, stored, per_try_seconds, clock)
    return AcceptResult(S.CONFIRMED, "", conf.receipt, vendor.name, acked, repeated, problem)


async def _deliver(
    session: AgentSession,
    store: AgentStore,
    row: ReceiptRow,
    per_try_seconds: float,
    clock: Callable[[], datetime],
) -> tuple[bool, str]:
    """The countersignature delivered: (acknowledged, why not when the agent knows). The
    order stands either way: the receipt is stored, and `sync` delivers it later."""
    try:
        return await deliver_countersignature(session, store, row, per_try_seconds, clock), ""
    except VendorTooOld as exc:
        return False, str(exc)
