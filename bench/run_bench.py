"""`make bench`: what intentcast costs, as ratios to floors measured in the same run.

Floors: raw PyNaCl Ed25519 sign and verify, raw sealed box, a bare NATS request round trip, a
bare signed fan-out (nats-py plus sign and verify, no product logic) and a bare sealed one
(nats-py plus the contract's cryptography: the round trips' crypto bound). Every figure is reported
as value / floor, because absolute times on shared machines are noise.

Writes bench-results.json (a list of {name, value, unit, floor, ratio, target}) and
bench-results.png (latency and CPU against vendors and against intents per second).

    make bench                  # everything (about two minutes on 2 cores)
    make bench ARGS=--quick     # fewer repeats, no 200-vendor round trip
    make bench ARGS=--capacity  # per-message rows and deploy/CAPACITY.md's inputs only
    make bench ARGS=--round-trips   # intent to ranked list only, against its crypto bound
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nacl.public import PrivateKey, SealedBox  # noqa: E402
from nacl.signing import SigningKey, VerifyKey  # noqa: E402

import schemas  # noqa: E402
from agent import (  # noqa: E402
    Agent,
    AgentConfig,
    AgentSession,
    AgentStore,
    BetaTrust,
    Home,
    OfferOpener,
    Ranker,
    RankingWeights,
    TrustPolicy,
    admit_opened,
)
from bench.ratings_bench import ratings_rows  # noqa: E402
from runtime import (  # noqa: E402
    Bus,
    EmbeddedServer,
    InProcessTransport,
    NatsTransport,
    ServiceProcess,
    configure_logging,
)
from vendor_adapter import (  # noqa: E402
    CSV_HEADER,
    FileCatalog,
    Vendor,
    VendorConfig,
    VendorStore,
)

RECORDS: list[dict[str, Any]] = []
# What a bench vendor's offer costs to sign and to seal: its frame's size and its box's (the
# sizes recorded as size_offer_frame and size_offer), for the sealed floor.
OFFER_FRAME_BYTES = 1055
OFFER_BOX_BYTES = 4096
NOW = datetime.now(UTC)
VTERMS = schemas.example_vendor_terms()


def record(
    name: str, value: float, unit: str, floor: float, target: float | None = None, note: str = ""
) -> None:
    ratio = value / floor if floor else float("nan")
    RECORDS.append(
        {
            "name": name,
            "value": value,
            "unit": unit,
            "floor": floor,
            "ratio": ratio,
            "target": target,
            "note": note,
        }
    )
    flag = "" if target is None else ("  ok" if ratio <= target else "  OVER TARGET")
    print(
        f"  {name:<28} {value:>12.2f} {unit:<8} floor {floor:>10.2f}  ratio {ratio:>6.2f}"
        + (f"  (target {target})" if target else "")
        + flag,
        flush=True,
    )


def per_call_us(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    """Median over ``repeat`` runs of the mean time of ``n`` calls, in microseconds."""
    runs = []
    for _ in range(repeat):
        gc.disable()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
        gc.enable()
    return statistics.median(runs)


def paired_us(
    fn: Callable[[], object], floor: Callable[[], object], n: int, pairs: int = 9
) -> tuple[float, float]:
    """(value, floor) in microseconds, measured in alternating batches so that both see the
    same machine: the median of each over ``pairs`` batches of ``n`` calls."""
    values, floors = [], []
    for i in range(pairs):
        for f, out in ((fn, values), (floor, floors)) if i % 2 else ((floor, floors), (fn, values)):
            out.append(per_call_us(f, n, repeat=1))
    return statistics.median(values), statistics.median(floors)


def per_item_us(fns: list[Callable[[], object]]) -> float:
    """Mean time per call over distinct prepared calls (each may run once), in microseconds."""
    gc.disable()
    t = time.perf_counter()
    for f in fns:
        f()
    gc.enable()
    return (time.perf_counter() - t) / len(fns) * 1e6


def vendor_signer(name: str = "Bench Outdoor") -> schemas.VendorSigner:
    return schemas.make_profile(
        identity=SigningKey.generate(),
        signing=SigningKey.generate(),
        seal_key=PrivateKey.generate(),
        name=name,
        categories=["outdoor"],
        terms=VTERMS,
        now=NOW,
    )


def cast() -> schemas.CastIntent:
    return schemas.example_tent_intent(
        now=NOW, ttl=timedelta(minutes=10), want=schemas.Want("2-person tent", {"colour": "green"})
    )


def make_offer(c: schemas.CastIntent, v: schemas.VendorSigner) -> tuple[bytes, bytes]:
    vi = schemas.open_intent(c.wire, now=NOW, replay=None)
    _, sealed = schemas.make_offer(
        intent=vi,
        signer=v,
        item=schemas.Item("T-2P", "Two-person dome tent", {"colour": "green"}),
        quantity=1,
        unit_price=schemas.Money(12900, "EUR"),
        total_price=schemas.Money(12900, "EUR"),
        delivery_by=date.today() + timedelta(days=4),
        terms=VTERMS,
        now=NOW,
        ttl=timedelta(hours=1),
    )
    frame = schemas.unpack(schemas.unseal(c.secrets.seal, sealed), 2)[1]
    return frame, sealed


def vendor_config(tmp: Path, catalog: Path) -> VendorConfig:
    return VendorConfig.model_validate({
        "name": "Bench Outdoor", "categories": ["outdoor/tents"], "keys_dir": str(tmp / "k"),
        "data_dir": str(tmp / "d"), "health_port": -1,
        "limits": {"intents_per_key_per_minute": 1000, "intents_per_category_per_second": 1_000_000},
        "terms": {k: getattr(VTERMS, k) for k in VTERMS.__struct_fields__},
        "catalog": {"kind": "csv", "path": str(catalog)}, "delivery": {"areas": ["ES", "PT"]},
    })  # fmt: skip


def write_catalog(tmp: Path) -> Path:
    p = tmp / "catalog.csv"
    rows = [CSV_HEADER]
    rows += [
        f'T{i},Two-person dome tent {i},outdoor/tents,{100 + i}.00,EUR,1000000,colour=green,"tent,2-person"'
        for i in range(50)
    ]
    p.write_text("\n".join(rows) + "\n")
    return p


def make_vendor(home: Path, signer: schemas.VendorSigner) -> Vendor:
    """A vendor that is not serving (no transport): for timing its choice of offer."""
    home.mkdir(parents=True, exist_ok=True)
    catalog = write_catalog(home)
    cfg = vendor_config(home, catalog)
    store = VendorStore(home / "vendor.sqlite")
    return Vendor(
        cfg, InProcessTransport(), catalog=FileCatalog(catalog), store=store, signer=signer
    )


async def vendor_run(vendor: Vendor, intents: list[schemas.CastIntent]) -> float:
    """Microseconds per intent: verify and decode it, choose and price, sign and seal."""
    replay, v = schemas.ReplayCache(), vendor.signer
    gc.disable()
    t = time.perf_counter()
    for ci in intents:
        vi = schemas.open_intent(ci.wire, now=NOW, replay=replay)
        ch = await vendor.choose(vi.msg, NOW)
        assert not isinstance(ch, str), ch
        schemas.make_offer(
            intent=vi, signer=v, item=schemas.Item(ch.item.sku, ch.item.title, ch.item.attributes),
            quantity=1, unit_price=schemas.Money(ch.quote.unit, "EUR"),
            total_price=schemas.Money(ch.quote.total, "EUR"), delivery_by=ch.delivery_by,
            terms=VTERMS, now=NOW, ttl=timedelta(hours=1), delivers_to=vendor.delivers_to,
        )  # fmt: skip
    elapsed = time.perf_counter() - t
    gc.enable()
    return elapsed / len(intents) * 1e6


def _replica(home: str, n: int, start: Any, out: Any) -> None:
    """One replica in its own process: prepare, wait for the others, run, report its span."""
    vendor = make_vendor(Path(home), vendor_signer())
    intents = [cast() for _ in range(n)]
    asyncio.run(vendor_run(vendor, intents[:50]))  # warm up, as the in-process figure is
    intents = [cast() for _ in range(n)]
    start.wait()
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: one clock for every process
    asyncio.run(vendor_run(vendor, intents))
    out.put((t0, time.perf_counter()))


def _verifier(n: int, start: Any, out: Any) -> None:
    sk = SigningKey.generate()
    vk, signed = sk.verify_key, sk.sign(os.urandom(900))
    start.wait()
    t0 = time.perf_counter()
    for _ in range(n):
        vk.verify(signed)
    out.put((t0, time.perf_counter()))


def _in_processes(target: Callable[..., None], args: list[tuple[Any, ...]]) -> float:
    """Start one process per args, release them together, and return the wall time from the
    first start to the last end, in seconds."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(len(args) + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, start, out)) for a in args]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    spans = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return max(e for _, e in spans) - min(s for s, _ in spans)


def parallel_verify_us(n: int, processes: int) -> float:
    """Raw Ed25519 verifies on ``processes`` processes at once, microseconds per verify: how
    far this machine's cores really scale."""
    return _in_processes(_verifier, [(n,)] * processes) / (n * processes) * 1e6


def vendor_replicas_us(tmp: Path, n: int, replicas: int) -> float:
    """Microseconds per intent for ``replicas`` processes answering at once: the way a
    vendor uses more cores (replicas share a queue group and an order store)."""
    args = [(str(tmp / f"replica-{i}"), n) for i in range(replicas)]
    return _in_processes(_replica, args) / (n * replicas) * 1e6


# --- micro: the contract and per-message costs ------------------------------------------------


async def micro(tmp: Path, quick: bool) -> dict[str, float]:
    print("Per message (microseconds):")
    n = 300 if quick else 1500
    sk = SigningKey.generate()
    c = cast()
    v = vendor_signer()
    frame, sealed = make_offer(c, v)
    signed = frame[64:]
    vk = sk.verify_key
    raw_sig = sk.sign(signed).signature
    raw_sign = per_call_us(lambda: sk.sign(signed), n)
    raw_verify = per_call_us(lambda: vk.verify(signed, raw_sig), n)
    pk = PrivateKey.generate()
    box = SealedBox(pk.public_key)
    bundle = schemas.pack(v.profile_wire, frame)
    ct = box.encrypt(bundle)
    opener = SealedBox(pk)
    raw_seal = per_call_us(lambda: box.encrypt(bundle), n)
    raw_unseal = per_call_us(lambda: opener.decrypt(ct), n)
    ring = v.ring
    offer_msg = schemas.verify(frame, schemas.Offer, key=ring, now=None).msg
    aud = schemas.Audience(intent=c.intent.id, vendor=v.vendor_id)

    # Contract costs, each paired with its floor in alternating batches.
    def sign_offer() -> bytes:
        return schemas.sign(
            offer_msg, v.signing, created=NOW, expires=NOW + timedelta(hours=1),
            intent=c.intent.id, vendor=v.vendor_id,
        )  # fmt: skip

    value, floor = paired_us(sign_offer, lambda: sk.sign(signed), n)
    record("contract_sign_offer", value, "us", floor)
    value, floor = paired_us(
        lambda: schemas.verify(frame, schemas.Offer, key=ring, now=NOW, audience=aud),
        lambda: vk.verify(signed, raw_sig),
        n,
    )
    record("contract_verify_decode_offer", value, "us", floor, 1.2)
    value, floor = paired_us(
        lambda: schemas.seal(c.intent.keys.seal, schemas.pack(v.profile_wire, frame)),
        lambda: box.encrypt(bundle),
        n,
    )
    record("contract_seal_offer", value, "us", floor)
    value, floor = paired_us(
        lambda: schemas.unpack(schemas.unseal(c.secrets.seal, sealed), 2),
        lambda: opener.decrypt(ct),
        n,
    )
    record("contract_unseal_offer", value, "us", floor)

    # agent_per_offer: unseal, verify profile (cached) and offer, decode, match terms and score.
    offers = [make_offer(c, v)[1] for _ in range(n)]
    store = AgentStore(tmp / "agent-micro.sqlite")
    trust = BetaTrust(store, TrustPolicy())
    replay, profiles = schemas.ReplayCache(), schemas.ProfileCache()

    policy, weights = TrustPolicy(), RankingWeights()
    ranker = Ranker(c.intent, trust=trust, policy=policy, weights=weights, now=NOW)

    def agent_step(s: bytes) -> Callable[[], object]:
        def go() -> object:
            o = schemas.open_offer(
                s, intent=c.intent, secrets=c.secrets, now=NOW, replay=replay, profiles=profiles
            )
            return ranker.judge(o)

        return go

    agent_us = per_item_us([agent_step(s) for s in offers])
    record(
        "agent_per_offer",
        agent_us,
        "us",
        raw_verify,
        1.3,
        "includes unsealing (X25519) and a trust look-up in SQLite",
    )
    record(
        "agent_per_offer_vs_verify_unseal",
        agent_us,
        "us",
        raw_verify + raw_unseal,
        1.3,
        "floor: raw verify + raw unseal",
    )

    # The same work for a burst of offers, as the live agent does it: opened on two threads
    # (PyNaCl releases the GIL while it unseals and verifies), then replay-checked and judged.
    burst = [make_offer(c, v)[1] for _ in range(n)]
    shared = schemas.ProfileCache()
    with OfferOpener(threads=2, min_batch=2) as two_threads:
        two_threads.open_batch(
            burst[:4], intent=c.intent, secrets=c.secrets, now=NOW, profiles=shared
        )
        gc.disable()
        t = time.perf_counter()
        burst_replay = schemas.ReplayCache()
        for result in two_threads.open_batch(
            burst, intent=c.intent, secrets=c.secrets, now=NOW, profiles=shared
        ):
            ranker.judge(admit_opened(result, burst_replay, NOW))
        two_core_us = (time.perf_counter() - t) / len(burst) * 1e6
        gc.enable()
    record(
        "agent_per_offer_crypto_bound",
        raw_verify + raw_unseal,
        "us",
        raw_verify,
        None,
        "the least one core pays per offer in any implementation: raw verify + raw unseal",
    )
    record(
        "agent_per_offer_2_cores",
        two_core_us,
        "us",
        raw_verify,
        1.3,
        "a burst as the live agent opens it: two threads, then replay check and judge; amortized",
    )

    # vendor_per_intent: verify and decode the intent, choose and price, sign and seal.
    vendor = make_vendor(tmp / "vmicro", v)
    vendor_us = await vendor_run(vendor, [cast() for _ in range(n)])
    record(
        "vendor_per_intent",
        vendor_us,
        "us",
        raw_sign + raw_verify,
        1.5,
        "includes sealing (X25519) and the catalog search",
    )
    record(
        "vendor_per_intent_crypto_bound",
        raw_sign + raw_verify + raw_seal,
        "us",
        raw_sign + raw_verify,
        None,
        "the least one core pays per intent in any implementation: raw sign + verify + seal",
    )
    record(
        "vendor_per_intent_vs_sign_verify_seal",
        vendor_us,
        "us",
        raw_sign + raw_verify + raw_seal,
        1.5,
        "floor: raw sign + verify + seal",
    )
    record(
        "raw_verify_2_processes",
        parallel_verify_us(n * 2, 2),
        "us",
        raw_verify,
        None,
        "raw verifies on two processes at once, per verify: how far this machine's two cores scale",
    )
    record(
        "vendor_per_intent_2_replicas",
        vendor_replicas_us(tmp, n, 2),
        "us",
        raw_sign + raw_verify,
        1.5,
        "two replicas (processes) of one vendor, each on its own core: wall time / intents",
    )
    return {
        "raw_sign": raw_sign,
        "raw_verify": raw_verify,
        "raw_seal": raw_seal,
        "raw_unseal": raw_unseal,
    }


# --- macro: over a real nats-server -----------------------------------------------------------


def farm_clock(bus: Bus, mode: str) -> Callable[[], Awaitable[float]]:
    """The CPU seconds a vendor farm has spent so far, as it answers ``farm.cpu.<mode>``."""

    async def cpu() -> float:
        return float((await bus.nc.request(f"farm.cpu.{mode}", b"", timeout=10)).data)

    return cpu


async def interleaved(
    runs: dict[str, Callable[[], Awaitable[object]]],
    repeat: int,
    farm_cpu: dict[str, Callable[[], Awaitable[float]]],
) -> dict[str, tuple[float, float, float]]:
    """For each run: (median wall ms, median CPU ms of this process, mean CPU ms of its vendor
    farm) over ``repeat`` calls, the runs taking turns (in a rotating order) so that each
    sees the same machine; the farms not being timed are idle meanwhile."""
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    farm_ms = {k: 0.0 for k in runs}
    names = list(runs)
    for i in range(repeat):
        for k in names[i % len(names) :] + names[: i % len(names)]:
            f0 = await farm_cpu[k]()
            c0, t0 = time.process_time(), time.perf_counter()
            await runs[k]()
            walls[k].append((time.perf_counter() - t0) * 1e3)
            cpus[k].append((time.process_time() - c0) * 1e3)
            farm_ms[k] += (await farm_cpu[k]() - f0) * 1e3
    return {
        k: (statistics.median(walls[k]), statistics.median(cpus[k]), farm_ms[k] / repeat)
        for k in names
    }


@contextlib.asynccontextmanager
async def _person(path: Path, session: AgentSession) -> AsyncIterator[Agent]:
    """The agent's public API over a fresh home with the default config: its real
    cast-collect-rank-store path."""
    async with Agent(Home(path), session=session, config=AgentConfig()) as agent:
        yield agent


@contextlib.contextmanager
def farm(url: str, n: int, mode: str) -> Iterator[ServiceProcess]:
    """N vendors (``mode``: see ``vendor_farm.py``) in one other process, until the block ends."""
    p = ServiceProcess(
        [sys.executable, str(ROOT / "bench" / "vendor_farm.py"), "--bus", url, "-n", str(n),
         "--mode", mode],
        ready_event="farm.ready", name=f"farm-{mode}-{n}",
    )  # fmt: skip
    try:
        p.start(timeout=20 + n / 4)  # 200 adapters take seconds to start on a shared machine
        yield p
    finally:
        p.stop()


def bare_fanout(req: Bus, n: int, *, sealed: bool) -> Callable[[], Awaitable[None]]:
    """Floor: publish a signed intent; n bare responders (in one other process, as the
    product's vendors are) verify it and sign a reply; the requester verifies all n.
    nats-py plus Ed25519, nothing else. ``sealed``: the contract's whole cryptography and
    nothing else: the intent names a fresh X25519 key, each responder signs a reply the size
    of an offer frame and seals it, padded to an offer's box, to that key; the requester
    unseals and verifies each."""
    me = SigningKey.generate()
    payload = os.urandom(900)
    subject = "floor.sealed" if sealed else "floor.intent"

    async def one() -> None:
        inbox = req.nc.new_inbox()
        got = 0
        done = asyncio.Event()
        seal = PrivateKey.generate()
        opener = SealedBox(seal)

        async def on_reply(msg: Any) -> None:
            nonlocal got
            data = msg.data
            if sealed:
                data = opener.decrypt(data)[:OFFER_FRAME_BYTES]
            VerifyKey(data[:32]).verify(data[32:])
            got += 1
            if got == n:
                done.set()

        sub = await req.nc.subscribe(inbox, cb=on_reply)
        keys = bytes(me.verify_key) + (bytes(seal.public_key) if sealed else b"")
        await req.nc.publish(subject, keys + me.sign(payload), reply=inbox)
        await asyncio.wait_for(done.wait(), 30)
        await sub.unsubscribe()

    return one


def product_round_trip(agent: Agent, n: int) -> Callable[[], Awaitable[None]]:
    """From a signed intent to the ranked list, with n vendor adapters in another process."""

    async def one() -> None:
        got = await agent.cast(cast(), window=30, expect=n)
        assert len(got.ranked) == n, (len(got.ranked), got.dropped[:2])

    return one


async def bare_rtt(url: str, repeat: int) -> float:
    async with Bus(url, name="rtt") as bus:

        async def echo(msg: Any) -> None:
            await msg.respond(msg.data)

        await bus.nc.subscribe("rtt", cb=echo)
        payload = os.urandom(1000)
        for _ in range(50):
            await bus.nc.request("rtt", payload, timeout=5)
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            await bus.nc.request("rtt", payload, timeout=5)
            samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


async def sustained(url: str, tmp: Path, total: int, concurrency: int) -> float:
    """Intents per second that one agent (this process) and one vendor adapter (its own
    process, so each has a core) complete together, each intent ranked and stored."""
    with farm(url, 1, "product"):
        sem = asyncio.Semaphore(concurrency)
        async with (
            Bus(url, name="agent-s") as abus,
            AgentSession(NatsTransport(abus)) as session,
            _person(tmp / f"agent-sustained-{concurrency}", session) as agent,
        ):

            async def one() -> None:
                async with sem:
                    got = await agent.cast(cast(), window=30, expect=1)
                    assert got.ranked

            t = time.perf_counter()
            async with asyncio.TaskGroup() as inner:
                for _ in range(total):
                    inner.create_task(one())
            return total / (time.perf_counter() - t)


def memory(catalog: Path) -> tuple[float, float]:
    """Bytes per open intent (the agent's cast with keys and inbox state) and per vendor
    answering (a verified offer with its profile held until ranking)."""
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    held = [cast() for _ in range(500)]
    per_intent = sum(
        s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename")
    ) / len(held)
    c = held[0]
    profiles = schemas.ProfileCache()
    vendors = [vendor_signer(f"V{i}") for i in range(300)]
    sealed = [make_offer(c, v)[1] for v in vendors]
    base = tracemalloc.take_snapshot()
    opened = [
        schemas.open_offer(
            s, intent=c.intent, secrets=c.secrets, now=NOW, replay=None, profiles=profiles
        )
        for s in sealed
    ]
    per_vendor = sum(
        s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename")
    ) / len(opened)
    tracemalloc.stop()
    return per_intent, per_vendor


def plot(
    series: dict[int, dict[str, float]], load: list[tuple[float, float, float]], out: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(series)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    ax[0].plot(
        ns, [series[n]["product_ms"] for n in ns], "o-", label="intentcast: intent to ranked list"
    )
    ax[0].plot(
        ns, [series[n]["floor_ms"] for n in ns], "s--", label="crypto bound: bare sealed fan-out"
    )
    ax[0].set(
        xlabel="vendors answering", ylabel="wall time, ms (median)", title="Latency against vendors"
    )
    ax[1].plot(ns, [series[n]["product_cpu"] for n in ns], "o-", label="intentcast")
    ax[1].plot(ns, [series[n]["floor_cpu"] for n in ns], "s--", label="floor")
    ax[1].set(
        xlabel="vendors answering",
        ylabel="CPU time per intent, ms",
        title="Agent CPU against vendors",
    )
    ax[2].plot([x[0] for x in load], [x[1] for x in load], "o-", label="achieved intents/s")
    ax2 = ax[2].twinx()
    ax2.plot([x[0] for x in load], [x[2] for x in load], "^:", color="tab:red", label="CPU %")
    ax2.set_ylabel("agent CPU, % of one core", color="tab:red")
    ax2.legend(loc="lower right", fontsize=8)
    ax[2].set(
        xlabel="intents in flight",
        ylabel="intents per second",
        title="One agent + one vendor adapter (two processes)",
    )
    for a in ax:
        a.grid(alpha=0.3)
        a.legend(loc="upper left", fontsize=8)
    for a in ax[:2]:
        a.set_xscale("log")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


async def main_async(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="intentcast-bench-") as d:
        tmp = Path(d)
        floors = await micro(tmp, quick)
        catalog = write_catalog(tmp)
        print("Over a real nats-server (milliseconds):")
        async with EmbeddedServer(tmp / "nats") as server:
            rtt = await bare_rtt(server.url, 200 if quick else 1000)
            record("bare_nats_round_trip", rtt, "ms", rtt, None, "the floor for request/reply")
            async with EmbeddedServer(tmp / "nats-core", jetstream=False) as core:
                series = await round_trips(core.url, tmp, quick)
            await ratings_rows(server.url, tmp, record, quick=quick)
            load = []
            for conc in [1, 8] if quick else [1, 4, 16, 64]:
                c0, t0 = time.process_time(), time.perf_counter()
                rate = await sustained(server.url, tmp, 60 if quick else 300, conc)
                cpu = (time.process_time() - c0) / (time.perf_counter() - t0) * 100
                load.append((float(conc), rate, cpu))
            best = max(load, key=lambda x: x[1])
            record(
                "sustained_intents_per_s",
                best[1],
                "1/s",
                1000 / rtt,
                None,
                f"best at {best[0]:.0f} in flight; floor: bare round trips per second",
            )
        await capacity(tmp, floors, quick)
        mi, mv = memory(catalog)
        record("memory_per_open_intent", mi / 1024, "KiB", 1, None, "tracemalloc, agent side")
        record(
            "memory_per_vendor_offer",
            mv / 1024,
            "KiB",
            1,
            None,
            "a verified offer and its profile, agent side",
        )
        from sim_bench import simulator_rows  # beside this file

        await simulator_rows(tmp, quick, record)
        out = ROOT / "bench-results.json"
        out.write_text(json.dumps(RECORDS, indent=2) + "\n")
        plot(series, load, ROOT / "bench-results.png")
        print(f"\nwrote {out} and {ROOT / 'bench-results.png'}")
        print(
            f"floors this run: sign {floors['raw_sign']:.1f} us, verify {floors['raw_verify']:.1f} us, seal {floors['raw_seal']:.1f} us, unseal {floors['raw_unseal']:.1f} us, NATS round trip {rtt:.3f} ms"
        )


async def round_trips(url: str, tmp: Path, quick: bool) -> dict[int, dict[str, float]]:
    """Intent to ranked list at 1, 10, 50 (and 200) vendors, each against its crypto bound
    (the sealed floor), with the bare signed fan-out beside it. All three farms run at once
    and take turns intent by intent, so that each sees the same machine; each farm has its
    vendors in one process, so that all pay the vendors' work one vendor after another.
    ``url``: a bus without JetStream. A live intent never touches it, and each vendor's
    watch consumers poll it 4 times a second: nothing in a vendor's own process, but 800
    polls a second on the farm's one core at 200 vendors."""
    series: dict[int, dict[str, float]] = {}
    for n in [1, 10, 50] if quick else [1, 10, 50, 200]:
        repeat = 5 if quick else (30 if n <= 10 else 15 if n <= 50 else 8)
        with farm(url, n, "floor"), farm(url, n, "sealed"), farm(url, n, "product"):
            async with (
                Bus(url, name="floor-requester") as req,
                Bus(url, name="agent") as agent_bus,
                AgentSession(NatsTransport(agent_bus)) as session,
                _person(tmp / f"agent-{n}", session) as agent,
            ):
                runs = {
                    "floor": bare_fanout(req, n, sealed=False),
                    "sealed": bare_fanout(req, n, sealed=True),
                    "product": product_round_trip(agent, n),
                }
                for run in runs.values():
                    await run()  # warm up
                got = await interleaved(runs, repeat, {k: farm_clock(req, k) for k in runs})
        (bw, _, _), (sw, sc, sf), (pw, pc, pf) = got["floor"], got["sealed"], got["product"]
        series[n] = {"product_ms": pw, "floor_ms": sw, "product_cpu": pc, "floor_cpu": sc}
        one_process = "; vendors in one other process, one after another"
        record(f"round_trip_{n}", pw, "ms", sw, 1.3, "floor: round_trip_crypto_bound" + one_process)
        record(
            f"round_trip_{n}_crypto_bound", sw, "ms", bw, None,
            "measured: bare responders verify, sign and seal (an offer's sizes), the requester"
            " unseals and verifies; floor: the same unsealed (bare signed fan-out)" + one_process,
        )  # fmt: skip
        record(
            f"round_trip_{n}_overhead_per_offer", (pw - sw) * 1e3 / n, "us", sw * 1e3 / n, None,
            "the round trip's excess over its crypto bound, per offer; floor: the bound per"
            " offer (the ratio a target of overhead per offer, not of the whole, would read)",
        )  # fmt: skip
        record(
            f"round_trip_{n}_agent_cpu", pc, "ms", sc, None,
            "CPU of the agent's process per intent; floor: the crypto bound's requester",
        )  # fmt: skip
        record(
            f"round_trip_{n}_vendor_cpu", pf, "ms", sf, None,
            "CPU of the vendors' process per intent; floor: the crypto bound's responders",
        )  # fmt: skip
    return series


async def round_trips_only(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="intentcast-bench-") as d:
        async with EmbeddedServer(Path(d) / "nats", jetstream=False) as core:
            await round_trips(core.url, Path(d), quick)


async def capacity(tmp: Path, floors: dict[str, float], quick: bool) -> None:
    """Rows for deploy/CAPACITY.md: sizes, bus fan-out, vendor processes, PostgreSQL."""
    sys.path.insert(0, str(ROOT / "bench"))
    from capacity_rows import capacity_rows

    print("Capacity inputs (deploy/CAPACITY.md):")
    await capacity_rows(record, tmp, floors, quick)


async def capacity_only(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="intentcast-bench-") as d:
        floors = await micro(Path(d), quick)
        await capacity(Path(d), floors, quick)
        out = ROOT / "bench-results.json"
        out.write_text(json.dumps(RECORDS, indent=2) + "\n")
        print(f"\nwrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats; skip 200 vendors")
    ap.add_argument(
        "--capacity", action="store_true", help="only the per-message and capacity rows"
    )
    ap.add_argument("--round-trips", action="store_true", help="only the round trip rows")
    args = ap.parse_args()
    configure_logging(json=True, level="error")
    if args.round_trips:
        asyncio.run(round_trips_only(args.quick))
    elif args.capacity:
        asyncio.run(capacity_only(args.quick))
    else:
        asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
