"""The watches an export carries (``watches.sqlite``, ``_watching``): which intents are being
watched, until when and in what state, and the notices raised about them, so a home moved to
a new machine keeps watching and keeps its notice history.

An import checks each watch against the intents the file carries (a watch of an intent the
file does not hold, a state the agent does not know, a reply subject other than the
intent's own) and refuses the file in one line naming the first problems."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

import schemas

from ._records import IntentRow
from ._watch_book import OPEN_STATES, WATCHES_FILE, WatchBook

__all__ = [
    "NoticeEntry",
    "WatchEntry",
    "Watches",
    "read_watches",
    "restore_watches",
    "watch_problems",
]

STATES = frozenset((*OPEN_STATES, "fulfilled", "expired", "cancelled", "failed"))
NOTICE_KINDS = frozenset(("offer", "dropped", "closed"))


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    pass


class WatchEntry(_Row):
    intent_id: str
    reply_subject: str
    created: str
    expires: str
    state: str


class NoticeEntry(_Row):
    at: str
    intent_id: str
    kind: str
    ref: str
    body: dict[str, Any]


class Watches(_Row):
    watches: list[WatchEntry]
    notices: list[NoticeEntry]


def read_watches(home_path: Path) -> Watches | None:
    """The home's watches and notices, in the order they were made (None: it has none)."""
    f = home_path / WATCHES_FILE
    if not f.exists():
        return None
    book = WatchBook(f)
    try:
        watches = [WatchEntry(**vars(w)) for w in book.watches(tuple(sorted(STATES)))]
        notices = [
            NoticeEntry(at=n.at, intent_id=n.intent_id, kind=n.kind, ref=n.ref, body=n.body)
            for n in book.notices()
        ]
    finally:
        book.close()
    return Watches(watches, notices)


def watch_problems(carried: Watches, intents: Sequence[IntentRow]) -> list[str]:
    """What does not hold in carried watches, against the intents the same file carries."""
    subjects = {i.id: _reply_subject(i) for i in intents}
    problems = []
    for w in carried.watches:
        if w.intent_id not in subjects:
            problems.append(f"watch {w.intent_id[:8]}: no such intent in the file")
        elif subjects[w.intent_id] not in (None, w.reply_subject):
            problems.append(f"watch {w.intent_id[:8]}: a reply subject not the intent's own")
        if w.state not in STATES:
            problems.append(
                f"watch {w.intent_id[:8]}: state {w.state!r} is not one of {sorted(STATES)}"
            )
    watched = {w.intent_id for w in carried.watches}
    for n in carried.notices:
        if n.intent_id not in watched:
            problems.append(f"notice {n.kind} {n.ref[:8]}: of an intent not watched")
        if n.kind not in NOTICE_KINDS:
            problems.append(
                f"notice {n.ref[:8]}: kind {n.kind!r} is not one of {sorted(NOTICE_KINDS)}"
            )
    return problems[:5]


def _reply_subject(intent: IntentRow) -> str | None:
    """The reply subject the intent's signed frame names (None: the frame does not open; the
    file's frames are verified on their own, and such a file is refused there)."""
    try:
        return schemas.open_intent(intent.wire, now=None, replay=None).msg.reply_subject
    except schemas.ProtocolError:
        return None


def restore_watches(home_path: Path, carried: Watches) -> None:
    """Write ``watches.sqlite`` in the new home: every watch, then every notice in order,
    in one transaction."""
    book = WatchBook(home_path / WATCHES_FILE)
    try:
        book.db.execute("BEGIN IMMEDIATE")
        book.db.executemany(
            "INSERT INTO watches VALUES (?, ?, ?, ?, ?)",
            [(w.intent_id, w.reply_subject, w.created, w.expires, w.state)
             for w in carried.watches],
        )  # fmt: skip
        book.db.executemany(
            "INSERT INTO notices (at, intent_id, kind, ref, body) VALUES (?, ?, ?, ?, ?)",
            [(n.at, n.intent_id, n.kind, n.ref, json.dumps(n.body))
             for n in carried.notices],
        )  # fmt: skip
        book.db.execute("COMMIT")
    finally:
        book.close()
