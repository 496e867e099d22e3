"""Everything the person's agent holds, as JSON: theirs to keep, move or inspect."""

from __future__ import annotations

import json
from typing import Any

from ._home import Home
from ._store import AgentStore

__all__ = ["export_all"]


def _row(row: Any, include_keys: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in row:
        v = row[k]
        if k in ("sign_seed", "seal_secret") and not include_keys:
            continue
        if isinstance(v, bytes):
            out[k + "_hex"] = v.hex()  # exact signed bytes, verifiable anywhere
        elif k == "reasons":
            out[k] = json.loads(v)
        else:
            out[k] = v
    return out


def export_all(store: AgentStore, home: Home, *, include_keys: bool = False) -> dict[str, Any]:
    return {
        "format": "intentcast-export/1",
        "config": home.config().model_dump(mode="json"),
        **{
            t: [_row(r, include_keys) for r in store.rows(t)]
            for t in ("intents", "offers", "drops", "accepts", "receipts", "outcomes")
        },
    }
