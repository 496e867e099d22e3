"""``intentcast``'s arguments: the parser, and a want's flags (or intent file) turned into
the fields of an intent. Parsing only: what the agent does with them is ``_agent``'s."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import schemas

from ._agent import OUTCOMES
from ._export import PASSPHRASE_ENV
from ._home import AgentConfig
from ._intent_file import IntentFileError, load_intent_file
from ._profile_cli import add_detail_flags, add_profile_command

__all__ = ["UsageError", "intent_fields", "parser"]

T = TypeVar("T")

EXAMPLES = {
    "init": (
        "  intentcast init --name 'Ada Lovelace' --region ES-28 --street 'Calle Mayor 1' \\\n"
        "      --postcode 28013 --city Madrid --country ES --email ada@example.org"
    ),
    "want": (
        "  intentcast want '2-person tent' --category outdoor/tents --max-price 150EUR \\\n"
        "      --by 2026-12-10 --region ES-28 --terms nostalking --wait 3s\n"
        "  intentcast want --from intent.toml --json"
    ),
    "accept": "  intentcast accept 3f9a12c4            # the first characters of an offer id",
    "receipts": "  intentcast receipts --json",
    "history": "  intentcast history",
    "export": (
        "  intentcast export --out my-intentcast.json\n"
        "  intentcast export --out with-keys.json --include-keys   # asks for a passphrase twice"
    ),
    "import": "  intentcast import with-keys.json --home ~/new-agent-home",
    "rate": "  intentcast rate 7c01e2aa --score 5 --outcome delivered",
    "friends": (
        "  intentcast friends card --out me.card    # hand it to a friend out of band\n"
        "  intentcast friends add ada.card          # follow the friend of a card\n"
        "  intentcast friends show | intentcast friends remove Ada"
    ),
    "cancel": "  intentcast cancel 7c01e2aa --reason 'found one nearer'",
    "inbox": "  intentcast inbox                   # what vendors said of your orders (shipped, ...)",
    "delivered": "  intentcast delivered 7c01e2aa      # it arrived: counts for that vendor's trust",
    "sync": "  intentcast sync                    # after an outage: deliver pending countersignatures",
    "bus": "  intentcast bus                     # share one embedded bus on this machine",
    "web": "  intentcast web --port 8765          # then open http://127.0.0.1:8765/",
    "agent": "  intentcast agent                   # keeps watched intents open; serves the app",
    "offers": "  intentcast offers --json           # the offers of your open watched intents",
}


class UsageError(Exception):
    """Bad input from the person: one line, exit 2, no traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 3s, 500ms or 1m, got {text!r}"
        )
    v = float(m.group(1))
    return {"ms": v / 1000, "m": v * 60}.get(m.group(2) or "s", v)


def parser() -> _Parser:
    ap = _Parser(
        prog="intentcast",
        description="Your own agent: cast a purchase intent with your terms; sellers come to you.",
        epilog="examples:\n" + "\n".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--home", type=Path, help="agent home (default: $INTENTCAST_HOME or your user data dir)"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log events to stderr")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def cmd(name: str, helptext: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=helptext,
            description=helptext,
            epilog="example:\n" + EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = cmd("init", "create your agent home: config, terms, store")
    p.add_argument("--name", default="", help="your name, disclosed only to vendors you accept")
    p.add_argument("--region", default="", help="default delivery region, e.g. ES-28")
    add_detail_flags(p)

    p = cmd("want", "cast a purchase intent and rank the offers that come back")
    p.add_argument("description", nargs="?", help="what you want, in a few words")
    p.add_argument(
        "--from", dest="from_file", type=Path, help="read the intent from a TOML or JSON file"
    )
    p.add_argument("--category", help="category path, e.g. outdoor/tents")
    p.add_argument("--max-price", help="the most you will pay in total, e.g. 150EUR")
    p.add_argument("--by", help="wanted-by date, YYYY-MM-DD")
    p.add_argument("--region", help="country and postcode prefix, e.g. ES-28")
    p.add_argument("--quantity", type=int, default=None, help="how many (default 1)")
    p.add_argument(
        "--terms", help=f"a standard agreement: {', '.join(sorted(schemas.ROSTER))}, or none"
    )
    p.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a wanted attribute, repeatable",
    )
    p.add_argument(
        "--wait", type=_duration, default=3.0, help="how long to collect offers (default 3s)"
    )
    p.add_argument("--expect", type=int, help="stop early once this many offers arrived")
    p.add_argument(
        "--watch",
        metavar="DURATION",
        help="keep the intent open this long (12h, 3d, 1w; up to 14d): vendors that start"
        " later still answer, and the running agent (`intentcast agent`) collects the offers",
    )
    p.add_argument(
        "--bus", help="NATS URL(s); default: config, $INTENTCAST_BUS, or the embedded bus"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = cmd("accept", "accept an offer: sealed to that vendor alone, ends in a signed receipt")
    p.add_argument("offer", help="offer id (or its first characters)")
    p.add_argument("--pay", help="payment method (default: the first one the vendor accepts)")
    p.add_argument(
        "--another",
        action="store_true",
        help="order again on an intent that already has an order (one is all it asked for)",
    )
    p.add_argument("--timeout", type=_duration, default=5.0, help="per-try wait for the vendor")
    p.add_argument("--bus", help="NATS URL(s)")
    p.add_argument("--json", action="store_true")

    p = cmd("receipts", "list your receipts, re-verifying every signature")
    p.add_argument("--json", action="store_true")
    p = cmd("history", "your intents, their offers, and what was dropped")
    p.add_argument("--json", action="store_true")
    p = cmd("export", "everything your agent holds, as JSON (format: README, Export and import)")
    p.add_argument("--out", type=Path, help="file to write, owner-only (default: stdout)")
    p.add_argument(
        "--include-keys",
        action="store_true",
        help="include every intent's private keys, sealed under a passphrase, so an import can cancel and accept",
    )
    p.add_argument(
        "--plaintext-keys",
        action="store_true",
        help="with --include-keys: write the keys unencrypted (anyone with the file can sign as you)",
    )
    p.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="PATH",
        help=f"read the passphrase from this file (else ${PASSPHRASE_ENV}, else asked twice)",
    )
    p = cmd("import", "restore an export into a new agent home, verifying every signature first")
    p.add_argument("file", type=Path, help="a file written by `intentcast export`")
    p.add_argument(
        "--home",
        dest="import_home",
        type=Path,
        metavar="NEW",
        help="the new home (must not exist, or be empty)",
    )
    p.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="PATH",
        help=f"read the passphrase from this file (else ${PASSPHRASE_ENV}, else asked)",
    )
    p = cmd("rate", "rate a completed order; it feeds your trust in that vendor")
    p.add_argument("receipt", help="receipt id (or its first characters)")
    p.add_argument("--score", type=int, required=True, choices=range(1, 6), metavar="1-5")
    p.add_argument("--outcome", default="delivered", choices=OUTCOMES)
    p.add_argument(
        "--publish",
        action="store_true",
        help="also publish it to the bus's ratings board, signed with that order's own intent key"
        " (links nothing to your other intents; other people's agents weigh it)",
    )
    p.add_argument("--bus", help="NATS URL(s), with --publish")
    _friends_parser(cmd("friends", "the friends whose ratings you follow, and your own card"))
    p = cmd(
        "cancel",
        "ask the vendor to cancel a confirmed order; it answers, signed (of an order the vendor"
        " cancelled: agree with it, so that it does not count against the vendor)",
    )
    p.add_argument("receipt", help="receipt id (or its first characters)")
    p.add_argument("--reason", default="", help="a few words for the vendor (optional)")
    p.add_argument("--bus", help="NATS URL(s)")
    p.add_argument("--json", action="store_true")
    p = cmd("inbox", "pick up what vendors said of your orders (shipped, delivered, cancelled)")
    p.add_argument("--bus", help="NATS URL(s)")
    p.add_argument("--json", action="store_true")
    p = cmd("delivered", "confirm an order arrived; it counts for your trust in that vendor")
    p.add_argument("receipt", help="receipt id (or its first characters)")
    p.add_argument("--score", type=int, default=5, choices=range(1, 6), metavar="1-5")
    p.add_argument(
        "--publish",
        action="store_true",
        help="also publish it to the ratings board, signed with that order's own intent key",
    )
    p.add_argument("--bus", help="NATS URL(s), with --publish")
    p = cmd("sync", "re-send countersignatures that vendors have not yet acknowledged")
    p.add_argument("--bus", help="NATS URL(s)")
    p = cmd(
        "bus",
        "run an embedded NATS bus that every intentcast command on this machine will use,"
        " until Ctrl-C or SIGTERM (then exit 0; a taken --port is exit 2)",
    )
    p.add_argument("--port", type=int, default=4222)
    add_profile_command(sub)
    for name, helptext in (
        ("web", "open your agent's app (starting the agent if it is not running)"),
        ("agent", "run your agent: watched intents stay open, offers are collected and notified"),
    ):
        p = cmd(name, helptext + ", until Ctrl-C or SIGTERM")
        p.add_argument("--port", type=int, default=8765, help="the app's port (0: any free one)")
        p.add_argument(
            "--host", default="127.0.0.1", help="address to bind (default: this machine only)"
        )
        p.add_argument("--bus", help="NATS URL(s)")
        p.add_argument(
            "--passphrase-file",
            type=Path,
            metavar="PATH",
            help="lock the app behind the passphrase in this file (an empty file unlocks it)",
        )
        p.add_argument(
            "--inbox-every", type=_seconds, default=60.0, metavar="SECONDS",
            help="pick up what vendors said of your orders this often (default 60)",
        )  # fmt: skip
        p.add_argument(
            "--retry-every", type=_seconds, default=30.0, metavar="SECONDS",
            help="first wait before sending again what vendors did not answer; doubles each"
            " round they stay silent, up to an hour (default 30)",
        )  # fmt: skip
    p = cmd("offers", "the offers of your open watched intents, best first, and what was dropped")
    p.add_argument("--all", action="store_true", help="closed intents too")
    p.add_argument("--json", action="store_true")
    return ap


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.1 <= v <= 86400:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 86400 seconds, got {text!r}")
    return v


def _friends_parser(p: argparse.ArgumentParser) -> None:
    fs = p.add_subparsers(dest="friends_command", required=True, metavar="ACTION")
    fs.add_parser("show", help="who you follow, and your own friend key if you made a card")
    a = fs.add_parser("add", help="follow the friend of a card (a file, or - for stdin)")
    a.add_argument("file", help="the card's file, as `intentcast friends card` wrote it")
    a.add_argument("--name", help="the name you know them by (default: the card's)")
    r = fs.add_parser(
        "remove", help="stop following a friend (their ratings count as a stranger's)"
    )
    r.add_argument("name")
    c = fs.add_parser(
        "card", help="your friend card: one line of plain text (no QR code) to hand out"
    )
    c.add_argument("--name", help="the name on your card (default: your config's person.name)")
    c.add_argument("--out", type=Path, help="write it to this file, owner-only (default: stdout)")
    c.add_argument(
        "--new",
        action="store_true",
        help="a new friend identity: holders of your old card stop recognising new ratings",
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _region(text: str) -> schemas.Region:
    m = re.fullmatch(r"([A-Za-z]{2})(?:-([A-Za-z0-9]{1,3}))?", text.strip())
    if not m:
        raise UsageError(
            f"--region: expected a country code and optional postcode prefix such as ES-28, got {text!r}"
        )
    return schemas.Region(m.group(1).upper(), (m.group(2) or "").upper())


def intent_fields(args: argparse.Namespace, cfg: AgentConfig, today: date) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if args.from_file:
        try:
            spec = load_intent_file(args.from_file)
        except IntentFileError as exc:
            raise UsageError(str(exc)) from None

    def pick(flag: str, key: str) -> Any:
        v = getattr(args, flag)
        return v if v is not None else spec.get(key)

    description = pick("description", "description")
    if not description:
        raise UsageError(
            "say what you want, e.g. intentcast want '2-person tent' --category outdoor/tents ..."
        )

    def required(flag: str, example: str, parse: Callable[[str], T]) -> T:
        value = pick(flag.lstrip("-").replace("-", "_"), flag.lstrip("-").replace("-", "_"))
        if value in (None, ""):
            raise UsageError(f"{flag} is required, e.g. {flag} {example}")
        try:
            return parse(value if isinstance(value, str) else str(value))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None

    category = required("--category", "outdoor/tents", schemas.check_category)
    max_price = required("--max-price", "150EUR", schemas.parse_money)
    wanted_by = required("--by", "2026-12-10", _date)
    if wanted_by <= today:
        raise UsageError(
            f"--by: expected a date after today ({today}), got {wanted_by}; pick a future date"
        )
    region_text = pick("region", "region") or cfg.region
    if not region_text:
        raise UsageError("--region is required (or set region in your config), e.g. --region ES-28")
    asked = pick("quantity", "quantity")
    quantity = 1 if asked is None else int(asked)
    if not 1 <= quantity <= 1_000_000:
        raise UsageError(f"--quantity: expected 1 to 1000000, got {quantity}")
    agreement = pick("terms", "terms") or cfg.agreement
    if agreement == "none":
        agreement = None
    if agreement is not None and agreement not in schemas.ROSTER:
        raise UsageError(
            f"--terms: expected one of {', '.join(sorted(schemas.ROSTER))} or none, got {agreement!r}"
        )
    attrs = dict(spec.get("attributes") or {})
    for a in args.attr:
        k, sep, v = a.partition("=")
        if not sep or not k:
            raise UsageError(f"--attr: expected KEY=VALUE such as colour=green, got {a!r}")
        attrs[k] = v
    terms = schemas.Terms(agreement=agreement, **spec.get("terms_clauses", {}))
    return dict(
        category=category, want=schemas.Want(str(description)[:200], attrs), quantity=quantity,
        max_price=max_price, wanted_by=wanted_by, region=_region(str(region_text)),
        terms=schemas.expand_terms(terms),
    )  # fmt: skip
