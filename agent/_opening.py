"""Opening offers on both cores.

Unsealing (X25519) and checking signatures (Ed25519) are most of an offer's cost, and PyNaCl
releases the GIL while it does either. When offers arrive faster than one core opens them, the
agent opens them in batches on a small thread pool, so that one thread's crypto runs while
another's Python runs. A batch of fewer than :data:`MIN_THREADED_BATCH` is opened inline:
handing it to threads costs more than it saves. On this project's 2-core VM (deploy/CAPACITY.md,
"Where a round trip's time goes"), 10, 16, 24 and 32 offers opened faster inline than on two
threads even at their best (10: 0.93 against 1.08 ms), and cost 0.1-0.3 ms more CPU on
threads; only bursts of about 50 gained (3.5 against 4.9 ms), and only while a core was free.

Threads only unseal, verify and decode: the replay cache and everything after stay on the
event loop's thread, in arrival order (:func:`admit_opened`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Sequence
from datetime import datetime

import structlog

import schemas

__all__ = ["OfferOpener", "Opened", "admit_opened"]

Opened = schemas.OpenedOffer | schemas.ProtocolError
log = structlog.get_logger("intentcast.agent")
MIN_THREADED_BATCH = 32

# While two threads take turns at the GIL, the one coming back from crypto waits for the other
# to let go; CPython's default (5 ms) makes it wait far longer than the crypto took. 50 us
# halves the batch cost on two cores (measured in `make bench`); a lone thread never waits.
_SWITCH_INTERVAL = 50e-6


def _open_one(
    sealed: bytes,
    intent: schemas.Intent,
    secrets: schemas.IntentSecrets,
    now: datetime,
    profiles: schemas.ProfileCache,
) -> Opened:
    try:
        return schemas.open_offer(
            sealed, intent=intent, secrets=secrets, now=now, replay=None, profiles=profiles
        )
    except schemas.ProtocolError as err:
        return err.with_traceback(None)  # kept until admitted: not the frames it was raised in
    except Exception as exc:  # a fault of ours: drop this reply, keep the others, say so
        log.error("offer.open_failed", error=f"{type(exc).__name__}: {exc}", intent=intent.id)
        return schemas.Malformed("a reply this agent can open", type(exc).__name__, "$")


def _open_chunk(
    chunk: Sequence[bytes],
    intent: schemas.Intent,
    secrets: schemas.IntentSecrets,
    now: datetime,
    profiles: schemas.ProfileCache,
) -> list[Opened]:
    return [_open_one(s, intent, secrets, now, profiles) for s in chunk]


class OfferOpener:
    """Opens batches of sealed offers, on ``threads`` threads when the batch is at least
    ``min_batch`` long.

    A resource with a lifetime: ``async with OfferOpener() as opener`` (or ``with``, or
    :meth:`close`). The first batch big enough for the threads starts them and lowers the
    interpreter's switch interval (see ``_SWITCH_INTERVAL``); closing joins the threads and
    puts the interval back as it found it, unless someone else changed it meanwhile. Opened
    after close, it raises."""

    def __init__(self, threads: int = 2, min_batch: int = MIN_THREADED_BATCH) -> None:
        self.threads, self.min_batch = threads, min_batch
        self.state = "open"
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        # The switch interval before we lowered it and as the interpreter then reported it
        # (it keeps whole microseconds): None while we have not lowered it.
        self._switch: tuple[float, float] | None = None

    def __enter__(self) -> OfferOpener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> OfferOpener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Join the threads (they are idle unless a batch was abandoned mid-way: then it
        waits for that batch) and restore the switch interval. Safe to repeat."""
        self.state = "closed"
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        switch, self._switch = self._switch, None
        if switch is not None and sys.getswitchinterval() == switch[1]:
            sys.setswitchinterval(switch[0])

    def _start_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        if self.state != "open":
            raise RuntimeError(f"expected an open offer opener, it is {self.state}")
        if self._pool is None:
            prior = sys.getswitchinterval()
            if prior > _SWITCH_INTERVAL:
                sys.setswitchinterval(_SWITCH_INTERVAL)
                self._switch = (prior, sys.getswitchinterval())
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.threads, thread_name_prefix="intentcast-open"
            )
        return self._pool

    def _submit(
        self,
        sealed: Sequence[bytes],
        intent: schemas.Intent,
        secrets: schemas.IntentSecrets,
        now: datetime,
        profiles: schemas.ProfileCache,
    ) -> list[concurrent.futures.Future[list[Opened]]] | None:
        """The batch's parts, started on the threads; None to open it inline."""
        if self.threads < 2 or len(sealed) < self.min_batch:
            if self.state != "open":
                raise RuntimeError(f"expected an open offer opener, it is {self.state}")
            return None
        pool = self._start_threads()
        return [
            pool.submit(_open_chunk, sealed[i :: self.threads], intent, secrets, now, profiles)
            for i in range(self.threads)
        ]

    @staticmethod
    def _interleave(parts: list[list[Opened]], n: int) -> list[Opened]:
        out: list[Opened] = [None] * n  # type: ignore[list-item]
        for i, part in enumerate(parts):
            out[i :: len(parts)] = part
        return out

    def open_batch(
        self,
        sealed: Sequence[bytes],
        *,
        intent: schemas.Intent,
        secrets: schemas.IntentSecrets,
        now: datetime,
        profiles: schemas.ProfileCache,
    ) -> list[Opened]:
        """Open every offer; results in the order given, each an offer or the error it raised."""
        parts = self._submit(sealed, intent, secrets, now, profiles)
        if parts is None:
            return _open_chunk(sealed, intent, secrets, now, profiles)
        return self._interleave([f.result() for f in parts], len(sealed))

    async def open(
        self,
        sealed: Sequence[bytes],
        *,
        intent: schemas.Intent,
        secrets: schemas.IntentSecrets,
        now: datetime,
        profiles: schemas.ProfileCache,
    ) -> list[Opened]:
        """:meth:`open_batch` without blocking the event loop while the threads work."""
        parts = self._submit(sealed, intent, secrets, now, profiles)
        if parts is None:
            return _open_chunk(sealed, intent, secrets, now, profiles)
        done = await asyncio.gather(*(asyncio.wrap_future(f) for f in parts))
        return self._interleave(list(done), len(sealed))


def admit_opened(opened: Opened, replay: schemas.ReplayCache, now: datetime) -> schemas.OpenedOffer:
    """The replay check for an offer opened off the loop: raise its error, or
    :class:`schemas.Replayed`, or return it."""
    if isinstance(opened, schemas.ProtocolError):
        raise opened
    o = opened.offer
    replay.add(o.kid, o.header.nonce, o.header.expires, now, "$.offer")
    return opened
