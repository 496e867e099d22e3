"""Cancelling a confirmed order: the person cancels what a receipt records, the vendor answers
that the order is off or why it still stands.

:func:`make_cancel` (person) -> :func:`open_cancel` (vendor) -> :func:`confirm_cancel`
(vendor) -> :func:`open_cancel_answer` (person).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ._answers import check_bound
from ._envelope import Audience, KeyResolver, Verified, sign, verify
from ._errors import Rebound
from ._identity import IntentSecrets, KeyRing, VendorSigner
from ._messages import Cancel, OrderConfirmation, Receipt
from ._replay import ReplayCache
from ._sealing import pack, seal, unpack, unseal

__all__ = ["confirm_cancel", "make_cancel", "open_cancel", "open_cancel_answer"]


def make_cancel(
    receipt: Verified[Receipt], secrets: IntentSecrets, seal_to: str, reason: str, now: datetime
) -> tuple[bytes, bytes]:
    """The person cancels the order a receipt records: (frame to keep, sealed bytes to send).
    Signed by the intent's key, like every word the person says about that intent; its
    times in whole seconds."""
    now = now.replace(microsecond=0)
    r = receipt.msg
    cancel = Cancel(
        order_id=r.order_id, intent_id=r.intent_id, offer_id=r.offer_id, vendor_id=r.vendor_id,
        by="person", reason=reason[:200],
    )  # fmt: skip
    wire = sign(
        cancel, secrets.sign, created=now, expires=now + timedelta(minutes=10),
        intent=r.intent_id, vendor=r.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


def open_cancel(
    sealed: bytes,
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[Cancel]:
    """Verify a person's cancellation; ``intent_key`` resolves only intent keys of orders this
    vendor holds. The caller checks that the order belongs to that key."""
    (wire,) = unpack(unseal([signer.seal], sealed), 1, "$.bundle")
    v = verify(
        wire, Cancel, key=intent_key, now=now,
        audience=Audience(vendor=signer.vendor_id), replay=replay,
    )  # fmt: skip
    if v.msg.by != "person":
        raise Rebound("a cancellation by the person, to this vendor", f"by {v.msg.by}", "$.msg.by")
    if v.msg.vendor_id != signer.vendor_id:
        raise Rebound(
            "a cancellation by the person, to this vendor",
            f"to {v.msg.vendor_id[:16]}...",
            "$.msg.vendor_id",
        )
    return v


def confirm_cancel(
    cancel: Verified[Cancel],
    *,
    signer: VendorSigner,
    seal_to: str,
    status: str,
    reason: str,
    now: datetime,
) -> bytes:
    """The vendor's signed answer to a cancellation, bound to it by ``request_hash`` and
    sealed to the intent: status ``rejected`` with reason ``cancelled`` when the order is
    off, else ``confirmed`` with the reason it still stands."""
    c = cancel.msg
    conf = OrderConfirmation(
        order_id=c.order_id, intent_id=c.intent_id, offer_id=c.offer_id, vendor_id=signer.vendor_id,
        status="rejected" if status == "rejected" else "confirmed", reason=reason,
        request_hash=cancel.digest,
    )  # fmt: skip
    wire = sign(
        conf, signer.signing, created=now, expires=now + timedelta(minutes=10),
        intent=c.intent_id, vendor=signer.vendor_id,
    )  # fmt: skip
    return seal(seal_to, pack(wire, wire))


def open_cancel_answer(
    sealed: bytes, *, secrets: IntentSecrets, cancel: Verified[Cancel], ring: KeyRing, now: datetime
) -> Verified[OrderConfirmation]:
    """Believe the vendor's answer to one's own cancellation, or raise why not (the rule is
    in ``_answers``)."""
    c = cancel.msg
    frames = unpack(unseal(secrets.seal, sealed), 2, "$.bundle")
    aud = Audience(intent=c.intent_id, vendor=c.vendor_id)
    conf = verify(frames[0], OrderConfirmation, key=ring, now=now, audience=aud)
    m = conf.msg
    if m.order_id != c.order_id:
        raise Rebound(
            f"an answer about order {c.order_id}", f"one about {m.order_id}", "$.msg.order_id"
        )
    if m.offer_id != c.offer_id:
        raise Rebound(
            f"an answer about offer {c.offer_id}", f"one about {m.offer_id}", "$.msg.offer_id"
        )
    check_bound(m.request_hash, cancel)
    return conf
