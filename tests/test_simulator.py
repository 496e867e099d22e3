"""The simulator: scenarios are checked, markets run over the real protocol, runs repeat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from runtime import EmbeddedServer
from simulator import Market, RoundRecord, Scenario, ScenarioError, load_scenario, summarize

SMALL = {
    "name": "small",
    "seed": 4,
    "rounds": 24,
    "window_seconds": 5.0,
    "categories": {"outdoor/tents": 14000, "outdoor/stoves": 5000},
    "persons": [{"count": 3, "agreement": "nostalking"}],
    "vendors": [
        {"kind": "honest", "count": 2},
        {"kind": "bait", "count": 1, "price_factor": [0.7, 0.72], "delivery_days": [1, 1]},
        {"kind": "breach", "count": 1, "price_factor": [0.5, 0.5]},
        {"kind": "hostile", "count": 1},
    ],
}


async def _run(tmp: Path, url: str, seed: int = 4) -> tuple[list[RoundRecord], dict[str, int]]:
    async with Market(Scenario.model_validate(SMALL), tmp, seed=seed, bus_url=url) as market:
        return await market.run(), market.hostile_sent()


async def test_a_market_run_shows_nothing_hostile_and_people_learn_to_avoid_the_bait(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Over a real nats-server, real adapters and real agents: no hostile offer is ever shown
    while the rogue sends all four kinds; the breach vendor, though cheapest, never offers to
    people who insist on #NoStalking; only the bait fails to deliver, and once a person has
    been let down twice it never wins that person's order again."""
    records, sent = await _run(tmp_path / "run", nats_server.url)
    assert len(records) == 24
    assert all(r.hostile_shown == 0 for r in records)
    assert set(sent) == {"forged", "tampered", "expired", "replayed"}
    assert sum(r.dropped_unverified for r in records) > 0
    assert all(r.winner_kind in ("honest", "bait") for r in records)  # never breach, hostile
    assert {r.outcome for r in records if r.winner_kind == "bait"} == {"not_delivered"}
    assert {r.outcome for r in records if r.winner_kind == "honest"} == {"delivered"}
    let_down: dict[int, int] = {}
    for r in records:
        if let_down.get(r.person, 0) >= 2:
            assert r.winner_kind != "bait", r
        let_down[r.person] = let_down.get(r.person, 0) + (r.outcome == "not_delivered")
    assert max(let_down.values()) == 2  # the bait did win, until trust caught up
    s = summarize(records, sent)
    assert s["hostile_shown"] == 0 and s["not_delivered"] == sum(let_down.values())


async def test_the_same_seed_gives_the_same_market(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Two runs with one seed agree on everything but timing (and on how many hostile replies
    happened to arrive while offers were collected); another seed differs."""
    timing = {"collect_ms", "accept_ms", "dropped_unverified"}

    def fixed(rs: list[RoundRecord]) -> list[dict[str, object]]:
        return [{k: v for k, v in msgspec.structs.asdict(r).items() if k not in timing} for r in rs]

    a, _ = await _run(tmp_path / "a", nats_server.url)
    b, _ = await _run(tmp_path / "b", nats_server.url)
    c, _ = await _run(tmp_path / "c", nats_server.url, seed=5)
    assert fixed(a) == fixed(b)
    assert fixed(a) != fixed(c)


async def test_a_market_refuses_a_work_directory_that_is_not_empty(tmp_path: Path) -> None:
    """People's histories live in the work directory; a run never starts on someone else's."""
    (tmp_path / "old.sqlite").write_text("x")
    with pytest.raises(FileExistsError, match="empty or new work directory"):
        async with Market(Scenario.model_validate(SMALL), tmp_path, bus_url="nats://unused"):
            pass


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"categories": {"outdoor/tent": 100}}, "did you mean outdoor/tents"),
        ({"persons": [{"agreement": "no-such"}]}, "not in the roster"),
        ({"vendors": [{"kind": "honest", "categories": ["books"]}]}, "not in [categories]"),
        ({"vendors": [{"kind": "saint"}]}, "vendors.0.kind"),
        ({"rounds": 0}, "rounds"),
    ],
)
def test_a_bad_scenario_says_where_and_what_was_expected(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    """Scenario files are checked whole; each problem names its place and the rule."""
    bad = {**SMALL, **change}
    path = tmp_path / "bad.toml"
    path.write_text(_toml(bad))
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert expected in str(e.value) and "bad.toml" in str(e.value)


def test_the_bundled_scenarios_load() -> None:
    """Every scenario shipped with the package is valid."""
    bundled = sorted((Path(__file__).parent.parent / "simulator" / "scenarios").glob("*.toml"))
    assert len(bundled) >= 2
    for p in bundled:
        assert load_scenario(p).name == p.stem


def test_the_cli_writes_tables_and_a_plot_and_replaces_its_own_work_folder(
    tmp_path: Path,
) -> None:
    """`intentcast-sim run` on the embedded bus writes rounds.csv, summary.json and
    market.png; run again into the same --out it starts from empty stores; `batch` writes a
    row per seed and a plot, and prints each figure's mean and 95% interval; a scenario name it
    does not know exits 2 with the known ones listed; an unreachable bus is one line, exit 1."""
    scenario = tmp_path / "small.toml"
    scenario.write_text(_toml({**SMALL, "rounds": 6}))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "simulator", "run", str(scenario), "--out", str(out)]
    for _ in range(2):
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        assert "hostile_shown" in cp.stdout and "6/6 rounds" in cp.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"] == 6 and summary["hostile_shown"] == 0
    assert (out / "rounds.csv").read_text().count("\n") == 7
    assert (out / "market.png").read_bytes()[:4] == b"\x89PNG"
    batch = subprocess.run(
        [sys.executable, "-m", "simulator", "batch", str(scenario), "--seeds", "1-2",
         "--rounds", "3", "--out", str(tmp_path / "batch")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    assert (tmp_path / "batch" / "batch.csv").read_text().count("\n") == 3  # header + 2 seeds
    assert (tmp_path / "batch" / "batch.png").read_bytes()[:4] == b"\x89PNG"
    assert "±" in batch.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "no-such-market"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "adversarial" in bad.stderr and "no-such-market" in bad.stderr
    unreachable = subprocess.run(
        [*cmd, "--bus", "nats://127.0.0.1:1"], capture_output=True, text=True, timeout=60
    )
    assert unreachable.returncode == 1 and "is the bus reachable" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def _toml(d: dict[str, object]) -> str:
    """Just enough TOML for these scenarios: scalars, lists, tables and arrays of tables."""

    def value(v: object) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append(f"[{k}]\n" + "".join(f'"{a}" = {value(b)}\n' for a, b in v.items()))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                tables.append(
                    f"[[{k}]]\n" + "".join(f"{a} = {value(b)}\n" for a, b in item.items())
                )
        else:
            lines.append(f"{k} = {value(v)}")
    return "\n".join(lines) + "\n\n" + "\n".join(tables)


async def test_each_group_of_people_judges_with_its_own_trust_policy(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Groups carry the agent's own trust settings: people with the default threshold stop
    buying from the bait after two let-downs; people whose threshold is 0 keep being drawn by
    its prices (trust is only a fifth of the score), so some are let down more often. (Their
    veto is off too: it would drop the bait after two let-downs whatever the threshold.)"""
    scenario = Scenario.model_validate(
        {
            **SMALL,
            "rounds": 30,
            "persons": [{"count": 2}, {"count": 2, "trust": {"threshold": 0.0, "veto": False}}],
            "vendors": [SMALL["vendors"][0], SMALL["vendors"][1]],  # type: ignore[index]
        }
    )
    async with Market(scenario, tmp_path / "run", bus_url=nats_server.url) as market:
        records = await market.run()
    let_down: dict[tuple[int, int], int] = {}
    for r in records:
        key = (r.group, r.person)
        let_down[key] = let_down.get(key, 0) + (r.outcome == "not_delivered")
    assert max(n for (g, _), n in let_down.items() if g == 0) == 2
    assert max(n for (g, _), n in let_down.items() if g == 1) > 2
    assert summarize(records, {})["wins_by_group"]["1"]["bait"] > 4


async def test_a_vendor_that_is_down_hears_nothing_and_wins_nothing(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """A vendor group's availability takes its adapters off the bus for some rounds: in a
    round where the cheap bait vendor is down the honest one gets the order, and the market
    does not wait for an offer that cannot come (every round collected what it expected)."""
    scenario = Scenario.model_validate(
        {
            **SMALL,
            "rounds": 16,
            "persons": [{"count": 4, "trust": {"threshold": 0.0}}],
            "vendors": [
                SMALL["vendors"][0],  # type: ignore[index]
                {**SMALL["vendors"][1], "availability": 0.5},  # type: ignore[index]
            ],
        }
    )
    async with Market(scenario, tmp_path / "run", bus_url=nats_server.url) as market:
        records = await market.run()
    down = [r for r in records if r.online == 2]  # the bait's one adapter is off
    up = [r for r in records if r.online == 3]
    assert down and up
    assert all(r.winner_kind == "honest" for r in down)
    assert any(r.winner_kind == "bait" for r in up)
    assert all(r.offers == r.expected for r in records)


async def test_people_who_share_ratings_lose_far_less_to_bait_than_people_who_learn_alone(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Forty people, four bait identities among six honest vendors, over the real protocol:
    with trust_mode "network" (ratings published to the bus's board and read back by
    everyone) each bait identity is caught after a few orders in all; people who learn only
    from their own receipts, or judge without trust, keep buying bait."""
    base = {
        "name": "bait-share", "seed": 3, "rounds": 60, "window_seconds": 5.0,
        "categories": {"outdoor/tents": 14000},
        "vendors": [
            {"kind": "honest", "count": 6},
            {"kind": "bait", "count": 4, "price_factor": [0.75, 0.8], "delivery_days": [1, 2]},
        ],
    }  # fmt: skip
    share = {}
    for mode in ("none", "own", "network"):
        sc = Scenario.model_validate(
            {**base, "persons": [{"count": 40, "agreement": "nostalking", "trust_mode": mode}]}
        )
        async with Market(sc, tmp_path / mode, bus_url=nats_server.url) as market:
            share[mode] = summarize(await market.run(), market.hostile_sent())["bad_share"]
    assert share["network"] <= 0.25, share  # at most a few orders per bait identity
    assert share["own"] > 2 * share["network"] and share["none"] > 2 * share["network"], share


async def test_a_groups_delivery_probability_decides_what_arrives(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """delivery_probability overrides the kind's default: honest vendors set to 0 deliver
    nothing, bait set to 1 delivers everything, and 0.5 delivers some and not all."""
    for p, kind, want in ((0.0, "honest", {"not_delivered"}), (1.0, "bait", {"delivered"}),
                          (0.5, "honest", {"delivered", "not_delivered"})):  # fmt: skip
        sc = Scenario.model_validate({
            "name": "arrivals", "seed": 2, "rounds": 16, "window_seconds": 5.0,
            "categories": {"outdoor/tents": 14000},
            "persons": [{"count": 4, "agreement": "nostalking", "trust_mode": "none"}],
            "vendors": [{"kind": kind, "count": 2, "delivery_probability": p}],
        })  # fmt: skip
        async with Market(sc, tmp_path / f"{kind}-{p}", bus_url=nats_server.url) as market:
            records = await market.run()
        assert {r.outcome for r in records if r.winner_kind} == want, (p, kind)
