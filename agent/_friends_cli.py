"""``intentcast friends show|add FILE|remove NAME|card``: the person's edge to their
:class:`FriendBook` (parse, call, print; no rules of its own)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._arguments import UsageError
from ._export import ExportError, write_private_file
from ._friends import FriendBook, FriendError
from ._home import AgentConfig, Home
from ._screen import shown

__all__ = ["followed", "friends_command", "friends_path"]

MAX_CARD_BYTES = 4096


def friends_path(home: Home) -> Path:
    return home.path / "friends.sqlite"


def followed(home: Home) -> FriendBook:
    """The person's friend book (who they follow, their own identity)."""
    return FriendBook(friends_path(home))


def _read_card(name: str) -> str:
    try:
        data = sys.stdin.buffer.read(MAX_CARD_BYTES + 1) if name == "-" else _read(Path(name))
    except OSError as exc:
        raise UsageError(f"{name}: {exc.strerror or exc}") from None
    if len(data) > MAX_CARD_BYTES:
        raise UsageError(f"{name}: expected a friend card of one short line, got a larger file")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{name}: expected a friend card (text), got binary data") from None


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(MAX_CARD_BYTES + 1)


def friends_command(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    with followed(home) as book:
        try:
            return _act(args, book, cfg)
        except FriendError as exc:
            raise UsageError(str(exc)) from None


def _act(args: argparse.Namespace, book: FriendBook, cfg: AgentConfig) -> int:
    action = args.friends_command
    if action == "card":
        text = book.card(args.name or cfg.person.name or "a friend", new=args.new).text() + "\n"
        if args.out is None:
            print(text, end="")
            return 0
        try:
            write_private_file(args.out, text.encode())
        except ExportError as exc:
            raise UsageError(str(exc)) from None
        print(
            f"wrote your friend card to {args.out}: hand it only to people whose agents should"
            " recognise your ratings (it holds the secret that opens them)",
            file=sys.stderr,
        )
    elif action == "add":
        f = book.add(_read_card(args.file), name=args.name, where=args.file)
        print(f"following {shown(f.name)} (friend key {f.key[:16]}...): their ratings count most")
    elif action == "remove":
        book.remove(args.name)
        print(f"no longer following {shown(args.name)}")
    else:
        me = book.identity()
        friends = book.friends()
        for f in friends:
            print(f"{shown(f.name, 80)}  friend key {f.key[:16]}...")
        if not friends:
            print("you follow nobody yet: `intentcast friends add CARD`")
        if me is not None:
            print(f"your own friend key: {me.key[:16]}... (your ratings carry your friend seal)")
    return 0
