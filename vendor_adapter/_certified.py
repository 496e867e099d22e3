"""Certified reputation, the vendor's side: its best ratings from the ratings board, verified
and copied onto its offers (``Offer.certified``), within a size the config bounds.

The shelf reads the vendor's own subject of the board (``runtime.RatingsBoard`` with
``vendor_id``), verifies each bundle as any agent would (``schemas.open_rating``), keeps the
latest rating per receipt, and offers the ``count`` best: score ``min_score`` or more and an
outcome of delivered or late, highest score first, then newest. Agents weigh what it attaches
as evidence the vendor chose (docs/trust.md). Verification is done once per bundle, and the
choice again only when the board has brought something new."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog
from nats.errors import Error as NatsError

import schemas
from runtime import Bus, RatingsBoard

from ._config import CertifiedConfig

__all__ = ["EvidenceShelf", "evidence_from_board", "no_evidence", "seal_within"]

log = structlog.get_logger("intentcast.vendor")

Bundles = Callable[[], list[tuple[int, bytes]]]
Evidence = Callable[[datetime], list[schemas.CertifiedRating]]
BOARD_WAIT = 5.0  # seconds to read the board at start-up before offers go out without it


def no_evidence(now: datetime) -> list[schemas.CertifiedRating]:
    return []


class EvidenceShelf:
    def __init__(self, vendor_id: str, cfg: CertifiedConfig, bundles: Bundles) -> None:
        self.vendor_id, self.cfg, self.bundles = vendor_id, cfg, bundles
        self._opened: dict[int, tuple[schemas.OpenedRating, bytes] | None] = {}
        self._chosen: list[schemas.CertifiedRating] = []
        self._last_seen: tuple[int, int] = (-1, -1)
        self._profiles = schemas.ProfileCache(capacity=4)

    def best(self, now: datetime) -> list[schemas.CertifiedRating]:
        """The copies to attach to an offer made at ``now``."""
        held = self.bundles()
        seen = (len(held), held[-1][0] if held else 0)
        if seen == self._last_seen:
            return self._chosen
        self._last_seen = seen
        live = {seq for seq, _ in held}
        for seq in [s for s in self._opened if s not in live]:
            del self._opened[seq]  # aged out of the board's copy: bounded like it
        for seq, bundle in held:
            if seq not in self._opened:
                self._opened[seq] = self._open(seq, bundle, now)
        good = [got for got in self._opened.values() if got is not None]
        bundle_of = {o.rating.digest: b for o, b in good}
        latest = schemas.latest_per_receipt([o for o, _ in good])
        fit = [
            o
            for o in latest
            if o.rating.msg.score >= self.cfg.min_score
            and o.rating.msg.outcome in ("delivered", "late")
        ]
        fit.sort(key=lambda o: (o.rating.msg.score, o.created), reverse=True)
        self._chosen = [
            schemas.certified_copy(bundle_of[o.rating.digest]) for o in fit[: self.cfg.count]
        ]
        log.info("certified.chosen", count=len(self._chosen), of=len(latest))
        return self._chosen

    def _open(
        self, seq: int, bundle: bytes, now: datetime
    ) -> tuple[schemas.OpenedRating, bytes] | None:
        try:
            opened = schemas.open_rating(
                bundle, vendor_id=self.vendor_id, now=now, profiles=self._profiles
            )
            return opened, bundle
        except schemas.ProtocolError as err:
            log.info("certified.unverified", seq=seq, reason=err.code)
            return None


def seal_within(
    make: Callable[[list[schemas.CertifiedRating]], bytes],
    copies: list[schemas.CertifiedRating],
    max_bytes: int,
) -> bytes:
    """The sealed offer ``make`` builds with as many of ``copies`` (best first) as keep it
    within ``max_bytes`` (and its frame within the protocol's size); with none if need be."""
    for k in range(len(copies), 0, -1):
        try:
            sealed = make(copies[:k])
        except schemas.Oversized:
            continue
        if len(sealed) <= max_bytes:
            return sealed
    return make([])


async def evidence_from_board(
    stack: contextlib.AsyncExitStack, bus: Bus, vendor_id: str, cfg: CertifiedConfig
) -> Evidence:
    """What the vendor's offers carry: nothing unless ``cfg.attach``; else its best ratings
    from the bus's ratings board, read live for as long as ``stack`` is open (none, with a
    warning, where the bus has no board to read)."""
    if not cfg.attach:
        return no_evidence
    try:
        board = await stack.enter_async_context(RatingsBoard(bus, vendor_id=vendor_id))
        async with asyncio.timeout(BOARD_WAIT):
            await board.catch_up()
    except (NatsError, TimeoutError) as exc:
        log.warning("certified.unavailable", error=type(exc).__name__)
        return no_evidence
    log.info("certified.reading", ratings=len(board.bundles(vendor_id)))
    return EvidenceShelf(vendor_id, cfg, lambda: board.bundles(vendor_id)).best
