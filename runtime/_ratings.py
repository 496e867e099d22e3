"""The ratings board: a JetStream stream of rating bundles, one subject per vendor.

It carries bytes and verifies nothing: every reader checks every bundle itself
(``schemas.open_rating``), so what a stranger writes here costs readers a verification and
buys nothing. Publishing waits for the stream's acknowledgement (stored, with the server's
``sync_interval: always``). Reading keeps an ordered consumer over the whole stream and a
bounded copy of what it delivered, per vendor; :meth:`RatingsBoard.catch_up` waits until the
copy holds everything the stream held when it was called. A reader made with ``vendor_id``
reads only that vendor's subject (a vendor choosing which of its ratings to show).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from types import TracebackType
from typing import Any

import structlog
from nats.js.api import DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

import schemas

from ._bus import Bus

__all__ = ["RATINGS_STREAM", "RatingsBoard"]

log = structlog.get_logger("intentcast.ratings")
RATINGS_STREAM = "IC_RATINGS"
_SUBJECTS = schemas.rating_subject("*")


class RatingsBoard:
    """``async with RatingsBoard(bus) as board:`` then ``publish``, ``catch_up``, ``bundles``.

    ``max_age_days`` and ``per_vendor`` bound the stream (older and excess ratings are
    dropped by the server); ``keep_per_vendor`` and ``max_vendors`` bound this reader's copy."""

    def __init__(
        self,
        bus: Bus,
        *,
        max_age_days: float = 730,
        per_vendor: int = 10_000,
        keep_per_vendor: int = 2_000,
        max_vendors: int = 10_000,
        replicas: int = 1,
        vendor_id: str | None = None,
    ) -> None:
        self.bus = bus
        self.vendor_id = vendor_id
        self._filter = _SUBJECTS if vendor_id is None else schemas.rating_subject(vendor_id)
        self.config = StreamConfig(
            name=RATINGS_STREAM, subjects=[_SUBJECTS], storage=StorageType.FILE,
            max_age=max_age_days * 86400, max_msgs_per_subject=per_vendor, num_replicas=replicas,
        )  # fmt: skip
        self.keep_per_vendor, self.max_vendors = keep_per_vendor, max_vendors
        self._copy: OrderedDict[str, deque[tuple[int, bytes]]] = OrderedDict()
        self._seen = 0  # stream sequence of the last message delivered to us
        self._delivered = asyncio.Condition()
        self._sub: Any = None
        self.state = "new"

    async def __aenter__(self) -> RatingsBoard:
        js = self.bus.nc.jetstream()
        try:
            await js.stream_info(RATINGS_STREAM)
        except NotFoundError:
            await js.add_stream(self.config)
        self._sub = await js.subscribe(
            self._filter, stream=RATINGS_STREAM, ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL, cb=self._on_msg,
        )  # fmt: skip
        self.state = "open"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.state = "closed"
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_msg(self, msg: Any) -> None:
        vendor_id = msg.subject.rsplit(".", 1)[-1]
        seq = msg.metadata.sequence.stream
        kept = self._copy.get(vendor_id)
        if kept is None:
            if len(self._copy) >= self.max_vendors:
                self._copy.popitem(last=False)
            kept = self._copy[vendor_id] = deque(maxlen=self.keep_per_vendor)
        kept.append((seq, msg.data))
        async with self._delivered:
            self._seen = max(self._seen, seq)
            self._delivered.notify_all()

    async def publish(self, vendor_id: str, bundle: bytes) -> int:
        """Store one rating bundle; returns its stream sequence once the stream holds it."""
        ack = await self.bus.nc.jetstream().publish(schemas.rating_subject(vendor_id), bundle)
        log.info("rating.published", vendor=vendor_id, seq=ack.seq)
        return int(ack.seq)

    async def catch_up(self) -> int:
        """Wait until everything the stream holds now has reached this reader; returns the
        stream's last sequence. Time-bound it at the call site."""
        js = self.bus.nc.jetstream()
        if self.vendor_id is not None:
            try:
                last = int((await js.get_last_msg(RATINGS_STREAM, self._filter)).seq or 0)
            except NotFoundError:
                return 0
        else:
            info = await js.stream_info(RATINGS_STREAM)
            last = int(info.state.last_seq)
            if info.state.messages == 0:
                return last
        async with self._delivered:
            await self._delivered.wait_for(lambda: self._seen >= last)
        return last

    def bundles(self, vendor_id: str) -> list[tuple[int, bytes]]:
        """(stream sequence, bundle) of the ratings of ``vendor_id`` this reader holds."""
        return list(self._copy.get(vendor_id, ()))
