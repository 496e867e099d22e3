"""The simulator's tables for a paper: one row per (run, group), rates per window of rounds,
summaries per (setting, group) with a 95% interval, as CSV and Parquet; the Python API's
DataFrames equal to the files the command writes; a sweep on Dask equal to one on processes;
and a missing optional extra is one line, not a traceback."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

import simulator
from simulator import RoundRecord, Scenario

# Two groups inside one market: people who insist on #NoStalking and drop vendors on trust,
# and people on the sd-base agreement with no trust at all. A breach vendor undercuts
# everyone (its terms break both agreements, so no one's agent shows it); a bait vendor
# never delivers.
MARKET = """
name = "tables"
seed = 5
rounds = 40
mode = "fast"
[categories]
"outdoor/tents" = 14000
[[persons]]
count = 4
trust_mode = "own"
[[persons]]
count = 4
agreement = "sd-base"
trust_mode = "none"
trust = { threshold = 0.0, veto = false }
[[vendors]]
kind = "honest"
count = 2
[[vendors]]
kind = "bait"
price_factor = [0.7, 0.72]
[[vendors]]
kind = "breach"
price_factor = [0.6, 0.62]
"""

# Wall-clock figures: the only cells two runs of one seed may disagree on.
TIMINGS = ("collect_ms", "accept_ms", "collect_ms_p50", "collect_ms_p95")


def _record(r: int, group: int, kind: str, outcome: str, **kw: Any) -> RoundRecord:
    fields: dict[str, Any] = dict(
        seed=1, round=r, person=0, group=group, category="outdoor/tents", budget=100,
        online=3, expected=3, offers=3, shown=2, dropped_unverified=0, dropped_terms=0,
        dropped_other=0, hostile_shown=0, winner_kind=kind, paid=80 if kind else 0,
        saving_pct=20.0 if kind else 0.0, outcome=outcome, collect_ms=1.0, accept_ms=1.0,
        winner_group={"honest": 0, "bait": 1, "breach": 2}.get(kind, -1),
        winner_vendor=f"v-{kind}", chosen_rank=0 if kind else -1,
    )  # fmt: skip
    fields.update(kw)
    return RoundRecord(**fields)


def _scenario() -> Scenario:
    import tomllib

    return Scenario.model_validate(tomllib.loads(MARKET))


def test_group_rows_give_each_group_its_own_orders_bad_share_terms_and_rank() -> None:
    """Group 0 ordered twice (one never came); group 1 once, from the breach vendor (its
    terms broke theirs), taking the second offer; a group with no order has empty rates,
    not zeros that would read as 'never cheated'."""
    from simulator._tables import person_group_rows, vendor_group_rows

    records = [
        _record(0, 0, "honest", "delivered"),
        _record(1, 0, "bait", "not_delivered", saving_pct=30.0),
        _record(2, 1, "breach", "delivered", chosen_rank=1),
        _record(3, 1, "", "none"),
    ]
    g0, g1 = person_group_rows(records, _scenario())
    assert (g0["orders"], g0["bad_share"], g0["terms_honoured_share"]) == (2, 0.5, 1.0)
    assert (g0["mean_saving_pct"], g0["mean_rank_taken"], g0["agreement"]) == (25.0, 0.0,
                                                                               "nostalking")  # fmt: skip
    assert (g1["intents"], g1["orders"], g1["orders_per_intent"]) == (2, 1, 0.5)
    assert (g1["bad_share"], g1["terms_honoured_share"], g1["mean_rank_taken"]) == (0.0, 0.0, 1.0)
    assert (g1["trust_mode"], g1["trust_threshold"]) == ("none", 0.0)
    (empty,) = person_group_rows(records[:0], _scenario())[:1]
    assert empty["orders"] == 0 and empty["bad_share"] is None and empty["mean_saving_pct"] is None
    honest, bait, breach = vendor_group_rows(records, _scenario())
    won = (honest["orders_won"], bait["not_delivered"], breach["share_of_orders"])
    assert won == (1, 1, 0.3333)
    assert (honest["revenue"], bait["bad_share"], breach["identities_won"]) == (80, 1.0, 1)


def test_rates_are_per_window_not_running_totals() -> None:
    """Ten bad orders then ten good ones, windows of 10: the rate is 1 then 0 (a cumulative
    count would still say 0.5 at the end); a window without an order of the group is empty."""
    from simulator._tables import rate_rows

    records = [_record(r, 0, "bait", "not_delivered") for r in range(10)]
    records += [_record(r, 0, "honest", "delivered") for r in range(10, 20)]
    rows = rate_rows(records, _scenario(), 10)
    mine = [(r["window"], r["round_from"], r["round_to"], r["bad_share"]) for r in rows
            if r["person_group"] == 0]  # fmt: skip
    assert mine == [(0, 0, 9, 1.0), (1, 10, 19, 0.0)]
    assert [r["bad_share"] for r in rows if r["person_group"] == 1] == [None, None]


def test_summary_is_per_setting_and_group_with_students_t_and_skips_empty_cells() -> None:
    """Per (setting, group): how many seeds, the labels they share, the mean and its 95%
    interval (t with 2 df for 3 seeds); an empty cell is left out of the mean, not read as 0."""
    from simulator._tables import summary_rows

    rows = [
        {"k": 1, "seed": s, "person_group": 0, "people": 4, "bad_share": v, "orders": 2}
        for s, v in ((1, 0.1), (2, 0.2), (3, 0.3))
    ] + [{"k": 1, "seed": 1, "person_group": 1, "people": 4, "bad_share": None, "orders": 0}]
    first, second = summary_rows(rows, ["k", "person_group"])
    assert (first["seeds"], first["people"], first["bad_share"]) == (3, 4, 0.2)
    assert first["bad_share_ci95_high"] == round(0.2 + 4.303 * 0.1 / 3**0.5, 3)
    assert second["bad_share"] is None and second["orders"] == 0


def _cli(*args: str, prelude: str = "pass") -> subprocess.CompletedProcess[str]:
    code = f"import sys; {prelude}; from simulator._cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def _same(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` written as CSV is ``path``, byte for byte, and its Parquet twin reads back
    as ``frame``; wall-clock columns left out of both."""
    drop = [c for c in frame.columns if c.startswith(TIMINGS)]
    on_disk = pd.read_csv(path, keep_default_na=False)
    assert list(on_disk.columns) == list(frame.columns), path.name
    mine = frame.drop(columns=drop).to_csv(index=False, lineterminator="\r\n")
    theirs = io.StringIO()
    with path.open(newline="") as f:
        keep = [
            i for i, c in enumerate(next(csv.reader(io.StringIO(f.readline())))) if c not in drop
        ]
        f.seek(0)
        w = csv.writer(theirs)
        for row in csv.reader(f):
            w.writerow([row[i] for i in keep])
    assert mine == theirs.getvalue(), path.name
    parquet = pd.read_parquet(path.with_suffix(".parquet")).drop(columns=drop)
    pd.testing.assert_frame_equal(parquet, frame.drop(columns=drop), check_dtype=False)


def test_batch_writes_group_tables_and_the_api_returns_the_same_dataframes(
    tmp_path: Path,
) -> None:
    """``batch --mode fast`` over 2 seeds writes one row per (seed, group), rates per window
    of ``--window`` rounds, and a summary per group; ``simulator.batch`` with the same seeds returns those tables as DataFrames equal to
    the files (and to their Parquet twins), and its rounds equal each run's rounds.csv; the
    group without trust gets more of the bait's orders, and the breaching vendor none."""
    sc = tmp_path / "tables.toml"
    sc.write_text(MARKET)
    out = tmp_path / "cli"
    cp = _cli(
        "batch", str(sc), "--seeds", "1-2", "--jobs", "2", "--window", "10", "--out", str(out)
    )
    assert cp.returncode == 0, cp.stderr
    got = simulator.batch(sc, seeds=[1, 2], jobs=2, window=10)
    assert len(got.rates) == 2 * 2 * 4 and set(got.rates["round_to"] - got.rates["round_from"]) == {
        9
    }
    groups = list(csv.DictReader((out / "groups.csv").open()))
    assert [(g["seed"], g["person_group"]) for g in groups] == [
        ("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")
    ]  # fmt: skip
    assert all(float(g["terms_honoured_share"]) == 1.0 for g in groups)
    bad = {(g["seed"], g["person_group"]): float(g["bad_share"]) for g in groups}
    assert all(bad[(s, "1")] > bad[(s, "0")] for s in ("1", "2"))
    for name, frame in (("batch", got.runs), ("summary", got.summary), ("groups", got.groups),
                        ("vendor_groups", got.vendor_groups), ("rates", got.rates),
                        ("group_summary", got.group_summary),
                        ("vendor_group_summary", got.vendor_group_summary)):  # fmt: skip
        _same(frame, out / f"{name}.csv")
    assert len(got.group_summary) == 2 and set(got.group_summary["seeds"]) == {2}
    for seed in (1, 2):
        _same(got.rounds[got.rounds["seed"] == seed].reset_index(drop=True),
              out / f"seed-{seed}" / "rounds.csv")  # fmt: skip
    assert (out / "rates.png").read_bytes()[:4] == b"\x89PNG"


def test_run_from_python_equals_the_commands_rounds(tmp_path: Path) -> None:
    """``simulator.run`` of a seed gives the rounds ``intentcast-sim run`` writes for it, and
    the same again from a ``Scenario`` made in Python."""
    sc = tmp_path / "tables.toml"
    sc.write_text(MARKET)
    cp = _cli("run", str(sc), "--seed", "3", "--rounds", "20", "--out", str(tmp_path / "r"))
    assert cp.returncode == 0, cp.stderr
    got = simulator.run(sc, seed=3, rounds=20)
    assert len(got.rounds) == 20 and len(got.groups) == 2 and got.out is None
    theirs = pd.read_csv(tmp_path / "r" / "rounds.csv", keep_default_na=False)
    mine = got.rounds.drop(columns=list(TIMINGS[:2]))
    pd.testing.assert_frame_equal(mine, theirs.drop(columns=list(TIMINGS[:2])),
                                  check_dtype=False)  # fmt: skip
    again = simulator.run(_scenario(), seed=3, rounds=20).rounds.drop(columns=list(TIMINGS[:2]))
    pd.testing.assert_frame_equal(again, mine)


def test_people_without_terms_are_the_ones_whose_terms_go_unhonoured() -> None:
    """A group with no agreement (``None`` from Python, ``"none"`` in a file) and no
    trust takes the breaching vendor's cheaper offers: its terms_honoured_share falls below 1
    and the breach group wins orders, while the #NoStalking group's stays 1."""
    sc = _scenario()
    sc = sc.model_copy(update={"persons": [sc.persons[0],
                                           sc.persons[1].model_copy(update={"agreement": None})]})  # fmt: skip
    got = simulator.run(sc, seed=2, rounds=30)
    honoured = dict(
        zip(got.groups["person_group"], got.groups["terms_honoured_share"], strict=True)
    )
    assert honoured[0] == 1.0 and honoured[1] < 1.0
    assert got.vendor_groups.set_index("kind").loc["breach", "orders_won"] > 0
    assert set(got.rounds[got.rounds["winner_kind"] == "breach"]["group"]) == {1}


def test_a_scenario_file_says_no_agreement_as_a_persons_config_does() -> None:
    """``agreement = "none"`` in a scenario file is the group with no must-haves (``None``,
    as the Python API says it); a name not in the roster is refused naming both choices."""
    raw = {"name": "t", "categories": {"outdoor/tents": 14000}, "vendors": [{"kind": "honest"}]}
    none = Scenario.model_validate({**raw, "persons": [{"agreement": "none"}]})
    assert none.persons[0].agreement is None
    assert none == Scenario.model_validate({**raw, "persons": [{"agreement": None}]})
    with pytest.raises(
        ValidationError, match=r"not in the roster \[.*'nostalking'.*\] \(or \"none\"\)"
    ):
        Scenario.model_validate({**raw, "persons": [{"agreement": "nostalkin"}]})


def test_a_sweep_on_dask_gives_the_rows_of_a_sweep_on_processes(tmp_path: Path) -> None:
    """The same grid (2 values x 2 seeds) with ``--engine dask`` (the command's own
    LocalCluster of 2 worker processes on loopback) and with the default process engine:
    the same runs.csv and groups.csv rows, wall-clock figures apart; the per-group sweep plot
    is drawn since the market has two groups."""
    sc = tmp_path / "tables.toml"
    sc.write_text(MARKET)
    grid = ("--set", "vendors.1.count=0,1", "--seeds", "1-2", "--rounds", "20", "--jobs", "2")
    dask = _cli("sweep", str(sc), *grid, "--engine", "dask", "--out", str(tmp_path / "d"))
    assert dask.returncode == 0, dask.stderr
    procs = _cli("sweep", str(sc), *grid, "--out", str(tmp_path / "p"))
    assert procs.returncode == 0, procs.stderr
    for name in ("runs", "groups", "rates"):
        on_dask = pd.read_csv(tmp_path / "d" / f"{name}.csv")
        on_procs = pd.read_csv(tmp_path / "p" / f"{name}.csv")
        drop = [c for c in on_dask.columns if c.startswith(TIMINGS)]
        assert len(on_dask) == len(on_procs) > 0
        pd.testing.assert_frame_equal(on_dask.drop(columns=drop), on_procs.drop(columns=drop))
    runs = pd.read_csv(tmp_path / "p" / "runs.csv")
    assert sorted(zip(runs["vendors.1.count"], runs["seed"], strict=True)) == [
        (0, 1), (0, 2), (1, 1), (1, 2)
    ]  # fmt: skip
    assert (tmp_path / "p" / "sweep_groups.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("hidden", "args", "code", "says"),
    [
        ("distributed", ("sweep", "--set", "vendors.1.count=1", "--engine", "dask"), 2,
         "pip install 'intentcast[dask]'"),
        ("pyarrow", ("batch",), 0, "pip install 'intentcast[sim]'"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_one_line_naming_it(
    tmp_path: Path, hidden: str, args: tuple[str, ...], code: int, says: str
) -> None:
    """Without Dask, ``--engine dask`` is one line naming the extra, exit 2, nothing run;
    without pyarrow the CSV tables are still written, and one line says how to get Parquet."""
    sc = tmp_path / "tables.toml"
    sc.write_text(MARKET)
    out = tmp_path / "out"
    cp = _cli(args[0], str(sc), *args[1:], "--seeds", "1", "--rounds", "5", "--jobs", "1",
              "--out", str(out), prelude=f"sys.modules[{hidden!r}] = None")  # fmt: skip
    assert cp.returncode == code, cp.stderr
    assert "Traceback" not in cp.stderr and says in cp.stderr
    assert len([line for line in cp.stderr.splitlines() if "intentcast[" in line]) == 1
    if code == 2:
        assert not (out / "runs.csv").exists() and not list(out.glob("*/seed-*"))
    else:
        assert (out / "groups.csv").exists() and not list(out.glob("*.parquet"))


def test_scheduler_without_dask_engine_is_refused(tmp_path: Path) -> None:
    """``--scheduler`` names a Dask scheduler; with the process engine it is one line, exit 2."""
    sc = tmp_path / "tables.toml"
    sc.write_text(MARKET)
    cp = _cli("batch", str(sc), "--seeds", "1", "--scheduler", "tcp://127.0.0.1:8786",
              "--out", str(tmp_path / "o"))  # fmt: skip
    assert cp.returncode == 2 and cp.stderr.count("\n") == 1 and "--engine dask" in cp.stderr
