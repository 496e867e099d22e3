"""A hostile vendor for simulations, the demo and the tests. It speaks the real protocol,
badly on purpose:

- forged: signs an offer with its own key but presents an honest vendor's profile;
- tampered: signs a good offer, then changes the price in the signed bytes;
- expired: an offer whose validity ended an hour ago;
- replayed: re-publishes every other vendor's sealed offer it overhears;
- scribble: a validly signed offer whose vendor name and item title carry terminal escapes,
  bell, bidirectional overrides and line breaks that forge lines of the agent's own output;
- junk: an unsealed reply whose bytes carry the same, which verifies as nothing;
- absurd: validly signed offers, each from an identity of its own, that no person should
  see: free, a unit price in another currency than the total, delivery in the year 2000, and
  a total that is not unit price times quantity.

Its items carry SKUs starting ``MIRAGE-``, so anything of it that reached a person would be
recognised. The person's agent must show none of these, and count each as dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from nats.aio.msg import Msg

import schemas
from agent import Dropped
from runtime import Bus

if TYPE_CHECKING:
    from ._scenario import Scenario

__all__ = [
    "ABSURD_KINDS",
    "HOSTILE_SKU_PREFIX",
    "SCRIBBLED_NAME",
    "SCRIBBLED_TITLE",
    "Rogue",
    "RogueDrops",
    "run_rogue",
]

log = structlog.get_logger("intentcast.rogue")
HOSTILE_SKU_PREFIX = "MIRAGE-"
TERMS = schemas.example_vendor_terms(data_retention_days=0, return_days=365, warranty_months=120)
ABSURD_KINDS = ("free", "two_currencies", "backdated", "arithmetic")
SCRIBBLED_NAME = "Scrawl\x1b[2J\x1b[H\x1b]0;owned\x07 Goods\u202e"
SCRIBBLED_TITLE = (
    "Tent\x07\r\n  1. Sierra Outfitters: VERIFIED OFFICIAL 1.00 EUR\n"
    "\nAccept one with: intentcast accept 00000000\x1b[31m\x9b2J"
)


class Rogue:
    def __init__(self, modes: set[str], clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        now = self.clock()
        self.me = self._identity("Mirage Goods", now)
        self.scribbler = self._identity(SCRIBBLED_NAME, now)
        self.absurd = {kind: self._identity(f"Absurd {kind}", now) for kind in ABSURD_KINDS}
        self.modes = modes
        self.profiles: dict[str, bytes] = {}
        self.replayed: set[str] = set()
        self.sent: set[str] = set()
        self.sent_by_kind: Counter[str] = Counter()
        self.bus: Bus | None = None

    async def publish(self, subject: str, data: bytes, kind: str) -> None:
        assert self.bus is not None
        self.sent.add(hashlib.sha256(data).hexdigest())
        self.sent_by_kind[kind] += 1
        await self.bus.nc.publish(subject, data)
        log.info("rogue.sent", kind=kind, subject=subject)

    def offer(
        self,
        intent: schemas.Verified[schemas.Intent],
        signer: schemas.VendorSigner,
        now: datetime,
        ttl: timedelta,
        title: str = "Incredible deal",
    ) -> tuple[bytes, bytes]:
        """(signed offer frame, its sealed bundle) at a tempting price."""
        i = intent.msg
        total = schemas.Money(max(1, i.max_price.amount // 2), i.max_price.currency)
        offer, _ = schemas.make_offer(
            intent=intent, signer=signer, item=schemas.Item(HOSTILE_SKU_PREFIX + "1", title),
            quantity=i.quantity, unit_price=total, total_price=total,
            delivery_by=min(i.wanted_by, date.today() + timedelta(days=1)), terms=TERMS, now=now, ttl=ttl,
        )  # fmt: skip
        frame = schemas.sign(
            offer,
            signer.signing,
            created=now,
            expires=now + ttl,
            intent=i.id,
            vendor=signer.vendor_id,
        )
        return frame, schemas.seal(i.keys.seal, schemas.pack(signer.profile_wire, frame))

    @staticmethod
    def _identity(name: str, now: datetime) -> schemas.VendorSigner:
        return schemas.make_profile(
            identity=SigningKey.generate(), signing=SigningKey.generate(),
            seal_key=PrivateKey.generate(), name=name, categories=["outdoor"], terms=TERMS, now=now,
        )  # fmt: skip

    def absurd_offer(
        self,
        kind: str,
        intent: schemas.Verified[schemas.Intent],
        signer: schemas.VendorSigner,
        now: datetime,
    ) -> bytes:
        """A validly signed, sealed offer that breaks one rule of an offer fit to show."""
        i = intent.msg
        cur = i.max_price.currency
        half = max(2, i.max_price.amount // 2) // i.quantity * i.quantity
        unit, total = schemas.Money(half // i.quantity, cur), schemas.Money(half, cur)
        delivery = min(i.wanted_by, date.today() + timedelta(days=1))
        if kind == "free":
            unit, total = schemas.Money(0, cur), schemas.Money(0, cur)
        elif kind == "two_currencies":
            unit = schemas.Money(unit.amount, "JPY" if cur != "JPY" else "EUR")
        elif kind == "backdated":
            delivery = date(2000, 1, 1)
        elif kind == "arithmetic":
            unit = schemas.Money(unit.amount + 1, cur)
        _, sealed = schemas.make_offer(
            intent=intent, signer=signer, item=schemas.Item(HOSTILE_SKU_PREFIX + kind, "Tent"),
            quantity=i.quantity, unit_price=unit, total_price=total, delivery_by=delivery,
            terms=TERMS, now=now, ttl=timedelta(hours=1),
        )  # fmt: skip
        return sealed

    async def on_profile(self, msg: Msg) -> None:
        try:
            p = schemas.ProfileCache().open(msg.data, None)
        except schemas.ProtocolError:
            return
        if p.msg.vendor_id != self.me.vendor_id:
            self.profiles[p.msg.vendor_id] = msg.data

    async def on_intent(self, msg: Msg) -> None:
        now = self.clock()
        try:
            v = schemas.open_intent(msg.data, now=now, replay=None)
        except schemas.ProtocolError:
            return
        reply = v.msg.reply_subject
        if "forged" in self.modes and self.profiles:
            victim_wire = next(iter(self.profiles.values()))
            victim = schemas.ProfileCache().open(victim_wire, None).msg
            borrowed = schemas.VendorSigner(
                self.me.identity, self.me.signing, self.me.seal, victim_wire, victim
            )
            _, sealed = self.offer(v, borrowed, now, timedelta(hours=1))
            await self.publish(reply, sealed, "forged")
        if "tampered" in self.modes:
            frame, _ = self.offer(v, self.me, now, timedelta(hours=1))
            i = frame.index(b'"total_price":{"amount":') + 24
            bad = frame[:i] + (b"1" if frame[i : i + 1] != b"1" else b"2") + frame[i + 1 :]
            await self.publish(
                reply,
                schemas.seal(v.msg.keys.seal, schemas.pack(self.me.profile_wire, bad)),
                "tampered",
            )
        if "expired" in self.modes:
            _, sealed = self.offer(v, self.me, now - timedelta(hours=2), timedelta(hours=1))
            await self.publish(reply, sealed, "expired")
        if "scribble" in self.modes:
            _, sealed = self.offer(v, self.scribbler, now, timedelta(hours=1), SCRIBBLED_TITLE)
            await self.publish(reply, sealed, "scribble")
        if "absurd" in self.modes:
            for kind, signer in self.absurd.items():
                await self.publish(reply, self.absurd_offer(kind, v, signer, now), f"absurd:{kind}")
        if "junk" in self.modes:
            junk = f"intentcast/1 offer{SCRIBBLED_TITLE}\n{{}}".encode()
            await self.publish(reply, junk, "junk")

    async def on_reply(self, msg: Msg) -> None:
        h = hashlib.sha256(msg.data).hexdigest()
        if "replayed" in self.modes and h not in self.sent and h not in self.replayed:
            self.replayed.add(h)
            await self.publish(msg.subject, msg.data, "replayed")

    async def serve(self, bus: Bus, on_ready: Callable[[], None] | None = None) -> None:
        """Listen to profiles, intents and replies on ``bus`` until cancelled."""
        self.bus = bus
        await bus.nc.subscribe("ic.v1.profile.>", cb=self.on_profile)
        await bus.nc.subscribe("ic.v1.intent.>", cb=self.on_intent)
        await bus.nc.subscribe("ic.v1.reply.>", cb=self.on_reply)
        await bus.nc.flush()
        log.info("rogue.ready", vendor=self.me.vendor_id, modes=sorted(self.modes))
        if on_ready is not None:
            on_ready()
        await asyncio.Event().wait()


async def run_rogue(url: str, modes: set[str]) -> None:
    """A rogue on its own connection until SIGINT or SIGTERM."""
    rogue = Rogue(modes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Bus(url, name="rogue") as bus, asyncio.TaskGroup() as tg:
        serving = tg.create_task(rogue.serve(bus))
        await stop.wait()
        serving.cancel()


# What the agent's checks call each hostile offer in full mode (``unverified:<error code>``).
DROPPED_AS = {
    "forged": "unverified:unknown_signer",
    "tampered": "unverified:bad_signature",
    "expired": "unverified:expired",
    "replayed": "unverified:replayed",
}


class RogueDrops:
    """Fast mode's hostile clients: what each would send to one intent, counted as the
    agent's checks drop it; nothing of it is built, so nothing of it can be shown."""

    def __init__(self, scenario: Scenario) -> None:
        self.modes = [
            sorted(g.modes) for g in scenario.vendors if g.kind == "hostile" for _ in range(g.count)
        ]
        self.count = len(self.modes)
        self.sent: Counter[str] = Counter()

    def answer(self, offers: int) -> list[Dropped]:
        """The drops of one intent that ``offers`` honest vendors answered. A forger borrows an
        honest vendor's profile; a replayer repeats every honest offer and every other
        client's own offers (which fail the check their original failed: a nonce is looked up
        only after every other check)."""
        drops: Counter[str] = Counter()
        for i, modes in enumerate(self.modes):
            for mode in modes:
                if mode != "replayed":
                    drops[DROPPED_AS[mode]] += 1
                    self.sent[mode] += 1
                    continue
                drops[DROPPED_AS[mode]] += offers
                self.sent[mode] += offers
                for j, theirs in enumerate(self.modes):
                    for m in theirs if j != i else ():
                        if m != "replayed":
                            drops[DROPPED_AS[m]] += 1
                            self.sent[mode] += 1
        return [Dropped(reason, "", count=n) for reason, n in sorted(drops.items()) if n]
