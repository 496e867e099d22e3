"""Who may connect, and with what permissions: written by deploy/nats/make_credentials.py
(``--callout``) as JSON; public keys only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Policy", "VendorGrant", "grant_for"]

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
REPLY_ROOT = "ic.v1.reply"


class VendorGrant(msgspec.Struct, frozen=True):
    name: str
    vendor_id: str
    categories: list[str]


class Policy(msgspec.Struct, frozen=True):
    account: str = "MARKET"
    persons: dict[str, str] = {}  # nkey public key -> name
    vendors: dict[str, VendorGrant] = {}
    ops: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path) -> Policy:
        return msgspec.json.decode(path.read_bytes(), type=cls)


def grant_for(policy: Policy, nkey: str, token: str) -> tuple[str, dict[str, Any]] | str:
    """(name, NATS user permissions) for a verified nkey, or the reason it gets none.

    A person's connection must name a fresh reply token (32 hex, sent as the connect
    token); it may then receive on ``ic.v1.reply.<token>`` and below, and nowhere else, so
    nobody can listen to replies meant for another connection."""
    if nkey in policy.vendors:
        v = policy.vendors[nkey]
        subs = []
        for c in v.categories:
            s = "ic.v1.intent." + c.replace("/", ".")
            subs += [s, s + ".>"]
        subs.append(f"ic.v1.vendor.{v.vendor_id}.>")
        return v.name, {
            "pub": {"allow": [f"ic.v1.profile.{v.vendor_id}"]},
            "sub": {"allow": subs},
            "resp": {"max": 1, "ttl": 120_000_000_000},
        }
    if nkey in policy.persons:
        if not _TOKEN.match(token):
            return "a person's connection must carry a fresh 32-hex reply token"
        return policy.persons[nkey], {
            "pub": {
                "allow": [
                    "ic.v1.intent.>",
                    "ic.v1.vendor.*.order",
                    "ic.v1.vendor.*.receipt",
                    "ic.v1.vendor.*.cancel",
                ]
            },
            "sub": {"allow": [f"{REPLY_ROOT}.{token}", f"{REPLY_ROOT}.{token}.>"]},
        }
    if nkey in policy.ops:
        return policy.ops[nkey], {"pub": {"allow": [">"]}, "sub": {"allow": [">"]}}
    return "unknown nkey"
