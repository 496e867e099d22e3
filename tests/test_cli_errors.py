"""Bad command-line input: one line that says what to do, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, Agent

WANT = [
    "want",
    "tent",
    "--category",
    "outdoor/tents",
    "--max-price",
    "150EUR",
    "--by",
    "2099-01-01",
    "--region",
    "ES-28",
    "--wait",
    "10ms",
]


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def _one_line_error(cp: subprocess.CompletedProcess[str]) -> str:
    assert cp.returncode == 2, cp.stderr
    assert "Traceback" not in cp.stderr
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--max-price", "150", "expected an amount with a currency such as '150EUR'"),
        ("--max-price", "150XYZ", "expected a known ISO 4217 currency"),
        ("--by", "2020-01-01", "expected a date after today"),
        ("--by", "next week", "expected a date as YYYY-MM-DD"),
        ("--category", "outdoor/tentz", "did you mean outdoor/tents"),
        ("--category", "weapons", "expected a known category"),
        ("--region", "Madrid", "expected a country code"),
        ("--wait", "soon", "expected a duration"),
    ],
)
def test_bad_want_input_is_one_line_exit_2(person: Agent, flag: str, value: str, says: str) -> None:
    """`intentcast want` with {flag} {value!r} explains itself in one line."""
    line = _one_line_error(person.run(*_replace(WANT, flag, value)))
    assert line.startswith("intentcast")
    assert says in line


def test_missing_home_says_to_run_init(tmp_path: Path) -> None:
    """Without `intentcast init`, every command says to run it."""
    cp = subprocess.run(
        [str(BIN / "intentcast"), "--home", str(tmp_path / "nobody"), *WANT],
        capture_output=True,
        text=True,
    )
    assert "run `intentcast init` first" in _one_line_error(cp)


def test_unknown_offer_says_where_to_look(person: Agent) -> None:
    """Accepting an offer id that is not in the history points to `intentcast history`."""
    assert "intentcast history" in _one_line_error(person.run("accept", "deadbeef"))


def test_missing_vendor_config_is_one_line_exit_2(tmp_path: Path) -> None:
    """`intentcast-vendor run` with no such config names the file and what to do."""
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
    )
    line = _one_line_error(cp)
    assert f"{tmp_path / 'nope.toml'}: expected a vendor config file, got no such file" in line
    assert "start from demo/vendors/sierra.toml" in line


def test_invalid_vendor_config_names_each_field(tmp_path: Path) -> None:
    """A config with wrong values lists each field, what it expected and what arrived."""
    cfg = tmp_path / "v.toml"
    cfg.write_text(
        'name = "X"\ncategories = ["Outdoor Stuff"]\noffer_validity = "soon"\n[catalog]\nkind = "csv"\n'
    )
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    for field in ("categories", "offer_validity", "terms"):
        assert field in cp.stderr
    assert "'soon'" in cp.stderr


def test_help_texts_carry_examples() -> None:
    """Every `--help` shows at least one example command."""
    for cmd in (
        ["intentcast", "--help"],
        ["intentcast", "want", "--help"],
        ["intentcast-vendor", "run", "--help"],
    ):
        out = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True).stdout
        assert "example" in out and cmd[0] + " " in out


def test_io_errors_name_what_failed(person: Agent, tmp_path: Path) -> None:
    """A file that cannot be written is named as a file, and a store that cannot be opened as
    the agent's store: not reported as a bus problem."""
    cp = person.run("export", "--out", str(tmp_path / "no-such-folder" / "mine.json"))
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert str(tmp_path / "no-such-folder" / "mine.json") in cp.stderr
    assert "bus" not in cp.stderr
    db = person.home / "agent.sqlite"
    db.unlink()
    db.mkdir()  # a folder where the database should be
    cp = person.run("history")
    assert cp.returncode == 1 and "Traceback" not in cp.stderr
    assert cp.stderr.startswith("intentcast: error: your agent's store could not be used")
    assert "bus" not in cp.stderr.split("(")[0]


def test_a_vendor_whose_data_dir_is_a_file_names_it(tmp_path: Path) -> None:
    """`intentcast-vendor run` with a data_dir that is a file names the path in one error
    line (exit 1; its JSON log events aside), instead of a traceback or a word about the bus."""
    import shutil

    shutil.copytree(ROOT / "demo" / "vendors", tmp_path / "vendors")
    shutil.copytree(ROOT / "demo" / "catalogs", tmp_path / "catalogs")
    (tmp_path / "vendors" / "data").write_text("not a folder\n")
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(tmp_path / "vendors" / "sierra.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cp.returncode == 1, cp.stderr
    assert "Traceback" not in cp.stderr
    errors = [ln for ln in cp.stderr.splitlines() if not ln.startswith("{")]  # not log events
    assert len(errors) == 1 and errors[0].startswith("intentcast-vendor: error: ")
    assert f"{tmp_path / 'vendors' / 'data'}" in errors[0] and "bus" not in errors[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--policy", "callout.json"], "got only --policy; pass all three, or only --ops-seed"),
        ([], "(the reply broker alone), got neither"),
        (["--ops-seed", "missing.nk"], "missing.nk not found; make it with"),
    ],
)
def test_bus_auth_says_which_of_its_two_jobs_the_arguments_miss(
    tmp_path: Path, args: list[str], says: str
) -> None:
    """`intentcast-bus-auth` runs the callout (policy, issuer seed and its own seed, all
    three), the reply broker alone (only --ops-seed), or both: part of the callout's
    arguments, none of either, or a credential file that is not there is one line, exit 2,
    before it touches the bus."""
    cp = subprocess.run(
        [str(BIN / "intentcast-bus-auth"), "--bus", "nats://127.0.0.1:1", *args],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    line = _one_line_error(cp)
    assert line.startswith("intentcast-bus-auth: error: expected") or "not found" in line
    assert says in line
