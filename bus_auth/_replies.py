"""The reply broker: on a secured bus, the only maker of consumers of the operator's stream
of watched intents' replies (``runtime.WATCH_REPLIES``, every ``ic.v1.reply.<32 hex>``).

A person's agent cannot be granted that itself: a permission cannot pin a consumer's filter
(a ``*`` in a granted API subject admits a literal ``>``, a filter over everyone's offers).
So it asks here, on ``ic.v1.replies.open``, with the intent's reply subject and a consumer
name only it knows (``runtime.watch_consumer_name``, from the intent's sealing secret), and
is granted fetching and acknowledging from named consumers only. One consumer per reply
subject, first come: the agent asks before it publishes the intent, so before anyone else
could know the subject; asking again with the same name is answered the same (a restart).
Requests are handled one at a time, by one broker per bus (docs/watch-grants.md).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)

from runtime import WATCH_REPLIES, WATCH_REPLIES_AGE, WATCH_REPLIES_OPEN, Bus, WatchStreams

__all__ = ["ReplyBroker"]

log = structlog.get_logger("intentcast.bus_auth")
_SUBJECT = re.compile(r"^ic\.v1\.reply\.[0-9a-f]{32}$")  # schemas.is_reply_subject, one token
_CONSUMER = re.compile(r"^w[0-9a-f]{32}$")
_SLACK = timedelta(days=1)  # runtime.REPLY_STREAM_SLACK: an agent down when it expired
# Anyone who heard an intent may publish to its reply subject: a box is at most 128 KiB
# (schemas.BOX_SIZES), an agent keeps at most 256 replies per intent, and once an intent has
# 256 the stream refuses more for it rather than drop the first (a flood cannot push out
# the offers that came before it).
LIMITS = {"max_msg_size": 129 * 1024, "per_intent": 256, "max_bytes": 1 << 30}


class ReplyBroker:
    """``await ReplyBroker(ops_bus).start()`` makes the operator's streams and serves
    ``ic.v1.replies.open`` until the bus closes."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.owners: dict[str, str] = {}  # reply subject -> consumer name

    async def start(self) -> None:
        js = self.bus.nc.jetstream()
        await WatchStreams(self.bus).ensure_intent_streams()
        config = StreamConfig(
            name=WATCH_REPLIES, subjects=["ic.v1.reply.*"], storage=StorageType.FILE,
            max_age=WATCH_REPLIES_AGE.total_seconds(), max_msg_size=LIMITS["max_msg_size"],
            max_msgs_per_subject=LIMITS["per_intent"], max_bytes=LIMITS["max_bytes"],
            discard=DiscardPolicy.NEW, discard_new_per_subject=True,
        )  # fmt: skip
        try:
            await js.stream_info(WATCH_REPLIES)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)
        for c in await js.consumers_info(WATCH_REPLIES):
            subject = c.config.filter_subject or ""
            if c.name and subject:
                self.owners[subject] = c.name
        await self.bus.nc.subscribe(WATCH_REPLIES_OPEN, cb=self.on_request)
        log.info("bus_auth.replies_ready", consumers=len(self.owners))

    async def on_request(self, msg: Msg) -> None:
        answer = await self.open(msg.data)
        await msg.respond(json.dumps(answer).encode())

    async def open(self, data: bytes) -> dict[str, str]:
        try:
            req = json.loads(data)
            subject, name, seconds = req["reply_subject"], req["consumer"], int(req["seconds"])
        except (ValueError, KeyError, TypeError):
            return self._refuse("expected reply_subject, consumer and seconds")
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            return self._refuse("expected a watched intent's reply subject")
        if not isinstance(name, str) or not _CONSUMER.match(name):
            return self._refuse("expected a consumer name w<32 hex>")
        if not 0 < seconds <= (WATCH_REPLIES_AGE - _SLACK).total_seconds():
            return self._refuse("expected a watch lifetime")
        owner = self.owners.get(subject)
        if owner is not None and owner != name:
            return self._refuse("that reply subject has a consumer already")
        config = ConsumerConfig(
            name=name, durable_name=name, filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=seconds + _SLACK.total_seconds(), max_ack_pending=1000, ack_wait=10.0,
        )  # fmt: skip
        try:
            await self.bus.nc.jetstream().add_consumer(WATCH_REPLIES, config)
        except nats.errors.Error as exc:
            log.warning("bus_auth.replies_failed", error=repr(exc))
            return {"error": "the consumer could not be made"}
        self.owners[subject] = name
        log.info("bus_auth.replies_opened")  # nothing that links it to a person
        return {"consumer": name}

    def _refuse(self, why: str) -> dict[str, str]:
        log.warning("bus_auth.replies_refused", reason=why)
        return {"error": why}
