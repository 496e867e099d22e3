"""NetworkTrust's running sums of the board (agent/_board_evidence.py) score as counting every
rating again would, as ratings arrive, time passes, a receipt is rated again, the person comes
to hold a receipt, ratings leave the board, and when many readers share one set of sums."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

import schemas as s
from agent import AgentStore, BetaTrust, BoardEvidence, NetworkTrust, TrustPolicy
from tests.factories import NOW, intent_for_test, minted_rating, vendor_for_test

TOLERANCE = 1e-12  # a factor on a sum rounds apart from forgetting each rating: ~1e-16 seen
LATER = NOW + timedelta(days=365)  # when the shared source opens ratings: after all of them


def _rerated(v: s.VendorSigner, scores: list[tuple[int, str, datetime]]) -> list[bytes]:
    """Ratings of one receipt of ``v`` (an order it made up), one per (score, outcome, time)."""
    cast = intent_for_test(now=NOW)
    receipt = s.Receipt(
        id=s.new_id(), order_id=s.new_id(), intent_id=cast.intent.id, offer_id=s.new_id(),
        vendor_id=v.vendor_id, intent_hash=s.digest(cast.wire[64:]), offer_hash="ab" * 32,
        accept_hash="cd" * 32, item=s.Item("TENT-2P", "Two-person tent"), quantity=1,
        total_price=s.Money(12900, "EUR"), delivery_by=NOW.date(), payment_method="card",
    )  # fmt: skip
    wire = s.sign(
        receipt, v.signing, created=NOW, expires=NOW + timedelta(minutes=10),
        intent=cast.intent.id, vendor=v.vendor_id,
    )  # fmt: skip

    def rating(score: int, outcome: str, at: datetime) -> bytes:
        return s.make_rating(
            receipt_wire=wire, intent_wire=cast.wire, profile_wire=v.profile_wire,
            intent_seed=bytes(cast.secrets.sign), score=score, outcome=outcome, now=at,
        )  # fmt: skip

    return [rating(score, outcome, at) for score, outcome, at in scores]


def _receipt_of(v: s.VendorSigner, bundle: bytes) -> str:
    return s.open_rating(bundle, vendor_id=v.vendor_id, now=NOW).receipt.msg.id


class Board:
    """A list of rating bundles read as a ratings source, from ``start`` on."""

    def __init__(self) -> None:
        self.bundles: list[bytes] = []
        self.start = 0

    def __call__(self, vendor_id: str) -> list[tuple[int, bytes]]:
        return [(i, b) for i, b in enumerate(self.bundles) if i >= self.start]

    def opened(
        self, seq: int, vendor_id: str, friends: tuple[s.Friend, ...]
    ) -> tuple[s.OpenedRating, s.Friend | None]:
        """The board as a source of ratings opened already (``NetworkTrust``'s ``opened``)."""
        return s.open_rating(self.bundles[seq], vendor_id=vendor_id, now=LATER), None

    def shared(self, policy: TrustPolicy) -> BoardEvidence:
        """Sums of this board shared by readers weighing strangers as ``NetworkTrust`` does
        by default."""
        return BoardEvidence.shared(
            self.opened, weight=0.25, negative_factor=2.0, half_life_days=policy.half_life_days
        )


def _reader(
    store: AgentStore, board: Board, policy: TrustPolicy, shared: BoardEvidence
) -> NetworkTrust:
    """A reader of ``board``'s opened ratings through the ``shared`` sums."""
    return NetworkTrust(BetaTrust(store, policy), board, policy, opened=board.opened, shared=shared)


def _agree(kept: NetworkTrust, store: AgentStore, board: Board, v: str, now: datetime) -> float:
    """How far ``kept``'s score is from a recount's; asserts the reasons shown agree."""
    got = kept.score(v, now)
    policy = TrustPolicy()
    want = NetworkTrust(BetaTrust(store, policy), board, policy).score(v, now)
    assert (got.new, got.why) == (want.new, want.why)
    assert abs(got.evidence - want.evidence) < TOLERANCE
    return abs(got.value - want.value)


def _scorer(store: AgentStore, board: Board) -> NetworkTrust:
    policy = TrustPolicy()
    return NetworkTrust(BetaTrust(store, policy), board, policy)


def test_running_sums_score_as_a_recount_as_ratings_arrive_and_days_pass(tmp_path: Path) -> None:
    """Sixty ratings of every kind arrive in batches while the clock runs 20 days a batch:
    after each batch, the scorer that kept its sums (forgotten by a factor, topped up with
    the new ratings) gives the score a fresh recount gives, to 1e-12, with the same reasons."""
    v, board = vendor_for_test(), Board()
    kinds = [(5, "delivered"), (4, "late"), (2, "not_as_described"), (1, "not_delivered")]
    with AgentStore(tmp_path / "a.sqlite") as store:
        kept, worst = _scorer(store, board), 0.0
        for batch in range(6):
            now = NOW + timedelta(days=20 * batch)
            for i in range(10):
                score, outcome = kinds[(batch + i) % len(kinds)]
                board.bundles.append(minted_rating(v, score=score, outcome=outcome, now=now))
            worst = max(worst, _agree(kept, store, board, v.vendor_id, now + timedelta(days=3)))
        assert worst < TOLERANCE
        assert kept.score(v.vendor_id, now).why.startswith("60 verified buyers")


def test_a_new_rating_of_a_receipt_already_counted_replaces_it(tmp_path: Path) -> None:
    """A buyer rates one receipt 5, then (a day later) 1, not delivered: once the second is
    on the board the kept sums count only it, as a recount does (the veto shows the blame)."""
    v, board = vendor_for_test(), Board()
    first, second = _rerated(
        v, [(5, "delivered", NOW), (1, "not_delivered", NOW + timedelta(days=1))]
    )
    board.bundles += [minted_rating(v, score=5) for _ in range(3)] + [first]
    with AgentStore(tmp_path / "a.sqlite") as store:
        kept = _scorer(store, board)
        kept.score(v.vendor_id, NOW + timedelta(days=1))
        board.bundles.append(second)
        assert _agree(kept, store, board, v.vendor_id, NOW + timedelta(days=2)) < TOLERANCE
        assert "4 verified buyers" in kept.score(v.vendor_id, NOW + timedelta(days=2)).why


def test_a_receipt_the_person_comes_to_hold_stops_counting_as_a_strangers(
    tmp_path: Path,
) -> None:
    """A rating counted as a stranger's whose receipt the person then records as their own
    (an imported home, say) is no longer counted from the board: 2 buyers, not 3."""
    v, board = vendor_for_test(), Board()
    board.bundles += [minted_rating(v, score=s_) for s_ in (5, 3, 1)]
    with AgentStore(tmp_path / "a.sqlite") as store:
        kept = _scorer(store, board)
        kept.score(v.vendor_id, NOW)
        store.add_outcome(
            vendor_id=v.vendor_id, kind="receipt", positive=1.0, negative=0.0, at=NOW,
            ref=_receipt_of(v, board.bundles[1]),
        )  # fmt: skip
        assert _agree(kept, store, board, v.vendor_id, NOW + timedelta(days=1)) < TOLERANCE
        assert "2 verified buyers" in kept.score(v.vendor_id, NOW + timedelta(days=1)).why


def test_ratings_leaving_the_board_no_longer_count(tmp_path: Path) -> None:
    """The board stops holding its two oldest ratings (retention): the kept sums are
    counted again and show 3 buyers, as a recount does."""
    v, board = vendor_for_test(), Board()
    board.bundles += [minted_rating(v, score=1, outcome="not_delivered") for _ in range(2)]
    board.bundles += [minted_rating(v, score=5) for _ in range(3)]
    with AgentStore(tmp_path / "a.sqlite") as store:
        kept = _scorer(store, board)
        kept.score(v.vendor_id, NOW)
        board.start = 2
        assert _agree(kept, store, board, v.vendor_id, NOW) < TOLERANCE
        assert kept.score(v.vendor_id, NOW).why == "3 verified buyers, 3 delivered"


def test_readers_sharing_the_board_sums_score_as_each_counting_alone(tmp_path: Path) -> None:
    """Two people read one board of already opened ratings through one shared set of sums;
    one of them holds the receipt of one rating on it. Each scores the vendor as a scorer
    verifying and counting the board alone does (the holder's receipt taken out of the
    shared sums: 7 buyers for them, 8 for the other at the end), as ratings arrive and days
    pass."""
    v, board = vendor_for_test(), Board()
    board.bundles += [minted_rating(v, score=k % 5 + 1) for k in range(5)]
    policy = TrustPolicy()
    shared = board.shared(policy)
    with AgentStore(tmp_path / "a.sqlite") as holder, AgentStore(tmp_path / "b.sqlite") as other:
        holder.add_outcome(
            vendor_id=v.vendor_id, kind="receipt", positive=1.0, negative=0.0, at=NOW,
            ref=_receipt_of(v, board.bundles[2]),
        )  # fmt: skip
        readers = [
            (store, _reader(store, board, policy, shared))
            for store in (holder, other)
        ]  # fmt: skip
        for day in (0, 30, 90):
            board.bundles.append(minted_rating(v, score=2, now=NOW + timedelta(days=day)))
            for store, trust in readers:
                assert (
                    _agree(trust, store, board, v.vendor_id, NOW + timedelta(days=day)) < TOLERANCE
                )
        assert readers[0][1].score(v.vendor_id, NOW + timedelta(days=90)).why.startswith("7 ")
        assert readers[1][1].score(v.vendor_id, NOW + timedelta(days=90)).why.startswith("8 ")


def test_shared_sums_take_out_what_leaves_the_board_as_a_recount_would(tmp_path: Path) -> None:
    """A board that keeps its newest ratings only (as the real one keeps 2,000 a vendor):
    each day one rating arrives and the oldest leaves. Readers sharing the sums take the
    leaving ones out instead of counting again, and score as a recount does every day,
    the reader holding a receipt on the board until it leaves too."""
    v, board = vendor_for_test(), Board()
    kinds = [(5, "delivered"), (4, "late"), (1, "not_delivered"), (2, "not_as_described")]
    board.bundles += [minted_rating(v, score=sc, outcome=o) for sc, o in kinds]
    policy = TrustPolicy()
    shared = board.shared(policy)
    with AgentStore(tmp_path / "a.sqlite") as store:
        store.add_outcome(
            vendor_id=v.vendor_id, kind="receipt", positive=1.0, negative=0.0, at=NOW,
            ref=_receipt_of(v, board.bundles[1]),
        )  # fmt: skip
        trust = _reader(store, board, policy, shared)
        trust.score(v.vendor_id, NOW)
        for day in range(1, 9):
            now = NOW + timedelta(days=day)
            sc, o = kinds[day % len(kinds)]
            board.bundles.append(minted_rating(v, score=sc, outcome=o, now=now))
            board.start += 1
            assert _agree(trust, store, board, v.vendor_id, now) < TOLERANCE
        assert trust.score(v.vendor_id, now).why.startswith("4 verified buyers")


def test_the_receipt_index_forgets_what_the_board_no_longer_holds(tmp_path: Path) -> None:
    """Over 300 days a board that holds a vendor's 4 newest ratings turns them over 75 times:
    the index behind the sums keeps at most 2 x 4 + 100 of its receipts, not all 304, and
    the reader still scores as a recount does."""
    v, board = vendor_for_test(), Board()
    board.bundles += [minted_rating(v) for _ in range(4)]
    policy = TrustPolicy()
    shared = board.shared(policy)
    with AgentStore(tmp_path / "a.sqlite") as store:
        trust = _reader(store, board, policy, shared)
        for day in range(1, 301):
            board.bundles.append(minted_rating(v, score=day % 5 + 1, now=NOW))
            board.start += 1
            trust.score(v.vendor_id, NOW + timedelta(days=day))
        assert shared.index.size(v.vendor_id) <= 2 * 4 + 100
        assert _agree(trust, store, board, v.vendor_id, NOW + timedelta(days=300)) < TOLERANCE


def test_a_vendor_nobody_rated_stays_new_through_shared_sums(tmp_path: Path) -> None:
    """Scored again and again (days apart) through shared sums while its board is empty, a
    vendor stays new at the prior, and its first rating then counts."""
    v, board = vendor_for_test(), Board()
    policy = TrustPolicy()
    shared = board.shared(policy)
    with AgentStore(tmp_path / "a.sqlite") as store:
        trust = _reader(store, board, policy, shared)
        for day in range(3):
            assert trust.score(v.vendor_id, NOW + timedelta(days=day)).new
        board.bundles.append(minted_rating(v, now=NOW + timedelta(days=3)))
        assert trust.score(v.vendor_id, NOW + timedelta(days=3)).why.startswith("1 verified")


def test_shared_sums_weighed_otherwise_are_refused(tmp_path: Path) -> None:
    """Sums shared by readers who weigh strangers at 0.5 cannot serve a scorer weighing them
    at 0.25: a ValueError says what was expected and what was given."""
    shared = BoardEvidence.shared(
        lambda seq, v, f: None, weight=0.5, negative_factor=2.0, half_life_days=180.0
    )
    policy = TrustPolicy()
    with (
        AgentStore(tmp_path / "a.sqlite") as store,
        pytest.raises(ValueError, match=r"expected shared board evidence weighed .* got"),
    ):
        NetworkTrust(BetaTrust(store, policy), Board(), policy, shared=shared)
