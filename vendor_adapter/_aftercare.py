"""After an order: the person's countersignature of the receipt (which confirms the order and
turns its hold on stock into a sale), cancellations, and forgetting disclosed personal
details once the retention the person's terms allow has passed."""

from __future__ import annotations

from datetime import datetime

import structlog
from nacl.signing import VerifyKey

import schemas
from runtime import Message, failpoint

from ._shop import Shop

__all__ = ["Aftercare"]

log = structlog.get_logger("intentcast.vendor")


class Aftercare:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.replay = schemas.ReplayCache()

    def _intent_key(self, kid: str, at: datetime | None) -> VerifyKey:
        """Resolves only the intent keys of orders this vendor holds."""
        if not self.shop.store.has_intent_key(kid):
            raise schemas.UnknownSigner("the intent key of one of our orders", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    async def on_receipt(self, msg: Message) -> None:
        shop = self.shop
        now = shop.clock()
        try:
            cs = schemas.open_countersignature(
                msg.data, signer=shop.signer, intent_key=self._intent_key, now=now, replay=None
            )
            order = shop.store.by_receipt(cs.msg.receipt_id, cs.msg.receipt_hash)
            if order is not None and order["intent_key"] != cs.kid:
                raise schemas.Rebound(
                    "a countersignature by the intent key of the receipt's order",
                    f"key {cs.kid[:16]}...",
                    "$.tag",
                )
            # A person re-sending a countersignature we already keep gets the same answer;
            # anything else must be fresh.
            if not shop.store.has_countersignature(cs.wire):
                self.replay.add(cs.kid, cs.header.nonce, cs.header.expires, now)
        except schemas.ProtocolError as err:
            shop.rejections.reject("countersignature", err)
            return
        failpoint("vendor.receipt.received")
        status, reason = "refused", "unknown_receipt"
        if order is not None:
            item = await shop.catalog.get(order["sku"])
            outcome = shop.store.confirm(
                order["order_id"], cs.wire, stock=item.stock if item is not None else 0
            )
            # out_of_stock: its hold had lapsed and the stock was sold since
            status, reason = ("refused", outcome) if outcome == "out_of_stock" else ("stored", "")
            if outcome in ("held", "taken"):
                self.shop.holds.inc(event="confirmed")
            log.info(
                "order.confirmed" if outcome in ("held", "taken") else "receipt.kept",
                order=order["order_id"], receipt=cs.msg.receipt_id, outcome=outcome,
            )  # fmt: skip
        failpoint("vendor.receipt.stored")
        log.info("receipt.countersigned", receipt=cs.msg.receipt_id, stored=status == "stored")
        intent_wire = shop.store.intent_wire_of_key(cs.kid)
        assert intent_wire is not None  # the key resolved: an order with it exists
        sealed = schemas.acknowledge(
            cs, signer=shop.signer, seal_to=_stored_intent(intent_wire, cs.kid).keys.seal,
            status=status, reason=reason, now=now,
        )  # fmt: skip
        await shop.respond(msg, sealed)

    async def on_cancel(self, msg: Message) -> None:
        """A person cancels one of their orders. Idempotent: asking again gets the same
        answer."""
        shop = self.shop
        failpoint("vendor.cancel.received")
        now = shop.clock()
        try:
            cv = schemas.open_cancel(
                msg.data, signer=shop.signer, intent_key=self._intent_key, now=now, replay=None
            )
            row = shop.store.order(cv.msg.order_id)
            if row is None or row["intent_key"] != cv.kid or row["offer_id"] != cv.msg.offer_id:
                raise schemas.Rebound(
                    "a cancellation of an order made with this intent key",
                    f"order {cv.msg.order_id}",
                    "$.msg.order_id",
                )
        except schemas.ProtocolError as err:
            shop.rejections.reject("cancel", err)
            return
        seal_to = _stored_intent(row["intent_wire"], row["intent_key"]).keys.seal
        if shop.store.cancel(row["order_id"], cv.wire) or row["status"] == "cancelled":
            status, reason = "rejected", "cancelled"
            shop.orders.inc(outcome="cancelled")
            log.info("order.cancelled", order=row["order_id"])
        else:
            status, reason = row["status"], f"order is {row['status']}, nothing to cancel"
        sealed = schemas.confirm_cancel(
            cv, signer=shop.signer, seal_to=seal_to, status=status, reason=reason, now=now
        )
        await shop.respond(msg, sealed)

    async def purge_once(self) -> int:
        n = self.shop.store.purge(self.shop.clock())
        if n:
            log.info("disclosure.purged", orders=n)
        return n


def _stored_intent(wire: bytes, intent_key: str) -> schemas.Intent:
    """An intent we stored with its order, read back against the key that order was made
    with (never the key the frame names)."""

    def only(kid: str, at: datetime | None) -> VerifyKey:
        if kid != intent_key:
            raise schemas.UnknownSigner(f"the order's intent key {intent_key[:16]}...", kid, "$")
        return VerifyKey(bytes.fromhex(kid))

    return schemas.verify(wire, schemas.Intent, key=only, now=None).msg
