"""Strict JSON: what msgspec accepts, minus duplicate keys.

Parsers disagree on duplicate keys (Python keeps the last, others the first), so a signed
document with a duplicate key could mean two things to two parties. msgspec rejects NaN,
Infinity and invalid UTF-8 itself but silently keeps the last duplicate. So we decode once,
re-encode, and count colons: each key brings exactly one ``:`` outside strings, and colons
inside strings survive the round trip, so the counts differ exactly when a key was dropped.
An escaped colon (``\\u003a``) would hide from the raw count and is refused outright.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._errors import Malformed

__all__ = ["decode_strict"]

_untyped = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_strict(doc: bytes, where: str = "$") -> Any:
    """Decode ``doc`` to plain Python objects, or raise :class:`Malformed` if it is not JSON
    in UTF-8 or repeats a key in any object."""
    try:
        tree = _untyped.decode(doc)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Malformed("a JSON document in UTF-8", str(exc), where) from None
    if b"\\u003a" in doc or b"\\u003A" in doc:
        raise Malformed("':' written as itself", "an escaped ':' (\\u003a)", where)
    if doc.count(b":") != _encoder.encode(tree).count(b":"):
        raise Malformed("each key once per object", "a duplicate key", where)
    return tree
