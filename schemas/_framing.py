"""Framing: the bytes around a frame's JSON document, read before anything is trusted.

    frame        = signature (64 bytes) || signed bytes
    signed bytes = b"intentcast/1 " + type + b" " + kid + b"\\n" + JSON document

The tag line names the protocol version, the message type and the signing key (64 hex
digits), and it is inside what is signed. A receiver reads it to find the key; the document
after it is decoded only once the signature holds (``_envelope``).
"""

from __future__ import annotations

import re

from ._errors import Malformed, Oversized, UnsupportedVersion
from ._messages import MESSAGE_TYPES

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL",
    "SIGNATURE_BYTES",
    "read_tag_line",
    "split_frame",
]

PROTOCOL = "intentcast/1"
SIGNATURE_BYTES = 64
MAX_FRAME_BYTES = 32 * 1024
_MAX_TAG_LINE = len(PROTOCOL) + 1 + 24 + 1 + 64
_TAG_LINE = re.compile(rb"intentcast/1 ([a-z_]{1,24}) ([0-9a-f]{64})\n")
_TAGS = {t.encode(): t for t in MESSAGE_TYPES}


def split_frame(wire: bytes, where: str = "$") -> tuple[str, str, bytes, bytes]:
    """Read a frame's framing only: (type, kid, signature, signed bytes). Nothing is trusted."""
    tag, kid, _ = read_tag_line(wire, where)
    return tag, kid, wire[:SIGNATURE_BYTES], wire[SIGNATURE_BYTES:]


def read_tag_line(wire: bytes, where: str) -> tuple[str, str, int]:
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
