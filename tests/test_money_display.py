"""Money by currency, over the real CLI and a real nats-server: amounts are parsed and shown
with ISO 4217's minor-unit exponent of their own currency (JPY 0, EUR 2, BHD 3), in the ranked
list, in history and on the web page; never divided by 100 whatever the currency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Agent, VendorFactory, _shared_dir, web_page


def _priced_in(tmp_path: Path, price: str, currency: str) -> None:
    """Sierra's catalog (as copied for this test) priced in ``currency``."""
    p = _shared_dir(tmp_path) / "catalogs" / "sierra.csv"
    head, *rows = p.read_text().splitlines()
    cols = head.split(",")
    out = [head]
    for row in rows:
        parts = row.split(",")
        parts[cols.index("price")], parts[cols.index("currency")] = price, currency
        out.append(",".join(parts))
    p.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize(
    ("price", "currency", "limit", "shown", "minor"),
    [
        ("19800", "JPY", "30000JPY", "19800 JPY", 19800),
        ("45.500", "BHD", "60BHD", "45.500 BHD", 45500),
        ("129.00", "EUR", "150EUR", "129.00 EUR", 12900),
    ],
)
def test_amounts_follow_their_currencys_exponent(
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    price: str,
    currency: str,
    limit: str,
    shown: str,
    minor: int,
) -> None:
    """A 2-person tent priced {price} {currency}: the JSON carries {minor} minor units, and
    the table, history and web page all print {shown}."""
    _priced_in(tmp_path, price, currency)
    vendor("sierra")
    args = person.want_args("--max-price", limit, "--expect", "1")
    got = json.loads(person.ok(*args))
    (offer,) = got["offers"]
    assert (offer["total_minor"], offer["currency"], offer["total"]) == (minor, currency, shown)
    table = person.ok(*[a for a in person.want_args("--max-price", limit, "--expect", "1")
                        if a != "--json"])  # fmt: skip
    assert shown in table
    history = person.ok("history")
    assert history.count(shown) == 2, history  # one offer per intent, two intents
    assert shown in web_page(person.home)
