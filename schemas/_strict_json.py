"""Strict JSON: what msgspec accepts, minus duplicate keys; and msgspec's errors as ours.

Parsers disagree on duplicate keys (Python keeps the last, others the first), so a signed
document with a duplicate key could mean two things to two parties. msgspec rejects NaN,
Infinity and invalid UTF-8 itself but silently keeps the last duplicate. So we decode once,
re-encode, and count colons: each key brings exactly one ``:`` outside strings, and colons
inside strings survive the round trip, so the counts differ exactly when a key was dropped.
An escaped colon (``\\u003a``) would hide from the raw count and is refused outright. Only
a document already refused is read again, the slow way, to name the repeated key's path.

msgspec says where a value went wrong from the document's root (``Expected `int`, got
`str` - at `$.msg.quantity```); :func:`malformed` turns that into a :class:`Malformed`
whose ``where`` is that path below the frame's own place and whose ``got`` is what was found.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from ._errors import Malformed

__all__ = ["decode_strict", "malformed"]

_untyped = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_strict(doc: bytes, where: str = "$") -> Any:
    """Decode ``doc`` to plain Python objects, or raise :class:`Malformed` if it is not JSON
    in UTF-8 or repeats a key in any object."""
    try:
        tree = _untyped.decode(doc)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise malformed(exc, "a JSON document in UTF-8", where) from None
    if b"\\u003a" in doc or b"\\u003A" in doc:
        raise Malformed("':' written as itself", "an escaped ':' (\\u003a)", where)
    if doc.count(b":") != _encoder.encode(tree).count(b":"):
        found = _repeated_key(doc)
        if found is None:  # the slow reading could not say which: name the document
            raise Malformed("each key once per object", "a duplicate key", where)
        raise Malformed(
            "each key once per object", f"{found.key!r} a second time", where + found.path
        )
    return tree


class _Repeat:
    """Stands in for an object that repeats a key: the path below it, and the key."""

    def __init__(self, path: str, key: str) -> None:
        self.path, self.key = path, key


def _step(key: str) -> str:
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]"


def _repeat_in(value: Any, path: str) -> _Repeat | None:
    if isinstance(value, _Repeat):
        return _Repeat(path + value.path, value.key)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _repeat_in(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Repeat:
    """An object, built bottom up; a repeat found below (or here) travels up in its place."""
    seen: set[str] = set()
    for key, value in pairs:
        if (found := _repeat_in(value, _step(key))) is not None:
            return found
        if key in seen:
            return _Repeat(_step(key), key)
        seen.add(key)
    return dict(pairs)


def _repeated_key(doc: bytes) -> _Repeat | None:
    """The first key an object of ``doc`` repeats, with its path below the document's root.
    Read with the standard library's parser, which hands each object's pairs over in order;
    called only for a document already refused, so its cost is the refuser's."""
    try:
        return _repeat_in(json.loads(doc, object_pairs_hook=_pairs), "")
    except (ValueError, RecursionError):
        return None


_AT = re.compile(r"(.*) - at `\$(.*)`", re.DOTALL)
_EXPECTED_GOT = re.compile(r"Expected (.+), got (.+)", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(.+)`", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_NOTHING = object()


def malformed(
    exc: msgspec.MsgspecError | UnicodeDecodeError | RecursionError,
    expected: str,
    where: str = "$",
    tree: Any = _NOTHING,
) -> Malformed:
    """msgspec's decode or validation error as :class:`Malformed`: ``where`` is the real path
    (msgspec's path from the document's root, under ``where``), ``expected`` what msgspec
    wanted there (``expected`` when it does not say), and ``got`` what was found: the value
    at that path in ``tree`` if given, else msgspec's own word for it."""
    if isinstance(exc, RecursionError):  # msgspec recurses per level, within Python's limit
        return Malformed("a document nested less deeply", "nesting past the decoder's limit", where)
    text, path = str(exc), ""
    if (at := _AT.fullmatch(text)) is not None:
        text, path = at.group(1), at.group(2)
    found = _found_at(tree, path)
    if (m := _EXPECTED_GOT.fullmatch(text)) is not None:
        got = m.group(2) if found is None else f"{m.group(2)} {found}"
        return Malformed(m.group(1), got, where + path)
    if (m := _MISSING.fullmatch(text)) is not None:
        return Malformed("a required field", "nothing", f"{where}{path}{_step(m.group(1))}")
    if text.startswith("Expected "):
        return Malformed(
            text.removeprefix("Expected "), found or "a value outside it", where + path
        )
    return Malformed(expected, text if found is None else f"{text}: {found}", where + path)


def _found_at(tree: Any, path: str) -> str | None:
    """What lies at msgspec's ``path`` in ``tree``, shortened, or None if it cannot be told."""
    if tree is _NOTHING:
        return None
    node, pos = tree, 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None or m.group(0) == "[...]":
            return None
        key, index = m.group(1), m.group(2)
        if key is not None and isinstance(node, dict) and key in node:
            node = node[key]
        elif index is not None and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
        pos = m.end()
    return repr(node)[:70]
