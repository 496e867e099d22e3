"""``intentcast``: your own agent. Tell the market what you want, on your terms.

Every command's call and output is here (parsing is in ``_arguments``, the work in the Agent
API); it is over 300 lines because there are fourteen commands, each a few lines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec
import structlog
from nats.errors import Error as NatsError

import schemas
from runtime import (
    Bus,
    Mailboxes,
    NatsServerNotFound,
    NatsTransport,
    RatingsBoard,
    bus_url,
    configure_logging,
)

from ._agent import Agent
from ._arguments import UsageError, intent_fields, parser
from ._export import ExportError, read_passphrase, write_private_file
from ._friends_cli import followed, friends_command
from ._home import AgentConfig, Home, HomeError
from ._import import import_export
from ._network_trust import NetworkTrust, rating_bundle
from ._profile_cli import init_details
from ._records import AcceptState
from ._registered import with_registry
from ._relationships import has_pending
from ._relationships_cli import live, relationship_command
from ._render import render_accept, render_history, render_ranked, render_receipts
from ._screen import shown
from ._session import AcceptError
from ._status import refusals
from ._store import AgentStore, UnknownReceipt
from ._trust import BetaTrust
from ._updating import retry_pending

__all__ = ["main"]

log = structlog.get_logger("intentcast.agent")
RATINGS_WAIT = 2.0  # seconds to read the ratings board before judging offers
INBOX_WAIT = 5.0  # seconds to pick up the order mailboxes before a command goes on


@contextlib.asynccontextmanager
async def _agent(
    args: argparse.Namespace, cfg: AgentConfig, home: Home, *, registry: bool = False
) -> AsyncIterator[Agent]:
    """The person's agent, over the bus the arguments or config name; with ``registry``, its
    trust also knows the registrars the person trusts (read once, before it judges offers:
    when it ranks them, and again when it accepts one)."""
    async with (
        bus_url(args.bus or cfg.bus_url, store_dir=home.path / "jetstream") as url,
        Bus(url, name="agent", reconnect_forever=False, person=True) as bus,
        Agent(
            home,
            NatsTransport(bus),
            config=cfg,
            reply_prefix=bus.reply_prefix,
            per_try_seconds=getattr(args, "timeout", 5.0),
        ) as agent,  # fmt: skip
    ):
        await _pick_up(agent, bus)
        if has_pending(agent.store):  # updates and erasures vendors have not answered yet
            await retry_pending(live(agent), agent.store, per_try_seconds=1.0)
        if registry:
            trust = agent.trust
            async with _ratings(bus) as board:
                if board is not None and isinstance(trust, BetaTrust):
                    with followed(home) as book:
                        friends = book.friends()
                    trust = NetworkTrust(trust, board.bundles, cfg.trust, friends=friends)
                agent.trust = await with_registry(trust, cfg, bus.nc, bus.url, agent.store)
                yield agent
        else:
            yield agent


async def _pick_up(agent: Agent, bus: Bus) -> None:
    """Every command that talks to the bus first picks up what waits in the person's order
    mailboxes (bounded by INBOX_WAIT); a bus without them, or slow, is no reason to fail."""
    try:
        async with asyncio.timeout(INBOX_WAIT):
            got = await agent.inbox(Mailboxes(bus, timeout=INBOX_WAIT))
    except (NatsError, TimeoutError) as exc:
        log.info("inbox.unavailable", error=type(exc).__name__)
        return
    for s in got.applied:
        print(f"news: order of receipt {s.receipt_id[:8]} {s.state}", file=sys.stderr)


async def _inbox(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    async with _agent(args, cfg, home) as agent:  # which picks the inbox up
        kept = agent.statuses()
        refused = refusals(agent.store)
    if args.json:
        print(json.dumps({"statuses": [msgspec.to_builtins(s) for s in kept], "refused": refused}))
        return 0
    for s in kept:
        said = " ".join(shown(x, 60) for x in (s.carrier, s.tracking, s.reason) if x)
        print(f"{s.received[:16]}  receipt {s.receipt_id[:8]}  #{s.seq} {s.state}  {said}")
    if not kept:
        print("No news from vendors about your orders.")
    if refused:
        print("refused (not applied): " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
    return 0


async def _delivered(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    """`rate` with the outcome delivered (the person's own evidence; signed and shared
    with --publish), and whether the vendor's signed status said so too."""
    args.outcome = "delivered"
    code = await _rate(args, home, cfg)
    async with Agent(home, config=cfg) as agent:
        said = [s for s in agent.statuses(args.receipt) if s.state == "delivered"]
    if said:
        print(f"the vendor said so too, signed (status #{said[-1].seq}, kept)")
    return code


@contextlib.asynccontextmanager
async def _ratings(bus: Bus) -> AsyncIterator[RatingsBoard | None]:
    """The bus's ratings board, read up to now (bounded by RATINGS_WAIT), or None where the
    bus has none to offer (no JetStream, no permission): trust is then the person's own."""
    async with contextlib.AsyncExitStack() as stack:
        board: RatingsBoard | None
        try:
            board = await stack.enter_async_context(RatingsBoard(bus))
            async with asyncio.timeout(RATINGS_WAIT):
                await board.catch_up()
        except (NatsError, TimeoutError) as exc:
            log.info("ratings.unavailable", error=type(exc).__name__)
            board = None
        yield board


# --- want ------------------------------------------------------------------------------------


async def _want(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    if args.watch:
        from ._cli_app import want_watched

        return await want_watched(args, home, cfg)
    fields = intent_fields(args, cfg, datetime.now(UTC).date())

    def casting(cast: schemas.CastIntent) -> None:
        if not args.json:
            print(
                f"Casting intent {cast.intent.id[:8]} to {cast.intent.category} for {args.wait:g}s ...",
                file=sys.stderr,
            )

    async with _agent(args, cfg, home, registry=True) as agent:
        got = await agent.want(**fields, window=args.wait, expect=args.expect, on_cast=casting)
    print(render_ranked(got, show=cfg.ranking.show, as_json=args.json))
    return 0


# --- accept, cancel, sync, rate ---------------------------------------------------------------


async def _accept(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    from ._cli_app import through_agent

    body = {"offer": args.offer, "another": args.another, "pay": args.pay}
    if (got := await through_agent(home, "/api/accept", body)) is not None:  # the agent runs
        print(got["json"] if args.json else got["text"])
        return 0 if got["status"] == AcceptState.CONFIRMED else 1
    async with _agent(args, cfg, home, registry=True) as agent:
        try:
            res = await agent.accept(args.offer, pay=args.pay, another=args.another)
        except AcceptError as exc:
            raise UsageError(str(exc)) from None
    print(render_accept(res, as_json=args.json))
    return 0 if res.status is AcceptState.CONFIRMED else 1


async def _cancel(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    from ._agent import Cancelled
    from ._cli_app import through_agent

    body = {"receipt": args.receipt, "reason": args.reason}
    if (done := await through_agent(home, "/api/cancel", body)) is not None:  # the agent runs
        got = Cancelled(done["status"], done["reason"])
    else:
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


async def _rate(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    async with Agent(home, config=cfg) as agent:
        r = agent.rate(args.receipt, args.score, args.outcome)
        if args.publish:
            with followed(home) as book:
                me = book.identity()
            vendor_id, bundle = rating_bundle(
                agent.store, r.receipt.receipt_id, score=r.score, outcome=r.outcome,
                now=datetime.now(UTC), friend=me,
            )  # fmt: skip
    print(
        f"rated {shown(r.receipt.vendor_name)} {r.score}/5 ({r.outcome}); trust is now {r.trust.describe()}"
    )
    if args.publish:
        async with (
            bus_url(args.bus or cfg.bus_url, store_dir=home.path / "jetstream") as url,
            Bus(url, name="agent", reconnect_forever=False, person=True) as bus,
            RatingsBoard(bus) as board,
        ):
            seq = await board.publish(vendor_id, bundle)
        print(f"published to the ratings board (#{seq}); it names this order's intent key only")
    return 0


async def _offline(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    """The commands that need no bus: receipts, history, export."""
    async with Agent(home, config=cfg) as agent:
        if args.command == "receipts":
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


def _run(args: argparse.Namespace) -> int:
    home = Home(args.home)
    if args.command == "init":
        details = init_details(args)
        home.init(name=details.name, region=args.region, details=details)
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
    if args.command in ("web", "agent", "offers"):
        from ._cli_app import run_app_command

        return run_app_command(args, home, cfg)
    if args.command == "rate":
        return asyncio.run(_rate(args, home, cfg))
    if args.command == "friends":
        return friends_command(args, home, cfg)
    if args.command == "inbox":
        return asyncio.run(_inbox(args, home, cfg))
    if args.command == "delivered":
        return asyncio.run(_delivered(args, home, cfg))
    if args.command in ("profile", "relationships", "forget"):
        return int(asyncio.run(relationship_command(args, home, cfg, _agent)))
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
    args = parser().parse_args(argv)
    configure_logging(json=False, level="info" if args.verbose else "error")
    try:
        return _run(args)
    except (UsageError, HomeError, NatsServerNotFound, UnknownReceipt) as exc:
        for line in str(exc).splitlines() or [""]:
            print(f"intentcast: error: {shown(line, 400)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except sqlite3.Error as exc:  # the database, named as such
        print(
            f"intentcast: error: your agent's store could not be used ({exc}); is another"
            " intentcast writing to it, or the disk full? (--home names the folder)",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        if exc.filename:  # a file, not the bus
            print(f"intentcast: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        else:
            print(
                f"intentcast: error: {exc}; is the bus reachable? (--bus, $INTENTCAST_BUS)",
                file=sys.stderr,
            )
        return 1


if __name__ == "__main__":
    sys.exit(main())
