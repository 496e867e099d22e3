"""String fields checked by pattern after decoding, all of a document's at once.

A pattern checked by the decoder costs about half a microsecond per field, and a message has
a dozen such fields (ids, keys, digests, currencies, tokens). Here the decoder checks lengths
only; :func:`pattern_checker` generates, per document type, one function that joins every
patterned field with separators and matches them all with one regular expression. The JSON
Schemas keep each field's exact pattern (``extra_json_schema``), so other implementations see
the same rule. :func:`pattern_problem` is the slow path that names the offending field.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Union

import msgspec

__all__ = [
    "Currency",
    "Digest",
    "Id",
    "IdOrEmpty",
    "KeyHex",
    "KeyOrEmpty",
    "Nonce",
    "Token",
    "pattern_checker",
    "pattern_meta",
    "pattern_problem",
]


def pattern_meta(
    pattern: str,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    description: str | None = None,
) -> msgspec.Meta:
    """A string constraint whose pattern is checked by :func:`pattern_checker`, not the decoder.
    ``pattern`` is anchored (``^...$``) and must not match a newline or ``\\x1f``."""
    return msgspec.Meta(
        min_length=min_length,
        max_length=max_length,
        description=description,
        extra_json_schema={"pattern": pattern},
    )


Id = Annotated[
    str,
    pattern_meta("^[0-9a-f]{32}$", min_length=32, max_length=32, description="128-bit random, hex"),
]
Nonce = Annotated[
    str,
    pattern_meta("^[0-9a-f]{32}$", min_length=32, max_length=32, description="128-bit random, hex"),
]
KeyHex = Annotated[
    str,
    pattern_meta("^[0-9a-f]{64}$", min_length=64, max_length=64, description="32-byte key, hex"),
]
Digest = Annotated[
    str, pattern_meta("^[0-9a-f]{64}$", min_length=64, max_length=64, description="SHA-256, hex")
]
IdOrEmpty = Annotated[
    str,
    pattern_meta("^([0-9a-f]{32})?$", max_length=32, description="128-bit random, hex, or empty"),
]
KeyOrEmpty = Annotated[
    str, pattern_meta("^([0-9a-f]{64})?$", max_length=64, description="32-byte key, hex, or empty")
]
Currency = Annotated[
    str, pattern_meta("^[A-Z]{3}$", min_length=3, max_length=3, description="ISO 4217 code")
]
Token = Annotated[str, pattern_meta("^[a-z0-9][a-z0-9_.-]{0,39}$", min_length=1, max_length=40)]

FIELD_SEP, ITEM_SEP = "\x1f", "\n"


def _pattern_of(ann: Any) -> str | None:
    if typing.get_origin(ann) is Annotated:
        for meta in ann.__metadata__:
            extra = getattr(meta, "extra_json_schema", None) or {}
            if "pattern" in extra:
                p = str(extra["pattern"])
                assert p.startswith("^") and p.endswith("$"), p
                return p[1:-1]
    return None


def _optional(ann: Any) -> tuple[Any, bool]:
    """(T, True) for ``T | None``, else (ann, False); Annotated wrappers are kept."""
    base = typing.get_args(ann)[0] if typing.get_origin(ann) is Annotated else ann
    if typing.get_origin(base) in (Union, types.UnionType):
        args = [a for a in typing.get_args(base) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return ann, False


def _bare(ann: Any) -> Any:
    return typing.get_args(ann)[0] if typing.get_origin(ann) is Annotated else ann


def _is_struct(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, msgspec.Struct)


_Field = tuple[str, str, Any]  # (attribute path, kind, pattern body or checker type)


def _fields(cls: type, prefix: str, out: list[_Field]) -> None:
    """Every patterned string below ``cls``, with how to reach it."""
    for name, ann in typing.get_type_hints(cls, include_extras=True).items():
        path = f"{prefix}.{name}"
        inner, optional = _optional(ann)
        pattern = _pattern_of(inner)
        base = _bare(inner)
        if pattern is not None:
            out.append((path, "optstr" if optional else "str", pattern))
        elif typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            if (p := _pattern_of(item)) is not None:
                out.append((path, "list", p))
            elif _is_struct(_bare(item)) and _has_patterns(_bare(item)):
                out.append((path, "structs", _bare(item)))
        elif _is_struct(base) and _has_patterns(base):
            if optional:
                out.append((path, "optstruct", base))
            else:
                _fields(base, path, out)


_HAS: dict[type, bool] = {}


def _has_patterns(cls: type) -> bool:
    if cls not in _HAS:
        _HAS[cls] = False  # against recursion
        found: list[_Field] = []
        _fields(cls, "o", found)
        _HAS[cls] = bool(found)
    return _HAS[cls]


def _compile(cls: type) -> Callable[[Any], bool]:
    fields: list[_Field] = []
    _fields(cls, "o", fields)
    # Bind each struct on the way to a field once, as a local: o.msg.terms -> _p2.
    names: dict[str, str] = {"o": "o"}
    lines: list[str] = []

    def ref(path: str) -> str:
        parent, _, attr = path.rpartition(".")
        if parent not in names:
            names[parent] = f"_p{len(names)}"
            lines.append(f"{names[parent]} = {ref(parent)}")
        return f"{names[parent]}.{attr}"

    segs: list[str] = []
    parts: list[str] = []
    newlines: list[str] = []
    extra: list[str] = []
    env: dict[str, Any] = {}
    for i, (path, kind, what) in enumerate(fields):
        r = ref(path)
        if kind == "str":
            segs.append(r)
            parts.append(f"(?:{what})")
        elif kind == "list":
            segs.append(f"{ITEM_SEP!r}.join({r})")
            parts.append(f"(?:(?:{what})(?:{ITEM_SEP}(?:{what}))*)?")
            newlines.append(f"max(len({r}) - 1, 0)")
        elif kind == "optstr":
            env[f"_r{i}"] = re.compile(what)
            extra.append(f"({r} is None or _r{i}.fullmatch({r}) is not None)")
        else:
            env[f"_c{i}"] = pattern_checker(what)
            if kind == "structs":
                extra.append(f"all(_c{i}(x) for x in {r})")
            else:
                extra.append(f"({r} is None or _c{i}({r}))")
    conds: list[str] = []
    if segs:
        env["_R"] = re.compile(FIELD_SEP.join(parts))
        lines.append(f"_s = {FIELD_SEP!r}.join(({', '.join(segs)},))")
        expected_newlines = " + ".join(newlines) or "0"
        conds += [
            f"_s.count({FIELD_SEP!r}) == {len(segs) - 1}",
            f"_s.count({ITEM_SEP!r}) == {expected_newlines}",
            "_R.fullmatch(_s) is not None",
        ]
    conds += extra
    body = "".join(f"    {ln}\n" for ln in lines)
    source = f"def check(o):\n{body}    return {' and '.join(conds) or 'True'}\n"
    exec(source, env)
    check: Callable[[Any], bool] = env["check"]
    return check


_CHECKERS: dict[type, Callable[[Any], bool]] = {}


def pattern_checker(cls: type) -> Callable[[Any], bool]:
    """A function telling whether every patterned field of a ``cls`` instance matches."""
    fn = _CHECKERS.get(cls)
    if fn is None:
        fn = _CHECKERS[cls] = _compile(cls)
    return fn


def pattern_problem(obj: Any, where: str = "$") -> tuple[str, str, str] | None:
    """The slow, precise search: (where, expected pattern, what arrived) for the first field
    that does not match, or None."""
    for name, ann in typing.get_type_hints(type(obj), include_extras=True).items():
        value, path = getattr(obj, name), f"{where}.{name}"
        if value is None:
            continue
        inner, _ = _optional(ann)
        pattern = _pattern_of(inner)
        base = _bare(inner)
        items: list[tuple[str, Any]] = [(path, value)]
        if typing.get_origin(base) is list:
            pattern = _pattern_of(typing.get_args(base)[0])
            items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        for p, v in items:
            if pattern is not None and re.fullmatch(pattern, v) is None:
                return p, f"^{pattern}$", repr(v[:70])
            if isinstance(v, msgspec.Struct) and (found := pattern_problem(v, p)) is not None:
                return found
    return None
