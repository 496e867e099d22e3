"""String fields checked by pattern after decoding, all of a document's at once.

A pattern checked by the decoder costs about half a microsecond per field, and a message has
a dozen such fields (ids, keys, digests, currencies, tokens). Here the decoder checks lengths
only; :func:`pattern_checker` generates, per document type, one function: fields whose
pattern is one character class repeated (ids, keys, digests, currencies) are concatenated per
class and checked by deleting that class's bytes; the rest are joined with separators and
matched with one regular expression. The JSON Schemas keep each field's exact pattern
(``extra_json_schema``), so other implementations see the same rule. :func:`pattern_problem`
is the slow path that names the offending field. Both stay in this one module (just over
300 lines) because they must read a type's fields the same way to agree.
"""

from __future__ import annotations

import re
import threading
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


def _unanchored(pattern: str) -> str:
    """The body of an anchored pattern; the checkers join bodies, so an unanchored one would
    match part of a field. Refused when a type is defined, long before any message."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"expected a pattern anchored as ^...$, got {pattern!r}")
    return pattern[1:-1]


def pattern_meta(
    pattern: str,
    *,
    min_length: int | None = None,
    max_length: int | None = None,
    description: str | None = None,
) -> msgspec.Meta:
    """A string constraint whose pattern is checked by :func:`pattern_checker`, not the decoder.
    ``pattern`` is anchored (``^...$``) and must not match a newline or ``\\x1f``."""
    _unanchored(pattern)
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
DigestOrEmpty = Annotated[
    str, pattern_meta("^([0-9a-f]{64})?$", max_length=64, description="SHA-256, hex, or empty")
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
    found = _constraint_of(ann)
    return None if found is None else found[0]


def _constraint_of(ann: Any) -> tuple[str, int, float] | None:
    """(pattern body without anchors, the decoder's min length, its max length) or None."""
    if typing.get_origin(ann) is Annotated:
        for meta in ann.__metadata__:
            extra = getattr(meta, "extra_json_schema", None) or {}
            if "pattern" in extra:
                lo = meta.min_length or 0
                hi = float("inf") if meta.max_length is None else meta.max_length
                return _unanchored(str(extra["pattern"])), lo, hi
    return None


# A pattern that is one character class repeated: "[0-9a-f]{32}", "([A-Z]{2})?", "[A-Z]{0,3}".
_RUN = re.compile(r"(\()?(\[[^\]\\]+\])\{(\d+)(?:,(\d+))?\}(\)\?)?")


def _class_bytes(charclass: str) -> bytes:
    """The ASCII characters a regular-expression character class matches."""
    rx = re.compile(charclass)
    return bytes(c for c in range(128) if rx.fullmatch(chr(c)))


def _as_run(pattern: str, lo: int, hi: float) -> tuple[str, str | None] | None:
    """For a run pattern: (its character class, a length condition on ``{}`` that the decoder's
    own min/max does not already ensure, or None). For any other pattern: None."""
    m = _RUN.fullmatch(pattern)
    if m is None or bool(m.group(1)) != bool(m.group(5)):
        return None
    a = int(m.group(3))
    b = int(m.group(4)) if m.group(4) is not None else a
    if m.group(1) and a != b:
        return None
    allowed = {0, a} if m.group(1) else set(range(a, b + 1))
    if hi != float("inf") and set(range(lo, int(hi) + 1)) <= allowed:
        return m.group(2), None  # the decoder's length limits already say it
    if m.group(1):
        return m.group(2), f"len({{}}) in {tuple(sorted(allowed))}"
    return m.group(2), f"{a} <= len({{}}) <= {b}"


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
        constraint = _constraint_of(inner)
        base = _bare(inner)
        if constraint is not None:
            out.append((path, "optstr" if optional else "str", constraint))
        elif typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            if (c := _constraint_of(item)) is not None:
                out.append((path, "list", c))
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

    runs: dict[str, list[str]] = {}  # character class -> expressions to concatenate
    segs: list[str] = []
    parts: list[str] = []
    newlines: list[str] = []
    extra: list[str] = []
    env: dict[str, Any] = {}
    for i, (path, kind, what) in enumerate(fields):
        r = ref(path)
        run = _as_run(*what) if kind in ("str", "list") else None
        if kind == "str" and run is not None:
            runs.setdefault(run[0], []).append(r)
            if run[1] is not None:
                extra.append(run[1].format(r))
        elif kind == "list" and run is not None and run[1] is None:
            runs.setdefault(run[0], []).append(f"''.join({r})")
        elif kind == "str":
            segs.append(r)
            parts.append(f"(?:{what[0]})")
        elif kind == "list":
            segs.append(f"{ITEM_SEP!r}.join({r})")
            parts.append(f"(?:(?:{what[0]})(?:{ITEM_SEP}(?:{what[0]}))*)?")
            newlines.append(f"max(len({r}) - 1, 0)")
        elif kind == "optstr":
            env[f"_r{i}"] = re.compile(what[0])
            extra.append(f"({r} is None or _r{i}.fullmatch({r}) is not None)")
        else:
            env[f"_c{i}"] = pattern_checker(what)
            if kind == "structs":
                extra.append(f"all(_c{i}(x) for x in {r})")
            else:
                extra.append(f"({r} is None or _c{i}({r}))")
    run_conds: list[str] = []
    for j, (charclass, exprs) in enumerate(runs.items()):
        # Fields made of one character class are concatenated and matched as one run; their
        # lengths are the decoder's business (or an explicit condition above).
        # Deleting the class's characters from the UTF-8 bytes must leave nothing (a
        # non-ASCII character leaves bytes behind): a third of a regex's cost.
        env[f"_K{j}"] = _class_bytes(charclass)
        joined = exprs[0] if len(exprs) == 1 else f"''.join(({', '.join(exprs)},))"
        run_conds.append(f"not {joined}.encode().translate(None, _K{j})")
    conds: list[str] = run_conds
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
# One compilation at a time: while one reads a struct's fields, _HAS marks it "no patterns"
# (against recursion), and another compiling meanwhile would take that mark for the answer.
_COMPILING = threading.RLock()


def pattern_checker(cls: type) -> Callable[[Any], bool]:
    """A function telling whether every patterned field of a ``cls`` instance matches."""
    fn = _CHECKERS.get(cls)
    if fn is None:
        with _COMPILING:
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
