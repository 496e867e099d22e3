"""The person's friends: the people whose ratings they follow, and their own friend identity.

Kept in ``friends.sqlite`` in the home (WAL, ``synchronous=FULL``), beside the agent's store
and apart from it, because it holds long-lived secrets that no intent shares:

- ``me``: at most one row, the person's friend identity (the seed of ``F`` and the seal
  secret ``k``, ``schemas.FriendIdentity``), made the first time they ask for their card;
- ``friends``: who they follow, by a name of their choosing, with that friend's ``F`` and
  ``k`` from the card the friend gave them.

What a card is and what the seal on a rating proves is ``schemas._friends``'; how friends'
ratings weigh is :class:`agent.NetworkTrust`'s."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import structlog

import schemas
from runtime import open_db

__all__ = ["FriendBook", "FriendError"]

log = structlog.get_logger("intentcast.agent.friends")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS me (
  id INTEGER PRIMARY KEY CHECK (id = 1), seed BLOB NOT NULL, secret BLOB NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS friends (
  name TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, secret BLOB NOT NULL, added TEXT NOT NULL
);
"""
MAX_NAME = 80


class FriendError(Exception):
    """A card that does not load, a name taken or unknown: one line for the person."""


class FriendBook:
    """``with FriendBook(home / "friends.sqlite") as book:`` then ``card``, ``add``,
    ``remove``, ``friends``, ``identity``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, _SCHEMA)

    def __enter__(self) -> FriendBook:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.db.close()

    def identity(self) -> schemas.FriendIdentity | None:
        """The person's own friend identity, if they ever made a card."""
        row = self.db.execute("SELECT seed, secret FROM me").fetchone()
        if row is None:
            return None
        return schemas.FriendIdentity(bytes(row["seed"]), bytes(row["secret"]))

    def card(self, name: str, *, new: bool = False) -> schemas.FriendCard:
        """The person's card, to hand to those who should recognise their ratings; the first
        card (or one asked for ``new``) makes their friend identity, stored before it is
        handed out. A new identity is how a person stops a follower they no longer trust:
        old cards no longer recognise their new ratings."""
        checked = _checked_name(name, "your card's name")
        if new:
            self.db.execute("DELETE FROM me")
        identity = self.identity()
        if identity is None:
            identity = schemas.FriendIdentity.generate()
            self.db.execute(
                "INSERT INTO me (id, seed, secret, created) VALUES (1, ?, ?, ?)",
                (identity.seed, identity.secret, datetime.now(UTC).isoformat()),
            )
            log.info("friends.identity_made", key=identity.key[:16])
        return identity.card(checked)

    def add(self, text: str, *, name: str | None = None, where: str = "card") -> schemas.Friend:
        """Follow the friend of a card's ``text`` (under ``name``, else the card's own)."""
        try:
            card = schemas.FriendCard.parse(text, where)
        except schemas.ProtocolError as exc:
            raise FriendError(f"{where}: not a friend card: {exc}") from None
        friend = card.friend(_checked_name(name or card.name, "the friend's name"))
        me = self.identity()
        if me is not None and me.key == friend.key:
            raise FriendError(f"{where}: that is your own card; give it to your friends instead")
        try:
            self.db.execute(
                "INSERT INTO friends (name, key, secret, added) VALUES (?, ?, ?, ?)",
                (friend.name, friend.key, friend.secret, datetime.now(UTC).isoformat()),
            )
        except sqlite3.IntegrityError:
            same = self.db.execute("SELECT name FROM friends WHERE key = ?", (friend.key,))
            row = same.fetchone()
            if row is not None:
                raise FriendError(
                    f"{where}: you already follow this friend as {row['name']!r}"
                ) from None
            raise FriendError(
                f"{where}: you already follow someone called {friend.name!r}; pass --name"
            ) from None
        log.info("friends.added", name=friend.name, key=friend.key[:16])
        return friend

    def remove(self, name: str) -> None:
        if self.db.execute("DELETE FROM friends WHERE name = ?", (name,)).rowcount == 0:
            known = ", ".join(f.name for f in self.friends()) or "nobody yet"
            raise FriendError(f"expected the name of a friend you follow ({known}), got {name!r}")
        log.info("friends.removed", name=name)

    def friends(self) -> list[schemas.Friend]:
        rows = self.db.execute("SELECT name, key, secret FROM friends ORDER BY name").fetchall()
        return [schemas.Friend(r["name"], r["key"], bytes(r["secret"])) for r in rows]


def _checked_name(name: str, what: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise FriendError(
            f"{what}: expected 1 to {MAX_NAME} printable characters, got {name[:MAX_NAME]!r}"
        )
    return cleaned
