"""Watched intents in JetStream: the lifetime-bucket streams that hold them, the per-intent
streams that hold their offers, and a durable consumer that hands each message to a handler
and acknowledges it only once the handler returned (so whatever the handler wrote to disk
before returning is there before the server forgets the message).

It carries bytes and verifies nothing: every reader checks what it reads. The contract is in
``schemas._watching`` and schemas/README.md ("Watched intents").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import Any

import nats.errors
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

import schemas

from ._bus import Bus
from ._faults import failpoint

__all__ = [
    "REPLY_STREAM_SLACK",
    "WATCH_STREAMS",
    "StreamConsumer",
    "WatchStreams",
    "reply_stream",
]

log = structlog.get_logger("intentcast.watch")
# A reply stream outlives its intent by this much: an offer made just before the intent
# expired may still be read by an agent that was down then.
REPLY_STREAM_SLACK = timedelta(days=1)

WATCH_STREAMS = tuple(schemas.watch_stream(t) for t in schemas.WATCH_LIFETIMES)

StreamHandler = Callable[[str, bytes], Awaitable[None]]


def reply_stream(intent_id: str) -> str:
    """The stream that keeps the offers of one watched intent: ``IC_REPLY_<intent id>``."""
    if not intent_id.isalnum():
        raise ValueError(f"expected an intent id of letters and digits, got {intent_id!r}")
    return f"IC_REPLY_{intent_id}"


class WatchStreams:
    """The streams of watched intents on one bus (made on first use, idempotently)."""

    def __init__(self, bus: Bus, *, replicas: int = 1) -> None:
        self.bus, self.replicas = bus, replicas
        self._made = False

    async def _ensure(self, config: StreamConfig) -> None:
        js = self.bus.nc.jetstream()
        try:
            await js.stream_info(str(config.name))
        except NotFoundError:
            with contextlib.suppress(BadRequestError):  # another client made it first
                await js.add_stream(config)

    async def ensure_intent_streams(self) -> None:
        if self._made:
            return
        for lifetime in schemas.WATCH_LIFETIMES:
            await self._ensure(
                StreamConfig(
                    name=schemas.watch_stream(lifetime),
                    subjects=[f"{schemas.WATCH_ROOT}.{schemas.watch_bucket(lifetime)}.>"],
                    storage=StorageType.FILE,
                    max_age=lifetime.total_seconds(),
                    num_replicas=self.replicas,
                )
            )
        self._made = True  # for this object's life (streams are not deleted under it)

    async def publish_intent(self, cast: schemas.CastIntent) -> int:
        """Store a watched intent in its bucket's stream; its stream sequence once stored."""
        lifetime = cast.expires - cast.created
        await self.ensure_intent_streams()
        subject = schemas.watch_subject(cast.intent.category, lifetime)
        ack = await self.bus.nc.jetstream().publish(subject, cast.wire)
        log.info("watch.intent_stored", intent=cast.intent.id, subject=subject, seq=ack.seq)
        return int(ack.seq)

    async def open_replies(self, intent_id: str, reply_subject: str, lifetime: timedelta) -> None:
        """The stream that keeps what arrives on ``reply_subject`` while nobody listens."""
        if not schemas.is_reply_subject(reply_subject):
            raise ValueError(f"expected a reply subject, got {reply_subject!r}")
        await self._ensure(
            StreamConfig(
                name=reply_stream(intent_id),
                subjects=[reply_subject],
                storage=StorageType.FILE,
                max_age=(lifetime + REPLY_STREAM_SLACK).total_seconds(),
                num_replicas=self.replicas,
            )
        )

    async def close_replies(self, intent_id: str) -> None:
        """Forget a closed intent's offers on the server (the agent's store keeps them)."""
        with contextlib.suppress(NotFoundError):
            await self.bus.nc.jetstream().delete_stream(reply_stream(intent_id))


class StreamConsumer:
    """``async with StreamConsumer(bus, stream, durable, subjects, handler):`` reads the
    durable consumer ``durable`` of ``stream`` (made, or its filter updated, on entry) and
    awaits ``handler(subject, data)`` for each message, one at a time; a message is
    acknowledged when its handler returns, and redelivered (after ``ack_wait``) when it
    raised. Replicas that open the same durable share its messages. ``failpoint_name``
    names the failpoint (``runtime.failpoint``) between a handler's return and its ack."""

    def __init__(
        self,
        bus: Bus,
        stream: str,
        durable: str,
        subjects: list[str],
        handler: StreamHandler,
        *,
        ack_wait: float = 30.0,
        batch: int = 16,
        poll_seconds: float = 1.0,
        failpoint_name: str = "",
    ) -> None:
        self.bus, self.stream, self.durable = bus, stream, durable
        self.subjects, self.handler = subjects, handler
        self.ack_wait, self.batch, self.poll_seconds = ack_wait, batch, poll_seconds
        self.failpoint_name = failpoint_name  # hit after a handler returned, before the ack
        self.state = "new"
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def __aenter__(self) -> StreamConsumer:
        js = self.bus.nc.jetstream()
        await js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait,
                filter_subjects=self.subjects, max_ack_pending=1000,
            ),
        )  # fmt: skip
        self._sub = await js.pull_subscribe_bind(self.durable, stream=self.stream)
        self._task = asyncio.create_task(self._loop(), name=f"consume {self.stream}")
        self.state = "open"
        log.info("watch.consuming", stream=self.stream, durable=self.durable)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.state = "closed"
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()

    async def _loop(self) -> None:
        while True:
            try:
                msgs = await self._sub.fetch(self.batch, timeout=self.poll_seconds)
            except TimeoutError:
                continue
            except nats.errors.Error as exc:  # reconnecting, or the stream went away
                log.warning("watch.fetch_failed", stream=self.stream, error=repr(exc))
                await asyncio.sleep(self.poll_seconds)
                continue
            for msg in msgs:
                try:
                    await self.handler(msg.subject, bytes(msg.data))
                except Exception as exc:  # not acked: delivered again after ack_wait
                    log.error("watch.handler_failed", stream=self.stream, error=repr(exc))
                    continue
                if self.failpoint_name:
                    failpoint(self.failpoint_name)
                await msg.ack_sync()
