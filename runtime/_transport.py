"""The seam between the services' conversations and the bus that carries them.

The conversations need four things of a bus: publish a message (naming, if answers are
wanted, where they go), ask one question and take its first answer, hear a subject (alone or
as one member of a queue group), and know that what was sent has reached the server.
:class:`Transport` is exactly that. :class:`~runtime.NatsTransport` carries it over nats-py;
:class:`~runtime.InProcessTransport` carries it between objects on one event loop, for fast
tests of the conversations. Nothing of NATS (clients, messages, headers, status codes)
crosses the seam: "nobody is listening" is :class:`NoResponders` on either side of it.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
        :class:`NoResponders` at once if nobody listens. Waits until cancelled otherwise."""

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
