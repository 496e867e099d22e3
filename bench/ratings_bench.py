"""`make bench`'s ratings rows: what judging the vendors of one intent by their ratings costs.

A real JetStream ratings board holds ``vendors`` x ``per_vendor`` receipt-backed rating bundles
(each vendor signs receipts for orders of its own making: to a reader they are real ratings).
Per intent, the person's agent opens the board on a fresh connection, waits until it holds
everything (fetch), and scores each vendor with :class:`agent.NetworkTrust`, which verifies
every bundle (verify). The floor is the Ed25519 verifications no implementation can skip:
per rating its receipt, its intent and the rating itself, and each vendor's profile once,
timed in the same run as raw PyNaCl verifications of exactly those frames.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

import schemas
from agent import AgentStore, BetaTrust, NetworkTrust, TrustPolicy
from runtime import Bus, RatingsBoard

__all__ = ["ratings_rows"]

Record = Callable[..., None]


def _vendor(i: int, now: datetime) -> schemas.VendorSigner:
    return schemas.make_profile(
        identity=SigningKey.generate(), signing=SigningKey.generate(),
        seal_key=PrivateKey.generate(), name=f"Bench Vendor {i}", categories=["outdoor"],
        terms=schemas.example_vendor_terms(), now=now,
    )  # fmt: skip


def _rating(v: schemas.VendorSigner, score: int, now: datetime) -> bytes:
    cast = schemas.example_tent_intent(now=now)
    receipt = schemas.Receipt(
        id=schemas.new_id(), order_id=schemas.new_id(), intent_id=cast.intent.id,
        offer_id=schemas.new_id(), vendor_id=v.vendor_id,
        intent_hash=schemas.digest(cast.wire[64:]), offer_hash="ab" * 32, accept_hash="cd" * 32,
        item=schemas.Item("T-2P", "Two-person tent"), quantity=1,
        total_price=schemas.Money(12900, "EUR"), delivery_by=date.today() + timedelta(days=4),
        payment_method="card",
    )  # fmt: skip
    wire = schemas.sign(
        receipt, v.signing, created=now, expires=now + timedelta(minutes=10),
        intent=cast.intent.id, vendor=v.vendor_id,
    )  # fmt: skip
    return schemas.make_rating(
        receipt_wire=wire, intent_wire=cast.wire, profile_wire=v.profile_wire,
        intent_seed=bytes(cast.secrets.sign), score=score, outcome="delivered", now=now,
    )  # fmt: skip


def _raw_verifications(bundles: list[bytes], profiles: list[bytes]) -> Callable[[], None]:
    """The Ed25519 verifications of these frames and nothing else: the floor."""
    work = []
    for wire in [f for b in bundles for f in schemas.unpack(b, 4)[:3]] + profiles:
        _, kid, sig, signed = schemas.split_frame(wire)
        work.append((VerifyKey(bytes.fromhex(kid)), signed, sig))

    def go() -> None:
        for key, signed, sig in work:
            key.verify(signed, sig)

    return go


async def ratings_rows(url: str, tmp: Path, record: Record, *, quick: bool) -> None:
    vendors, per_vendor = 10, 20
    now = datetime.now(UTC)
    signers = [_vendor(i, now) for i in range(vendors)]
    bundles = [(v, _rating(v, 1 + k % 5, now)) for v in signers for k in range(per_vendor)]
    async with Bus(url, name="bench-rater") as bus, RatingsBoard(bus) as board:
        for v, bundle in bundles:
            await board.publish(v.vendor_id, bundle)
    raw = _raw_verifications([b for _, b in bundles], [v.profile_wire for v in signers])
    policy = TrustPolicy()
    store = AgentStore(tmp / "ratings-bench.sqlite")
    fetch_ms, verify_ms, raw_ms = [], [], []
    for _ in range(5 if quick else 20):
        t = time.perf_counter()
        raw()
        raw_ms.append((time.perf_counter() - t) * 1000)
        t0 = time.perf_counter()
        async with Bus(url, name="bench-reader") as bus, RatingsBoard(bus) as reader:
            async with asyncio.timeout(30):
                await reader.catch_up()
            t1 = time.perf_counter()
            trust = NetworkTrust(BetaTrust(store, policy), reader.bundles, policy)
            scored = [trust.score(v.vendor_id, now) for v in signers]
            t2 = time.perf_counter()
        assert all("20 verified buyers" in s.why for s in scored), scored[0]
        fetch_ms.append((t1 - t0) * 1000)
        verify_ms.append((t2 - t1) * 1000)
    store.close()
    verifies = vendors * (1 + 3 * per_vendor)
    bound = statistics.median(raw_ms)
    fetch, verify = statistics.median(fetch_ms), statistics.median(verify_ms)
    what = f"{vendors} vendors x {per_vendor} ratings on a real JetStream board"
    record(
        "ratings_per_intent_crypto_bound", bound, "ms", bound, None,
        f"{verifies} raw Ed25519 verifications of those frames: 3 per rating, 1 profile per vendor",
    )  # fmt: skip
    record(
        "ratings_verify_per_intent", verify, "ms", bound, 1.5,
        f"{what}: NetworkTrust scores each vendor, verifying every bundle",
    )  # fmt: skip
    record(
        "ratings_per_intent", fetch + verify, "ms", bound, None,
        f"{what}: a fresh connection reads the board, then verifies (median)",
    )  # fmt: skip
