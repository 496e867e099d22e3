"""An intent file (`intentcast want --from intent.toml`, or `.json`), checked key by key before
anything is cast. Every unknown key, wrong type and out-of-range value is one line naming the
file and the key's path, what was expected and what was found.

    description = "2-person tent"
    category = "outdoor/tents"
    max_price = "150EUR"
    by = 2026-12-20            # a TOML date, or "2026-12-20"
    region = "ES-28"
    quantity = 1
    terms = "nostalking"

    [attributes]
    colour = "green"

    [terms_clauses]            # must-haves filter offers; must = false makes a weighted preference
    min_warranty_months = { value = 24 }
    min_return_days = { value = 30, must = false, weight = 3 }
    payment_methods = { value = ["card", "transfer"] }
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

import schemas

__all__ = ["IntentFileError", "load_intent_file"]

_CLAUSES = {f.name: f.type for f in msgspec.structs.fields(schemas.Terms) if f.name != "agreement"}
# A set clause's values are tokens, a pattern the contract checks after decoding: read it from
# the contract's own schema rather than writing it again here.
_TOKEN = re.compile(
    msgspec.json.schema(schemas.SetClause)["$defs"]["SetClause"]["properties"]["value"]["items"][
        "pattern"
    ]
)


class IntentFileError(ValueError):
    """The intent file cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _IntentFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    category: StrictStr | None = None
    max_price: StrictStr | None = None
    by: date | StrictStr | None = None
    region: StrictStr | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    terms: StrictStr | None = None
    attributes: dict[StrictStr, StrictStr] = {}
    terms_clauses: dict[StrictStr, Any] = {}


def _got(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def _pydantic_lines(path: Path, exc: ValidationError) -> list[str]:
    out = []
    known = sorted(_IntentFile.model_fields)
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("str", "date")))
        if e["type"] == "extra_forbidden":
            key = str(e["loc"][-1])
            hint = difflib.get_close_matches(key, known, n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            out.append(f"{path}: {where}: unknown key; expected one of {', '.join(known)}{also}")
        elif where == "by":
            out.append(
                f"{path}: by: expected a date such as 2026-12-20, got {_got(e.get('input'))}"
            )
        else:
            said = str(e["msg"]).removeprefix("Input should be ").removeprefix("Value should be ")
            out.append(f"{path}: {where}: expected {said}, got {_got(e.get('input'))}")
    return sorted(set(out), key=out.index)


_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", re.S)


def _clause_lines(path: Path, clauses: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    out, good = [], {}
    for name, value in clauses.items():
        where = f"{path}: terms_clauses.{name}"
        if name not in _CLAUSES:
            hint = difflib.get_close_matches(name, list(_CLAUSES), n=1)
            also = f"; did you mean {hint[0]!r}?" if hint else ""
            out.append(f"{where}: unknown clause; expected one of {', '.join(_CLAUSES)}{also}")
            continue
        try:
            clause = msgspec.convert(value, _CLAUSES[name], strict=True)
        except msgspec.ValidationError as exc:
            m = _MSGSPEC_AT.match(str(exc))
            at = (m.group("at") or "").removeprefix(f".{name}") if m else ""
            msg = (m.group("msg") if m else str(exc)).replace("`", "")
            out.append(f"{where}{at}: {msg[0].lower()}{msg[1:]}")
            continue
        if isinstance(clause, schemas.SetClause):
            bad = [v for v in clause.value if not _TOKEN.fullmatch(v)]
            if bad:
                out.append(
                    f"{where}.value: expected lowercase words such as 'card', got {bad[0]!r}"
                )
                continue
        good[name] = clause
    return out, good


def load_intent_file(path: Path) -> dict[str, Any]:
    """The file's keys, checked; raises :class:`IntentFileError` listing every problem."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise IntentFileError([f"--from: no file {path}"]) from None
    except OSError as exc:
        raise IntentFileError([f"--from: cannot read {path}: {exc.strerror}"]) from None
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        raw = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise IntentFileError([f"--from: {path} is not valid {kind}: {exc}"]) from None
    if not isinstance(raw, dict):
        raise IntentFileError([f"{path}: expected a table of keys, got {type(raw).__name__}"])
    try:
        spec = _IntentFile.model_validate(raw)
    except ValidationError as exc:
        problems = _pydantic_lines(path, exc)
        if isinstance(raw.get("terms_clauses"), dict):
            problems += _clause_lines(path, raw["terms_clauses"])[0]
        raise IntentFileError(problems) from None
    problems, clauses = _clause_lines(path, spec.terms_clauses)
    if problems:
        raise IntentFileError(problems)
    out = spec.model_dump(exclude_none=True)
    if isinstance(spec.by, date):
        out["by"] = spec.by.isoformat()
    out["terms_clauses"] = clauses
    return out
