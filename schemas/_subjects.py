"""The subject layout of protocol version 1, in one place.

=====================================  =======================================================
``ic.v1.intent.<category tokens>``     intents, routed by category: ``outdoor/tents`` travels
                                       on ``ic.v1.intent.outdoor.tents``
``ic.v1.reply.<token>``                replies to one intent or one acceptance; the token is
                                       fresh random and says nothing about the person
``ic.v1.vendor.<vendor_id>.order``     acceptances (request/reply), sealed to the vendor
``ic.v1.vendor.<vendor_id>.receipt``   countersigned receipts (request/reply)
``ic.v1.vendor.<vendor_id>.cancel``    cancellations (request/reply)
``ic.v1.profile.<vendor_id>``          a vendor's signed profile (published on start)
=====================================  =======================================================

No subject carries anything that identifies a person. Headers are not used.
"""

from __future__ import annotations

import os

__all__ = [
    "INTENT_ROOT",
    "REPLY_ROOT",
    "category_of",
    "intent_subject",
    "new_reply_subject",
    "profile_subject",
    "vendor_intent_subscriptions",
    "vendor_subject",
]

PREFIX = "ic.v1"
INTENT_ROOT = f"{PREFIX}.intent"
REPLY_ROOT = f"{PREFIX}.reply"


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


def new_reply_subject() -> str:
    """A fresh reply subject: 128 random bits, nothing else."""
    return f"{REPLY_ROOT}.{os.urandom(16).hex()}"


def vendor_subject(vendor_id: str, endpoint: str) -> str:
    if endpoint not in ("order", "receipt", "cancel"):
        raise ValueError(f"expected endpoint order, receipt or cancel, got {endpoint!r}")
    return f"{PREFIX}.vendor.{vendor_id}.{endpoint}"


def profile_subject(vendor_id: str) -> str:
    return f"{PREFIX}.profile.{vendor_id}"
