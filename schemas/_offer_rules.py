"""What makes a verified offer fit to show: the checks of meaning that come after the
signature, in the order schemas/README.md lists them ("Offers fit to show").

A vendor's offer can be validly signed and still absurd: free, priced in two currencies,
arriving before it was made or after the person's deadline, for another quantity, or with a
total that is not its unit price times its quantity. Each rule has a stable code so that every
implementation drops the same offers for the same reasons."""

from __future__ import annotations

from datetime import date

from ._messages import Intent, Offer

__all__ = ["OFFER_RULES", "offer_fault"]

# code -> what the rule requires, in the order they are applied
OFFER_RULES: dict[str, str] = {
    "currency": "the total is in the intent's currency",
    "inconsistent": "the unit price is in the total's currency, and total = unit price x quantity",
    "free": "the total is above zero",
    "wrong_quantity": "the quantity is the intent's",
    "over_budget": "the total is at most the intent's max_price",
    "implausible_date": "delivery_by is on or after the day the offer was made",
    "too_late": "delivery_by is on or before the intent's wanted_by",
}


def offer_fault(intent: Intent, offer: Offer, made_on: date) -> tuple[str, str] | None:
    """The first rule ``offer`` breaks, as ``(code, what the person reads)``, or ``None``.
    ``made_on`` is the UTC date of the offer's signed ``created``."""
    total, unit = offer.total_price, offer.unit_price
    if total.currency != intent.max_price.currency:
        return "currency", f"priced in {total.currency}, you asked in {intent.max_price.currency}"
    if unit.currency != total.currency:
        return "inconsistent", f"unit price in {unit.currency} but total in {total.currency}"
    if unit.amount * offer.quantity != total.amount:
        return "inconsistent", f"total {total} is not {offer.quantity} x {unit}"
    if total.amount <= 0:
        return "free", f"a total of {total}: an offer must name a price above zero"
    if offer.quantity != intent.quantity:
        return "wrong_quantity", f"offers {offer.quantity}, you want {intent.quantity}"
    if total.amount > intent.max_price.amount:
        return "over_budget", f"{total} is over your limit of {intent.max_price}"
    if offer.delivery_by < made_on:
        return "implausible_date", f"arrives {offer.delivery_by}, before the offer was made"
    if offer.delivery_by > intent.wanted_by:
        return "too_late", f"arrives {offer.delivery_by}, after your deadline {intent.wanted_by}"
    return None
