"""After an order, the person's relationship with the vendor: their details changed once for
every vendor that holds them, and the right to have a vendor erase them.

:func:`make_details_update` (person) -> :func:`open_details_update` (vendor) ->
:func:`answer_details_update` (vendor) -> :func:`open_details_ack` (person);
:func:`make_erasure_request` (person) -> :func:`open_erasure_request` (vendor) ->
:func:`confirm_erasure` (vendor) -> :func:`open_erasure_confirmation` (person).

Every request is signed by the order's own intent key and sealed to the vendor alone, so it
tells the vendor nothing that links this order to another; every answer is signed by the
vendor, bound to the request by the SHA-256 of its signed bytes and sealed to the intent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from ._envelope import Audience, KeyResolver, Verified, digest, sign, verify
from ._errors import Rebound
from ._identity import IntentSecrets, KeyRing, VendorSigner
from ._messages import (
    DetailsAck,
    DetailsUpdate,
    Disclosure,
    ErasureConfirmation,
    ErasureRequest,
    Message,
)
from ._replay import ReplayCache
from ._sealing import pack, seal, unpack, unseal

__all__ = [
    "answer_details_update",
    "confirm_erasure",
    "make_details_update",
    "make_erasure_request",
    "open_details_ack",
    "open_details_update",
    "open_erasure_confirmation",
    "open_erasure_request",
]

T = TypeVar("T", bound=Message)
R = TypeVar("R", DetailsUpdate, ErasureRequest)
_TTL = timedelta(minutes=10)


def make_details_update(
    *,
    order_id: str,
    intent_id: str,
    vendor_id: str,
    receipt_hash: str,
    changed: list[str],
    details: Disclosure,
    secrets: IntentSecrets,
    seal_to: str,
    now: datetime,
) -> tuple[bytes, bytes]:
    """The person's changed details for one order: (frame to keep, sealed bytes to send)."""
    update = DetailsUpdate(
        order_id=order_id, intent_id=intent_id, vendor_id=vendor_id, receipt_hash=receipt_hash,
        changed=sorted(changed), details=details,  # type: ignore[arg-type]
    )  # fmt: skip
    wire = sign(
        update, secrets.sign, created=now, expires=now + _TTL, intent=intent_id, vendor=vendor_id
    )
    return wire, seal(seal_to, pack(wire))


def make_erasure_request(
    *,
    order_id: str,
    intent_id: str,
    vendor_id: str,
    receipt_hash: str,
    secrets: IntentSecrets,
    seal_to: str,
    now: datetime,
) -> tuple[bytes, bytes]:
    """The person asks the vendor to erase one order's details: (frame, sealed bytes)."""
    req = ErasureRequest(
        order_id=order_id, intent_id=intent_id, vendor_id=vendor_id, receipt_hash=receipt_hash
    )
    wire = sign(
        req, secrets.sign, created=now, expires=now + _TTL, intent=intent_id, vendor=vendor_id
    )
    return wire, seal(seal_to, pack(wire))


def _open_request(
    sealed: bytes,
    expect: type[R],
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[R]:
    (wire,) = unpack(unseal([signer.seal], sealed), 1, "$.bundle")
    v = verify(
        wire, expect, key=intent_key, now=now, audience=Audience(vendor=signer.vendor_id),
        replay=replay,
    )  # fmt: skip
    if v.msg.vendor_id != signer.vendor_id:
        raise Rebound(
            "a request to this vendor", f"to {v.msg.vendor_id[:16]}...", "$.msg.vendor_id"
        )
    return v


def open_details_update(
    sealed: bytes,
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[DetailsUpdate]:
    """Verify an update; ``intent_key`` resolves only intent keys of orders this vendor
    holds. The caller checks that the order named was made with that key and receipt."""
    return _open_request(
        sealed, DetailsUpdate, signer=signer, intent_key=intent_key, now=now, replay=replay
    )


def open_erasure_request(
    sealed: bytes,
    *,
    signer: VendorSigner,
    intent_key: KeyResolver,
    now: datetime,
    replay: ReplayCache | None,
) -> Verified[ErasureRequest]:
    """Verify an erasure request, as :func:`open_details_update` does an update."""
    return _open_request(
        sealed, ErasureRequest, signer=signer, intent_key=intent_key, now=now, replay=replay
    )


def answer_details_update(
    update: Verified[DetailsUpdate],
    *,
    signer: VendorSigner,
    seal_to: str,
    status: str,
    reason: str,
    now: datetime,
) -> tuple[bytes, bytes]:
    """The vendor's signed answer to one update: (frame, sealed to the intent)."""
    u = update.msg
    ack = DetailsAck(
        order_id=u.order_id, vendor_id=signer.vendor_id, update_hash=update.digest,
        status="applied" if status == "applied" else "refused", reason=reason,
    )  # fmt: skip
    return _signed_answer(ack, signer=signer, intent_id=u.intent_id, seal_to=seal_to, now=now)


def confirm_erasure(
    request: Verified[ErasureRequest],
    *,
    signer: VendorSigner,
    seal_to: str,
    status: str,
    reason: str,
    now: datetime,
) -> tuple[bytes, bytes]:
    """The vendor's signed confirmation (or refusal) of one erasure request."""
    r = request.msg
    conf = ErasureConfirmation(
        order_id=r.order_id, vendor_id=signer.vendor_id, request_hash=request.digest,
        status="erased" if status == "erased" else "refused", reason=reason,
    )  # fmt: skip
    return _signed_answer(conf, signer=signer, intent_id=r.intent_id, seal_to=seal_to, now=now)


def _signed_answer(
    answer: DetailsAck | ErasureConfirmation,
    *,
    signer: VendorSigner,
    intent_id: str,
    seal_to: str,
    now: datetime,
) -> tuple[bytes, bytes]:
    wire = sign(
        answer, signer.signing, created=now, expires=now + _TTL, intent=intent_id,
        vendor=signer.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


def _open_answer(
    sealed: bytes,
    expect: type[T],
    *,
    secrets: IntentSecrets,
    request_wire: bytes,
    intent_id: str,
    vendor_id: str,
    ring: KeyRing,
    now: datetime | None,
) -> Verified[T]:
    (wire,) = unpack(unseal(secrets.seal, sealed), 1, "$.bundle")
    v = verify(
        wire, expect, key=ring, now=now, audience=Audience(intent=intent_id, vendor=vendor_id)
    )
    m: DetailsAck | ErasureConfirmation = v.msg  # type: ignore[assignment]
    bound = m.update_hash if isinstance(m, DetailsAck) else m.request_hash
    want = digest(request_wire[64:])
    if bound != want:
        raise Rebound(f"an answer bound to request {want[:16]}...", f"{bound[:16]}...", "$.msg")
    return v


def open_details_ack(
    sealed: bytes,
    *,
    secrets: IntentSecrets,
    update_wire: bytes,
    intent_id: str,
    vendor_id: str,
    ring: KeyRing,
    now: datetime | None,
) -> Verified[DetailsAck]:
    """Verify the vendor's answer to one's own update, against the vendor's key ring."""
    return _open_answer(
        sealed, DetailsAck, secrets=secrets, request_wire=update_wire, intent_id=intent_id,
        vendor_id=vendor_id, ring=ring, now=now,
    )  # fmt: skip


def open_erasure_confirmation(
    sealed: bytes,
    *,
    secrets: IntentSecrets,
    request_wire: bytes,
    intent_id: str,
    vendor_id: str,
    ring: KeyRing,
    now: datetime | None,
) -> Verified[ErasureConfirmation]:
    """Verify the vendor's confirmation of one's own erasure request."""
    return _open_answer(
        sealed, ErasureConfirmation, secrets=secrets, request_wire=request_wire,
        intent_id=intent_id, vendor_id=vendor_id, ring=ring, now=now,
    )  # fmt: skip
