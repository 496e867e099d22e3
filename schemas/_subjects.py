"""The subject layout of protocol version 1, in one place.

=====================================  =======================================================
``ic.v1.intent.<category tokens>``     intents, routed by category: ``outdoor/tents`` travels
                                       on ``ic.v1.intent.outdoor.tents``
``ic.v1.reply.[<conn>.]<token>``       replies to one intent or one acceptance; the tokens are
                                       fresh random and say nothing about the person (``conn``
                                       is one of the reply tokens the bus granted this
                                       connection, see ``runtime.reply_tokens``)
``ic.v1.vendor.<vendor_id>.order``     acceptances (request/reply), sealed to the vendor
``ic.v1.vendor.<vendor_id>.receipt``   countersigned receipts (request/reply)
``ic.v1.vendor.<vendor_id>.cancel``    cancellations (request/reply)
``ic.v1.vendor.<vendor_id>.details``   updates of the person's details (request/reply)
``ic.v1.vendor.<vendor_id>.erase``     erasure requests (request/reply)
``ic.v1.profile.<vendor_id>``          a vendor's signed profile (published on start)
``ic.v1.registry.<registrar>.register`` registration requests to one registrar
                                       (request/reply); entries live in a JetStream
                                       key-value bucket, not on a subject
=====================================  =======================================================

No subject carries anything that identifies a person. Headers are not used.

On a bus with per-connection permissions (the auth callout) a reply token is one of those
the bus granted the connection: a one-way hash of the connection's own ephemeral key, which
the connection proves when it connects (``runtime.reply_tokens``, deploy/README.md), so
learning one from an intent gives nobody a way to be granted it.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "INTENT_ROOT",
    "REPLY_ROOT",
    "VENDOR_ENDPOINTS",
    "category_of",
    "connection_reply_prefix",
    "intent_subject",
    "is_reply_subject",
    "new_reply_subject",
    "profile_subject",
    "registrar_inbox",
    "registry_subject",
    "vendor_inbox",
    "vendor_intent_subscriptions",
    "vendor_subject",
]

PREFIX = "ic.v1"
INTENT_ROOT = f"{PREFIX}.intent"
REPLY_ROOT = f"{PREFIX}.reply"
_HEX32 = "[0-9a-f]{32}"
VENDOR_ENDPOINTS = ("order", "receipt", "cancel", "details", "erase")
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


def vendor_subject(vendor_id: str, endpoint: str) -> str:
    if endpoint not in VENDOR_ENDPOINTS:
        raise ValueError(f"expected an endpoint of {VENDOR_ENDPOINTS}, got {endpoint!r}")
    return f"{PREFIX}.vendor.{vendor_id}.{endpoint}"


def vendor_inbox(vendor_id: str) -> str:
    """Where a vendor hears the replies to its own requests (registration, JetStream): under
    its own subjects, which a secured bus lets only it subscribe to, and nobody else publish."""
    return f"{PREFIX}.vendor.{vendor_id}.inbox"


def registrar_inbox(registrar_id: str) -> str:
    """Where a registrar hears the replies to its own requests (its bucket's JetStream)."""
    return registry_subject(registrar_id).removesuffix(".register") + ".inbox"


def profile_subject(vendor_id: str) -> str:
    return f"{PREFIX}.profile.{vendor_id}"


def registry_subject(registrar_id: str) -> str:
    """Where vendors ask the registrar whose key is ``registrar_id`` to register them."""
    if len(registrar_id) != 64 or registrar_id.strip("0123456789abcdef"):
        raise ValueError(
            f"expected a registrar key of 64 lowercase hex digits, got {registrar_id!r}"
        )
    return f"{PREFIX}.registry.{registrar_id}.register"
