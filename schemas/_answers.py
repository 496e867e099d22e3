"""The vendor's answers to the person's requests, and the rule by which an agent believes one.

Anyone who may publish into the person's request inbox can answer first, so an answer is
believed only when all of these hold (:func:`check_bound` is the last of them):

- it opens with the intent's seal key and holds the frames its exchange expects;
- each frame verifies against a key of the vendor the person dealt with (the key ring of the
  profile verified with the offer, never a key the answer names), with its times, and with
  the audience ``hdr.intent`` = the intent and ``hdr.vendor`` = that vendor;
- its ``request_hash`` is the SHA-256 of the signed bytes of the very request it answers
  (an answer to another request, even a genuine one, is ``rebound``; an answer bound to no
  request, or an unsigned one, comes from a vendor older than this rule: ``outdated``).

An answer that fails is not an answer: the agent counts it by reason and keeps waiting for
the real one until its own timeout.

This module also holds the one answer that has no exchange module of its own to live in:
the vendor's acknowledgement of the person's countersignature (:func:`acknowledge` (vendor)
-> :func:`open_acknowledgement` (person)).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from ._envelope import Audience, Verified, sign, verify
from ._errors import Outdated, Rebound
from ._identity import IntentSecrets, KeyRing, VendorSigner
from ._messages import Countersignature, CountersignatureAck
from ._sealing import pack, seal, unpack, unseal

__all__ = ["ACK_LIFETIME", "acknowledge", "check_bound", "open_acknowledgement", "refuse_legacy"]

ACK_LIFETIME = timedelta(minutes=10)
_LEGACY_MAX = 1024  # an old vendor's {"stored": true} is a few bytes


def check_bound(request_hash: str, request: Verified[Any], where: str = "$") -> None:
    """Raise unless ``request_hash`` (an answer's) names ``request``, the request sent."""
    if request_hash == request.digest:
        return
    if not request_hash:
        raise Outdated(
            f"an answer bound to request {request.digest[:16]}... (request_hash)",
            "one bound to no request (a vendor older than answer binding)",
            f"{where}.msg.request_hash",
        )
    raise Rebound(
        f"an answer to request {request.digest[:16]}...",
        f"one to {request_hash[:16]}...",
        f"{where}.msg.request_hash",
    )


def refuse_legacy(data: bytes) -> None:
    """Raise :class:`Outdated` for the unsigned JSON acknowledgement older vendors send
    (``{"stored": true}``); return for anything else, which is then opened as a sealed box."""
    if len(data) > _LEGACY_MAX or data[:1] != b"{":
        return
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return
    if isinstance(doc, dict) and "stored" in doc:
        raise Outdated(
            "a signed countersignature_ack sealed to the intent",
            'an unsigned {"stored": ...} of a vendor older than signed answers',
            "$",
        )


def acknowledge(
    countersignature: Verified[Countersignature],
    *,
    signer: VendorSigner,
    seal_to: str,
    status: str,
    reason: str,
    now: datetime,
) -> bytes:
    """The vendor's signed answer to a countersignature, sealed to the intent: ``stored``, or
    ``refused`` with a reason code."""
    c = countersignature.msg
    ack = CountersignatureAck(
        receipt_id=c.receipt_id, request_hash=countersignature.digest, intent_id=c.intent_id,
        vendor_id=signer.vendor_id, status="stored" if status == "stored" else "refused",
        reason=reason,
    )  # fmt: skip
    wire = sign(
        ack, signer.signing, created=now, expires=now + ACK_LIFETIME,
        intent=c.intent_id, vendor=signer.vendor_id,
    )  # fmt: skip
    return seal(seal_to, pack(wire))


def open_acknowledgement(
    data: bytes,
    *,
    secrets: IntentSecrets,
    countersignature: Verified[Countersignature],
    ring: KeyRing,
    now: datetime,
) -> Verified[CountersignatureAck]:
    """Believe an answer to one's own countersignature, or raise why not (see above)."""
    refuse_legacy(data)
    c = countersignature.msg
    (wire,) = unpack(unseal(secrets.seal, data), 1, "$.bundle")
    aud = Audience(intent=c.intent_id, vendor=c.vendor_id)
    ack = verify(wire, CountersignatureAck, key=ring, now=now, audience=aud)
    check_bound(ack.msg.request_hash, countersignature)
    if ack.msg.receipt_id != c.receipt_id:
        raise Rebound(
            f"an answer about receipt {c.receipt_id}",
            f"one about {ack.msg.receipt_id}",
            "$.msg.receipt_id",
        )
    return ack
