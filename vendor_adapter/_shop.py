"""What every room of the vendor works with: its config, catalog, order store, keys,
metrics, clock, the refusals log, and the transport it answers on once it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

import schemas
from runtime import Counter, Message, Registry, Transport

from ._catalog import Catalog
from ._certified import no_evidence
from ._config import VendorConfig
from ._order_store import OrderStore
from ._rejections import RejectionLog

__all__ = ["Shop", "utcnow"]

log = structlog.get_logger("intentcast.vendor")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Shop:
    cfg: VendorConfig
    catalog: Catalog
    store: OrderStore
    signer: schemas.VendorSigner
    metrics: Registry
    clock: Callable[[], datetime] = utcnow
    transport: Transport | None = None  # the one it runs on (see VendorAdapter.run)
    # the ratings its offers carry (``_certified``; none unless the config asks)
    evidence: Callable[[datetime], list[schemas.CertifiedRating]] = no_evidence
    rejections: RejectionLog = field(init=False)
    orders: Counter = field(init=False)
    holds: Counter = field(init=False)

    def __post_init__(self) -> None:
        rejected = self.metrics.counter(
            "vendor_rejected_total",
            "Messages refused by verification, by kind and reason",
            ("kind", "reason"),
        )
        interval = self.cfg.limits.rejection_log_interval.total_seconds()
        self.rejections = RejectionLog(rejected, interval)
        self.orders = self.metrics.counter(
            "vendor_orders_total", "Acceptances handled, by outcome", ("outcome",)
        )
        self.holds = self.metrics.counter(
            "vendor_holds_total",
            "Stock holds of unconfirmed orders: held, unheld (share full), confirmed, released",
            ("event",),
        )

    @property
    def vendor_id(self) -> str:
        return self.signer.vendor_id

    def running(self) -> Transport:
        if self.transport is None:
            raise RuntimeError("expected a running vendor adapter: call run() first")
        return self.transport

    async def publish(self, subject: str, data: bytes) -> None:
        await self.running().publish(subject, data)

    async def respond(self, msg: Message, data: bytes) -> None:
        """Answer a request at its reply subject, unless that names nowhere or another part
        of the protocol (an intent subject, a vendor's endpoint, the registry): a stranger
        replaying a request cannot make the vendor publish onto the market's own subjects.
        Request inboxes (``ic.v1.reply.`` on a person's connection, NATS' own elsewhere) are
        answered."""
        reply = msg.reply
        if reply and (reply.startswith(schemas.REPLY_ROOT + ".") or not reply.startswith("ic.")):
            await self.running().publish(reply, data)
        else:
            log.warning("reply.nowhere", subject=msg.subject, reply=reply[:120])
