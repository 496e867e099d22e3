"""What the running agent does on its own, on a schedule (``AgentDaemon.run`` owns the tasks,
which end when it is asked to stop):

- **the order mailboxes**, every ``inbox_seconds``: each status a vendor signed (shipped,
  delivered, cancelled) is verified and applied once (``_status``), and is a notice (kind
  ``status``) in the app and on the desktop, as an offer is;
- **unanswered updates and erasure requests**, sent again as the same bytes: first
  ``retry_seconds`` after the agent sees one waiting, then twice as long after each round
  that left one unanswered, up to ``retry_most_seconds``; an answer (or nothing left to
  ask) starts the wait over. Each round is bounded by :data:`ROUND_SECONDS`, and each
  vendor by the agent's per-try wait.

A round the bus fails (down, slow, no JetStream), or the home cannot do (keys not held, a
frame that does not read), is logged and tried at the next one; a round in flight when the
agent stops is cancelled (what it sent stays stored, and is sent again next time)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from nats.errors import Error as NatsError

import schemas
from runtime import Mailboxes

from ._home import HomeError
from ._screen import shown

if TYPE_CHECKING:
    from ._daemon import AgentDaemon

__all__ = ["ROUND_SECONDS", "Backoff", "Rounds", "Schedule"]

log = structlog.get_logger("intentcast.agent")
ROUND_SECONDS = 60.0  # at most, one round of pick-ups or of retries
_FAILED = (NatsError, TimeoutError, OSError, sqlite3.Error, HomeError, schemas.ProtocolError)
INBOX_WAIT = 5.0  # each mailbox read, as the CLI's


@dataclass(frozen=True)
class Schedule:
    """How often the running agent looks after orders on its own (``intentcast agent
    --inbox-every``, ``--retry-every``)."""

    inbox_seconds: float = 60.0
    retry_seconds: float = 30.0
    retry_most_seconds: float = 3600.0


class Backoff:
    """The wait before the next retry round: doubled after each that left something
    unanswered, up to ``most``; back to ``first`` on :meth:`reset`."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most = first, max(first, most)
        self.delay = first

    def failed(self) -> None:
        self.delay = min(self.delay * 2, self.most)

    def reset(self) -> None:
        self.delay = self.first


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop``; whether it is time to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class Rounds:
    """The scheduled rounds of one running agent (``daemon``)."""

    def __init__(self, daemon: AgentDaemon, schedule: Schedule) -> None:
        self.daemon, self.schedule = daemon, schedule
        self.backoff = Backoff(schedule.retry_seconds, schedule.retry_most_seconds)

    async def inbox(self, stop: asyncio.Event) -> None:
        while not await _wait(stop, self.schedule.inbox_seconds):
            await self.pick_up()

    async def retries(self, stop: asyncio.Event) -> None:
        while not await _wait(stop, self.backoff.delay):
            await self.retry()

    async def pick_up(self) -> int:
        """One pick-up of every open order's mailbox; the statuses applied."""
        d = self.daemon
        try:
            async with asyncio.timeout(ROUND_SECONDS):
                got = await d.agent.inbox(Mailboxes(d.bus, timeout=INBOX_WAIT))
        except _FAILED as exc:
            log.warning("inbox.round_failed", error=repr(exc))
            return 0
        by_receipt = {r.receipt_id: r for r in d.agent.store.receipts()}
        for s in got.applied:
            r = by_receipt[s.receipt_id]
            body: dict[str, object] = {
                "vendor": shown(r.vendor_name), "state": s.state, "receipt": s.receipt_id,
                "carrier": shown(s.carrier, 60), "tracking": shown(s.tracking, 60),
                "reason": shown(s.reason, 200),
            }  # fmt: skip
            notice = d.watches().notify(
                d.clock(), r.intent_id, "status", f"{s.receipt_id}:{s.seq}", body
            )
            if notice is not None:
                d.on_notice(notice)
        if got.applied:
            log.info("inbox.picked_up", applied=len(got.applied), refused=sum(got.refused.values()))
        return len(got.applied)

    async def retry(self) -> int:
        """One round of retries, if anything waits; the answers that came."""
        d = self.daemon
        if not d.agent.relationships_pending():
            self.backoff.reset()
            return 0
        try:
            async with asyncio.timeout(ROUND_SECONDS):
                asked, answered = await d.agent.retry_relationships()
        except _FAILED as exc:
            log.warning("relationships.round_failed", error=repr(exc))
            asked, answered = 1, 0
        if answered or not d.agent.relationships_pending():
            self.backoff.reset()
        else:
            self.backoff.failed()
        log.info("relationships.retried", asked=asked, answered=answered, next=self.backoff.delay)
        if answered:
            notice = d.watches().notify(
                d.clock(), "", "relationship", f"answered:{d.clock().isoformat()}",
                {"answered": answered, "asked": asked},
            )  # fmt: skip
            if notice is not None:
                d.on_notice(notice)
        return answered
