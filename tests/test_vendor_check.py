"""`intentcast-vendor check` refuses what `run` could never serve, one line per problem naming
the file, the key or row, what was expected and what was found; `run` refuses the same with
the same lines; the shipped configs pass; and every file the vendor's messages name exists.

Each case writes a real config and catalog to disk and runs the real CLI: in-process
(``vendor_adapter._cli.main`` with capsys) where a subprocess adds nothing, and through
``.venv/bin/intentcast-vendor`` where the exit code and streams of a real process matter."""

from __future__ import annotations

import ast
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, ROOT
from vendor_adapter import CSV_HEADER
from vendor_adapter._cli import main

ERR = "intentcast-vendor: error: "

CONFIG = """\
name = "Test Shop"
categories = {categories}
keys_dir = "keys"
data_dir = "data"

[terms]
data_retention_days = 30
no_tracking = true
no_sharing = true
contact_via_agent_only = true
return_days = 30
warranty_months = 24
payment_methods = ["card"]
jurisdiction = "es"

[catalog]
kind = "{kind}"
path = "{path}"

[pricing]
{pricing}
"""

HEADER = CSV_HEADER  # the vendor's own header, so a change to the columns is made once
TENT = "T1,Two-person tent,outdoor/tents,129.00,EUR,5,colour=green,tent"
BAG = "B1,Down sleeping bag,outdoor/sleeping-bags,89.00,EUR,3,,"


def shop(
    tmp_path: Path,
    *rows: str,
    header: str = HEADER,
    categories: str = '["outdoor/tents", "outdoor/sleeping-bags"]',
    pricing: str = "",
    kind: str = "csv",
    path: str = "catalog.csv",
    catalog: str | bytes | None = None,
) -> tuple[Path, Path]:
    """A vendor config and its catalog on disk; returns (config, catalog as the CLI names it).
    With no rows the catalog holds TENT and BAG, which pass."""
    cfg = tmp_path / "vendor.toml"
    cfg.write_text(CONFIG.format(categories=categories, kind=kind, path=path, pricing=pricing))
    cat = cfg.resolve().parent / path
    if catalog is None:
        catalog = "\n".join([header, *(rows or (TENT, BAG))]) + "\n"
    if isinstance(catalog, bytes):
        cat.write_bytes(catalog)
    else:
        cat.write_text(catalog)
    return cfg, cat


def check(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """`intentcast-vendor check --config cfg` in-process: exit code, stderr lines, stdout."""
    rc = main(["check", "--config", str(cfg)])
    out, err = capsys.readouterr()
    return rc, err.splitlines(), out


def refused(cfg: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The problem lines of a check that must fail: exit 2 and no 'config ok'."""
    rc, lines, out = check(cfg, capsys)
    assert rc == 2, (rc, lines, out)
    assert "config ok" not in out
    assert all(line.startswith(ERR) for line in lines), lines
    return [line.removeprefix(ERR) for line in lines]


# --- the clean case ------------------------------------------------------------------------


def test_the_test_shop_passes_so_each_case_below_fails_for_its_own_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config and rows the cases start from pass: exit 0, 'config ok', both items."""
    cfg, _ = shop(tmp_path, pricing='currency = "EUR"')
    rc, lines, out = check(cfg, capsys)
    assert (rc, lines) == (0, [])
    assert out.splitlines()[0] == "config ok: Test Shop"
    assert "(2 items, every row checked)" in out


def test_the_demo_config_passes_through_the_real_command() -> None:
    """`.venv/bin/intentcast-vendor check` on demo/vendors/sierra.toml: exit 0, its summary."""
    cp = subprocess.run(
        [
            str(BIN / "intentcast-vendor"),
            "check",
            "--config",
            str(ROOT / "demo/vendors/sierra.toml"),
        ],
        capture_output=True,
        text=True,
    )
    assert (cp.returncode, cp.stderr) == (0, "")
    lines = cp.stdout.splitlines()
    assert lines[0] == "config ok: Sierra Outfitters"
    assert lines[1] == "  categories: outdoor/tents, outdoor/sleeping-bags"
    assert lines[2].endswith("sierra.csv (3 items, every row checked)")


def _deployed_configs(tmp_path: Path) -> list[Path]:
    """deploy/docker/vendors/*.toml as their containers see them: every path that compose.yaml
    mounts into the vendor's container replaced by the host file mounted there."""
    compose_dir = ROOT / "deploy" / "docker"
    compose = yaml.safe_load((compose_dir / "compose.yaml").read_text())
    out, mounted = [], set()
    for name, service in compose["services"].items():
        mounts = {}
        for volume in service.get("volumes", []):
            src, _, rest = volume.partition(":")
            if src.startswith("."):
                mounts[rest.split(":")[0]] = (compose_dir / src).resolve()
        if "/etc/intentcast/vendor.toml" not in mounts:
            continue
        config = mounts.pop("/etc/intentcast/vendor.toml")
        mounted.add(config)
        text = config.read_text()
        for target, source in mounts.items():
            text = text.replace(f'"{target}"', f'"{source}"')
        (tmp_path / name).mkdir()
        out.append(tmp_path / name / config.name)
        out[-1].write_text(text)
    assert mounted == {p.resolve() for p in (compose_dir / "vendors").glob("*.toml")}
    return out


def test_every_shipped_vendor_config_passes_the_check(tmp_path: Path) -> None:
    """Every config under demo/vendors, and every one under deploy/docker/vendors with the
    files compose.yaml mounts for it, passes the real `intentcast-vendor check`."""
    configs = sorted((ROOT / "demo" / "vendors").glob("*.toml")) + _deployed_configs(tmp_path)
    assert len(configs) == 5
    for cfg in configs:
        cp = subprocess.run(
            [str(BIN / "intentcast-vendor"), "check", "--config", str(cfg)],
            capture_output=True,
            text=True,
        )
        assert (cp.returncode, cp.stderr) == (0, ""), cfg
        assert cp.stdout.startswith("config ok: "), cfg
        assert "every row checked" in cp.stdout, cfg


# --- the config ----------------------------------------------------------------------------


def test_a_category_outside_the_taxonomy_is_refused_with_a_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """categories = [..., "bikes/ebikes"]: the key, the taxonomy's top level, what was given,
    and the nearest known categories."""
    cfg, _ = shop(tmp_path, categories='["outdoor/tents", "outdoor/sleeping-bags", "bikes/ebikes"]')
    assert refused(cfg, capsys) == [
        f"{cfg}: categories[2]: expected a known category such as outdoor/tents (top level: "
        "bikes, books, clothing, electronics, garden, groceries, home, outdoor, toys, travel), "
        "got 'bikes/ebikes'; did you mean bikes/city or bikes/parts?"
    ]


def test_an_unknown_pricing_currency_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[pricing] currency = "ZZZ": the key, an ISO 4217 code expected, ZZZ found."""
    cfg, _ = shop(tmp_path, pricing='currency = "ZZZ"')
    assert refused(cfg, capsys) == [
        f"{cfg}: pricing.currency: expected an ISO 4217 currency code such as 'EUR', got 'ZZZ'"
    ]


def test_a_missing_config_points_to_files_that_exist(tmp_path: Path) -> None:
    """No config file: one line naming it, and the example and guide it names both exist."""
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "check", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 2 and cp.stdout == ""
    assert cp.stderr.splitlines() == [
        f"{ERR}{tmp_path / 'nope.toml'}: expected a vendor config file, got no such file; "
        "start from demo/vendors/sierra.toml and see README.md (Guide for the vendor)"
    ]
    assert (ROOT / "demo/vendors/sierra.toml").is_file()
    assert "## Guide for the vendor" in (ROOT / "README.md").read_text()


def _named_paths(text: str) -> set[str]:
    """Repository paths in a message: tokens with a slash whose first part is a top-level
    entry of the repository, and bare *.md names. Category paths such as outdoor/tents and
    the user's own files (vendor.toml) are not repository paths."""
    top = {p.name for p in ROOT.iterdir()}
    out = set()
    for token in re.findall(r"[\w.*-]+(?:/[\w.*-]+)+|[\w-]+\.md\b", text):
        if (token.endswith(".md") and "/" not in token) or token.split("/")[0] in top:
            out.add(token.rstrip("."))
    return out


def test_every_file_the_vendor_messages_name_exists() -> None:
    """Every repository path in a string of vendor_adapter/ (messages, hints, help, docs)
    exists: no more pointers to a vendor_adapter/README that is not there."""
    named: dict[str, str] = {}
    for source in sorted((ROOT / "vendor_adapter").glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for path in _named_paths(node.value):
                    named.setdefault(path, source.name)
    assert {"demo/vendors/sierra.toml", "README.md", "schemas/_taxonomy.py"} <= set(named)
    missing = {p: where for p, where in named.items() if not list(ROOT.glob(p))}
    assert not missing, f"named but not in the repository: {missing}"
    assert _named_paths("see vendor_adapter/README or outdoor/tents") == {"vendor_adapter/README"}


# --- the catalog file ----------------------------------------------------------------------


def test_a_missing_catalog_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """catalog.path naming no file: the config's key, the resolved path, what to check."""
    cfg, cat = shop(tmp_path)
    cat.unlink()
    assert refused(cfg, capsys) == [
        f"{cfg}: catalog.path: expected a csv catalog file, got {cat} (no such file); "
        "a relative path is taken from the config's folder"
    ]


def test_a_catalog_path_that_is_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """catalog.path naming a folder: the same line, saying it is a folder."""
    cfg, cat = shop(tmp_path)
    cat.unlink()
    cat.mkdir()
    assert refused(cfg, capsys) == [
        f"{cfg}: catalog.path: expected a csv catalog file, got {cat} (a folder); "
        "a relative path is taken from the config's folder"
    ]


def test_a_catalog_that_cannot_be_read_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalog that is not UTF-8 (say, a spreadsheet's Latin-1 export): file, what was
    expected, the decoder's complaint."""
    cfg, cat = shop(
        tmp_path,
        catalog=(HEADER + "\nT1,Tente \xe0 d\xf4me,outdoor/tents,1,EUR,1,,\n").encode("latin-1"),
    )
    assert refused(cfg, capsys) == [
        f"{cat}: line 2: expected UTF-8 text, got byte 0xe0, which is not; save the file as UTF-8"
    ]


def test_a_csv_header_without_a_required_column_is_refused_with_a_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header with 'prise' for price and no stock: one line per missing column, naming
    the columns found and the likely misspelling."""
    header = "sku,title,category,prise,currency"
    cfg, cat = shop(tmp_path, "T1,Tent,outdoor/tents,1.00,EUR", header=header)
    found = "'sku', 'title', 'category', 'prise', 'currency'"
    assert refused(cfg, capsys) == [
        f"{cat}: line 1 (header): expected a 'price' column, got columns {found}; "
        "is 'prise' meant to be 'price'?",
        f"{cat}: line 1 (header): expected a 'stock' column, got columns {found}",
    ]


def test_a_row_with_more_cells_than_the_header_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unquoted comma in a title shifts every later column: the row is named and the fix
    (quoting) given, instead of a price read from the category column."""
    cfg, cat = shop(tmp_path, TENT, "T2,Tent, large,outdoor/tents,149.00,EUR,2,,")
    assert refused(cfg, capsys) == [
        f"{cat}: line 3 (sku T2): expected 8 cells as in the header, got 9; "
        "quote cells that contain a comma"
    ]


# --- the rows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "line"),
    [
        (
            "T2,Tent,outdoor/tents,99.00,ZZZ,1,,",
            "currency: expected an ISO 4217 currency code such as 'EUR', got 'ZZZ'",
        ),
        (
            "T2,Tent,outdoor/tents,99.00,eur,1,,",
            "currency: expected an ISO 4217 currency code such as 'EUR', got 'eur'; "
            "did you mean 'EUR'?",
        ),
        (
            "T2,Tent,outdoor/tents,99.00,EUR,-1,,",
            "stock: expected a whole number of 0 or more, got '-1'",
        ),
        (
            "T2,Tent,outdoor/tents,-99.00,EUR,1,,",
            "price: expected a price of 0 or more, got '-99.00'",
        ),
        (
            "T2,Tent,outdoor/tents,cheap,EUR,1,,",
            "price: expected a price such as 129.00 (or 129.00 EUR), got 'cheap'",
        ),
        (
            "T2,Tent,outdoor/tents,99.999,EUR,1,,",
            "price: expected at most 2 decimal places for EUR, got '99.999'",
        ),
        (
            "T2,  ,outdoor/tents,99.00,EUR,1,,",
            "title: expected a title the person will see, got '  '",
        ),
        (
            "T2,Stove,outdoor/stoves,29.00,EUR,1,,",
            "category: expected one of the vendor's categories (outdoor/tents, "
            "outdoor/sleeping-bags) or one below them, got 'outdoor/stoves'; add outdoor/stoves "
            "to categories in {cfg}, or fix the row",
        ),
        (
            "T2,Tent,outdoor/tentz,99.00,EUR,1,,",
            "category: expected one of the vendor's categories (outdoor/tents, "
            "outdoor/sleeping-bags) or one below them, got 'outdoor/tentz'; did you mean "
            "outdoor/tents?",
        ),
        (
            "T2,Tent,outdoor/tents,99.00,EUR,1,,,soon",
            "delivery_days: expected a whole number of days, 0 or more, got 'soon'",
        ),
    ],
    ids=[
        "unknown-currency",
        "lowercase-currency",
        "negative-stock",
        "negative-price",
        "price-not-a-number",
        "too-many-decimals",
        "empty-title",
        "category-not-served",
        "category-misspelt",
        "delivery-days-not-a-number",
    ],
)
def test_a_row_run_could_never_serve_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, line: str
) -> None:
    """One bad row among good ones: exactly one line, naming the catalog, the line number and
    SKU, the column, what was expected and what was found."""
    header = HEADER + ",delivery_days" if row.count(",") == 8 else HEADER
    cfg, cat = shop(tmp_path, TENT, row, BAG, header=header)
    assert refused(cfg, capsys) == [f"{cat}: line 3 (sku T2): " + line.format(cfg=cfg)]


def test_a_price_in_another_currency_than_the_vendors_pricing_currency_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[pricing] currency = "EUR" and a row in USD (a real currency): the row, EUR expected
    (and where that comes from), USD found."""
    cfg, cat = shop(
        tmp_path, TENT, "T2,Tent,outdoor/tents,99.00,USD,1,,", pricing='currency = "EUR"'
    )
    assert refused(cfg, capsys) == [
        f"{cat}: line 3 (sku T2): currency: expected 'EUR' (pricing.currency in {cfg}), got 'USD'"
    ]


def test_a_duplicate_sku_is_refused_naming_both_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SKU twice (the later row used to replace the earlier silently): the second row, and
    where the first is."""
    cfg, cat = shop(tmp_path, TENT, BAG, "T1,Two-person tent XL,outdoor/tents,139.00,EUR,2,,")
    assert refused(cfg, capsys) == [
        f"{cat}: line 4 (sku T1): sku: expected each SKU once, got 'T1' again (first at line 2)"
    ]


def test_currencies_are_checked_against_iso_4217_with_its_exponents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real currency beyond the ones budgets take (ISK, no minor unit) passes; a decimal
    ISK price is refused, since ISO 4217 gives ISK no decimals."""
    cfg, cat = shop(tmp_path, "T1,Tent,outdoor/tents,19900,ISK,1,,")
    rc, lines, out = check(cfg, capsys)
    assert (rc, lines) == (0, []) and "(1 items, every row checked)" in out
    cfg, cat = shop(tmp_path, "T1,Tent,outdoor/tents,19900.50,ISK,1,,")
    assert refused(cfg, capsys) == [
        f"{cat}: line 2 (sku T1): price: expected at most 0 decimal places for ISK, got '19900.50'"
    ]


def test_json_rows_are_named_by_their_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON catalog's bad item is named $[n] with its SKU; a missing key is named too."""
    cfg, cat = shop(
        tmp_path,
        kind="json",
        path="catalog.json",
        catalog='[{"sku": "T1", "title": "Tent", "category": "outdoor/tents", "price": "129.00",'
        ' "currency": "EUR", "stock": 5},'
        ' {"sku": "T2", "title": "Tent", "category": "outdoor/tents", "price": "99.00",'
        ' "currency": "EUR", "stock": -3},'
        ' {"sku": "T3", "title": "Tent", "category": "outdoor/tents", "price": "99.00",'
        ' "currency": "EUR"}]',
    )
    assert refused(cfg, capsys) == [
        f"{cat}: $[1] (sku T2): stock: expected a whole number of 0 or more, got -3",
        f"{cat}: $[2] (sku T3): stock: expected a value, got none",
    ]


def test_a_sqlite_query_without_a_required_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SQLite catalog whose query returns no stock column: the database, the query key,
    the columns it returned."""
    cfg, db = shop(tmp_path, kind="sqlite", path="catalog.sqlite", catalog=b"")
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE items (sku, title, category, price, currency, attributes, keywords)")
    con.commit()
    con.close()
    text = cfg.read_text().replace(
        'path = "catalog.sqlite"',
        'path = "catalog.sqlite"\nquery = "SELECT sku, title, category, price, currency FROM items"',
    )
    cfg.write_text(text)
    assert refused(cfg, capsys) == [
        f"{db}: catalog.query: expected a 'stock' column, got columns 'sku', 'title', "
        "'category', 'price', 'currency'"
    ]


# --- all at once, and run --------------------------------------------------------------------

MANY = [
    "T1,Tent,outdoor/tents,99.00,ZZZ,1,,",
    "T2,Tent,outdoor/tents,99.00,EUR,-1,,",
    "T3,,outdoor/tents,99.00,EUR,1,,",
    "T1,Tent,outdoor/tents,99.00,EUR,1,,",
]


def _many(cfg: Path, cat: Path) -> list[str]:
    return [
        f"{cfg}: categories[1]: expected a known category such as outdoor/tents (top level: "
        "bikes, books, clothing, electronics, garden, groceries, home, outdoor, toys, travel), "
        "got 'bikes/ebikes'; did you mean bikes/city or bikes/parts?",
        f"{cat}: line 2 (sku T1): currency: expected an ISO 4217 currency code such as 'EUR', got 'ZZZ'",
        f"{cat}: line 3 (sku T2): stock: expected a whole number of 0 or more, got '-1'",
        f"{cat}: line 4 (sku T3): title: expected a title the person will see, got ''",
        f"{cat}: line 5 (sku T1): sku: expected each SKU once, got 'T1' again (first at line 2)",
    ]


def test_every_problem_is_reported_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad category in the config and four bad rows: all five lines, in file order, in
    one run; not only the first."""
    cfg, cat = shop(tmp_path, *MANY, categories='["outdoor/tents", "bikes/ebikes"]')
    assert refused(cfg, capsys) == _many(cfg, cat)


def test_run_refuses_what_check_refuses_with_the_same_lines(tmp_path: Path) -> None:
    """The real `intentcast-vendor run` on the same config exits 2 before it starts anything
    (no bus is reachable, none is needed), with the lines check prints."""
    cfg, cat = shop(tmp_path, *MANY, categories='["outdoor/tents", "bikes/ebikes"]')
    out = {}
    for command in ("check", "run"):
        cp = subprocess.run(
            [
                str(BIN / "intentcast-vendor"),
                command,
                "--config",
                str(cfg),
                *(["--bus", "nats://127.0.0.1:9"] if command == "run" else []),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (cp.returncode, cp.stdout) == (2, ""), cp.stderr
        out[command] = cp.stderr.splitlines()
    assert out["run"] == out["check"] == [ERR + line for line in _many(cfg, cat)]
    assert not (tmp_path / "keys").exists()  # nothing was started: no keys were made
