"""Signed frames: Ed25519 over the exact bytes, with a domain tag, bound to type, ids,
audience and expiry.

Wire layout of a frame::

    signature (64 bytes) || signed bytes
    signed bytes = b"intentcast/1 " + type + b" " + kid + b"\\n" + JSON document
    JSON document = {"hdr": {created, expires, nonce, intent, vendor}, "msg": {"type": ..., ...}}

The first line is the domain tag: it names the protocol version, the message type and the
signing key (64 hex digits), and it is inside what is signed. A receiver reads that line, finds
the key, verifies the signature, and only then decodes the document.

This module is the order of those steps (:func:`sign`, :func:`verify`); each step lives with
its own rules: the tag line in ``_framing``, the document and its header in ``_document``,
the nonces already seen in ``_replay``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import msgspec
from nacl.bindings import crypto_sign
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ._document import (
    CLOCK_SKEW,
    MAX_LIFETIME,
    Header,
    check_times,
    decode_document,
    encode_document,
)
from ._errors import BadSignature, Malformed, Oversized, ProtocolError, Rebound
from ._framing import MAX_FRAME_BYTES, PROTOCOL, SIGNATURE_BYTES, read_tag_line
from ._messages import MESSAGE_TYPES, Message
from ._replay import ReplayCache

__all__ = [
    "Audience",
    "KeyResolver",
    "Verified",
    "digest",
    "kid_of",
    "new_id",
    "self_signed",
    "sign",
    "verify",
]

T = TypeVar("T", bound=Message)

_TAG_OF: dict[type, str] = {cls: tag for tag, cls in MESSAGE_TYPES.items()}


def kid_of(key: VerifyKey | SigningKey) -> str:
    """A key's id is its 32 public bytes in hex: self-certifying, nothing to look up."""
    vk = key.verify_key if isinstance(key, SigningKey) else key
    return bytes(vk).hex()


def digest(signed: bytes) -> str:
    """SHA-256 (hex) of a frame's signed bytes: how receipts and acceptances bind messages."""
    return hashlib.sha256(signed).hexdigest()


class Audience(msgspec.Struct, frozen=True):
    """What the receiver expects the message to be bound to; ``None`` means "not checked"."""

    intent: str | None = None
    vendor: str | None = None


class Verified(msgspec.Struct, Generic[T], frozen=True):
    """A message whose signature, type, times, audience and freshness all checked out."""

    msg: T
    header: Header
    kid: str
    wire: bytes  # the exact frame: signature || signed bytes

    @property
    def signature(self) -> bytes:
        return self.wire[:SIGNATURE_BYTES]

    @property
    def signed(self) -> bytes:
        return self.wire[SIGNATURE_BYTES:]

    @property
    def digest(self) -> str:
        return digest(self.signed)


KeyResolver = Callable[[str, datetime | None], VerifyKey]
"""Maps a key id to a key the receiver trusts at that time, or raises UnknownSigner or
RevokedSigner. ``None`` for the time means "whenever it signed": archival checks of stored
messages, where validity windows no longer apply but revocation still does."""


def self_signed(kid: str, at: datetime | None) -> VerifyKey:
    """Resolver for messages whose key is its own credential (a per-intent key, a vendor's
    identity key on its profile). The caller then checks the key against the message."""
    return VerifyKey(bytes.fromhex(kid))


def new_id() -> str:
    """128 fresh random bits in hex: the form of every message id and every header nonce."""
    return os.urandom(16).hex()


def sign(
    msg: Message,
    key: SigningKey,
    *,
    created: datetime,
    expires: datetime,
    intent: str = "",
    vendor: str = "",
    nonce: str | None = None,
) -> bytes:
    """Encode ``msg`` once, sign those exact bytes, and return the frame."""
    tag = _TAG_OF[type(msg)]
    hdr = Header(
        created=created.astimezone(UTC),
        expires=expires.astimezone(UTC),
        nonce=nonce if nonce is not None else new_id(),
        intent=intent,
        vendor=vendor,
    )
    body = encode_document(hdr, msg)
    signed = f"{PROTOCOL} {tag} {kid_of(key)}\n".encode() + body
    if SIGNATURE_BYTES + len(signed) > MAX_FRAME_BYTES:
        raise Oversized(
            f"at most {MAX_FRAME_BYTES} bytes", f"{SIGNATURE_BYTES + len(signed)} bytes"
        )
    # libsodium's combined form is the frame itself (signature || signed bytes); PyNaCl's
    # SigningKey.sign would slice it apart and the frame be joined again: three copies.
    return crypto_sign(signed, key._signing_key)


def verify(
    wire: bytes,
    expect: type[T],
    *,
    key: KeyResolver,
    now: datetime | None,
    audience: Audience | None = None,
    replay: ReplayCache | None = None,
    skew: timedelta = CLOCK_SKEW,
    where: str = "$",
) -> Verified[T]:
    """Check a frame and return its message, or raise the :class:`ProtocolError` that says why.

    Order: size and framing; key; signature; type; document; times; audience; replay. The
    nonce enters the replay cache only when everything else passed. ``now=None`` skips the
    time checks: for re-verifying stored receipts years later.
    """
    tag, kid, nl = read_tag_line(wire, where)
    try:
        vk = key(kid, now)
    except ProtocolError as exc:  # a resolver sees only the tag line's kid, not the frame's place
        raise type(exc)(exc.expected, exc.got, f"{where}.tag") from None
    try:
        vk.verify(wire)  # a frame is libsodium's combined form: signature || signed bytes
    except BadSignatureError:
        raise BadSignature(
            f"a valid Ed25519 signature by {kid[:16]}...", "a bad one", where
        ) from None
    want = _TAG_OF[expect]
    if tag != want:
        raise Rebound(f"a {want} frame", f"a {tag} frame", f"{where}.tag")
    body = wire[SIGNATURE_BYTES + nl + 1 :]
    doc = decode_document(body, expect, tag, where)
    msg, hdr = doc.msg, doc.hdr
    if hdr.expires - hdr.created > MAX_LIFETIME[tag] or hdr.expires < hdr.created:
        raise Malformed(
            f"a lifetime within {MAX_LIFETIME[tag]}",
            f"{hdr.created.isoformat()} to {hdr.expires.isoformat()}",
            f"{where}.hdr",
        )
    if now is not None and (hdr.created - now > skew or now - hdr.expires > skew):
        check_times(hdr, now, skew, where)  # raises, saying which
    if audience is not None:
        if audience.intent is not None and hdr.intent != audience.intent:
            raise Rebound(
                f"intent {audience.intent}",
                f"intent {hdr.intent or '(none)'}",
                f"{where}.hdr.intent",
            )
        if audience.vendor is not None and hdr.vendor != audience.vendor:
            raise Rebound(
                f"vendor {audience.vendor[:16]}...",
                f"vendor {hdr.vendor[:16] or '(none)'}...",
                f"{where}.hdr.vendor",
            )
    if replay is not None:
        replay.add(kid, hdr.nonce, hdr.expires, now or hdr.created, where)
    return Verified(msg, hdr, kid, wire)
