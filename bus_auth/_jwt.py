"""NATS JWTs (alg ed25519-nkey): the format auth callout speaks. Encode, decode, verify."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import nkeys  # type: ignore[import-untyped]
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

__all__ = ["JwtError", "decode", "encode", "public_key_bytes", "verify_nonce_signature"]

_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


class JwtError(ValueError):
    pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_bytes(public: str) -> bytes:
    """The 32 raw bytes of an nkey public key such as ``U...`` or ``N...``."""
    try:
        raw = base64.b32decode(public + "=" * (-len(public) % 8))
    except ValueError as exc:
        raise JwtError(f"expected an nkey public key, got {public[:12]!r}") from exc
    if len(raw) != 35:
        raise JwtError(f"expected an nkey public key of 56 characters, got {len(public)}")
    return raw[1:33]


def encode(claims: dict[str, Any], signer: nkeys.KeyPair) -> str:
    """Sign ``claims`` (``iss`` and ``iat`` are filled in) as a NATS JWT."""
    body = dict(claims)
    body.setdefault("iat", int(time.time()))
    body["iss"] = signer.public_key.decode()
    body["jti"] = ""
    digest = hashlib.new("sha512_256", json.dumps(body, separators=(",", ":")).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    head = _b64url(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    sig = signer.sign(f"{head}.{payload}".encode())
    return f"{head}.{payload}.{_b64url(sig)}"


def decode(token: str) -> dict[str, Any]:
    """Verify a NATS JWT against the key named in its own ``iss`` and return its claims."""
    try:
        head, payload, sig = token.split(".")
        header = json.loads(_unb64url(head))
        claims: dict[str, Any] = json.loads(_unb64url(payload))
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("expected a JWT of three base64url parts") from exc
    if header.get("alg") not in ("ed25519-nkey", "ed25519"):
        raise JwtError(f"expected alg ed25519-nkey, got {header.get('alg')!r}")
    try:
        VerifyKey(public_key_bytes(str(claims.get("iss", "")))).verify(
            f"{head}.{payload}".encode(), _unb64url(sig)
        )
    except BadSignatureError as exc:
        raise JwtError("the JWT's signature does not match its issuer") from exc
    return claims


def verify_nonce_signature(public: str, nonce: str, sig: str) -> bool:
    """Did the holder of nkey ``public`` sign the server's ``nonce`` (as nats clients do)?"""
    try:
        raw = base64.b64decode(sig) if "-" not in sig and "_" not in sig else _unb64url(sig)
        VerifyKey(public_key_bytes(public)).verify(nonce.encode(), raw)
        return True
    except (BadSignatureError, ValueError, JwtError):
        return False
