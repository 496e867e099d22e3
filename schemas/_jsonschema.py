"""JSON Schemas generated from the message types (pure: returns data, writes nothing)."""

from __future__ import annotations

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
        out[tag] = schema
    bundle = msgspec.json.schema(Bundle)
    bundle["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    bundle["title"] = "intentcast/1 bundle (inside a sealed box)"
    out["bundle"] = bundle
    return out
