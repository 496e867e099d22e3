"""The person's proffered terms and a vendor's terms, in one small typed vocabulary.

Matching is mechanical: :func:`match_terms` compares a person's clauses with a vendor's facts
and says, clause by clause, whether it is met. Must-have clauses filter; preferences score.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._patterns import Token

__all__ = [
    "BoolClause",
    "ClauseResult",
    "DaysClause",
    "SetClause",
    "Terms",
    "TermsMatch",
    "VendorTerms",
    "match_terms",
]

Weight = Annotated[int, msgspec.Meta(ge=0, le=10)]
Days = Annotated[int, msgspec.Meta(ge=0, le=36500)]
# Token (a short lowercase word) is checked by pattern after decoding.


class DaysClause(msgspec.Struct, frozen=True, omit_defaults=True):
    """A number of days or months, with whether it is a must-have or a weighted preference."""

    value: Days
    must: bool = True
    weight: Weight = 1


class BoolClause(msgspec.Struct, frozen=True, omit_defaults=True):
    value: bool = True
    must: bool = True
    weight: Weight = 1


class SetClause(msgspec.Struct, frozen=True, omit_defaults=True):
    """Acceptable values; the vendor must offer at least one of them."""

    value: Annotated[list[Token], msgspec.Meta(max_length=16)]
    must: bool = True
    weight: Weight = 1


class Terms(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    """What the person proffers. Every clause is optional; absent means "no opinion"."""

    agreement: Token | None = None
    data_retention_days: DaysClause | None = None  # vendor keeps personal data at most this long
    no_tracking: BoolClause | None = None  # no tracking beyond the transaction
    no_sharing: BoolClause | None = None  # no sharing with third parties
    contact_via_agent_only: BoolClause | None = None
    min_return_days: DaysClause | None = None
    min_warranty_months: DaysClause | None = None
    payment_methods: SetClause | None = None
    jurisdiction: SetClause | None = None


class VendorTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=False, kw_only=True):
    """What a vendor commits to, in the same vocabulary, as plain facts."""

    data_retention_days: Days
    no_tracking: bool
    no_sharing: bool
    contact_via_agent_only: bool
    return_days: Days
    warranty_months: Days
    payment_methods: Annotated[list[Token], msgspec.Meta(max_length=16)]
    jurisdiction: Token
    agreements: Annotated[list[Token], msgspec.Meta(max_length=16)] = []


class ClauseResult(msgspec.Struct, frozen=True):
    clause: str
    met: bool
    must: bool
    weight: int
    reason: str


class TermsMatch(msgspec.Struct, frozen=True):
    results: list[ClauseResult]

    @property
    def breaches(self) -> list[ClauseResult]:
        """Must-have clauses the vendor does not meet."""
        return [r for r in self.results if r.must and not r.met]

    @property
    def acceptable(self) -> bool:
        return not self.breaches

    @property
    def preference_score(self) -> float:
        """Weighted share of preference clauses met, in [0, 1]; 1.0 when there are none."""
        total = sum(r.weight for r in self.results if not r.must)
        if total == 0:
            return 1.0
        return sum(r.weight for r in self.results if not r.must and r.met) / total


def match_terms(person: Terms, vendor: VendorTerms) -> TermsMatch:
    """Compare each of the person's clauses with the vendor's facts."""
    out: list[ClauseResult] = []

    def add(name: str, clause: DaysClause | BoolClause | SetClause, met: bool, why: str) -> None:
        out.append(ClauseResult(name, met, clause.must, clause.weight, why))

    if (c := person.data_retention_days) is not None:
        v = vendor.data_retention_days
        add("data_retention_days", c, v <= c.value, f"keeps data {v} days (limit {c.value})")
    if (b := person.no_tracking) is not None:
        ok = vendor.no_tracking or not b.value
        add("no_tracking", b, ok, "does not track" if vendor.no_tracking else "tracks")
    if (b := person.no_sharing) is not None:
        ok = vendor.no_sharing or not b.value
        add("no_sharing", b, ok, "does not share" if vendor.no_sharing else "shares data")
    if (b := person.contact_via_agent_only) is not None:
        ok = vendor.contact_via_agent_only or not b.value
        why = "contacts via agent only" if vendor.contact_via_agent_only else "contacts directly"
        add("contact_via_agent_only", b, ok, why)
    if (c := person.min_return_days) is not None:
        v = vendor.return_days
        add("min_return_days", c, v >= c.value, f"{v}-day returns (want {c.value})")
    if (c := person.min_warranty_months) is not None:
        v = vendor.warranty_months
        add("min_warranty_months", c, v >= c.value, f"{v}-month warranty (want {c.value})")
    if (s := person.payment_methods) is not None:
        common = sorted(set(s.value) & set(vendor.payment_methods))
        why = f"accepts {', '.join(common)}" if common else "accepts none of your payment methods"
        add("payment_methods", s, bool(common), why)
    if (s := person.jurisdiction) is not None:
        ok = vendor.jurisdiction in s.value
        add("jurisdiction", s, ok, f"jurisdiction {vendor.jurisdiction}")
    return TermsMatch(out)
