"""Watched intents: an intent that stays open for days, kept in a JetStream stream so that
vendors that start later, or were down, still hear it.

A watched intent is an ordinary signed intent whose lifetime is one of
:data:`WATCH_LIFETIMES` (longer than any a one-shot ``want`` gets). It is published to
``ic.v1.watch.<bucket>.<category tokens>`` (:func:`watch_subject`), where ``<bucket>`` names
its lifetime (``1d``, ``3d``, ``7d``, ``14d``); each bucket is one stream
(:func:`watch_stream`) whose ``max_age`` is that lifetime, so the server forgets an intent
about when it expires. A vendor reads the streams with one durable consumer per bucket,
named after its queue group and shared by its replicas, and verifies a watched intent as if
it had come on :func:`intent_subject` (:func:`intent_subject_of_watch` maps one to the other).
"""

from __future__ import annotations

from datetime import timedelta

from ._subjects import INTENT_ROOT, PREFIX

__all__ = [
    "WATCH_LIFETIMES",
    "WATCH_ROOT",
    "intent_subject_of_watch",
    "watch_bucket",
    "watch_lifetime",
    "watch_stream",
    "watch_subject",
]

WATCH_ROOT = f"{PREFIX}.watch"
# The only lifetimes a watched intent has, for the same reason as INTENT_LIFETIMES: its
# lifetime says nothing about how long its person chose to watch.
WATCH_LIFETIMES = tuple(timedelta(days=d) for d in (1, 3, 7, 14))


def watch_lifetime(seconds: float) -> timedelta:
    """The smallest of :data:`WATCH_LIFETIMES` that covers ``seconds`` (14 days at most)."""
    for lifetime in WATCH_LIFETIMES:
        if seconds <= lifetime.total_seconds():
            return lifetime
    return WATCH_LIFETIMES[-1]


def watch_bucket(lifetime: timedelta) -> str:
    """``3 days`` -> ``3d``; a lifetime outside :data:`WATCH_LIFETIMES` is a ValueError."""
    if lifetime not in WATCH_LIFETIMES:
        raise ValueError(
            f"expected a watch lifetime of {', '.join(f'{w.days}d' for w in WATCH_LIFETIMES)},"
            f" got {lifetime}"
        )
    return f"{lifetime.days}d"


def watch_stream(lifetime: timedelta) -> str:
    """The JetStream stream of one lifetime bucket: ``IC_WATCH_3D``."""
    return f"IC_WATCH_{watch_bucket(lifetime).upper()}"


def watch_subject(category: str, lifetime: timedelta) -> str:
    """``outdoor/tents``, 3 days -> ``ic.v1.watch.3d.outdoor.tents``."""
    return f"{WATCH_ROOT}.{watch_bucket(lifetime)}.{category.replace('/', '.')}"


def intent_subject_of_watch(subject: str) -> str:
    """``ic.v1.watch.3d.outdoor.tents`` -> ``ic.v1.intent.outdoor.tents``; anything that is
    not a watch subject of a known bucket is a ValueError."""
    parts = subject.split(".")
    buckets = {watch_bucket(w) for w in WATCH_LIFETIMES}
    if not subject.startswith(WATCH_ROOT + ".") or len(parts) < 5 or parts[3] not in buckets:
        raise ValueError(f"expected a subject {WATCH_ROOT}.<bucket>.<category>, got {subject!r}")
    return f"{INTENT_ROOT}.{'.'.join(parts[4:])}"
