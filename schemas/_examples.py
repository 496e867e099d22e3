"""Example values of the contract, defined once for the vectors, the tests, the benchmarks and
the simulator (pure: returns data). A change to a wire type is then made in one place."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from ._messages import Region, Want
from ._money import Money
from ._offering import CastIntent, cast_intent
from ._roster import expand_terms
from ._terms import Terms, VendorTerms

__all__ = ["example_tent_intent", "example_vendor_terms"]

_FAIR = VendorTerms(
    data_retention_days=30, no_tracking=True, no_sharing=True, contact_via_agent_only=True,
    return_days=30, warranty_months=24, payment_methods=["card"], jurisdiction="es",
    agreements=["nostalking"],
)  # fmt: skip


def example_vendor_terms(**change: Any) -> VendorTerms:
    """A vendor that honours #NoStalking: 30 days' retention, no tracking or sharing, contact
    through the agent only, 30-day returns, a 24-month warranty, card, Spanish law; ``change``
    replaces any of those by name."""
    return msgspec.structs.replace(_FAIR, **change)


def example_tent_intent(
    *,
    now: datetime,
    wanted_in: timedelta = timedelta(days=20),
    ttl: timedelta = timedelta(minutes=5),
    **change: Any,
) -> CastIntent:
    """A person's intent for a 2-person tent in Madrid (ES-28), up to 150 EUR, wanted
    ``wanted_in`` from ``now``, on #NoStalking terms, with fresh keys; ``change`` replaces any
    field of :func:`cast_intent` by name (``quantity``, ``max_price``, ``want``, ...)."""
    fields: dict[str, Any] = dict(
        category="outdoor/tents", want=Want("2-person tent"), quantity=1,
        max_price=Money(15000, "EUR"), wanted_by=(now + wanted_in).date(),
        region=Region("ES", "28"), terms=expand_terms(Terms(agreement="nostalking")),
        now=now, ttl=ttl,
    )  # fmt: skip
    fields.update(change)
    return cast_intent(**fields)
