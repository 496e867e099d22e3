"""Strict JSON: what msgspec accepts, minus duplicate keys.

Parsers disagree on duplicate keys (Python keeps the last, others the first), so a signed
document with a duplicate key could mean two things to two parties. msgspec rejects NaN,
Infinity and invalid UTF-8 itself but silently keeps the last duplicate, so we count keys:
every key is followed by exactly one ``:`` outside strings, hence
``colons(raw) == keys(decoded) + colons inside decoded strings`` exactly when nothing was
dropped. An escaped colon (``\\u003a``) would break the count and is refused outright.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._errors import Malformed

__all__ = ["check_no_duplicate_keys"]

_untyped = msgspec.json.Decoder()


def _colons(node: Any) -> int:
    t = type(node)
    if t is dict:
        n = len(node)
        for k, v in node.items():
            n += k.count(":") + _colons(v)
        return n
    if t is list:
        return sum(_colons(v) for v in node)
    if t is str:
        return int(node.count(":"))
    return 0


def check_no_duplicate_keys(doc: bytes, where: str = "$") -> None:
    """Raise :class:`Malformed` if ``doc`` is not JSON or repeats a key in any object."""
    try:
        tree = _untyped.decode(doc)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Malformed("a JSON document in UTF-8", str(exc), where) from None
    if b"\\u003a" in doc or b"\\u003A" in doc:
        raise Malformed("':' written as itself", "an escaped ':' (\\u003a)", where)
    if doc.count(b":") != _colons(tree):
        raise Malformed("each key once per object", "a duplicate key", where)
