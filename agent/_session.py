"""The agent's side of its conversations: the transport it talks through, and what it keeps
from one intent to the next. Each exchange has its own room (``_collecting``,
``_accepting``, ``_receipts``, ``_cancelling``); they all talk through an open
:class:`AgentSession`."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType

import structlog

import schemas
from runtime import Transport

from ._opening import OfferOpener

__all__ = ["AcceptError", "AgentSession", "CancelError", "utcnow"]

log = structlog.get_logger("intentcast.agent")


def utcnow() -> datetime:
    return datetime.now(UTC)


class AcceptError(Exception):
    """Acceptance could not complete; the message says why and what to do."""


class CancelError(AcceptError):
    """The cancellation could not be completed; the message says why and what to do."""


class AgentSession:
    """The agent's side of its conversations: the transport it talks through, and what it
    keeps from one intent to the next while open:

    - ``profiles``: vendor profiles already verified. A profile travels with each offer but is
      checked once (found by its exact bytes; times are re-checked).
    - ``opener``: bursts of offers are opened on two threads (see ``_opening``), started on
      the first burst, with the switch interval that makes them pay.

    ::

        async with AgentSession(NatsTransport(bus)) as session:
            got = await cast_and_collect(session, cast, ...)

    It does not own the transport: whoever opened it closes it, after the session. Closing
    the session joins the opener's threads and puts the switch interval back."""

    def __init__(self, transport: Transport, *, opener: OfferOpener | None = None) -> None:
        """``opener``, if given, becomes the session's own: it closes with the session."""
        self.transport = transport
        self.profiles = schemas.ProfileCache()
        self.opener = opener or OfferOpener()
        self.state = "new"

    async def __aenter__(self) -> AgentSession:
        if self.state != "new":
            raise RuntimeError(f"expected a new agent session, it is {self.state}")
        self.state = "open"
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Join the opener's threads and restore the switch interval. Safe to repeat."""
        self.state = "closed"
        self.opener.close()

    def live(self) -> Transport:
        """The transport, once the session is open and until it closes."""
        if self.state != "open":
            raise RuntimeError(f"expected an open agent session, it is {self.state}")
        return self.transport
