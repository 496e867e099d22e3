"""``intentcast profile``, ``intentcast relationships`` and ``intentcast forget``: call the
Agent's API (``_aftercare``; the profile itself is ``_profile_cli``'s) and print."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ._agent import Agent
from ._home import AgentConfig, Home
from ._profile_cli import profile_command
from ._relationships import Holding, holdings
from ._screen import shown
from ._session import AgentSession

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
        async with opener(args, cfg, home) as agent:  # saved already: this tells the vendors
            got = await agent.change_details(cfg.person)
        sent = hs = got.sent
        unsigned = got.unsigned
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
            await agent.retry_relationships(args.timeout)
            hs, left = agent.relationships(), agent.relationships_pending()
        _print(hs, args.json)
        if not args.json:
            print(
                "some vendors have still not answered; try again later"
                if left
                else "every update and erasure request is answered"
            )
        return 1 if left else 0
    async with opener(args, cfg, home) as agent:
        forgotten = await agent.forget(args.vendor)
    _print(forgotten.holdings, False)
    name = shown(forgotten.vendor_name, 60)
    print(
        f"{name} confirmed erasure, signed; the confirmation is kept"
        if forgotten.confirmed
        else f"{name} has NOT confirmed erasure; it is marked, and that"
        " counts against its trust. `intentcast relationships --retry` asks again"
    )
    return 0 if forgotten.confirmed else 1
