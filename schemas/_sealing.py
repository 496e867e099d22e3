"""Sealed boxes (X25519 + XSalsa20-Poly1305, anonymous sender) and bundles of frames.

Offers and confirmations are sealed to the intent's sealing key; acceptances and
countersignatures to the vendor's. The bus sees only ciphertext of a size, and that size is
one of a few buckets (:data:`BOX_SIZES`: 1, 2, 4 ... 128 KiB): inside the box the plaintext is
followed by ``0x80`` and as many ``0x00`` as fill the box to the smallest bucket that holds it,
so the size says not which vendor answered. The receiver strips the padding; a box whose
plaintext ends in neither (an unpadded box of an older sender: a bundle always ends in ``}``)
is read as it is.
"""

from __future__ import annotations

import msgspec
from nacl.bindings import crypto_box_SEALBYTES
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ._errors import Malformed, Oversized
from ._messages import Bundle
from ._strict_json import malformed

__all__ = ["BOX_SIZES", "MAX_SEALED_BYTES", "pack", "seal", "unpack", "unseal"]

MAX_SEALED_BYTES = 128 * 1024
BOX_SIZES = tuple(1024 << i for i in range(8))  # 1 KiB ... 128 KiB: the only sizes sent
_PAD_MARK = b"\x80"
_bundle_decoder = msgspec.json.Decoder(Bundle)
_encoder = msgspec.json.Encoder()


def _pad(data: bytes) -> bytes:
    need = len(data) + len(_PAD_MARK) + crypto_box_SEALBYTES
    for size in BOX_SIZES:
        if need <= size:
            return data + _PAD_MARK + bytes(size - need)
    raise Oversized(
        f"at most {MAX_SEALED_BYTES - crypto_box_SEALBYTES - 1} bytes to seal",
        f"{len(data)} bytes",
        "$",
    )


def _unpad(padded: bytes) -> bytes:
    body = padded.rstrip(b"\x00")
    if body.endswith(_PAD_MARK):
        return body[: -len(_PAD_MARK)]
    return padded  # an unpadded box (an older sender): its bundle ends in "}"


def seal(recipient: str | PublicKey, data: bytes) -> bytes:
    """Seal ``data``, padded to the next of :data:`BOX_SIZES`, so that only the holder of
    ``recipient``'s private key can read it and the box's size is one of a few."""
    pk = PublicKey(bytes.fromhex(recipient)) if isinstance(recipient, str) else recipient
    return bytes(SealedBox(pk).encrypt(_pad(data)))


def unseal(keys: PrivateKey | list[PrivateKey], box: bytes, where: str = "$") -> bytes:
    """Open a sealed box with any of ``keys`` (a vendor may hold several during rotation)."""
    if len(box) > MAX_SEALED_BYTES:
        raise Oversized(f"at most {MAX_SEALED_BYTES} bytes", f"{len(box)} bytes", where)
    for k in keys if isinstance(keys, list) else [keys]:
        try:
            plain = bytes(SealedBox(k).decrypt(box))
        except CryptoError:
            continue
        return _unpad(plain)
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
