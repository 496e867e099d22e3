"""Watched intents: the vendor's durable consumers of the watch streams (one per lifetime
bucket, named after its queue group and shared by its replicas), and the log of what it
answered, so that a restart or a redelivery answers nothing twice.

Each watched intent goes through the intent room exactly as a live one does (verified as if
it had come on its category's intent subject); the room records the answer here, fsynced,
before it publishes it, and the consumer acknowledges the message only after the room
returned. A redelivered intent that was answered gets the very bytes it got the first time
(an identical frame, not a second offer); one that was declined gets nothing again. The log
is a SQLite file of its own beside the order store (``data_dir/watched.sqlite``), so it
stays out of the order store's schema."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import nats.errors
import structlog

import schemas
from runtime import Bus, Message, StreamConsumer, WatchStreams, open_db

if TYPE_CHECKING:
    from ._intents import IntentRoom

__all__ = ["Answer", "AnswerLog", "WatchIntake", "start_watching"]

# Unacknowledged (the process died mid-way) for this long, a message goes to a replica or
# to the process restarted: handling one takes milliseconds.
ACK_SECONDS = 10.0
log = structlog.get_logger("intentcast.vendor")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answered (
    intent_id TEXT PRIMARY KEY, sealed BLOB, at TEXT NOT NULL  -- sealed NULL: declined
);
"""


@dataclass(frozen=True)
class Answer:
    """What a vendor answered to one watched intent: the sealed offer it sent, or None."""

    sealed: bytes | None


class AnswerLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, _SCHEMA)

    def close(self) -> None:
        self.db.close()

    def answer_of(self, intent_id: str) -> Answer | None:
        row = self.db.execute(
            "SELECT sealed FROM answered WHERE intent_id = ?", (intent_id,)
        ).fetchone()
        return None if row is None else Answer(None if row[0] is None else bytes(row[0]))

    def record(self, intent_id: str, sealed: bytes | None, at: datetime) -> None:
        """Keep (committed, synchronous=FULL) what was answered, before it is sent."""
        self.db.execute(
            "INSERT OR IGNORE INTO answered (intent_id, sealed, at) VALUES (?, ?, ?)",
            (intent_id, sealed, at.isoformat()),
        )


class WatchIntake:
    """``async with WatchIntake(room, bus, categories, durable, log_path):`` consumes every
    watch bucket's stream for ``categories`` until the block ends."""

    def __init__(
        self, room: IntentRoom, bus: Bus, categories: list[str], durable: str, log_path: Path
    ) -> None:
        self.room, self.bus, self.categories, self.durable = room, bus, categories, durable
        self.answers = AnswerLog(log_path)
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> WatchIntake:
        try:
            await WatchStreams(self.bus).ensure_intent_streams()
            for lifetime in schemas.WATCH_LIFETIMES:
                heads = [schemas.watch_subject(c, lifetime) for c in self.categories]
                subjects = [s for h in heads for s in (h, h + ".>")]
                await self._stack.enter_async_context(
                    StreamConsumer(
                        self.bus, schemas.watch_stream(lifetime), self.durable, subjects,
                        self.on_watched, failpoint_name="vendor.watch.answered", ack_wait=ACK_SECONDS,
                    )
                )  # fmt: skip
        except BaseException:
            await self._stack.aclose()
            self.answers.close()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._stack.aclose()
        finally:
            self.answers.close()

    async def on_watched(self, subject: str, data: bytes) -> None:
        try:
            live = schemas.intent_subject_of_watch(subject)
        except ValueError as exc:  # the stream's filter let through what no contract names
            log.warning("watch.bad_subject", subject=subject[:120], error=str(exc))
            return
        await self.room.on_intent(Message(live, data), answers=self.answers)


async def start_watching(room: IntentRoom, bus: Bus, stack: contextlib.AsyncExitStack) -> None:
    """Consume the watch streams for the room's shop until ``stack`` closes; a bus without
    JetStream (or without the permission) is one log line, and live intents still work."""
    shop = room.shop
    intake = WatchIntake(
        room, bus, list(shop.cfg.categories), schemas.vendor_queue_group(shop.vendor_id),
        shop.cfg.data_dir / "watched.sqlite",
    )  # fmt: skip
    try:
        async with asyncio.timeout(10):
            await stack.enter_async_context(intake)
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("watch.unavailable", error=repr(exc), vendor=shop.vendor_id)
        return
    log.info("watch.ready", vendor=shop.vendor_id, durable=intake.durable)
