"""``intentcast profile``, ``intentcast relationships`` and ``intentcast forget``: call the
rooms (``_profile``, ``_relationships``) and print."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ._agent import Agent
from ._forgetting import forget_vendor
from ._home import AgentConfig, Home, HomeError
from ._profile_cli import profile_command
from ._relationships import Holding, has_pending, holdings
from ._screen import shown
from ._session import AgentSession
from ._updating import retry_pending, send_updates

__all__ = ["live", "relationship_command"]

AgentOpener = Callable[..., contextlib.AbstractAsyncContextManager[Agent]]


def live(agent: Agent) -> AgentSession:
    """The session of an agent opened over the bus (``_cli._agent`` always opens one)."""
    if agent.session is None:
        raise RuntimeError("expected an agent with a bus session, got one without")
    return agent.session


def _rows(hs: list[Holding]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for h in hs:
        last = h.updates[-1] if h.updates else ""
        out.append(
            {
                "vendor": h.vendor_name, "vendor_id": h.vendor_id, "order": h.order_id,
                "fields": h.fields,
                "held_until": h.held_until.date().isoformat()
                + (" (passed: it should have purged them)" if h.held_until <= now else ""),
                "update": {"applied": "acknowledged", "pending": "NOT acknowledged"}.get(
                    last, last
                ) or "none sent",
                "erasure": {
                    "asked": "asked, NOT confirmed", "erased": "confirmed",
                    "purged": "the vendor holds nothing any more",
                }.get(
                    h.erasure, h.erasure
                ) or "not asked",
            }
        )  # fmt: skip
    return out


def _print(hs: list[Holding], as_json: bool) -> None:
    rows = _rows(hs)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        print("No vendor holds details of yours (no orders yet).")
    for r in rows:
        print(
            f"{shown(r['vendor'], 60)}  order {r['order'][:8]}  holds {', '.join(r['fields']) or 'nothing'}"
            f"  until {r['held_until']}  update: {r['update']}  erasure: {r['erasure']}"
        )


async def relationship_command(
    args: argparse.Namespace, home: Home, cfg: AgentConfig, opener: AgentOpener
) -> int:
    if args.command == "profile":
        changed = profile_command(args, home, cfg)
        if not changed or args.no_send:
            return 0
        cfg = home.config()
        async with opener(args, cfg, home) as agent:
            sent, unsigned = await send_updates(
                live(agent), agent.store, cfg.person, per_try_seconds=args.timeout
            )
            hs = [h for h in holdings(agent.store) if h.order_id in {s.order_id for s in sent}]
        if unsigned:
            print(
                f"{len(unsigned)} orders hold your old details but this home has no keys to sign"
                " for them (imported without --include-keys): tell those vendors yourself"
            )
        if not sent:
            if not unsigned:
                print("no vendor holds the old details; nothing to send")
            return 1 if unsigned else 0
        _print(hs, False)
        unacked = [h for h in hs if not h.updates or h.updates[-1] != "applied"]
        if unacked:
            print(
                f"{len(unacked)} of {len(hs)} not acknowledged yet; the next command that talks"
                " to the bus retries them (or `intentcast relationships --retry`)"
            )
        return 0 if not unacked else 1
    if args.command == "relationships":
        if not args.retry:
            async with Agent(home, config=cfg) as agent:
                _print(holdings(agent.store), args.json)
            return 0
        async with opener(args, cfg, home) as agent:  # which retries once with a short wait
            await retry_pending(live(agent), agent.store, per_try_seconds=args.timeout)
            hs, left = holdings(agent.store), has_pending(agent.store)
        _print(hs, args.json)
        if not args.json:
            print(
                "some vendors have still not answered; try again later"
                if left
                else "every update and erasure request is answered"
            )
        return 1 if left else 0
    async with opener(args, cfg, home) as agent:
        known = {h.vendor_id: h.vendor_name for h in holdings(agent.store)}
        wanted = args.vendor.casefold()
        match = [v for v, n in known.items() if v.startswith(wanted) or n.casefold() == wanted]
        if len(match) != 1:
            raise HomeError(
                f"forget: expected one vendor you bought from, got {len(match)} matching"
                f" {args.vendor!r}; see `intentcast relationships`"
            )
        hs = await forget_vendor(live(agent), agent.store, match[0], per_try_seconds=args.timeout)
    _print(hs, False)
    done = all(h.erasure == "erased" for h in hs)
    print(
        f"{shown(known[match[0]], 60)} confirmed erasure, signed; the confirmation is kept"
        if done
        else f"{shown(known[match[0]], 60)} has NOT confirmed erasure; it is marked, and that"
        " counts against its trust. `intentcast relationships --retry` asks again"
    )
    return 0 if done else 1
