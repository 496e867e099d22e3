"""The subject layout of protocol version 1, in one place.

=====================================  =======================================================
``ic.v1.intent.<category tokens>``     intents, routed by category: ``outdoor/tents`` travels
                                       on ``ic.v1.intent.outdoor.tents``
``ic.v1.reply.[<conn>.]<token>``       replies to one intent or one acceptance; the tokens are
                                       fresh random and say nothing about the person (``conn``
                                       is one of the reply tokens the bus granted this
                                       connection, see :func:`reply_tokens`)
``ic.v1.vendor.<vendor_id>.order``     acceptances (request/reply), sealed to the vendor
``ic.v1.vendor.<vendor_id>.receipt``   countersigned receipts (request/reply)
``ic.v1.vendor.<vendor_id>.cancel``    cancellations (request/reply)
``ic.v1.profile.<vendor_id>``          a vendor's signed profile (published on start)
=====================================  =======================================================

No subject carries anything that identifies a person. Headers are not used.

Reply tokens on a bus with per-connection permissions (the auth callout): a person's
connection makes a fresh ephemeral Ed25519 key, proves in its connect token that it holds it
(:func:`reply_key_proof_bytes`, signed over the server's nonce for this very connection), and
is granted ``ic.v1.reply.<t>.>`` for the :data:`REPLY_TOKENS` tokens ``t`` derived from that
key (:func:`reply_tokens`). A token is a one-way hash of the key, so learning one from an
intent gives nobody a way to be granted it.
"""

from __future__ import annotations

import hashlib
import os
import re

__all__ = [
    "INTENT_ROOT",
    "REPLY_KEY_PROOF_TAG",
    "REPLY_ROOT",
    "REPLY_TOKENS",
    "category_of",
    "connection_reply_prefix",
    "intent_subject",
    "is_reply_subject",
    "new_reply_subject",
    "profile_subject",
    "reply_key_proof_bytes",
    "reply_tokens",
    "vendor_intent_subscriptions",
    "vendor_subject",
]

PREFIX = "ic.v1"
INTENT_ROOT = f"{PREFIX}.intent"
REPLY_ROOT = f"{PREFIX}.reply"
# Reply tokens granted per connection: token 0 is the connection's request inbox, the others
# one intent each; a connection that used them all reconnects with a fresh ephemeral key.
REPLY_TOKENS = 32
REPLY_KEY_PROOF_TAG = b"intentcast/1 bus-reply-key\n"
_TOKEN_TAG = b"intentcast/1 reply-token\n"
_HEX32 = "[0-9a-f]{32}"
_REPLY_SUBJECT = re.compile(rf"{re.escape(REPLY_ROOT)}\.{_HEX32}(?:\.{_HEX32})?")


def intent_subject(category: str) -> str:
    """``outdoor/tents`` -> ``ic.v1.intent.outdoor.tents``."""
    return f"{INTENT_ROOT}.{category.replace('/', '.')}"


def category_of(subject: str) -> str:
    """Inverse of :func:`intent_subject`."""
    if not subject.startswith(INTENT_ROOT + "."):
        raise ValueError(f"expected a subject under {INTENT_ROOT}., got {subject!r}")
    return subject[len(INTENT_ROOT) + 1 :].replace(".", "/")


def vendor_intent_subscriptions(category: str) -> list[str]:
    """A vendor of ``outdoor`` hears ``outdoor`` and every category below it."""
    s = intent_subject(category)
    return [s, s + ".>"]


def new_reply_subject(prefix: str = REPLY_ROOT) -> str:
    """A fresh reply subject: 128 random bits under ``prefix`` (on a bus with per-connection
    permissions, one of the connection's own ``ic.v1.reply.<reply token>``), nothing else."""
    if prefix != REPLY_ROOT and not prefix.startswith(REPLY_ROOT + "."):
        raise ValueError(f"expected a prefix under {REPLY_ROOT}, got {prefix!r}")
    return f"{prefix}.{os.urandom(16).hex()}"


def is_reply_subject(subject: str) -> bool:
    """Is ``subject`` a well-formed reply subject, ``ic.v1.reply.<32 hex>`` or
    ``ic.v1.reply.<32 hex>.<32 hex>``, as :func:`new_reply_subject` makes them? Nothing
    else (an order endpoint, an intent subject, a wildcard) is a place to send an offer."""
    return _REPLY_SUBJECT.fullmatch(subject) is not None


def connection_reply_prefix(token: str) -> str:
    """The reply prefix ``ic.v1.reply.<token>`` of one reply token (32 hex digits)."""
    if len(token) != 32 or token.strip("0123456789abcdef"):
        raise ValueError(f"expected a token of 32 lowercase hex digits, got {token!r}")
    return f"{REPLY_ROOT}.{token}"


def reply_tokens(ephemeral_key: bytes, count: int = REPLY_TOKENS) -> list[str]:
    """The reply tokens of a connection's ephemeral Ed25519 public key (32 raw bytes):
    ``SHA-256("intentcast/1 reply-token\\n" || key || i as one byte)``, first 16 bytes in hex,
    for i in 0..count-1. The client and the auth callout both derive them."""
    if len(ephemeral_key) != 32:
        raise ValueError(f"expected a 32-byte public key, got {len(ephemeral_key)} bytes")
    if not 0 < count <= 256:
        raise ValueError(f"expected 1 to 256 tokens, got {count}")
    return [
        hashlib.sha256(_TOKEN_TAG + ephemeral_key + bytes([i])).digest()[:16].hex()
        for i in range(count)
    ]


def reply_key_proof_bytes(credential: str, nonce: str) -> bytes:
    """What a person's connection signs with its ephemeral key: the domain tag, the public
    nkey of the credential it connects with and the server's nonce for this connection."""
    return REPLY_KEY_PROOF_TAG + credential.encode() + b"\n" + nonce.encode()


def vendor_subject(vendor_id: str, endpoint: str) -> str:
    if endpoint not in ("order", "receipt", "cancel"):
        raise ValueError(f"expected endpoint order, receipt or cancel, got {endpoint!r}")
    return f"{PREFIX}.vendor.{vendor_id}.{endpoint}"


def profile_subject(vendor_id: str) -> str:
    return f"{PREFIX}.profile.{vendor_id}"
