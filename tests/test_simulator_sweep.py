"""Sweeps and batches over processes: a grid of scenario settings x seeds runs one market per
process over the real protocol, and its tables give one row per run and, per setting, the
mean with a 95% confidence interval; bad settings are one line and exit 2."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import ScenarioError
from simulator._sweep import ci95, parse_setting, scenario_with

TINY = """\
name = "tiny"
seed = 4
rounds = 3
window_seconds = 3.0
[categories]
"outdoor/tents" = 14000
[[persons]]
count = 2
agreement = "nostalking"
[[vendors]]
kind = "honest"
count = 1
[[vendors]]
kind = "bait"
count = 1
price_factor = [0.7, 0.72]
delivery_days = [1, 1]
"""


def test_the_interval_is_students_t_over_the_seeds() -> None:
    """Mean 2 of (1, 2, 3): sd 1, t(2 df) 4.303, half-width 4.303 / sqrt 3; one value is
    its own interval."""
    m, lo, hi = ci95([1.0, 2.0, 3.0])
    assert m == 2 and abs((hi - m) - 4.303 / 3**0.5) < 1e-9 and abs((m - lo) - (hi - m)) < 1e-12
    assert ci95([5.0]) == (5.0, 5.0, 5.0)


def test_settings_parse_as_toml_and_land_on_their_dotted_path() -> None:
    """Numbers, strings, lists and tables; nested list indices; the result is re-checked."""
    import tomllib

    assert parse_setting("vendors.1.count=1,2,4") == ("vendors.1.count", [1, 2, 4])
    assert parse_setting("vendors.0.price_factor=[0.5, 0.6],[0.8, 0.9]")[1] == [
        [0.5, 0.6],
        [0.8, 0.9],
    ]
    raw = tomllib.loads(TINY)
    sc = scenario_with(raw, {"vendors.1.count": 3, "persons.0.trust.threshold": 0.4})
    assert sc.vendors[1].count == 3 and sc.persons[0].trust.threshold == 0.4
    assert raw["vendors"][1]["count"] == 1  # the base scenario is untouched


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("vendors.7.count=1", "expected an index below 2 at vendors.7, got '7'"),
        ("vendors.1.count=-1", "vendors.1.count: Input should be greater than or equal to 0"),
        ("persons.0.colour=1", "persons.0.colour: Extra inputs are not permitted"),
        ("vendors.1.count", "expected key=value1,value2"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, setting: str, says: str) -> None:
    """Through the real CLI: the line names the key; nothing runs."""
    (tmp_path / "tiny.toml").write_text(TINY)
    cp = subprocess.run(
        [sys.executable, "-m", "simulator", "sweep", str(tmp_path / "tiny.toml"),
         "--set", setting, "--seeds", "1", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cp.returncode == 2, cp.stderr
    assert cp.stderr.startswith("intentcast-sim: error: --set") and says in cp.stderr
    assert "Traceback" not in cp.stderr and len(cp.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "runs.csv").exists()
    if "=" in setting:  # the same refusal from the library, as a typed error
        import tomllib

        key, values = parse_setting(setting)
        with pytest.raises(ScenarioError):
            scenario_with(tomllib.loads(TINY), {key: values[0]})


def test_a_sweep_runs_every_combination_on_two_processes_and_tabulates_it(
    tmp_path: Path,
) -> None:
    """2 values x 2 seeds on 2 processes: 4 markets, each with stores of its own; runs.csv
    has a row per run, summary.csv a row per value with the mean and its 95% interval, and
    the bait, absent in one setting, wins orders only where it exists."""
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "out"
    cp = subprocess.run(
        [sys.executable, "-m", "simulator", "sweep", str(tmp_path / "tiny.toml"),
         "--set", "vendors.1.count=0,1", "--seeds", "1-2", "--jobs", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr.count("] vendors.1.count=") == 4 and "[4/4]" in cp.stderr
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert sorted((r["vendors.1.count"], r["seed"]) for r in runs) == [
        ("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")
    ]  # fmt: skip
    summary = {r["vendors.1.count"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert set(summary) == {"0", "1"} and summary["0"]["seeds"] == "2"
    for row in summary.values():
        for fig in ("accepted", "not_delivered", "mean_saving_pct"):
            assert (
                float(row[f"{fig}_ci95_low"]) <= float(row[fig]) <= float(row[f"{fig}_ci95_high"])
            )
    assert float(summary["0"]["not_delivered"]) == 0
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list(out.glob("*/seed-*/work"))) == 4
