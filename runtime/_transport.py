"""The seam between the services' conversations and the bus that carries them.

The conversations need five things of a bus: publish a message (naming, if answers are
wanted, where they go), ask one question and take the first answer that passes the asker's
own check (:meth:`Transport.ask`: on a shared bus anyone may publish into an inbox, so the
first message there proves nothing), hear a subject (alone or as one member of a queue
group), and know that what was sent has reached the server.
:class:`Transport` is exactly that. :class:`~runtime.NatsTransport` carries it over nats-py;
:class:`~runtime.InProcessTransport` carries it between objects on one event loop, for fast
tests of the conversations. Nothing of NATS (clients, messages, headers, status codes)
crosses the seam: "nobody is listening" is :class:`NoResponders` on either side of it.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

__all__ = [
    "Handler",
    "Message",
    "NoResponders",
    "NoRespondersHandler",
    "Subscription",
    "Transport",
    "TransportError",
    "WrappedTransport",
]

log = structlog.get_logger("intentcast.bus")
T = TypeVar("T")
# Answers waiting for the asker's check: more than any honest exchange needs (one answer),
# few enough that a flood into an inbox costs bounded memory (the rest are the server's
# slow-consumer drops, and say so in a log line).
ASK_PENDING_LIMIT = 1024


class TransportError(Exception):
    """The transport could not carry a message as asked."""


class NoResponders(TransportError):
    """Nobody listened on ``subject`` when a message that wanted answers was published to it:
    no answer will come."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"nobody is listening on {subject}")
        self.subject = subject


@dataclass(frozen=True, slots=True)
class Message:
    """A message as a subscriber hears it: where it was sent, its bytes, and where answers go
    (empty when the sender wants none)."""

    subject: str
    data: bytes
    reply: str = ""


Handler = Callable[[Message], Awaitable[None]]
NoRespondersHandler = Callable[[NoResponders], None]


class Subscription(abc.ABC):
    """One subscription; its handler hears nothing after :meth:`unsubscribe`."""

    subject: str

    @abc.abstractmethod
    async def unsubscribe(self) -> None: ...


class Transport(abc.ABC):
    """What the conversations send and hear through. Subjects are NATS-style: tokens
    separated by dots, ``*`` matching one token and a final ``>`` one or more.

    No method takes a timeout: the caller bounds a wait where it waits (``async with
    asyncio.timeout(s): await transport.request(...)``), and sees :class:`TimeoutError`."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether messages can travel now (for health checks)."""

    @abc.abstractmethod
    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        """Send ``data`` to whoever listens on ``subject``. With ``reply``, answers go there;
        if nobody listens on ``subject``, the subscription on ``reply`` is told
        :class:`NoResponders` (subscribe to ``reply`` before publishing), whose ``subject``
        is then the reply subject (a NATS server says no more)."""

    @abc.abstractmethod
    async def request(self, subject: str, data: bytes) -> bytes:
        """Send ``data`` to ``subject`` and return the first answer; raises
        :class:`NoResponders` at once if nobody listens. Waits until cancelled otherwise.
        Only for peers whose answers need no checking (a test's echo): anything that acts
        on an answer from a shared bus uses :meth:`ask`."""

    @abc.abstractmethod
    def new_inbox(self) -> str:
        """A fresh subject under this connection's own reply prefix, for one request."""

    async def ask(
        self,
        subject: str,
        data: bytes,
        check: Callable[[bytes], T | None],
        *,
        on_no_responders: Callable[[], None] | None = None,
    ) -> T:
        """Send ``data`` to ``subject`` with a fresh inbox of ours as its reply subject, and
        return what ``check`` makes of the first answer it accepts (anything but None).
        ``check`` is called for every message on the inbox, in arrival order, and says no
        by returning None (it counts and logs its own refusals); whatever it raises is a
        fault of ours and ends the request.

        Nothing else ends it: it waits until the caller's timeout cancels it. A "no
        responders" status on the inbox is only a hint (anyone who may publish into the
        inbox can forge one, and it cannot be signed): it calls ``on_no_responders`` and
        ends nothing, so a stranger's forged status cannot cut short a request whose real
        answer is still on its way."""
        inbox = self.new_inbox()
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        async def heard(msg: Message) -> None:
            if answer.done():
                return
            got = check(msg.data)
            if got is not None and not answer.done():
                answer.set_result(got)

        def nobody(_: NoResponders) -> None:
            log.info("request.no_responders_hint", subject=subject)
            if on_no_responders is not None:
                on_no_responders()

        sub = await self.subscribe(
            inbox, heard, pending_limit=ASK_PENDING_LIMIT, on_no_responders=nobody
        )
        try:
            await self.publish(subject, data, reply=inbox)
            return await answer
        finally:
            await sub.unsubscribe()

    @abc.abstractmethod
    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        """Hear ``subject``: ``handler`` is awaited for each message, one at a time, in the
        order they arrived. With ``queue``, each message goes to one member of the group.
        ``pending_limit`` bounds the messages waiting for the handler (the transport's
        default if None). ``on_no_responders`` hears that a message published with this
        subject as its ``reply`` reached nobody."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Return once everything published and subscribed so far has reached the bus."""


class WrappedTransport(Transport):
    """A transport that passes everything to ``inner``: subclass it and override only what
    changes (an outage, a gate that takes a party offline), as a test or a simulation needs."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    @property
    def connected(self) -> bool:
        return self.inner.connected

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        await self.inner.publish(subject, data, reply=reply)

    async def request(self, subject: str, data: bytes) -> bytes:
        return await self.inner.request(subject, data)

    def new_inbox(self) -> str:
        return self.inner.new_inbox()

    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        return await self.inner.subscribe(
            subject, handler, queue=queue, pending_limit=pending_limit,
            on_no_responders=on_no_responders,
        )  # fmt: skip

    async def flush(self) -> None:
        await self.inner.flush()
