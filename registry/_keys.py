"""The registrar's signing key on disk: created on first use, mode 0600, in a folder of its
own (0700). Whoever holds it decides which names vendors go by on this bus."""

from __future__ import annotations

import os
from pathlib import Path

import structlog
from nacl.signing import SigningKey

__all__ = ["load_or_create_key"]

log = structlog.get_logger("intentcast.registry")


def load_or_create_key(folder: Path) -> SigningKey:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "registrar.key"
    if path.exists():
        return SigningKey(bytes.fromhex(path.read_text().strip()))
    key = SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")
    log.info("registry.key.created", path=str(path))
    return key
