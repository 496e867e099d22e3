"""The person's relationship with us after an order: their changed details applied to the
orders they were disclosed for, and erasure on request.

Each request must be signed by the intent key of the very order it names (never a key it
merely names) and bound to that order's receipt by hash; anything else is refused and
counted, and gets no answer. Every answer is signed, bound to the request by hash and sealed
to the intent. Erasure keeps the order's hashes and its signed receipt, and drops what holds
personal details: the disclosure, the signed acceptance that carries it, and the person's
signed updates (see ``VendorStore.erase``)."""

from __future__ import annotations

from datetime import datetime

import structlog
from nacl.signing import VerifyKey

import schemas
from runtime import Message

from ._order_store import StoredOrder
from ._shop import Shop

__all__ = ["RelationshipRoom"]

log = structlog.get_logger("intentcast.vendor")


class RelationshipRoom:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.replay = schemas.ReplayCache()
        self.handled = shop.metrics.counter(
            "vendor_relationships_total",
            "The person's requests after an order, by event: applied, refused (details gone), erased",
            ("event",),
        )

    def _intent_key(self, kid: str, at: datetime | None) -> VerifyKey:
        if not self.shop.store.has_intent_key(kid):
            raise schemas.UnknownSigner("the intent key of one of our orders", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    def _order(
        self, v: schemas.Verified[schemas.DetailsUpdate] | schemas.Verified[schemas.ErasureRequest]
    ) -> StoredOrder:
        """The order the request names, checked to be made with the key that signed it and
        bound to its receipt; the nonce is remembered only after that."""
        m = v.msg
        row = self.shop.store.order(m.order_id)
        if (
            row is None
            or row["intent_key"] != v.kid
            or row["intent_id"] != m.intent_id
            or row["receipt_hash"] is None
            or schemas.digest(bytes(row["receipt_wire"])[64:]) != m.receipt_hash
        ):
            raise schemas.Rebound(
                "a request about an order made with this intent key, bound to its receipt",
                f"order {m.order_id}",
                "$.msg.order_id",
            )
        self.replay.add(v.kid, v.header.nonce, v.header.expires, self.shop.clock())
        return row

    async def on_details(self, msg: Message) -> None:
        shop = self.shop
        now = shop.clock()
        try:
            u = schemas.open_details_update(
                msg.data, signer=shop.signer, intent_key=self._intent_key, now=now, replay=None
            )
            row = self._order(u)
        except schemas.ProtocolError as err:
            shop.rejections.reject("details_update", err)
            return
        changed: dict[str, object] = {f: getattr(u.msg.details, f) for f in u.msg.changed}
        applied = shop.store.apply_details(row["order_id"], u.digest, u.wire, changed, now)
        status, reason = ("applied", "") if applied else ("refused", "erased")
        self.handled.inc(event=status)
        log.info("details.updated" if applied else "details.refused", order=row["order_id"],
                 fields=sorted(changed), reason=reason)  # fmt: skip
        _, sealed = schemas.answer_details_update(
            u, signer=shop.signer, seal_to=_seal_key(row), status=status, reason=reason, now=now
        )
        await shop.respond(msg, sealed)

    async def on_erase(self, msg: Message) -> None:
        shop = self.shop
        now = shop.clock()
        try:
            r = schemas.open_erasure_request(
                msg.data, signer=shop.signer, intent_key=self._intent_key, now=now, replay=None
            )
            row = self._order(r)
        except schemas.ProtocolError as err:
            shop.rejections.reject("erasure_request", err)
            return
        conf, sealed = schemas.confirm_erasure(
            r, signer=shop.signer, seal_to=_seal_key(row), status="erased", reason="", now=now
        )
        shop.store.erase(row["order_id"], r.wire, conf, now)
        self.handled.inc(event="erased")
        log.info("details.erased", order=row["order_id"])
        await shop.respond(msg, sealed)


def _seal_key(row: StoredOrder) -> str:
    """The seal key of the intent the order was made for, read back against the order's own
    intent key."""
    wire, kid = bytes(row["intent_wire"]), row["intent_key"]

    def only(k: str, at: datetime | None) -> VerifyKey:
        if k != kid:
            raise schemas.UnknownSigner(f"the order's intent key {kid[:16]}...", k, "$")
        return VerifyKey(bytes.fromhex(k))

    return schemas.verify(wire, schemas.Intent, key=only, now=None).msg.keys.seal
