"""``intentcast``: your own agent. Tell the market what you want, on your terms."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import schemas
from runtime import Bus, NatsServerNotFound, NatsTransport, bus_url, configure_logging

from ._agent import OUTCOMES, Agent
from ._export import (
    PASSPHRASE_ENV,
    ExportError,
    import_export,
    read_passphrase,
    write_private_file,
)
from ._home import AgentConfig, Home, HomeError
from ._intent_file import IntentFileError, load_intent_file
from ._records import AcceptState
from ._render import render_accept, render_history, render_ranked, render_receipts
from ._screen import shown
from ._session import AcceptError
from ._store import AgentStore, UnknownReceipt

__all__ = ["main"]

T = TypeVar("T")

EXAMPLES = {
    "init": "  intentcast init --name 'Ada Lovelace' --region ES-28",
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
    "cancel": "  intentcast cancel 7c01e2aa --reason 'found one nearer'",
    "sync": "  intentcast sync                    # after an outage: deliver pending countersignatures",
    "bus": "  intentcast bus                     # share one embedded bus on this machine",
    "web": "  intentcast web --port 8765          # then open http://127.0.0.1:8765/",
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


def _parser() -> _Parser:
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
    p = cmd("cancel", "ask the vendor to cancel a confirmed order; it answers, signed")
    p.add_argument("receipt", help="receipt id (or its first characters)")
    p.add_argument("--reason", default="", help="a few words for the vendor (optional)")
    p.add_argument("--bus", help="NATS URL(s)")
    p.add_argument("--json", action="store_true")
    p = cmd("sync", "re-send countersignatures that vendors have not yet acknowledged")
    p.add_argument("--bus", help="NATS URL(s)")
    p = cmd(
        "bus",
        "run an embedded NATS bus that every intentcast command on this machine will use,"
        " until Ctrl-C or SIGTERM (then exit 0; a taken --port is exit 2)",
    )
    p.add_argument("--port", type=int, default=4222)
    p = cmd("web", "a local web page over your history and receipts, until Ctrl-C or SIGTERM")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: this machine only)"
    )
    return ap


@contextlib.asynccontextmanager
async def _agent(args: argparse.Namespace, cfg: AgentConfig, home: Home) -> AsyncIterator[Agent]:
    """The person's agent, over the bus the arguments or config name."""
    async with (
        bus_url(args.bus or cfg.bus_url, store_dir=home.path / "jetstream") as url,
        Bus(url, name="agent", reconnect_forever=False, reply_token=os.urandom(16).hex()) as bus,
        Agent(
            home,
            NatsTransport(bus),
            config=cfg,
            reply_prefix=bus.reply_prefix,
            per_try_seconds=getattr(args, "timeout", 5.0),
        ) as agent,  # fmt: skip
    ):
        yield agent


# --- want ------------------------------------------------------------------------------------


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


def _intent_fields(args: argparse.Namespace, cfg: AgentConfig, today: date) -> dict[str, Any]:
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


async def _want(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    fields = _intent_fields(args, cfg, datetime.now(UTC).date())

    def casting(cast: schemas.CastIntent) -> None:
        if not args.json:
            print(
                f"Casting intent {cast.intent.id[:8]} to {cast.intent.category} for {args.wait:g}s ...",
                file=sys.stderr,
            )

    async with _agent(args, cfg, home) as agent:
        got = await agent.want(**fields, window=args.wait, expect=args.expect, on_cast=casting)
    print(render_ranked(got, show=cfg.ranking.show, as_json=args.json))
    return 0


# --- accept, cancel, sync, rate ---------------------------------------------------------------


async def _accept(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    async with _agent(args, cfg, home) as agent:
        try:
            res = await agent.accept(args.offer, pay=args.pay, another=args.another)
        except AcceptError as exc:
            raise UsageError(str(exc)) from None
    print(render_accept(res, as_json=args.json))
    return 0 if res.status is AcceptState.CONFIRMED else 1


async def _cancel(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    async with _agent(args, cfg, home) as agent:
        try:
            got = await agent.cancel(args.receipt, reason=args.reason)
        except AcceptError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({"cancelled": got.done, "status": got.status, "reason": got.reason}))
    else:
        print(
            "Cancelled; the vendor signed that the order is off."
            if got.done
            else f"Not cancelled: {shown(got.reason, 200)}."
        )
    return 0 if got.done else 1


async def _sync(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    async with _agent(args, cfg, home) as agent:
        sent, acked = await agent.sync()
    print(f"{acked} of {sent} pending countersignatures acknowledged by their vendors")
    return 0 if acked == sent else 1


async def _offline(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    """The commands that need no bus: rate, receipts, history, export."""
    async with Agent(home, config=cfg) as agent:
        if args.command == "rate":
            r = agent.rate(args.receipt, args.score, args.outcome)
            print(
                f"rated {shown(r.receipt.vendor_name)} {r.score}/5 ({r.outcome}); trust is now {r.trust.describe()}"
            )
        elif args.command == "receipts":
            print(render_receipts(agent.receipts(), as_json=args.json))
        elif args.command == "history":
            print(render_history(agent.history(), as_json=args.json))
        else:
            return _export(args, agent)
    return 0


# `intentcast bus` and `intentcast web` run until SIGINT or SIGTERM (runtime.StopOnSignals)
# and then exit 0: a stop asked for is a clean end, not an error.


def _forget_bus(f: Path, pid: int) -> None:
    """Remove bus.json if it is still ours (another `intentcast bus` may have taken it)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads(f.read_text())["pid"] == pid:
            f.unlink()


async def _bus(args: argparse.Namespace) -> int:
    """Run the shared embedded bus until SIGINT or SIGTERM, then stop its nats-server and
    remove bus.json. A taken port is a UsageError (one line, exit 2)."""
    from runtime import (
        EmbeddedServer,
        PortInUse,
        StopOnSignals,
        default_data_dir,
        embedded_bus_file,
        running_embedded_bus,
    )

    f = embedded_bus_file()
    async with StopOnSignals("intentcast bus") as stop:
        try:
            async with EmbeddedServer(default_data_dir() / "jetstream", port=args.port) as server:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(
                    json.dumps({"url": server.url, "pid": os.getpid(), "server_pid": server.pid})
                )
                try:
                    print(
                        f"embedded bus on {server.url}; intentcast and intentcast-vendor on this machine will use it. Ctrl-C stops it.",
                        flush=True,
                    )
                    await stop.wait()
                finally:
                    _forget_bus(f, os.getpid())
        except PortInUse as exc:
            other = "other bus"
            if running_embedded_bus() == f"nats://{exc.host}:{exc.port}":
                with contextlib.suppress(OSError, ValueError, KeyError):
                    other = f"other intentcast bus (pid {int(json.loads(f.read_text())['pid'])})"
            raise UsageError(f"{exc}; stop the {other} or pass --port") from None
    return 0


async def _web(args: argparse.Namespace, home: Home) -> int:
    """``intentcast web`` until SIGINT or SIGTERM; requests in flight are cut off."""
    import errno

    from runtime import StopOnSignals

    from ._web import serve

    async with StopOnSignals("intentcast web"):
        try:
            return await serve(home, args.port, args.host)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise UsageError(
                f"port {args.port} on {args.host} is in use (expected a free port; got {exc.strerror}); stop the other program or pass --port"
            ) from None
    return 0


def _run(args: argparse.Namespace) -> int:
    home = Home(args.home)
    if args.command == "init":
        home.init(name=args.name, region=args.region)
        with AgentStore(home.db_path):
            pass
        print(
            f"created your agent home at {home.path}\n  config: {home.config_path} (your terms, trust policy, what you disclose)\n  next:   intentcast want '2-person tent' --category outdoor/tents --max-price 150EUR --by 2026-12-10"
        )
        return 0
    if args.command == "bus":
        return asyncio.run(_bus(args))
    if args.command == "import":
        return _import(args)
    cfg = home.config()
    if args.command == "want":
        return asyncio.run(_want(args, home, cfg))
    if args.command == "accept":
        return asyncio.run(_accept(args, home, cfg))
    if args.command == "sync":
        return asyncio.run(_sync(args, home, cfg))
    if args.command == "cancel":
        return asyncio.run(_cancel(args, home, cfg))
    if args.command == "web":
        return asyncio.run(_web(args, home))
    return asyncio.run(_offline(args, home, cfg))


def _export(args: argparse.Namespace, agent: Agent) -> int:
    if args.plaintext_keys and not args.include_keys:
        raise UsageError(
            "--plaintext-keys: expected it with --include-keys, got it alone; add --include-keys"
        )
    keys: Literal["none", "sealed", "plaintext"] = (
        "plaintext" if args.plaintext_keys else "sealed" if args.include_keys else "none"
    )
    try:
        pw = read_passphrase(args.passphrase_file, confirm=True) if keys == "sealed" else None
        data = agent.export(keys=keys, passphrase=pw)
        if args.out:
            write_private_file(args.out, data)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    if not args.out:
        sys.stdout.buffer.write(data)
        return 0
    said = {
        "none": "no keys (an import can show receipts and history, and rate; not cancel or accept)",
        "sealed": "keys sealed under your passphrase (Argon2id, libsodium's moderate limits)",
        "plaintext": "keys IN PLAINTEXT: anyone with this file can sign as you; keep it safe",
    }[keys]
    print(f"wrote {args.out} ({len(data)} bytes): {said}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    target = args.import_home or Home(args.home).path
    try:
        done = import_export(
            args.file, target, lambda: read_passphrase(args.passphrase_file, confirm=False)
        )
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    c = done.counts
    print(
        f"imported {args.file} into {done.home}: {c['intents']} intents, {c['offers']} offers,"
        f" {c['receipts']} receipts (all verify), {done.ratings} ratings"
    )
    print(
        "keys restored: cancel and accept work as before"
        if done.keys
        else "no keys in this export: receipts, history, rate and sync work; cancel and accept"
        " need an export made with --include-keys"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json=False, level="info" if args.verbose else "error")
    try:
        return _run(args)
    except (UsageError, HomeError, NatsServerNotFound, UnknownReceipt) as exc:
        for line in str(exc).splitlines() or [""]:
            print(f"intentcast: error: {shown(line, 400)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(
            f"intentcast: error: {exc}; is the bus reachable? (--bus, $INTENTCAST_BUS)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
