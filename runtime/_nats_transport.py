"""The transport over a real NATS connection (:class:`~runtime.Bus`, nats-py)."""

from __future__ import annotations

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.aio.subscription import DEFAULT_SUB_PENDING_BYTES_LIMIT, DEFAULT_SUB_PENDING_MSGS_LIMIT
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import Header

from ._bus import Bus
from ._transport import (
    Handler,
    Message,
    NoResponders,
    NoRespondersHandler,
    Subscription,
    Transport,
)

__all__ = ["NatsTransport"]

log = structlog.get_logger("intentcast.bus")
_NO_RESPONDERS = "503"  # the status a server sends to a reply subject that nobody answers
# nats-py insists on a timeout of its own; callers bound their waits (see Transport), so its
# own only catches a caller that forgot to.
_BACKSTOP_SECONDS = 3600
# A subscriber that bounds its messages bounds their bytes too: this much per message it
# allows (nats-py's own default, 64 MiB, caps it), so a flood of large junk is dropped as a
# slow consumer's instead of held.
_PENDING_BYTES_PER_MESSAGE = 4096


class _Subscription(Subscription):
    def __init__(self, subject: str, sub: NatsSubscription) -> None:
        self.subject, self._sub = subject, sub

    async def unsubscribe(self) -> None:
        await self._sub.unsubscribe()


class NatsTransport(Transport):
    """Conversations over a connected :class:`~runtime.Bus`. It does not own the bus: whoever
    opened the bus closes it. nats-py's ``NoRespondersError`` and the server's 503 status on
    a reply subject become :class:`~runtime.NoResponders`."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    @property
    def connected(self) -> bool:
        return self.bus.state == "connected" and self.bus.nc.is_connected

    async def publish(self, subject: str, data: bytes, *, reply: str = "") -> None:
        await self.bus.nc.publish(subject, data, reply=reply)

    async def request(self, subject: str, data: bytes) -> bytes:
        try:
            msg = await self.bus.nc.request(subject, data, timeout=_BACKSTOP_SECONDS)
        except nats.errors.NoRespondersError:
            raise NoResponders(subject) from None
        return bytes(msg.data)

    def new_inbox(self) -> str:
        return self.bus.nc.new_inbox()

    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        async def on_msg(msg: Msg) -> None:
            if not msg.data and msg.headers and msg.headers.get(Header.STATUS):
                if msg.headers[Header.STATUS] == _NO_RESPONDERS and on_no_responders is not None:
                    on_no_responders(NoResponders(subject))
                else:
                    log.info("bus.status", subject=subject, status=msg.headers[Header.STATUS])
                return
            await handler(Message(msg.subject, msg.data, msg.reply))

        limit = DEFAULT_SUB_PENDING_MSGS_LIMIT if pending_limit is None else pending_limit
        limit_bytes = DEFAULT_SUB_PENDING_BYTES_LIMIT
        if pending_limit is not None:
            limit_bytes = min(limit_bytes, pending_limit * _PENDING_BYTES_PER_MESSAGE)
        sub = await self.bus.nc.subscribe(
            subject, queue=queue, cb=on_msg, pending_msgs_limit=limit,
            pending_bytes_limit=limit_bytes,
        )  # fmt: skip
        return _Subscription(subject, sub)

    async def flush(self) -> None:
        await self.bus.nc.flush(timeout=_BACKSTOP_SECONDS)
