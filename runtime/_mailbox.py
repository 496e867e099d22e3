"""Mailboxes: JetStream streams where sealed messages wait for a party that is not listening.

One stream per retention (``schemas.MAILBOX_DAYS``: ``IC_MAILBOX_7D`` keeps messages 7 days),
one subject per order (``schemas.mailbox_subject``). It carries sealed bytes and verifies
nothing: the reader opens and checks each message itself, so what a stranger leaves in a
mailbox costs a verification and buys nothing. The streams are bounded (message size, per
mailbox, in total) so that nobody can fill the server.

A write waits for the stream's acknowledgement (stored, with the server's
``sync_interval: always``) and carries ``Nats-Msg-Id`` (a hash of the box), so a copy sent
again after a crash within the server's duplicate window is dropped by the server.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import structlog
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

import schemas

from ._bus import Bus

__all__ = ["MAILBOX_LIMITS", "MAILBOX_STREAMS", "Mailboxes"]

log = structlog.get_logger("intentcast.mailbox")
# Per mailbox, per message (a status box is 1 KiB; the largest box 128 KiB), per stream.
MAILBOX_STREAMS = tuple(schemas.mailbox_stream(d) for d in schemas.MAILBOX_DAYS)
MAILBOX_LIMITS = {"per_mailbox": 64, "max_msg_size": 8 * 1024, "max_bytes": 256 * 1024 * 1024}


class Mailboxes:
    """``Mailboxes(bus)``: :meth:`ensure`, :meth:`post`, :meth:`read`. Every call is bound
    by ``timeout`` seconds at the call site inside."""

    def __init__(self, bus: Bus, *, timeout: float = 5.0, replicas: int = 1) -> None:
        self.bus, self.timeout, self.replicas = bus, timeout, replicas
        self._ready: set[int] = set()

    def _config(self, days: int) -> StreamConfig:
        return StreamConfig(
            name=schemas.mailbox_stream(days),
            subjects=[schemas.mailbox_subject(days, "*")],
            storage=StorageType.FILE,
            max_age=days * 86400,
            max_msgs_per_subject=MAILBOX_LIMITS["per_mailbox"],
            max_msg_size=MAILBOX_LIMITS["max_msg_size"],
            max_bytes=MAILBOX_LIMITS["max_bytes"],
            discard=DiscardPolicy.OLD,
            num_replicas=self.replicas,
        )

    async def ensure(self, days: int) -> None:
        """Create the stream for ``days`` if the bus does not have it yet."""
        if days in self._ready:
            return
        js = self.bus.nc.jetstream()
        async with asyncio.timeout(self.timeout):
            try:
                await js.stream_info(schemas.mailbox_stream(days))
            except NotFoundError:
                await js.add_stream(self._config(days))
        self._ready.add(days)

    async def ensure_all(self) -> None:
        """Every mailbox stream: on a secured bus the operator does this once (vendors may
        not create them, so that none can keep a mailbox longer than its name says)."""
        for days in schemas.MAILBOX_DAYS:
            await self.ensure(days)

    async def post(self, days: int, subject: str, sealed: bytes) -> int:
        """Leave ``sealed`` in the mailbox ``subject``; its stream sequence once stored."""
        await self.ensure(days)
        msg_id = hashlib.sha256(sealed).hexdigest()
        async with asyncio.timeout(self.timeout):
            ack = await self.bus.nc.jetstream().publish(
                subject, sealed, stream=schemas.mailbox_stream(days),
                headers={"Nats-Msg-Id": msg_id},
            )  # fmt: skip
        log.info("mailbox.posted", seq=ack.seq, duplicate=bool(ack.duplicate))
        return int(ack.seq)

    async def read(
        self,
        days: int,
        subject: str,
        apply: Callable[[int, bytes], None],
        *,
        after: int = 0,
        batch: int = 64,
    ) -> int:
        """Hand every message in mailbox ``subject`` with a stream sequence above ``after`` to
        ``apply(sequence, data)``, oldest first, and acknowledge it once ``apply`` returned
        (it stores what it keeps before it returns). Returns how many were handed over. An
        absent stream is an empty mailbox."""
        js = self.bus.nc.jetstream()
        stream = schemas.mailbox_stream(days)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1,
            ack_policy=AckPolicy.EXPLICIT, inactive_threshold=30.0, max_ack_pending=batch,
        )  # fmt: skip
        handed = 0
        async with asyncio.timeout(self.timeout):
            try:  # one cheap look first: most mailboxes are empty, or hold nothing new
                info = await js.stream_info(stream, subjects_filter=subject)
            except NotFoundError:
                return 0
            if info.state.last_seq <= after or not (info.state.subjects or {}).get(subject):
                return 0
            sub = await js.pull_subscribe(subject, stream=stream, config=config)
            try:
                while (pending := (await sub.consumer_info()).num_pending or 0) > 0:
                    for m in await sub.fetch(min(pending, batch), timeout=self.timeout):
                        apply(m.metadata.sequence.stream, m.data)
                        await m.ack()
                        handed += 1
            finally:
                await sub.unsubscribe()
        return handed
