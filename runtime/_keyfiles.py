"""Private keys on disk: one hex key per file, created on first use with mode 0600 in a
folder of its own (0700), never overwritten. Vendors keep their identity, signing and sealing
keys this way, the registrar its signing key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import structlog
from nacl.public import PrivateKey
from nacl.signing import SigningKey

__all__ = ["key_file"]

log = structlog.get_logger("intentcast.keys")
K = TypeVar("K", SigningKey, PrivateKey)


def key_file(path: Path, kind: type[K]) -> K:
    """The key of ``kind`` kept at ``path``, made (and logged) if there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return kind(bytes.fromhex(path.read_text().strip()))
    key = kind.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")
    log.info("key.created", path=str(path), kind=kind.__name__)
    return key
