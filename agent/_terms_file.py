"""The person's standing terms and what they disclose, changed from the app: two top-level
keys of ``config.toml`` rewritten in place (comments and everything else kept), the file
replaced atomically, and read back through the same checks as every start."""

from __future__ import annotations

import json
import os
import re

from ._home import AgentConfig, Home

__all__ = ["set_standing_terms"]


def set_standing_terms(home: Home, agreement: str | None, disclose: list[str]) -> AgentConfig:
    path = home.config_path
    lines = path.read_text().splitlines()
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
    wanted = {
        "agreement": f"agreement = {json.dumps(agreement)}" if agreement else None,
        "disclose": f"disclose = {json.dumps(disclose)}",
    }
    top, rest = lines[:first_table], lines[first_table:]
    for key, new in wanted.items():
        pattern = re.compile(rf"^\s*{key}\s*=")
        top = [ln for ln in top if not pattern.match(ln)]
        if new is not None:
            top.append(new)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(top + rest) + "\n")
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    return home.config()
