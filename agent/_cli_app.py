"""The commands of the running agent: ``intentcast agent``, ``intentcast web``, ``intentcast
offers`` and ``intentcast want --watch``.

When the home's agent runs (``agent.json`` names a live process), ``want --watch`` asks it
over its HTTP API on 127.0.0.1 with the home's bearer token, and opens no bus connection of
its own. When it does not, ``want --watch`` casts the intent itself (stored, then published
to JetStream) and says so: the offers wait in the intent's reply stream until an agent
runs. ``offers`` only reads the home's stores, so it needs neither."""

from __future__ import annotations

import argparse
import asyncio
import errno
import http.client
import json
import sys
import urllib.error
import urllib.request
import webbrowser
from datetime import UTC, datetime
from typing import Any

from nats.errors import Error as NatsError

import schemas
from runtime import Bus, StopOnSignals, WatchStreams, bus_url, configure_logging

from ._agent import Agent
from ._app_cast import WATCH_REPLY_PREFIX, watch_duration
from ._app_guard import set_lock
from ._app_server import run_agent
from ._arguments import UsageError, intent_fields
from ._daemon import running_agent
from ._home import AgentConfig, Home
from ._rounds import Schedule
from ._screen import shown
from ._watching import OPEN_STATES, WATCHES_FILE, WatchBook, cast_watched

__all__ = ["run_app_command", "through_agent", "want_watched"]

API_SECONDS = 30.0


def run_app_command(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    if args.command == "offers":
        return asyncio.run(_offers(args, home, cfg))
    if args.passphrase_file is not None:
        text = args.passphrase_file.read_text().removesuffix("\n")
        set_lock(home.path, text or None)
    return asyncio.run(_serve(args, home))


def _schedule(args: argparse.Namespace) -> Schedule:
    return Schedule(inbox_seconds=args.inbox_every, retry_seconds=args.retry_every)


async def _serve(args: argparse.Namespace, home: Home) -> int:
    running = running_agent(home)
    if running is not None:
        if args.command == "web":
            print(f"your agent's page: {running.url}/  (the agent runs, pid {running.pid})")
            if sys.stdout.isatty():
                webbrowser.open(running.url + "/")
            return 0
        raise UsageError(
            f"expected no agent running for {home.path}, found one (pid {running.pid},"
            f" {running.url}); stop it first, or open it with `intentcast web`"
        )
    if args.command == "agent":
        configure_logging(json=True, level="info")

    def listening(url: str) -> None:
        print(f"your agent's page: {url}/  (Ctrl-C stops it)", flush=True)
        if args.command == "web" and sys.stdout.isatty():  # a person at a terminal
            webbrowser.open(url + "/")

    async with StopOnSignals(f"intentcast {args.command}") as stop:
        try:
            return await run_agent(
                home, bus=args.bus, host=args.host, port=args.port, stop=stop.event,
                on_listening=listening, schedule=_schedule(args),
            )  # fmt: skip
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise UsageError(
                f"port {args.port} on {args.host} is in use (expected a free port; got {exc.strerror}); stop the other program or pass --port"
            ) from None
    return 0


def _form(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "description": args.description, "category": args.category,
        "max_price": args.max_price, "by": args.by, "region": args.region,
        "quantity": args.quantity, "terms": args.terms, "watch": args.watch,
    }  # fmt: skip


async def want_watched(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    """``intentcast want --watch D``: through the running agent, else cast directly."""
    try:
        lifetime = watch_duration(args.watch)
    except ValueError as exc:
        raise UsageError(f"--watch: {exc}") from None
    running = running_agent(home)
    got = None
    if running is not None and not args.from_file and not args.attr:
        got = await through_agent(home, "/api/intents", _form(args))
    if got is not None:
        intent, expires, how = got["intent"], got["expires"], "through the running agent"
    else:
        fields = intent_fields(args, cfg, datetime.now(UTC).date())
        async with (
            bus_url(args.bus or cfg.bus_url, store_dir=home.path / "jetstream") as url,
            Bus(url, name="agent", reconnect_forever=False, person=True) as bus,
            Agent(home, config=cfg) as agent,
        ):
            cast = schemas.cast_intent(
                **fields, now=datetime.now(UTC), ttl=lifetime,
                reply_prefix=WATCH_REPLY_PREFIX,
            )  # fmt: skip
            book = WatchBook(home.path / WATCHES_FILE)
            try:
                await cast_watched(agent, WatchStreams(bus), book, cast)
            except (NatsError, TimeoutError) as exc:
                book.set_state(cast.intent.id, "failed")
                raise UsageError(
                    f"the bus did not keep the intent ({type(exc).__name__}); watched intents"
                    " need JetStream: use `intentcast want` without --watch, or another bus"
                ) from None
            finally:
                book.close()
        intent, expires = cast.intent.id, cast.expires.isoformat()
        how = "no agent running: offers wait on the bus until you run `intentcast agent`"
    if args.json:
        print(json.dumps({"intent": intent, "expires": expires, "watching": True}))
    else:
        print(f"watching intent {intent[:8]} until {expires[:16]} ({how}); see `intentcast offers`")
    return 0


async def _offers(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> int:
    book = WatchBook(home.path / WATCHES_FILE)
    try:
        states = (
            OPEN_STATES
            if not args.all
            else (*OPEN_STATES, "fulfilled", "expired", "cancelled", "failed")
        )
        watched = {w.intent_id: w for w in book.watches(states)}
    finally:
        book.close()
    async with Agent(home, config=cfg) as agent:
        out: list[dict[str, Any]] = []
        for h in agent.history():
            w = watched.get(h.intent.id)
            if w is None:
                continue
            shown_offers = sorted((o for o in h.offers if o.rank), key=lambda o: -o.score)
            out.append(
                {
                    "intent": h.intent.id,
                    "description": shown(h.intent.description),
                    "state": w.state,
                    "expires": w.expires,
                    "offers": [
                        {
                            "offer": o.id,
                            "vendor": shown(o.vendor_name),
                            "total": str(schemas.Money(o.total_amount, o.currency)),
                            "delivery_by": o.delivery_by,
                            "score": round(o.score, 3),
                            "reasons": [shown(x, 200) for x in o.reasons],
                            "received": o.received,
                        }
                        for o in shown_offers
                    ],
                    "dropped": [
                        {
                            "vendor": shown(d.vendor_name or "unknown sender"),
                            "reason": shown(d.reason, 80),
                            "detail": shown(d.detail, 200),
                        }
                        for d in h.dropped
                    ],
                }
            )
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not out:
        print("No watched intents open. Cast one with `intentcast want ... --watch 3d`.")
    for i in out:
        print(f"{i['intent'][:8]} {i['description']} ({i['state']}, until {i['expires'][:16]})")
        for n, o in enumerate(i["offers"], 1):
            print(
                f"  {n}. {o['offer'][:8]} {o['vendor']}: {o['total']}, by {o['delivery_by']}; {'; '.join(o['reasons'])}"
            )
        if not i["offers"]:
            print("  no offers yet")
        for d in i["dropped"]:
            print(f"  dropped {d['vendor']}: {d['reason']} {d['detail']}".rstrip())
    sys.stdout.flush()
    return 0


async def through_agent(home: Home, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """POST ``body`` to the running agent's API (None: no agent runs); its refusal is a
    UsageError with the agent's own words. The standard library's HTTP client, on a thread
    (httpx is for the tests only; the CLI carries no HTTP client dependency)."""
    running = running_agent(home)
    if running is None:
        return None
    return await asyncio.to_thread(_post, running.url + path, running.token, body)


def _post(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=API_SECONDS) as r:
            got: dict[str, Any] = json.loads(r.read())
            return got
    except urllib.error.HTTPError as exc:
        try:
            why = str(json.loads(exc.read()).get("error", exc.reason))
        except ValueError:
            why = str(exc.reason)
        raise UsageError(why) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise UsageError(
            f"the running agent at {url.rsplit('/api', 1)[0]} did not answer ({cause});"
            " is it stopping? See `intentcast offers`, then try again"
        ) from None
