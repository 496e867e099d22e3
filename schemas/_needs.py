"""What fulfilment needs: an offer's ``needs`` names what its acceptance must disclose, and
this is the one rule both sides apply to say whether a disclosure has it."""

from __future__ import annotations

from collections.abc import Iterable

from ._messages import Disclosure

__all__ = ["NEED_FIELDS", "disclosure_for", "missing_needs"]

# Each need and the Disclosure fields that must be non-empty for it.
NEED_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "postal_address": ("address", "postcode", "city", "country"),
    "email": ("email",),
    "phone": ("phone",),
}


def missing_needs(needs: Iterable[str], disclosure: Disclosure) -> list[str]:
    """The Disclosure fields that ``needs`` asks for and ``disclosure`` leaves empty, in
    NEED_FIELDS order (empty: it can be fulfilled)."""
    wanted = [f for n in NEED_FIELDS if n in set(needs) for f in NEED_FIELDS[n]]
    return [f for f in wanted if not getattr(disclosure, f)]


def disclosure_for(needs: Iterable[str], details: Disclosure) -> Disclosure:
    """Exactly the fields of ``details`` that ``needs`` asks for, nothing more."""
    keep = {f for n in set(needs) for f in NEED_FIELDS.get(n, ())}
    return Disclosure(**{f: getattr(details, f) for f in keep})
