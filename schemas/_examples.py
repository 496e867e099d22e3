"""Example values of the contract, defined once for the vectors, the tests, the benchmarks and
the simulator (pure: returns data). A change to a wire type is then made in one place."""

from __future__ import annotations

from typing import Any

import msgspec

from ._terms import VendorTerms

__all__ = ["example_vendor_terms"]

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
