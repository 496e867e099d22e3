"""Money as integer minor units plus an ISO 4217 currency code."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

import msgspec

from ._currencies import ISO_4217
from ._patterns import Currency

__all__ = ["CURRENCY_EXPONENTS", "Money", "parse_money"]

# The currencies the project knows (people can name them in a budget), with their exponents
# from ISO 4217. Unknown codes are refused rather than guessed, since a wrong exponent is a
# hundredfold price error.
CURRENCY_EXPONENTS: dict[str, int] = {
    c: ISO_4217[c]
    for c in (
        "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HUF", "INR", "JPY",
        "KRW", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "USD", "ZAR", "BHD", "KWD",
    )
}  # fmt: skip

# Currency is checked by pattern after decoding, with the other patterned fields.
MinorUnits = Annotated[int, msgspec.Meta(ge=0, le=10**15, description="Amount in minor units")]


class Money(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """An amount in minor units (cents for EUR) and its currency."""

    amount: MinorUnits
    currency: Currency

    def __str__(self) -> str:
        exp = CURRENCY_EXPONENTS.get(self.currency, 2)
        if exp == 0:
            return f"{self.amount} {self.currency}"
        whole, frac = divmod(self.amount, 10**exp)
        return f"{whole}.{frac:0{exp}d} {self.currency}"


_MONEY_RE = re.compile(r"^\s*(?:([A-Za-z]{3})\s*)?([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]{3})?\s*$")


def parse_money(text: str) -> Money:
    """Parse ``150EUR``, ``150.50 EUR`` or ``EUR 150`` into :class:`Money`.

    Raises ``ValueError`` whose message says what was expected and what arrived.
    """
    m = _MONEY_RE.match(text)
    if not m or bool(m.group(1)) == bool(m.group(3)):
        raise ValueError(
            f"expected an amount with a currency such as '150EUR' or '19.99 USD', got {text!r}"
        )
    currency = (m.group(1) or m.group(3) or "").upper()
    if currency not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValueError(f"expected a known ISO 4217 currency ({known}), got {currency!r}")
    exp = CURRENCY_EXPONENTS[currency]
    try:
        value = Decimal(m.group(2))
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"expected a decimal amount, got {m.group(2)!r}") from None
    minor = value * (10**exp)
    if minor != minor.to_integral_value():
        raise ValueError(
            f"expected at most {exp} decimal places for {currency}, got {m.group(2)!r}"
        )
    return Money(int(minor), currency)
