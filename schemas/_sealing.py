"""Sealed boxes (X25519 + XSalsa20-Poly1305, anonymous sender) and bundles of frames.

Offers and confirmations are sealed to the intent's sealing key; acceptances and
countersignatures to the vendor's. The bus sees only ciphertext of a size.
"""

from __future__ import annotations

import msgspec
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ._errors import Malformed, Oversized
from ._messages import Bundle
from ._strict_json import malformed

__all__ = ["MAX_SEALED_BYTES", "pack", "seal", "unpack", "unseal"]

MAX_SEALED_BYTES = 128 * 1024
_bundle_decoder = msgspec.json.Decoder(Bundle)
_encoder = msgspec.json.Encoder()


def seal(recipient: str | PublicKey, data: bytes) -> bytes:
    """Seal ``data`` so that only the holder of ``recipient``'s private key can read it."""
    pk = PublicKey(bytes.fromhex(recipient)) if isinstance(recipient, str) else recipient
    return bytes(SealedBox(pk).encrypt(data))


def unseal(keys: PrivateKey | list[PrivateKey], box: bytes, where: str = "$") -> bytes:
    """Open a sealed box with any of ``keys`` (a vendor may hold several during rotation)."""
    if len(box) > MAX_SEALED_BYTES:
        raise Oversized(f"at most {MAX_SEALED_BYTES} bytes", f"{len(box)} bytes", where)
    for k in keys if isinstance(keys, list) else [keys]:
        try:
            return bytes(SealedBox(k).decrypt(box))
        except CryptoError:
            continue
    raise Malformed(
        "a box sealed to this recipient's key", f"{len(box)} bytes that do not open", where
    )


def pack(*frames: bytes) -> bytes:
    return _encoder.encode(Bundle(list(frames)))


def unpack(data: bytes, count: int, where: str = "$") -> list[bytes]:
    """Decode a bundle and insist on exactly ``count`` frames."""
    try:
        frames = _bundle_decoder.decode(data).frames
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise malformed(exc, "a bundle of frames", where) from None
    if len(frames) != count:
        raise Malformed(f"a bundle of {count} frames", f"{len(frames)} frames", f"{where}.frames")
    return frames
