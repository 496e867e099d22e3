"""The agent as one object: what the CLI, the web page, the simulator and the bench all use.

::

    async with Agent(Home(path), NatsTransport(bus), reply_prefix=bus.reply_prefix) as a:
        got = await a.want(category="outdoor/tents", want=schemas.Want("tent"), ...)
        res = await a.accept(got.ranked[0].offer.id[:8])

Without a transport (or session) it still reads: receipts, history, rate, export. The
business rules live here once each: which offer or receipt a typed prefix means, which
payment method to pay with, what a rating is worth, and which offers may be accepted.

About 300 lines: one method per thing a person does, each a few lines over the rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Literal

import schemas
from runtime import Mailboxes, Transport

from ._accepting import AcceptResult, accept_offer
from ._admission import NotAcceptable, admit_offer
from ._aftercare import Aftercare, Changed, Delivered, Forgotten
from ._cancelling import cancel_order
from ._collecting import Collected, cast_and_collect
from ._export import KDF_MODERATE, export_document
from ._home import AgentConfig, Home, PersonDetails
from ._opening import OfferOpener
from ._profile import fulfilment_disclosure
from ._receipts import check_all, sync_receipts
from ._records import IntentHistory, OfferRow, ReceiptRow, StatusRow
from ._relationships import Holding
from ._rereading import CheckedReceipt, stored_intent, stored_offer
from ._session import AcceptError, AgentSession, utcnow
from ._status import Inbox, agree_to_cancel, collect_statuses, settle_state, statuses_of
from ._store import AgentStore, UnknownReceipt
from ._trust import BetaTrust, TrustScore, TrustScorer, rating_evidence

__all__ = ["OUTCOMES", "Agent", "Cancelled", "Rated"]

OUTCOMES = ("delivered", "late", "not_delivered", "not_as_described", "returned")


@dataclass(frozen=True)
class Rated:
    receipt: ReceiptRow
    score: int
    outcome: str
    trust: TrustScore  # the vendor's trust after this rating


@dataclass(frozen=True)
class Cancelled:
    status: str
    reason: str

    @property
    def done(self) -> bool:
        """The vendor signed that the order is off."""
        return self.status == "rejected" and self.reason == "cancelled"


class Agent:
    """The person's agent over their home; an async context manager that opens the store
    (and a session over ``transport``, or uses ``session``, which its owner closes).

    ``config`` replaces the home's config file (the simulator's people have none); the
    home's directory is then made if it is missing."""

    def __init__(
        self,
        home: Home,
        transport: Transport | None = None,
        *,
        session: AgentSession | None = None,
        config: AgentConfig | None = None,
        reply_prefix: str = schemas.REPLY_ROOT,
        opener: OfferOpener | None = None,
        per_try_seconds: float = 5.0,
        attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if transport is not None and session is not None:
            raise ValueError("expected a transport or a session, got both")
        self.home = home
        self._make_home = config is not None
        self.config = config if config is not None else home.config()
        self.reply_prefix, self.clock = reply_prefix, clock
        self.per_try_seconds, self.attempts = per_try_seconds, attempts
        self._own_session = None if transport is None else AgentSession(transport, opener=opener)
        self._session = session or self._own_session
        self._store: AgentStore | None = None
        self._trust: TrustScorer | None = None
        self._aftercare = Aftercare(self)

    async def __aenter__(self) -> Agent:
        if self._make_home:
            self.home.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._store = AgentStore(self.home.db_path)
        try:
            self._trust = BetaTrust(self._store, self.config.trust)
            check_all(self._store)  # receipts that do not verify never count for trust
            if self._own_session is not None:
                await self._own_session.__aenter__()
        except BaseException:
            self._store.close()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._own_session is not None:
                self._own_session.close()
        finally:
            if self._store is not None:
                self._store.close()

    @property
    def store(self) -> AgentStore:
        if self._store is None:
            raise RuntimeError("expected an open agent (async with Agent(...)), it is not open")
        return self._store

    @property
    def session(self) -> AgentSession | None:
        """The session this agent talks through (None: it only reads)."""
        return self._session

    @property
    def trust(self) -> TrustScorer:
        """What judges vendors: the person's own evidence, unless replaced (by one that also
        knows the registry, say) for this agent's lifetime."""
        if self._trust is None:
            raise RuntimeError("expected an open agent (async with Agent(...)), got a closed one")
        return self._trust

    @trust.setter
    def trust(self, scorer: TrustScorer) -> None:
        self._trust = scorer

    def _live(self) -> AgentSession:
        if self._session is None:
            raise RuntimeError("expected an agent with a transport, got one without")
        return self._session

    # --- collecting -------------------------------------------------------------------

    async def want(
        self,
        *,
        category: str,
        want: schemas.Want,
        max_price: schemas.Money,
        wanted_by: date,
        region: schemas.Region,
        quantity: int = 1,
        terms: schemas.Terms | None = None,
        window: float = 3.0,
        expect: int | None = None,
        ttl: timedelta | None = None,
        on_cast: Callable[[schemas.CastIntent], None] | None = None,
    ) -> Collected:
        """Cast an intent (``terms``: the person's standing terms unless given) and rank the
        offers that come back within ``window`` seconds (or once ``expect`` arrived)."""
        cast = schemas.cast_intent(
            category=category, want=want, quantity=quantity, max_price=max_price,
            wanted_by=wanted_by, region=region,
            terms=terms if terms is not None else self.standing_terms() or schemas.Terms(),
            now=self.clock(), ttl=ttl or schemas.intent_lifetime(window),
            reply_prefix=self.reply_prefix,
        )  # fmt: skip
        if on_cast is not None:
            on_cast(cast)
        return await self.cast(cast, window=window, expect=expect)

    async def cast(
        self, cast: schemas.CastIntent, *, window: float, expect: int | None = None
    ) -> Collected:
        """Broadcast an intent already made, and rank what comes back."""
        cfg = self.config
        return await cast_and_collect(
            self._live(), cast, window=window, store=self.store, trust=self.trust,
            policy=cfg.trust, weights=cfg.ranking, expect=expect, clock=self.clock,
        )  # fmt: skip

    def standing_terms(self) -> schemas.Terms | None:
        """The person's standing agreement from their config, expanded; None without one."""
        a = self.config.agreement
        return None if a is None else schemas.expand_terms(schemas.Terms(agreement=a))

    # --- accepting --------------------------------------------------------------------

    def offer(self, prefix: str) -> OfferRow:
        """The one stored offer whose id starts with ``prefix``."""
        rows = self.store.find_offers(prefix) if prefix else []
        if not rows:
            raise AcceptError(
                f"no offer {prefix!r} in your history; run `intentcast history` to see offers"
            )
        if len(rows) > 1:
            raise AcceptError(f"{prefix!r} matches {len(rows)} offers; type more of the id")
        return rows[0]

    def payment_method(self, offer: schemas.Offer) -> str:
        """The first of the person's methods the vendor takes, else the vendor's first."""
        theirs = offer.terms.payment_methods
        mine = self.config.person.payment_methods
        return next((m for m in mine if m in theirs), theirs[0] if theirs else "card")

    def disclosure(self, offer: schemas.Offer, *, check: bool = True) -> schemas.Disclosure:
        """What the accepted vendor alone gets to know: exactly what its offer needs (with
        ``check``, :class:`NotFulfillable` when the person has not given it)."""
        return fulfilment_disclosure(self.config, offer, check=check)

    async def accept(
        self, offer_prefix: str, pay: str | None = None, another: bool = False
    ) -> AcceptResult:
        """Accept an offer that was shown to the person and still passes their terms (see
        ``_admission``); an offer already accepted is taken up where it was left."""
        session, store = self._live(), self.store
        row = self.offer(offer_prefix)
        try:
            intent = stored_intent(store, row.intent_id).msg
            if store.accept(row.id) is None and store.receipt_for_offer(row.id) is None:
                cfg = self.config
                opened = admit_offer(
                    store, row, intent, standing=self.standing_terms(), trust=self.trust,
                    policy=cfg.trust, weights=cfg.ranking, another=another, now=self.clock(),
                )  # fmt: skip
                disclosure = self.disclosure(opened.offer.msg)  # before anything is sent
            else:  # an acceptance went out: an order may exist whatever the offer's expiry says
                opened = stored_offer(store, row.id, intent)
                disclosure = self.disclosure(opened.offer.msg, check=False)
        except schemas.ProtocolError as err:
            raise NotAcceptable(
                f"offer {row.id[:8]} as stored does not verify ({err.code}); it cannot be accepted"
            ) from None
        return await accept_offer(
            session, store, opened, disclosure=disclosure,
            payment_method=pay or self.payment_method(opened.offer.msg), another=another,
            per_try_seconds=self.per_try_seconds, attempts=self.attempts, clock=self.clock,
        )  # fmt: skip

    # --- after the order --------------------------------------------------------------

    def receipt(self, prefix: str) -> ReceiptRow:
        """The one stored receipt whose id starts with ``prefix``."""
        rows = self.store.find_receipts(prefix) if prefix else []
        if len(rows) != 1:
            raise UnknownReceipt(
                f"expected one receipt starting {prefix!r}, found {len(rows)}; see `intentcast receipts`"
            )
        return rows[0]

    async def cancel(self, receipt_prefix: str, reason: str = "") -> Cancelled:
        """Cancel an order; of one the vendor already cancelled, agree with it (it then no
        longer counts against the vendor's trust) without asking the vendor again."""
        row = self.receipt(receipt_prefix)
        if agree_to_cancel(self.store, row.receipt_id):
            return Cancelled("rejected", "cancelled")
        status, why = await cancel_order(
            self._live(), self.store, row, reason=reason,
            per_try_seconds=self.per_try_seconds, clock=self.clock,
        )  # fmt: skip
        settle_state(self.store, row.receipt_id)
        return Cancelled(status, why)

    async def sync(self) -> tuple[int, int]:
        """Deliver pending countersignatures: (sent, acknowledged)."""
        return await sync_receipts(self._live(), self.store, self.per_try_seconds, self.clock)

    async def inbox(self, mailboxes: Mailboxes) -> Inbox:
        """Pick up the statuses waiting in the mailboxes of the person's orders (see
        ``_status``): verified, kept, applied once."""
        return await collect_statuses(self.store, mailboxes, self.clock)

    def statuses(self, receipt_prefix: str | None = None) -> list[StatusRow]:
        """The vendors' signed statuses kept, of one receipt or of all."""
        rid = self.receipt(receipt_prefix).receipt_id if receipt_prefix else None
        return statuses_of(self.store, rid)

    def delivered(self, receipt_prefix: str, score: int = 5) -> Rated:
        """The person confirms an order arrived: a ``delivered`` rating (their own evidence
        for trust, publishable with ``rate --publish``), whatever the vendor said."""
        return self.rate(receipt_prefix, score, "delivered")

    def rate(self, receipt_prefix: str, score: int, outcome: str = "delivered") -> Rated:
        """The person's rating of an order (one per receipt: a later one replaces it)."""
        if not 1 <= score <= 5 or outcome not in OUTCOMES:
            raise ValueError(
                f"expected a score 1-5 and one of {OUTCOMES}, got {score}, {outcome!r}"
            )
        row = self.receipt(receipt_prefix)
        pos, neg = rating_evidence(score, outcome)
        rated = self.store.rate(row.receipt_id, positive=pos, negative=neg, at=self.clock())
        return Rated(rated, score, outcome, self.trust.score(rated.vendor_id, self.clock()))

    def confirm_delivered(self, receipt_prefix: str, score: int = 5) -> Delivered:
        """:meth:`delivered`, and the seq of the vendor's signed ``delivered`` if it sent one."""
        return self._aftercare.delivered(receipt_prefix, score)

    # --- relationships: what vendors hold, changed once for all, erased (``_aftercare``) ---

    def relationships(self) -> list[Holding]:
        return self._aftercare.relationships()

    def relationships_pending(self) -> bool:
        return self._aftercare.pending()

    async def change_details(self, details: PersonDetails) -> Changed:
        return await self._aftercare.change_details(details)

    async def forget(self, vendor: str) -> Forgotten:
        return await self._aftercare.forget(vendor)

    async def retry_relationships(self, per_try_seconds: float | None = None) -> tuple[int, int]:
        return await self._aftercare.retry(per_try_seconds)

    def receipts(self) -> list[CheckedReceipt]:
        """Every receipt, each re-read against the keys it must come from."""
        return check_all(self.store)

    def history(self) -> list[IntentHistory]:
        store = self.store
        offers, drops = store.offers(), store.drops()
        return [
            IntentHistory(
                i,
                [o for o in offers if o.intent_id == i.id],
                [d for d in drops if d.intent_id == i.id],
                statuses_of(store, intent_id=i.id),
            )
            for i in store.intents()
        ]

    def export(
        self,
        *,
        keys: Literal["none", "sealed", "plaintext"] = "none",
        passphrase: str | None = None,
        kdf_limits: tuple[int, int] = KDF_MODERATE,
    ) -> bytes:
        """Everything this agent holds, as an export file (see ``_export``)."""
        return export_document(
            self.store, self.home, keys=keys, passphrase=passphrase, kdf_limits=kdf_limits
        )
