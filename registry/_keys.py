"""The registrar's signing key on disk: created on first use, mode 0600, in a folder of its
own (0700). Whoever holds it decides which names vendors go by on this bus."""

from __future__ import annotations

from pathlib import Path

from nacl.signing import SigningKey

from runtime import key_file

__all__ = ["load_or_create_key"]


def load_or_create_key(folder: Path) -> SigningKey:
    return key_file(folder / "registrar.key", SigningKey)
