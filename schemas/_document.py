"""The signed JSON document, ``{"hdr": Header, "msg": Message}``: the header's rules for
time, and decoding a document strictly into the one message type the receiver expects.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec

from ._errors import Expired, Malformed, NotYetValid
from ._messages import MESSAGE_TYPES, Message
from ._patterns import IdOrEmpty, KeyOrEmpty, Nonce, pattern_checker, pattern_problem
from ._strict_json import decode_strict, malformed

__all__ = [
    "CLOCK_SKEW",
    "MAX_LIFETIME",
    "Header",
    "check_times",
    "decode_document",
    "encode_document",
]

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
    "countersignature_ack": timedelta(hours=1),
    "cancel": timedelta(hours=1),
    "rating": timedelta(days=1),
    "order_status": timedelta(days=366),  # it waits in a mailbox as long as the terms allow
    "registration_request": timedelta(hours=1),
    "registry_entry": timedelta(days=400),
    "registration_answer": timedelta(hours=1),
    "details_update": timedelta(hours=1),
    "details_ack": timedelta(hours=1),
    "erasure_request": timedelta(hours=1),
    "erasure_confirmation": timedelta(hours=1),
}

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class Header(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """Signed with every message: when it was made, until when it binds, a fresh nonce, and the
    audience: the intent it belongs to and the vendor it comes from or goes to."""

    created: UtcTime
    expires: UtcTime
    nonce: Nonce
    intent: IdOrEmpty = ""
    vendor: KeyOrEmpty = ""


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


class _Document(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    hdr: Header
    msg: Message


class _Scratch(threading.local):
    """Each thread's own buffer for re-encoding the document it decodes: owned per thread, so
    its contents never depend on what another thread (or interpreter lock) does meanwhile."""

    def __init__(self) -> None:
        self.canonical = bytearray()


_encoder = msgspec.json.Encoder()
_scratch = _Scratch()
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


def encode_document(hdr: Header, msg: Message) -> bytes:
    """The document's JSON, in the one form this implementation signs."""
    return _encoder.encode(_Document(hdr, msg))


def decode_document(body: bytes, expect: type, tag: str, where: str) -> Any:
    """Typed decode with strict JSON and hex checks. Fast path: a document that re-encodes to
    exactly its own bytes (as every frame this implementation signs does) cannot hide a
    duplicate key. Any other producer's formatting takes the exact check in ``decode_strict``."""
    doc: Any = None
    try:
        doc = _DOC_DECODERS[expect].decode(body)
        canonical = _scratch.canonical
        _encoder.encode_into(doc, canonical)
        if body != canonical:
            doc = None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
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
            raise malformed(exc, "a valid intentcast/1 document", where, tree) from None
    if _DOC_PATTERNS_OK[expect](doc):
        return doc
    problem = pattern_problem(doc, where)
    if problem is None:  # pragma: no cover - the fast check and the slow one disagree
        raise Malformed("fields matching their patterns", "a mismatch", where)
    path, pattern, got = problem
    raise Malformed(f"a value matching {pattern}", got, path)
