"""Intent files (`intentcast want --from FILE`) are checked key by key through the real CLI:
every unknown key, wrong type and out-of-range value is a line naming the file and the key's
path, exit 2, no traceback, nothing cast; a good file is cast as written."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import Agent, VendorFactory, agent_db

BY = (date.today() + timedelta(days=18)).isoformat()
GOOD = f"""\
description = "2-person tent"
category = "outdoor/tents"
max_price = "150EUR"
by = {BY}
region = "ES-28"
quantity = 1
terms = "nostalking"

[terms_clauses]
min_warranty_months = {{ value = 12 }}
min_return_days = {{ value = 14, must = false, weight = 3 }}
"""


def _errors(person: Agent, path: Path) -> list[str]:
    cp = person.run("want", "--from", str(path), "--wait", "10ms")
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    assert "Traceback" not in cp.stderr and cp.stdout == ""
    lines = cp.stderr.splitlines()
    assert all(ln.startswith("intentcast: error: ") for ln in lines), lines
    return [ln.removeprefix("intentcast: error: ") for ln in lines]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ('colour = "green"', ["colour: unknown key; expected one of attributes, by,"]),
        ("quantiy = 2", ["quantiy: unknown key", "did you mean 'quantity'?"]),
        ("quantity = 0", ["quantity: expected greater than or equal to 1, got int 0"]),
        ('quantity = "two"', ["quantity: expected a valid integer, got str 'two'"]),
        ("by = 5", ["by: expected a date such as 2026-12-20, got int 5"]),
        (
            '[terms_clauses]\nmin_warranty_months = { value = "lots" }',
            ["terms_clauses.min_warranty_months.value: expected int, got str"],
        ),
        (
            "[terms_clauses]\nno_trackin = { value = true }",
            ["terms_clauses.no_trackin: unknown clause", "did you mean 'no_tracking'?"],
        ),
        (
            "[terms_clauses]\nmin_return_days = { value = -3 }",
            ["terms_clauses.min_return_days.value: expected int >= 0"],
        ),
        (
            '[terms_clauses]\npayment_methods = { value = ["Card!"] }',
            ["terms_clauses.payment_methods.value: expected lowercase words", "got 'Card!'"],
        ),
    ],
)
def test_each_bad_key_is_one_line_with_its_path(
    person: Agent, tmp_path: Path, change: str, says: list[str]
) -> None:
    """A file with one bad key gives exactly one line, naming the file and the key."""
    top, clauses = GOOD.split("[terms_clauses]\n")
    if change.startswith("[terms_clauses]"):
        text = top + change + "\n"
    else:
        key = change.split(" = ")[0]
        lines = [ln for ln in top.splitlines() if not ln.startswith(f"{key} =")]
        text = "\n".join([change, *lines]) + "\n[terms_clauses]\n" + clauses
    f = tmp_path / "intent.toml"
    f.write_text(text)
    (line,) = _errors(person, f)
    assert line.startswith(f"{f}: ")
    for part in says:
        assert part in line, line
    assert agent_db(person.home).execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 0


def test_every_problem_of_a_file_is_listed_at_once(person: Agent, tmp_path: Path) -> None:
    """Three problems, three lines, in a JSON file as in a TOML one."""
    f = tmp_path / "intent.json"
    f.write_text(json.dumps({"description": "tent", "quantity": -1, "colour": "x", "by": []}))
    lines = _errors(person, f)
    assert len(lines) == 3, lines
    assert {ln.split(": ")[1] for ln in lines} == {"quantity", "colour", "by"}


def test_a_file_that_is_not_toml_or_is_missing_is_one_line(person: Agent, tmp_path: Path) -> None:
    """Unparseable and missing files each say so in one line."""
    bad = tmp_path / "intent.toml"
    bad.write_text("description = \n")
    (line,) = _errors(person, bad)
    assert "is not valid TOML" in line
    (line,) = _errors(person, tmp_path / "nothing.toml")
    assert line == f"--from: no file {tmp_path / 'nothing.toml'}"


@pytest.mark.parametrize("quantity", ["0", "-2"])
def test_a_quantity_below_one_on_the_command_line_is_refused(person: Agent, quantity: str) -> None:
    """--quantity 0 was sent as 1; now it is one line and exit 2."""
    cp = person.run(*person.want_args("--quantity", quantity))
    assert cp.returncode == 2
    assert (
        cp.stderr.strip() == f"intentcast: error: --quantity: expected 1 to 1000000, got {quantity}"
    )


def test_a_good_file_is_cast_with_its_clauses(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """The example file casts; its must-have and weighted clauses travel in the intent."""
    vendor("sierra")
    f = tmp_path / "intent.toml"
    f.write_text(GOOD)
    got = json.loads(person.ok("want", "--from", str(f), "--expect", "1", "--json"))
    assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
    wire = agent_db(person.home).execute("SELECT wire FROM intents").fetchone()[0]
    assert b'"min_warranty_months":{"value":12}' in wire
    assert b'"min_return_days":{"value":14,"must":false,"weight":3}' in wire
