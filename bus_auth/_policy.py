"""Who may connect, and with what permissions: written by deploy/nats/make_credentials.py
(``--callout``) as JSON; public keys only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from runtime import reply_key_proof_bytes, reply_tokens

from ._grants import person_publish, registrar_grant, vendor_publish

__all__ = ["Policy", "RegistrarGrant", "VendorGrant", "grant_for", "person_reply_grant"]

# "<ephemeral Ed25519 public key, 64 hex>.<its signature over reply_key_proof_bytes, 128 hex>"
_PROOF = re.compile(r"^([0-9a-f]{64})\.([0-9a-f]{128})$")
REPLY_ROOT = "ic.v1.reply"


class VendorGrant(msgspec.Struct, frozen=True):
    name: str
    vendor_id: str
    categories: list[str]


class RegistrarGrant(msgspec.Struct, frozen=True):
    name: str
    key: str  # the registrar's signing key (hex): its subjects are ic.v1.registry.<key>.*


class Policy(msgspec.Struct, frozen=True):
    account: str = "MARKET"
    persons: dict[str, str] = {}  # nkey public key -> name
    vendors: dict[str, VendorGrant] = {}
    ops: dict[str, str] = {}
    registrars: dict[str, RegistrarGrant] = {}

    @classmethod
    def load(cls, path: Path) -> Policy:
        return msgspec.json.decode(path.read_bytes(), type=cls)


def person_reply_grant(nkey: str, token: str, nonce: str) -> list[str] | str:
    """The subscribe grant of a person's connection, or the reason it gets none.

    ``token`` (the connect token) must be ``<ephemeral key>.<signature>``: a fresh Ed25519
    key of the connection's own and its signature over
    :func:`runtime.reply_key_proof_bytes` of the credential ``nkey`` and this connection's
    ``nonce``. The grant is ``ic.v1.reply.<t>.>`` for each reply token ``t`` derived from
    that key, so only the holder of the key is ever granted them: a token learnt from an
    intent is a hash of the key, and the signature is over this server's nonce alone."""
    m = _PROOF.match(token)
    if not nonce:
        return "a person's connection must be asked to sign a nonce"
    if m is None:
        return "a person's connection must prove an ephemeral reply key (key.signature)"
    key = bytes.fromhex(m.group(1))
    try:
        VerifyKey(key).verify(reply_key_proof_bytes(nkey, nonce), bytes.fromhex(m.group(2)))
    except (BadSignatureError, ValueError):
        return "the reply key's signature does not match this connection"
    return [f"{REPLY_ROOT}.{t}.>" for t in reply_tokens(key)]


def grant_for(
    policy: Policy, nkey: str, token: str, nonce: str
) -> tuple[str, dict[str, Any]] | str:
    """(name, NATS user permissions) for a verified nkey, or the reason it gets none.

    A person's connection may receive only on the reply subjects of its own ephemeral key
    (:func:`person_reply_grant`), so nobody, not even another holder of the same person
    credential, can listen to replies meant for another connection."""
    if nkey in policy.vendors:
        v = policy.vendors[nkey]
        subs = []
        for c in v.categories:
            s = "ic.v1.intent." + c.replace("/", ".")
            subs += [s, s + ".>"]
        subs.append(f"ic.v1.vendor.{v.vendor_id}.>")  # its endpoints and its inbox
        return v.name, {
            "pub": {"allow": vendor_publish(v.vendor_id)},
            "sub": {"allow": subs},
            "resp": {"max": 1, "ttl": 120_000_000_000},
        }
    if nkey in policy.persons:
        replies = person_reply_grant(nkey, token, nonce)
        if isinstance(replies, str):
            return replies
        return policy.persons[nkey], {
            "pub": {"allow": person_publish()},
            "sub": {"allow": replies},
        }
    if nkey in policy.registrars:
        r = policy.registrars[nkey]
        return r.name, registrar_grant(r.key)
    if nkey in policy.ops:
        return policy.ops[nkey], {"pub": {"allow": [">"]}, "sub": {"allow": [">"]}}
    return "unknown nkey"
