"""Hex identifiers (ids, keys, digests, nonces) and one fast check for all of them.

Per-field regexes in the decoder cost about 0.3 us each, a dozen per message. Instead the
decoder checks only lengths, and :func:`hex_problem` checks every hex field of a decoded
message at once, by a plan computed per type from the annotations. The JSON Schemas keep
the full patterns (``extra_json_schema``), so other implementations see the exact rule.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Union

import msgspec

__all__ = [
    "Digest",
    "Id",
    "IdOrEmpty",
    "KeyHex",
    "KeyOrEmpty",
    "Nonce",
    "hex_checker",
    "hex_problem",
]


Id = Annotated[
    str,
    msgspec.Meta(
        min_length=32,
        max_length=32,
        description="128-bit random, hex",
        extra_json_schema={"pattern": "^[0-9a-f]{32}$"},
    ),
]
Nonce = Annotated[
    str,
    msgspec.Meta(
        min_length=32,
        max_length=32,
        description="128-bit random, hex",
        extra_json_schema={"pattern": "^[0-9a-f]{32}$"},
    ),
]
KeyHex = Annotated[
    str,
    msgspec.Meta(
        min_length=64,
        max_length=64,
        description="32-byte key, hex",
        extra_json_schema={"pattern": "^[0-9a-f]{64}$"},
    ),
]
Digest = Annotated[
    str,
    msgspec.Meta(
        min_length=64,
        max_length=64,
        description="SHA-256, hex",
        extra_json_schema={"pattern": "^[0-9a-f]{64}$"},
    ),
]
IdOrEmpty = Annotated[
    str,
    msgspec.Meta(
        min_length=0,
        max_length=32,
        description="128-bit random, hex, or empty",
        extra_json_schema={"pattern": "^([0-9a-f]{32})?$"},
    ),
]
KeyOrEmpty = Annotated[
    str,
    msgspec.Meta(
        min_length=0,
        max_length=64,
        description="32-byte key, hex, or empty",
        extra_json_schema={"pattern": "^([0-9a-f]{64})?$"},
    ),
]

_HEX = re.compile(r"[0-9a-f]*\Z")
_Plan = list[tuple[str, str, int]]  # (field, kind, length): kind hex|hex_list|opt|struct|structs
_PLANS: dict[type, _Plan] = {}


def _hex_len(ann: Any) -> tuple[int, bool] | None:
    if typing.get_origin(ann) is Annotated:
        for meta in ann.__metadata__:
            pattern = getattr(meta, "extra_json_schema", None) or {}
            if str(pattern.get("pattern", "")).startswith(("^[0-9a-f]", "^([0-9a-f]")):
                return int(meta.max_length), meta.min_length == 0
    return None


def _strip(ann: Any) -> Any:
    """Annotated[T, ...] -> T; T | None -> T."""
    if typing.get_origin(ann) is Annotated:
        ann = typing.get_args(ann)[0]
    if typing.get_origin(ann) in (Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return ann


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    _PLANS[cls] = plan = []  # placeholder against recursion
    for name, ann in typing.get_type_hints(cls, include_extras=True).items():
        hl = _hex_len(ann)
        if hl is not None:
            plan.append((name, "opt" if hl[1] else "hex", hl[0]))
            continue
        base = _strip(ann)
        if typing.get_origin(base) is list:
            (item,) = typing.get_args(base)
            hl = _hex_len(item)
            inner = _strip(item)
            if hl is not None:
                plan.append((name, "hex_list", hl[0]))
            elif isinstance(inner, type) and issubclass(inner, msgspec.Struct) and _plan(inner):
                plan.append((name, "structs", 0))
        elif isinstance(base, type) and issubclass(base, msgspec.Struct) and _plan(base):
            plan.append((name, "struct", 0))
    return plan


def _compile(cls: type) -> Callable[[Any], bool]:
    """Generate a checker for one struct type: fetch every hex field by attribute path, test
    the optional ones' lengths, and match all of them joined, in one expression. Generated
    because a generic walk costs more than the regexes it replaces."""
    scalars: list[str] = []
    optional: list[tuple[str, int]] = []
    lists: list[str] = []
    nested: list[tuple[str, type, bool]] = []

    def collect(c: type, prefix: str) -> None:
        hints = typing.get_type_hints(c, include_extras=True)
        for name, kind, n in _plan(c):
            path = f"{prefix}.{name}"
            if kind == "hex":
                scalars.append(path)
            elif kind == "opt":
                scalars.append(path)
                optional.append((path, n))
            elif kind == "hex_list":
                lists.append(path)
            elif kind == "struct":
                inner = _strip(hints[name])
                if typing.get_origin(hints[name]) is None and inner is hints[name]:
                    collect(inner, path)
                else:  # optional struct: checked when present
                    nested.append((path, inner, False))
            else:
                nested.append((path, _strip(typing.get_args(_strip(hints[name]))[0]), True))

    collect(cls, "o")
    conds = [f"len({p}) in (0, {n})" for p, n in optional]
    joined = " + ".join(scalars) if scalars else "''"
    if lists:
        joined += " + " + " + ".join(f"''.join({p})" for p in lists)
    conds.append(f"_HEX.match({joined}) is not None")
    for i, (p, _, is_list) in enumerate(nested):
        name = f"_n{i}"
        if is_list:
            conds.append(f"all({name}(x) for x in {p})")
        else:
            conds.append(f"({p} is None or {name}({p}))")
    env: dict[str, Any] = {"_HEX": _HEX}
    env.update({f"_n{i}": _checker(inner) for i, (_, inner, _) in enumerate(nested)})
    exec(f"def check(o):\n    return {' and '.join(conds)}\n", env)
    check: Callable[[Any], bool] = env["check"]
    return check


_CHECKERS: dict[type, Callable[[Any], bool]] = {}


def hex_checker(cls: type) -> Callable[[Any], bool]:
    """A function telling whether every hex field of a ``cls`` instance is well formed."""
    return _checker(cls)


def _checker(cls: type) -> Callable[[Any], bool]:
    fn = _CHECKERS.get(cls)
    if fn is None:
        fn = _CHECKERS[cls] = _compile(cls)
    return fn


def hex_problem(obj: Any, where: str = "$") -> tuple[str, str] | None:
    """``None`` when every hex field of ``obj`` (a decoded struct) is lowercase hex of its
    length; else (where, what arrived) for the first that is not."""
    if _checker(type(obj))(obj):
        return None
    return _locate(obj, where)


def _gather(obj: Any, where: str, out: list[tuple[str, str, int, bool]]) -> None:
    """(path, value, length, may be empty) for every hex field below ``obj``."""
    for name, kind, n in _plan(type(obj)):
        value, path = getattr(obj, name), f"{where}.{name}"
        if kind in ("hex", "opt"):
            out.append((path, value, n, kind == "opt"))
        elif kind == "hex_list":
            out += [(f"{path}[{i}]", v, n, False) for i, v in enumerate(value)]
        elif kind == "struct" and value is not None:
            _gather(value, path, out)
        elif kind == "structs":
            for i, v in enumerate(value):
                _gather(v, f"{path}[{i}]", out)


def _locate(obj: Any, where: str) -> tuple[str, str] | None:
    """The slow, precise search for the first bad hex field, for the error message."""
    fields: list[tuple[str, str, int, bool]] = []
    _gather(obj, where, fields)
    for path, value, n, may_be_empty in fields:
        if len(value) not in ((0, n) if may_be_empty else (n,)) or not _HEX.match(value):
            return path, repr(value[:70])
    return None  # pragma: no cover - only called when the fast check failed
