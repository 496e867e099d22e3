"""Accept only what was shown: whether a new acceptance of a stored offer may be made.

An offer is taken only if it was shown to the person for an intent of theirs (ranked, not
dropped), has not expired, and still passes the person's terms, budget and trust policy as
they are *now* (judged again with the same :class:`Ranker` that ranked it); and an intent
gets at most one order for the quantity it asked for unless the person says ``another``.
Every way in (the CLI, the web page, the simulator, the library) goes through here."""

from __future__ import annotations

from datetime import datetime

import msgspec

import schemas

from ._certified import note_certified
from ._home import RankingWeights, TrustPolicy
from ._ranking import Dropped, Ranker
from ._records import AcceptState, OfferRow, OrderState
from ._rereading import stored_offer
from ._screen import shown
from ._session import AcceptError
from ._store import AgentStore
from ._trust import TrustScorer

__all__ = ["NotAcceptable", "admit_offer", "check_quantity"]


class NotAcceptable(AcceptError):
    """The offer may not be accepted (dropped, expired, no longer acceptable, or the intent
    is already ordered); the message says which and what to do."""


def _drop_detail(store: AgentStore, offer: OfferRow) -> str:
    for d in store.drops():
        if (d.intent_id, d.vendor_id) == (offer.intent_id, offer.vendor_id) and d.reason not in (
            "duplicate",
        ):
            return f"{d.reason}: {shown(d.detail, 200)}"
    return "it was not among the offers ranked for you"


def _live_orders(store: AgentStore, intent_id: str, offer_id: str) -> list[str]:
    """Other offers of this intent with an acceptance out or an order standing."""
    out = []
    for a in store.accepts_for_intent(intent_id):
        if a.offer_id == offer_id or a.status is AcceptState.REJECTED:
            continue
        r = store.receipt_for_offer(a.offer_id)
        if r is not None and r.status is OrderState.CANCELLED:
            continue
        out.append(a.offer_id)
    return out


def check_quantity(
    store: AgentStore, intent: schemas.Intent, offer_id: str, *, another: bool
) -> None:
    """One order per intent (for the quantity it asked for) unless ``another``. Checked at
    admission for the message, and again inside the transaction that stores the acceptance,
    so that two accepts racing on one intent cannot both pass."""
    others = _live_orders(store, intent.id, offer_id)
    if others and not another:
        raise NotAcceptable(
            f"intent {intent.id[:8]} already has an order for the {intent.quantity} it asked for"
            f" (offer {others[0][:8]}); to order again on the same intent, add --another"
        )


def admit_offer(
    store: AgentStore,
    offer: OfferRow,
    intent: schemas.Intent,
    *,
    standing: schemas.Terms | None,
    trust: TrustScorer,
    policy: TrustPolicy,
    weights: RankingWeights,
    another: bool,
    now: datetime,
) -> schemas.OpenedOffer:
    """The stored offer, verified and judged afresh, or :class:`NotAcceptable` saying why.
    ``standing``: the person's standing terms now (their config); the offer must pass them
    as well as the terms the intent was cast with."""
    who = shown(offer.vendor_name)
    oid = offer.id[:8]
    if offer.rank is None:
        raise NotAcceptable(
            f"offer {oid} from {who} was dropped, never shown to you ({_drop_detail(store, offer)});"
            " it cannot be accepted: pick a ranked offer from `intentcast history`"
        )
    opened = stored_offer(store, offer.id, intent)
    expires = opened.offer.header.expires
    if expires <= now:
        raise NotAcceptable(
            f"offer {oid} from {who} expired at {expires.isoformat(timespec='seconds')};"
            " cast the intent again with `intentcast want`"
        )
    note_certified(trust, [opened], now)
    judged = [intent]
    if standing is not None and standing != intent.terms:
        judged.append(msgspec.structs.replace(intent, terms=standing))
    for i in judged:
        verdict = Ranker(i, trust=trust, policy=policy, weights=weights, now=now).judge(opened)
        if isinstance(verdict, Dropped):
            raise NotAcceptable(
                f"offer {oid} from {who} no longer passes your terms ({verdict.reason}:"
                f" {shown(verdict.detail, 200)}); it cannot be accepted"
            )
    check_quantity(store, intent, offer.id, another=another)
    return opened
