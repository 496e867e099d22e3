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
import hashlib
import json
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
    "WATCH_REPLIES",
    "WATCH_REPLIES_AGE",
    "WATCH_REPLIES_OPEN",
    "WATCH_STREAMS",
    "StreamConsumer",
    "WatchStreams",
    "reply_stream",
    "watch_consumer_name",
]

log = structlog.get_logger("intentcast.watch")
# A reply stream outlives its intent by this much: an offer made just before the intent
# expired may still be read by an agent that was down then.
REPLY_STREAM_SLACK = timedelta(days=1)

WATCH_STREAMS = tuple(schemas.watch_stream(t) for t in schemas.WATCH_LIFETIMES)

# On a secured bus: the operator's one stream of watched intents' replies (every reply
# subject of one token), read only through consumers the operator's broker makes
# (bus_auth._replies) on request, one per reply subject (docs/watch-grants.md).
WATCH_REPLIES = "IC_WATCH_REPLIES"
WATCH_REPLIES_OPEN = "ic.v1.replies.open"
WATCH_REPLIES_AGE = max(schemas.WATCH_LIFETIMES) + REPLY_STREAM_SLACK


def watch_consumer_name(cast: schemas.CastIntent) -> str:
    """The consumer of one watched intent's replies in :data:`WATCH_REPLIES`: from the
    intent's sealing secret, so only the holder of its keys knows it (and finds it again
    after a restart)."""
    seal = bytes.fromhex(cast.secrets.to_hex()[1])
    return "w" + hashlib.sha256(b"intentcast/1 watch-consumer\n" + seal).hexdigest()[:32]


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
        self._shared: bool | None = None

    async def shared_replies(self) -> bool:
        """Whether this bus keeps watched replies in the operator's :data:`WATCH_REPLIES`
        (a secured bus), rather than in a stream per intent (the embedded bus)."""
        if self._shared is None:
            try:
                await self.bus.nc.jetstream().stream_info(WATCH_REPLIES)
                self._shared = True
            except NotFoundError:
                self._shared = False
        return self._shared

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

    async def open_replies(
        self, intent_id: str, reply_subject: str, lifetime: timedelta, consumer: str = ""
    ) -> None:
        """The stream that keeps what arrives on ``reply_subject`` while nobody listens; on
        a bus with :data:`WATCH_REPLIES`, the operator's broker makes ``consumer`` for it."""
        if not schemas.is_reply_subject(reply_subject):
            raise ValueError(f"expected a reply subject, got {reply_subject!r}")
        if consumer and await self.shared_replies():
            body = {"reply_subject": reply_subject, "consumer": consumer,
                    "seconds": int(lifetime.total_seconds())}  # fmt: skip
            msg = await self.bus.nc.request(WATCH_REPLIES_OPEN, json.dumps(body).encode(), 5.0)
            answer = json.loads(msg.data)
            if answer.get("consumer") != consumer:
                raise nats.errors.Error(f"the reply broker refused: {answer.get('error')}")
            return
        await self._ensure(
            StreamConfig(
                name=reply_stream(intent_id),
                subjects=[reply_subject],
                storage=StorageType.FILE,
                max_age=(lifetime + REPLY_STREAM_SLACK).total_seconds(),
                num_replicas=self.replicas,
            )
        )

    async def reply_consumer(
        self, cast: schemas.CastIntent, handler: StreamHandler, **kw: Any
    ) -> StreamConsumer:
        """The consumer of one watched intent's replies (once :meth:`open_replies` made it)."""
        if await self.shared_replies():
            subjects = [cast.intent.reply_subject]
            return StreamConsumer(
                self.bus, WATCH_REPLIES, watch_consumer_name(cast), subjects, handler,
                create=False, **kw,
            )  # fmt: skip
        stream = reply_stream(cast.intent.id)
        return StreamConsumer(self.bus, stream, "agent", [cast.intent.reply_subject], handler, **kw)

    async def close_replies(self, intent_id: str) -> None:
        """Forget a closed intent's offers on the server (the agent's store keeps them); in
        :data:`WATCH_REPLIES` its consumer lapses by itself (``inactive_threshold``)."""
        if await self.shared_replies():
            return
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
        create: bool = True,
    ) -> None:
        self.bus, self.stream, self.durable = bus, stream, durable
        self.subjects, self.handler = subjects, handler
        self.ack_wait, self.batch, self.poll_seconds = ack_wait, batch, poll_seconds
        self.failpoint_name = failpoint_name  # hit after a handler returned, before the ack
        self.create = create  # False: bind to a consumer someone else made
        self.state = "new"
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def __aenter__(self) -> StreamConsumer:
        js = self.bus.nc.jetstream()
        if self.create:
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
