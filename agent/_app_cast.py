"""A watched intent from the app's form (or the CLI's ``want --watch``): the same fields and
checks as ``intentcast want`` (``intent_fields``), plus clauses the person picked one by one,
checked by the contract's own types."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import Any

import msgspec

import schemas

from ._agent import Agent
from ._arguments import UsageError, intent_fields

__all__ = ["WATCH_REPLY_PREFIX", "cast_from_form", "watch_duration"]

# A watched intent's reply subject is ic.v1.reply.<128 random bits>, under no connection's
# reply token: the agent never subscribes to it (the intent's own stream keeps what arrives
# there, and the agent reads that stream by name after any restart), so nothing in it comes
# from a key or a connection that another intent also used.
WATCH_REPLY_PREFIX = schemas.REPLY_ROOT

_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def watch_duration(text: str) -> timedelta:
    """``3d``, ``12h``, ``1w``: how long to watch (at most 14 days; it becomes the smallest
    watch lifetime that covers it, see ``schemas.watch_lifetime``)."""
    m = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text or "")
    if not m:
        raise ValueError(f"expected a watch such as 12h, 3d or 1w, got {text!r}")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not 0 < seconds <= 14 * 86400:
        raise ValueError(f"expected a watch of 1h to 14d, got {text!r}")
    return timedelta(seconds=seconds)


def cast_from_form(agent: Agent, form: dict[str, Any], now: datetime) -> schemas.CastIntent:
    """A signed watched intent, made from ``form`` (strings as typed); ValueError naming the
    field when one is wrong."""

    def text(key: str) -> str | None:
        v = form.get(key)
        if v is None or v == "":
            return None
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise ValueError(f"{key}: expected text, got {type(v).__name__}")
        return str(v)

    quantity = text("quantity")
    args = argparse.Namespace(
        from_file=None, description=text("description"), category=text("category"),
        max_price=text("max_price"), by=text("by"), region=text("region"),
        quantity=int(quantity) if quantity and quantity.isdigit() else None,
        terms=text("terms"), attr=[],
    )  # fmt: skip
    if quantity and not quantity.isdigit():
        raise ValueError(f"quantity: expected a whole number, got {quantity!r}")
    try:
        fields = intent_fields(args, agent.config, now.date())
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    clauses = form.get("clauses") or {}
    if not isinstance(clauses, dict):
        raise ValueError(f"clauses: expected an object, got {type(clauses).__name__}")
    if clauses:
        agreement = fields["terms"].agreement
        try:
            terms = msgspec.convert({"agreement": agreement, **clauses}, schemas.Terms)
        except msgspec.ValidationError as exc:
            raise ValueError(f"clauses: {exc}") from None
        fields["terms"] = schemas.expand_terms(terms)
    ttl = watch_duration(text("watch") or "3d")
    return schemas.cast_intent(
        **fields, now=now, ttl=ttl, reply_prefix=WATCH_REPLY_PREFIX,
    )  # fmt: skip
