"""A roster of standard agreements a person can name instead of spelling out clauses.

In the spirit of Customer Commons' #NoStalking and IEEE 7012 "MyTerms": the person points to an
agreement by id; it expands to clauses of the :class:`Terms` vocabulary, so matching stays
mechanical. The roster ships as data (``schemas/roster.json`` is generated from this table).
"""

from __future__ import annotations

import msgspec

from ._terms import BoolClause, DaysClause, Terms

__all__ = ["ROSTER", "Agreement", "expand_terms"]


class Agreement(msgspec.Struct, frozen=True):
    id: str
    title: str
    summary: str
    reference: str
    terms: Terms


ROSTER: dict[str, Agreement] = {
    a.id: a
    for a in (
        Agreement(
            id="nostalking",
            title="#NoStalking",
            summary="Use my data only for this transaction: don't track me beyond it and "
            "don't let others track me.",
            reference="Customer Commons #NoStalking",
            terms=Terms(no_tracking=BoolClause(), no_sharing=BoolClause()),
        ),
        Agreement(
            id="sd-base",
            title="Service delivery only",
            summary="Data is used only to deliver this purchase, kept at most 30 days, "
            "never shared, and all contact goes through my agent.",
            reference="IEEE 7012 (MyTerms) style service-delivery agreement",
            terms=Terms(
                data_retention_days=DaysClause(30),
                no_tracking=BoolClause(),
                no_sharing=BoolClause(),
                contact_via_agent_only=BoolClause(),
            ),
        ),
        Agreement(
            id="sd-consumer",
            title="Service delivery with consumer protections",
            summary="sd-base plus at least 14-day returns and a 24-month warranty.",
            reference="IEEE 7012 (MyTerms) style agreement with EU consumer-law minimums",
            terms=Terms(
                data_retention_days=DaysClause(30),
                no_tracking=BoolClause(),
                no_sharing=BoolClause(),
                contact_via_agent_only=BoolClause(),
                min_return_days=DaysClause(14),
                min_warranty_months=DaysClause(24),
            ),
        ),
    )
}

_CLAUSES = tuple(f for f in Terms.__struct_fields__ if f != "agreement")


def expand_terms(terms: Terms) -> Terms:
    """Fill clauses the person left empty from the agreement they named; theirs win.

    Raises ``KeyError`` with the known ids when the agreement is not on the roster.
    """
    if terms.agreement is None:
        return terms
    try:
        base = ROSTER[terms.agreement].terms
    except KeyError:
        raise KeyError(
            f"unknown agreement {terms.agreement!r}; the roster has: {', '.join(sorted(ROSTER))}"
        ) from None
    merged = {
        name: getattr(terms, name) if getattr(terms, name) is not None else getattr(base, name)
        for name in _CLAUSES
    }
    return Terms(agreement=terms.agreement, **merged)
