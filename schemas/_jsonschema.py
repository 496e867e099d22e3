"""JSON Schemas generated from the message types (pure: returns data, writes nothing)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import msgspec

from ._envelope import Header
from ._messages import MESSAGE_TYPES, Bundle

__all__ = ["json_schemas"]


def json_schemas() -> dict[str, dict[str, Any]]:
    """One schema per message type, for the JSON document after a frame's tag line
    (``{"hdr": ..., "msg": ...}``), plus ``bundle``. Keyed by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for tag, cls in sorted(MESSAGE_TYPES.items()):
        doc = msgspec.defstruct(
            f"{cls.__name__}Document", [("hdr", Header), ("msg", cls)], forbid_unknown_fields=False
        )
        schema = msgspec.json.schema(doc)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://intentcast.org/schemas/v1/{tag}.json"
        schema["title"] = f"intentcast/1 {tag}"
        out[tag] = _normalised(schema)
    bundle = msgspec.json.schema(Bundle)
    bundle["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    bundle["title"] = "intentcast/1 bundle (inside a sealed box)"
    out["bundle"] = _normalised(bundle)
    return out


def _normalised(node: Any) -> Any:
    """Descriptions dedented the one way ``inspect.cleandoc`` does it, ``anyOf`` in one order.

    msgspec renders these differently from one release to the next (0.23 dedents the lines
    after the first docstring line, earlier releases keep their indentation; the order of an
    optional field's alternatives changed in 0.20). Normalising both here makes the committed
    files the same whichever msgspec in the allowed range generates them."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "description" and isinstance(v, str):
                out[k] = inspect.cleandoc(v)
            elif k == "anyOf" and isinstance(v, list):
                out[k] = sorted(
                    (_normalised(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True)
                )
            else:
                out[k] = _normalised(v)
        return out
    if isinstance(node, list):
        return [_normalised(v) for v in node]
    return node
