"""Fast mode (``--mode fast``): the same decisions as full mode, without the bus, the crypto
or the disk; and the bad-input rule for modes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent import BetaTrust, TrustPolicy, TrustScorer
from simulator import FastMarket, Market, RoundRecord, Scenario
from simulator._cli import main

# What must agree round by round. Left out on purpose: collect_ms and accept_ms (wall-clock
# latencies), expected, and dropped_unverified (full mode stops listening once every expected
# offer is in, so it may miss a hostile client's late replays; fast mode counts them all: the
# hostile test bounds it). Vendors' keys come from the seeded generator in both modes, so
# even the winner's vendor id agrees.
AGREE = (
    "round", "person", "group", "category", "budget", "online", "offers", "shown",
    "dropped_terms", "dropped_other", "winner_kind", "winner_vendor", "winner_group",
    "winner_generation", "chosen_rank", "outcome", "paid", "saving_pct", "day",
)  # fmt: skip


# A long window costs nothing (collecting ends once every offer a vendor chose to make is in)
# and keeps a loaded machine from losing a late offer in full mode.
SMALL = """
name = "fast-vs-full"
seed = 11
rounds = 30
window_seconds = 10.0
[categories]
"outdoor/tents" = 14000
"outdoor/sleeping-bags" = 8000
[[persons]]
count = 6
trust_mode = "own"
[[persons]]
count = 4
trust_mode = "own"
choice = {use = "softmax", temperature = 0.1}
[[vendors]]
kind = "honest"
count = 2
[[vendors]]
kind = "bait"
price_factor = [0.7, 0.75]
rejoin_every = 9
[[vendors]]
kind = "honest"
delivery_probability = 0.7
availability = 0.8
[[vendors]]
kind = "breach"
price_factor = [0.6, 0.65]
"""


# The other plug-ins: no trust with exploring choosers, and a vendor whose behaviour changes
# over time.
OTHERS = (
    SMALL.replace('trust_mode = "own"', 'trust_mode = "none"').replace(
        'choice = {use = "softmax", temperature = 0.1}', 'choice = {use = "epsilon", epsilon = 0.3}'
    )
    + """
[[vendors]]
kind = "honest"
behaviour = {use = "exit_scam", after_round = 12}
price_factor = [0.8, 0.85]
"""
)


def _small(text: str = SMALL) -> Scenario:
    return Scenario.model_validate(tomllib.loads(text))


def _rows(records: list[RoundRecord]) -> list[tuple[object, ...]]:
    return [tuple(getattr(r, k) for k in AGREE) for r in records]


async def test_fast_mode_makes_the_same_choices_orders_and_outcomes_as_full(
    tmp_path: Path,
) -> None:
    """One seed, ten people (argmax and softmax choosers), five vendors (two honest, a
    whitewashing bait, an unreliable honest one that is sometimes away, a cheap one whose
    terms breach the people's, so it declines), 30 rounds of own trust: fast mode records
    the same person, offers, winner (group and identity generation), price and outcome as full
    mode in every round."""
    sc = _small()
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
    assert sum(r.outcome == "not_delivered" for r in want) > 0  # the bait won some orders
    assert max(r.winner_generation for r in want) > 0  # and rejoined under a new identity
    assert {r.chosen_rank for r in want} != {0}  # softmax took a lower offer at least once
    assert all(r.offers < r.online for r in want)  # the breach vendor declined, by its terms
    assert _rows(got) == _rows(want)


async def test_fast_mode_agrees_with_full_for_no_trust_exploration_and_an_exit_scam(
    tmp_path: Path,
) -> None:
    """The same seed with trust_mode none, epsilon choosers and a vendor that stops
    delivering after round 12 (a behaviour plug-in): fast and full mode agree round by
    round on the same fields."""
    sc = _small(OTHERS)
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
    assert any(r.winner_group == 4 and r.outcome == "not_delivered" for r in want)  # scammed
    assert _rows(got) == _rows(want)


# Network trust under attack: people on network and network+friends trust (a friends graph
# drawn from the seed), a whitewashing bait that praises itself 1.5 times a round (the half a
# draw), a cheap honest group that smears its rivals every 6 rounds, lying raters, and an
# unreliable honest vendor. Every published rating, fake or real, is read by the next buyer.
NETWORK = """
name = "fast-vs-full-network"
seed = 5
rounds = 36
window_seconds = 10.0
[categories]
"outdoor/tents" = 14000
"outdoor/sleeping-bags" = 8000
[[persons]]
count = 5
trust_mode = "network"
[[persons]]
count = 5
trust_mode = "network+friends"
friends = 2
choice = {use = "softmax", temperature = 0.1}
[[persons]]
count = 2
trust_mode = "network"
rating = "lying"
[[vendors]]
kind = "honest"
count = 2
[[vendors]]
kind = "bait"
price_factor = [0.7, 0.75]
rejoin_every = 11
praise_per_round = 1.5
[[vendors]]
kind = "honest"
price_factor = [0.8, 0.85]
smear_every = 6
[[vendors]]
kind = "honest"
delivery_probability = 0.7
availability = 0.8
"""

# Simulated days: 4 days a round over 30 rounds (120 days), a half-life of 12 days for the
# evidence, ratings older than 30 days no longer read, and a vendor that stops delivering on
# day 48 (round 12): what people learnt fades and the board forgets.
DAYS = """
name = "fast-vs-full-days"
seed = 9
rounds = 30
window_seconds = 10.0
days_per_round = 4
ratings_retention_days = 30
[categories]
"outdoor/tents" = 14000
[[persons]]
count = 4
trust_mode = "network"
trust = {half_life_days = 12}
[[persons]]
count = 4
trust_mode = "own"
trust = {half_life_days = 12}
[[vendors]]
kind = "honest"
[[vendors]]
kind = "bait"
price_factor = [0.7, 0.75]
[[vendors]]
kind = "honest"
behaviour = {use = "exit_scam", after_round = 12}
price_factor = [0.8, 0.85]
"""


async def test_fast_mode_agrees_with_full_over_network_trust_friends_praise_and_smears(
    tmp_path: Path,
) -> None:
    """Network and network+friends trust over the ratings board, with a bait that whitewashes
    and praises itself, a group that smears its rivals with paid orders, and lying raters:
    fast mode (an in-memory board of opened ratings read by the real ``NetworkTrust``) makes
    the same choices, orders and outcomes as full mode (signed ratings on JetStream) in
    every round, and its attacks cost and make the same."""
    sc = _small(NETWORK)
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
        want_attacks = full.attack_summary()
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
        got_attacks = fast.attack_summary()
    assert want_attacks["fake_praise"] > 36 and want_attacks["smears"] > 0
    assert max(r.winner_generation for r in want) > 0  # the bait rejoined
    assert any(r.dropped_other for r in want)  # trust or the veto dropped someone
    assert got_attacks == want_attacks
    assert _rows(got) == _rows(want)


async def test_fast_mode_agrees_with_full_over_simulated_days(tmp_path: Path) -> None:
    """Four simulated days a round, a 12-day half-life and a 30-day retention of ratings: as
    evidence fades and old ratings drop off the board, fast and full mode still agree round
    by round; and the days matter (the same seed without them chooses differently)."""
    sc = _small(DAYS)
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
    assert want[-1].day == 116.0
    assert _rows(got) == _rows(want)
    timeless = _small(DAYS.replace("days_per_round = 4", "days_per_round = 0"))
    async with FastMarket(timeless, tmp_path / "timeless") as market:
        frozen = await market.run()
    assert [r.winner_vendor for r in frozen] != [r.winner_vendor for r in got]


async def test_fast_mode_drops_what_hostile_clients_send_as_full_mode_does(
    tmp_path: Path,
) -> None:
    """Two hostile clients (forged, tampered, expired and replayed offers, each replaying the
    other's too) beside the small market: fast mode shows none of it, drops each kind with
    the reason full mode's checks give it, and agrees with full mode round by round on
    everything else; full mode may miss replays that come after the last honest offer, so it
    counts at most as many."""
    sc = _small(SMALL + '[[vendors]]\nkind = "hostile"\ncount = 2\n')
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
        want_sent = full.hostile_sent()
        cast = await full.collect(full.people[0], "outdoor/tents", 20000, 10)
        want_why = {d.reason for d in cast.dropped}
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
        got_sent = fast.hostile_sent()
        cast = await fast.collect(fast.people[0], "outdoor/tents", 20000, 10)
        got_why = {d.reason for d in cast.dropped}
    checks = {"unverified:unknown_signer", "unverified:bad_signature", "unverified:expired"}
    assert checks <= want_why <= got_why == checks | {"unverified:replayed"}
    assert _rows(got) == _rows(want)
    assert all(r.hostile_shown == 0 for r in got + want)
    for f, w in zip(got, want, strict=True):
        # each: its own 3, a replay of every honest offer and of the other's 3
        assert 2 * 3 <= w.dropped_unverified <= f.dropped_unverified == 2 * (6 + f.offers), (f, w)
    assert {k: got_sent[k] for k in ("forged", "tampered", "expired")} == {
        k: want_sent[k] for k in ("forged", "tampered", "expired")
    }
    assert want_sent["replayed"] <= got_sent["replayed"]


async def test_fast_mode_people_on_certified_trust_read_no_witnesses(tmp_path: Path) -> None:
    """People on ``certified`` trust (own evidence and what offers carry, never the board's
    witnesses) choose the same with and without a bait's two fake five-star ratings a round
    on the fast board (a whole rate draws nothing), while people on ``network`` trust, who
    read the board, choose differently: the fast board is read only by scorers that read
    the board in full mode."""

    async def winners(trust: str, praise: int) -> list[str]:
        text = DAYS.replace('trust_mode = "own"', f'trust_mode = "{trust}"').replace(
            'trust_mode = "network"', f'trust_mode = "{trust}"'
        )
        text += (
            f'[[vendors]]\nkind = "bait"\nprice_factor = [0.6, 0.65]\npraise_per_round = {praise}\n'
        )
        async with FastMarket(_small(text), tmp_path / f"{trust}-{praise}") as market:
            return [r.winner_vendor for r in await market.run()]

    assert await winners("certified", 2) == await winners("certified", 0)
    assert await winners("network", 2) != await winners("network", 0)


class BundleReader:
    """A trust model that reads the board's signed bundles itself (fast mode has none)."""

    uses_ratings = True

    def scorer(self, own: BetaTrust, policy: TrustPolicy, ratings: object) -> TrustScorer:
        return own


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (
            '[[persons]]\ntrust_mode = "tests.test_simulator_fast:BundleReader"\n',
            "persons.2.trust_mode",
        ),
        (
            '[[persons]]\ntrust_mode = {use = "tests.test_simulator_fast:BundleReader"}\n',
            "persons.2.trust_mode",
        ),
        ('[[vendors]]\nkind = "honest"\nbehaviour = {use = "certifies"}\n', "vendors.4.behaviour"),
    ],
)
def test_fast_mode_refuses_what_it_cannot_model_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, key: str
) -> None:
    """A fast-mode scenario with a trust model of its own that reads the board's signed
    rating bundles (named by path or in a table), or with vendors that carry their ratings
    on their offers (certified), is exit 2 and one line naming the key: fast mode signs no
    bundles, serves opened ratings to ``agent.NetworkTrust`` only, and its vendors read no
    board."""
    path = tmp_path / "sc.toml"
    path.write_text('mode = "fast"\n' + SMALL + extra)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "key"),
    [(["--mode", "quick"], "--mode"), (["--mode", "fast", "--bus", "nats://x:1"], "--bus")],
)
def test_a_bad_mode_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], key: str
) -> None:
    """An unknown --mode, or a bus given to fast mode, is refused in one line naming the
    flag, exit 2, before anything runs."""
    path = tmp_path / "sc.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err


def test_an_unknown_mode_in_the_scenario_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scenario key ``mode`` takes full or fast; anything else is one line naming it."""
    path = tmp_path / "sc.toml"
    path.write_text('mode = "turbo"\n' + SMALL)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.count("mode") >= 1 and "turbo" in err


def test_run_and_batch_in_fast_mode_write_their_tables(tmp_path: Path) -> None:
    """``run --mode fast`` and ``batch --mode fast`` run without a bus and write rounds.csv
    and batch.csv as full mode does."""
    path = tmp_path / "sc.toml"
    path.write_text(SMALL)
    assert main(["run", str(path), "--mode", "fast", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "rounds.csv").read_text().count("\n") == 31
    out = tmp_path / "b"
    assert main(["batch", str(path), "--mode", "fast", "--seeds", "1-2", "--out", str(out)]) == 0
    assert (out / "batch.csv").read_text().count("\n") == 3


async def test_intents_in_flight_at_once_agree_between_modes_and_overlap_in_full_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``in_flight = 4`` rounds are taken four at a time: in full mode four people's
    intents are out on the real bus at once (their collections overlap), fast mode makes
    the same choices, orders and outcomes round by round, and the draws differ from one
    intent at a time (the four are judged on what was known before any of them settled)."""
    sc = _small(SMALL.replace("rounds = 30", "rounds = 24\nin_flight = 4"))
    busy, most = 0, 0
    collect = Market.collect

    async def counted(self: Market, *args: object, **kwargs: object) -> object:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        try:
            return await collect(self, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            busy -= 1

    monkeypatch.setattr(Market, "collect", counted)
    async with Market(sc, tmp_path / "full") as full:
        want = await full.run()
    async with FastMarket(sc, tmp_path / "fast") as fast:
        got = await fast.run()
    assert most == 4
    assert [r.round for r in want] == list(range(24))
    assert len({r.day for r in want[:4]}) == 1  # a tick's intents share its moment
    assert _rows(got) == _rows(want)
    one_at_a_time = _small(SMALL.replace("rounds = 30", "rounds = 24"))
    async with FastMarket(one_at_a_time, tmp_path / "serial") as serial:
        alone = await serial.run()
    assert [r.winner_vendor for r in alone] != [r.winner_vendor for r in got]


def test_in_flight_outside_its_range_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``in_flight = 0`` in a scenario is one line naming the key, exit 2, no traceback."""
    f = tmp_path / "bad.toml"
    f.write_text(SMALL.replace("rounds = 30", "rounds = 3\nin_flight = 0"))
    assert main(["run", str(f), "--mode", "fast", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in_flight" in err[0], err
