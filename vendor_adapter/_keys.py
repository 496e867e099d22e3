"""The vendor's keys on disk: identity (signs the profile), signing, sealing. Created on
first run with mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

import structlog
from nacl.public import PrivateKey
from nacl.signing import SigningKey

__all__ = ["load_or_create_keys"]

log = structlog.get_logger("intentcast.vendor")


def _load(path: Path, make: type[SigningKey] | type[PrivateKey]) -> SigningKey | PrivateKey:
    if path.exists():
        return make(bytes.fromhex(path.read_text().strip()))
    key = make.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(bytes(key).hex() + "\n")
    log.info("vendor.key.created", path=str(path))
    return key


def load_or_create_keys(folder: Path) -> tuple[SigningKey, SigningKey, PrivateKey]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = _load(folder / "identity.key", SigningKey)
    signing = _load(folder / "signing.key", SigningKey)
    seal = _load(folder / "seal.key", PrivateKey)
    assert isinstance(identity, SigningKey) and isinstance(signing, SigningKey)
    assert isinstance(seal, PrivateKey)
    return identity, signing, seal
