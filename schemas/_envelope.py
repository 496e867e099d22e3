"""Signed frames: Ed25519 over the exact bytes, with a domain tag, bound to type, ids,
audience and expiry.

Wire layout of a frame::

    signature (64 bytes) || signed bytes
    signed bytes = b"intentcast/1 " + type + b" " + kid + b"\\n" + JSON document
    JSON document = {"hdr": {created, expires, nonce, intent, vendor}, "msg": {"type": ..., ...}}

The first line is the domain tag: it names the protocol version, the message type and the
signing key (64 hex digits), and it is inside what is signed. A receiver reads that line, finds
the key, verifies the signature, and only then decodes the document.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ._errors import (
    BadSignature,
    Expired,
    Malformed,
    NotYetValid,
    Oversized,
    Rebound,
    Replayed,
    UnsupportedVersion,
)
from ._messages import MESSAGE_TYPES, Message
from ._patterns import IdOrEmpty, KeyOrEmpty, Nonce, pattern_checker, pattern_problem
from ._strict_json import decode_strict

__all__ = [
    "CLOCK_SKEW",
    "MAX_FRAME_BYTES",
    "MAX_LIFETIME",
    "PROTOCOL",
    "Audience",
    "Header",
    "KeyResolver",
    "ReplayCache",
    "Verified",
    "check_times",
    "digest",
    "kid_of",
    "new_id",
    "self_signed",
    "sign",
    "split_frame",
    "verify",
]

PROTOCOL = "intentcast/1"
SIGNATURE_BYTES = 64
MAX_FRAME_BYTES = 32 * 1024
CLOCK_SKEW = timedelta(seconds=30)
MAX_LIFETIME: dict[str, timedelta] = {
    "intent": timedelta(days=31),
    "offer": timedelta(days=14),
    "vendor_profile": timedelta(days=400),
    "accept": timedelta(hours=1),
    "decline": timedelta(hours=1),
    "order_confirmation": timedelta(hours=1),
    "receipt": timedelta(hours=1),
    "countersignature": timedelta(hours=1),
    "cancel": timedelta(hours=1),
    "rating": timedelta(days=1),
}
_MAX_TAG_LINE = len(PROTOCOL) + 1 + 24 + 1 + 64

T = TypeVar("T", bound=Message)

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class Header(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """Signed with every message: when it was made, until when it binds, a fresh nonce, and the
    audience: the intent it belongs to and the vendor it comes from or goes to."""

    created: UtcTime
    expires: UtcTime
    nonce: Nonce
    intent: IdOrEmpty = ""
    vendor: KeyOrEmpty = ""


class _Document(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    hdr: Header
    msg: Message


_encoder = msgspec.json.Encoder()
_CANONICAL = bytearray()
# One document type per message type: the receiver always knows which it expects, and a
# specific decoder is faster than the union's and refuses a body of another type itself.
_DOC_TYPES: dict[type, type] = {
    cls: msgspec.defstruct(
        f"{cls.__name__}Document", [("hdr", Header), ("msg", cls)], forbid_unknown_fields=False
    )
    for cls in MESSAGE_TYPES.values()
}
_DOC_PATTERNS_OK = {cls: pattern_checker(t) for cls, t in _DOC_TYPES.items()}
_DOC_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(t) for cls, t in _DOC_TYPES.items()
}
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
    body = _encoder.encode(_Document(hdr, msg))
    signed = f"{PROTOCOL} {tag} {kid_of(key)}\n".encode() + body
    if SIGNATURE_BYTES + len(signed) > MAX_FRAME_BYTES:
        raise Oversized(f"at most {MAX_FRAME_BYTES} bytes", f"{len(signed) + 64} bytes")
    return key.sign(signed).signature + signed


def split_frame(wire: bytes, where: str = "$") -> tuple[str, str, bytes, bytes]:
    """Read a frame's framing only: (type, kid, signature, signed bytes). Nothing is trusted."""
    tag, kid, _ = _split(wire, where)
    return tag, kid, wire[:SIGNATURE_BYTES], wire[SIGNATURE_BYTES:]


_TAG_LINE = re.compile(rb"intentcast/1 ([a-z_]{1,24}) ([0-9a-f]{64})\n")
_TAGS = {t.encode(): t for t in MESSAGE_TYPES}


def _split(wire: bytes, where: str) -> tuple[str, str, int]:
    """(type, kid, offset of the tag line's end within the signed bytes)."""
    if len(wire) > MAX_FRAME_BYTES:
        raise Oversized(f"at most {MAX_FRAME_BYTES} bytes", f"{len(wire)} bytes", where)
    m = _TAG_LINE.match(wire, SIGNATURE_BYTES)
    if m is not None and (tag := _TAGS.get(m.group(1))) is not None:
        return tag, m.group(2).decode(), m.end() - 1 - SIGNATURE_BYTES
    # Not a well-formed tag line: find out what exactly is wrong, for the error.
    end = wire.find(b"\n", SIGNATURE_BYTES, SIGNATURE_BYTES + _MAX_TAG_LINE + 1)
    if len(wire) < SIGNATURE_BYTES or end < 0:
        raise Malformed("64 signature bytes then a tag line", f"{len(wire)} bytes", where)
    line = wire[SIGNATURE_BYTES:end]
    try:
        proto, tag, kid = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise Malformed(f"'{PROTOCOL} <type> <kid>'", repr(line[:80]), f"{where}.tag") from None
    if proto != PROTOCOL:
        if proto.startswith("intentcast/"):
            raise UnsupportedVersion(PROTOCOL, proto, f"{where}.tag")
        raise Malformed(PROTOCOL, proto[:40], f"{where}.tag")
    if tag not in MESSAGE_TYPES:
        raise Malformed(f"one of {sorted(MESSAGE_TYPES)}", tag[:40], f"{where}.tag")
    if len(kid) != 64 or kid.strip("0123456789abcdef"):
        raise Malformed("a key id of 64 lowercase hex digits", kid[:80], f"{where}.tag")
    return tag, kid, end - SIGNATURE_BYTES


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
    tag, kid, nl = _split(wire, where)
    vk = key(kid, now)
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
    doc = _decode_document(body, expect, tag, where)
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


def _decode_document(body: bytes, expect: type, tag: str, where: str) -> Any:
    """Typed decode with strict JSON and hex checks. Fast path: a document that re-encodes to
    exactly its own bytes (as every frame this implementation signs does) cannot hide a
    duplicate key. Any other producer's formatting takes the exact check in ``decode_strict``."""
    doc: Any = None
    try:
        doc = _DOC_DECODERS[expect].decode(body)
        # Re-encoded into one reused buffer. Should two threads race on it, a mismatch only
        # sends a document down the exact slow path, and a match means ``body`` is the
        # canonical encoding of a decoded document: either way nothing unchecked passes.
        _encoder.encode_into(doc, _CANONICAL)
        if body != _CANONICAL:
            doc = None
    except (msgspec.DecodeError, UnicodeDecodeError):
        doc = None  # the slow path below says precisely what is wrong
    if doc is None:
        tree = decode_strict(body, where)
        msg = tree.get("msg") if isinstance(tree, dict) else None
        if not isinstance(msg, dict) or msg.get("type") != tag:
            got = msg.get("type") if isinstance(msg, dict) else type(msg).__name__
            raise Malformed(
                f"a {tag} message under a {tag} tag", repr(got)[:40], f"{where}.msg.type"
            )
        try:
            doc = msgspec.convert(tree, _DOC_TYPES[expect])
        except msgspec.ValidationError as exc:
            raise Malformed("a valid intentcast/1 document", str(exc), where) from None
    if _DOC_PATTERNS_OK[expect](doc):
        return doc
    problem = pattern_problem(doc, where)
    if problem is None:  # pragma: no cover - the fast check and the slow one disagree
        raise Malformed("fields matching their patterns", "a mismatch", where)
    path, pattern, got = problem
    raise Malformed(f"a value matching {pattern}", got, path)


def check_times(hdr: Header, now: datetime, skew: timedelta = CLOCK_SKEW, where: str = "$") -> None:
    """Raise :class:`NotYetValid` or :class:`Expired` unless ``now`` lies in the header's window."""
    if hdr.created > now + skew:
        raise NotYetValid(
            f"created before {(now + skew).isoformat()}",
            hdr.created.isoformat(),
            f"{where}.hdr.created",
        )
    if hdr.expires < now - skew:
        raise Expired(
            f"expires after {(now - skew).isoformat()}",
            hdr.expires.isoformat(),
            f"{where}.hdr.expires",
        )


_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class ReplayCache:
    """Remembers (signer, nonce) until the message expires; bounded.

    When full it forgets the entry that expires first and raises its *horizon* to that expiry:
    from then on anything expiring at or before the horizon is refused as a possible replay,
    so forgetting never lets a replay through.
    """

    capacity: int = 100_000
    skew: timedelta = CLOCK_SKEW
    horizon: datetime = _EPOCH
    _seen: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _heap: list[tuple[datetime, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, kid: str, nonce: str, expires: datetime, now: datetime, where: str = "$") -> None:
        if expires <= self.horizon:
            raise Replayed(
                f"a message expiring after the replay horizon {self.horizon.isoformat()}",
                expires.isoformat(),
                f"{where}.hdr.expires",
            )
        k = (kid, nonce)
        if k in self._seen:
            raise Replayed("a fresh nonce", f"nonce {nonce} seen before from this signer", where)
        while self._heap and self._heap[0][0] < now - self.skew:
            _, a, b = heapq.heappop(self._heap)
            self._seen.pop((a, b), None)
        while len(self._seen) >= self.capacity:
            exp, a, b = heapq.heappop(self._heap)
            self._seen.pop((a, b), None)
            self.horizon = max(self.horizon, exp)
        self._seen[k] = expires
        heapq.heappush(self._heap, (expires, kid, nonce))
