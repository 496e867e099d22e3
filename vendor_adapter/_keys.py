"""The vendor's keys on disk: identity (signs the profile), signing, sealing. Created on
first run with mode 0600 (runtime.key_file)."""

from __future__ import annotations

from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from runtime import key_file

__all__ = ["load_or_create_keys"]


def load_or_create_keys(folder: Path) -> tuple[SigningKey, SigningKey, PrivateKey]:
    return (
        key_file(folder / "identity.key", SigningKey),
        key_file(folder / "signing.key", SigningKey),
        key_file(folder / "seal.key", PrivateKey),
    )
