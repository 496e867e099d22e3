"""A transport between objects on one event loop: a NATS server's routing without the server,
for fast tests of whole conversations (an agent and real vendor adapters, no sockets)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from types import TracebackType

import structlog

import schemas

from ._transport import (
    Handler,
    Message,
    NoResponders,
    NoRespondersHandler,
    Subscription,
    Transport,
)

__all__ = ["InProcessTransport"]

log = structlog.get_logger("intentcast.bus")


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS matching: ``*`` is one token, a final ``>`` is one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


class _Subscription(Subscription):
    def __init__(
        self,
        transport: InProcessTransport,
        subject: str,
        handler: Handler,
        queue: str,
        pending_limit: int,
        on_no_responders: NoRespondersHandler | None,
    ) -> None:
        self.subject, self.handler, self.queue = subject, handler, queue
        self.on_no_responders = on_no_responders
        self.pending: asyncio.Queue[Message | NoResponders] = asyncio.Queue(pending_limit)
        self.task: asyncio.Task[None] | None = None
        self._transport = transport

    def offer(self, item: Message | NoResponders) -> None:
        try:
            self.pending.put_nowait(item)
        except asyncio.QueueFull:  # what a server does to a slow consumer: drop, and say so
            self._transport.dropped += 1
            log.warning("bus.error", kind="slow_consumer", subject=self.subject)

    async def deliver(self) -> None:
        while True:
            item = await self.pending.get()
            if isinstance(item, NoResponders):
                if self.on_no_responders is not None:
                    self.on_no_responders(item)
            else:
                await self.handler(item)

    async def unsubscribe(self) -> None:
        self._transport._remove(self)


class InProcessTransport(Transport):
    """Routes messages between subscribers on this event loop as a NATS server would:
    wildcards, queue groups (each message to one member, in turn), per-subscription order,
    and :class:`~runtime.NoResponders` for a message that wants answers and reaches nobody.

    ``async with InProcessTransport() as bus:``. Each subscription's handler runs on a task
    the transport owns, one message at a time; a handler that raises fails the transport and
    so the ``async with`` block (a test should see the fault, not a log line). Closing stops
    every subscription."""

    def __init__(self, *, pending_limit: int = 65_536) -> None:
        self.state = "new"
        self.pending_limit = pending_limit
        self.dropped = 0  # messages a full subscription could not take
        self._subs: list[_Subscription] = []
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._turn: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._inboxes = itertools.count()
        self._tg: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> InProcessTransport:
        if self.state != "new":
            raise RuntimeError(f"expected a new transport, it is {self.state}")
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self.state = "open"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tg is not None
        self.state = "closing"
        for sub in self._subs:
            assert sub.task is not None
            sub.task.cancel()
        self._subs.clear()
        for fut in self._waiting.values():
            fut.cancel()
        try:
            await self._tg.__aexit__(et, e, tb)
        finally:
            self.state = "closed"

    def _check_open(self) -> None:
        if self.state != "open":
            raise RuntimeError(f"expected an open transport, it is {self.state}")

    @property
    def connected(self) -> bool:
        return self.state == "open"

    def _route(self, subject: str) -> list[_Subscription]:
        """Every plain subscriber of ``subject``, and one member of each queue group."""
        plain: list[_Subscription] = []
        groups: dict[tuple[str, str], list[_Subscription]] = {}
        for sub in self._subs:
            if subject_matches(sub.subject, subject):
                if sub.queue:
                    groups.setdefault((sub.subject, sub.queue), []).append(sub)
                else:
                    plain.append(sub)
        for key, members in groups.items():
            turn = self._turn[key]
            self._turn[key] = turn + 1
            plain.append(members[turn % len(members)])
        return plain

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        self._check_open()
        waiter = self._waiting.get(subject)
        targets = self._route(subject)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(bytes(data))
        elif not targets and reply:
            self._nobody(reply)
        msg = Message(subject, bytes(data), reply)
        for sub in targets:
            sub.offer(msg)

    def _nobody(self, reply: str) -> None:
        err = NoResponders(reply)
        waiter = self._waiting.get(reply)
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        for sub in self._subs:
            if sub.on_no_responders is not None and subject_matches(sub.subject, reply):
                sub.offer(err)

    def new_inbox(self) -> str:
        # Under the reply root, as a person's request inbox is on the real bus.
        return f"{schemas.REPLY_ROOT}.inprocess.{next(self._inboxes)}"

    async def request(self, subject: str, data: bytes) -> bytes:
        self._check_open()
        inbox = self.new_inbox()
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[inbox] = answer
        try:
            await self.publish(subject, data, reply=inbox)
            if answer.done() and answer.exception() is not None:
                raise NoResponders(subject)
            return await answer
        finally:
            del self._waiting[inbox]

    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        self._check_open()
        assert self._tg is not None
        sub = _Subscription(
            self, subject, handler, queue, pending_limit or self.pending_limit, on_no_responders
        )
        sub.task = self._tg.create_task(sub.deliver(), name=f"inprocess:{subject}")
        self._subs.append(sub)
        return sub

    def _remove(self, sub: _Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            assert sub.task is not None
            sub.task.cancel()

    async def flush(self) -> None:
        self._check_open()  # nothing is buffered: a publish has reached every subscriber
