"""``intentcast init``'s details and ``intentcast profile show|set``: parsing and printing
only; the details are kept by ``_profile``."""

from __future__ import annotations

import argparse
import json
import sys

from ._home import AgentConfig, Home, HomeError, PersonDetails
from ._profile import DETAIL_FIELDS, changed_fields, save_details, validated_details
from ._screen import shown

__all__ = ["add_detail_flags", "add_profile_command", "init_details", "profile_command"]


def add_detail_flags(p: argparse.ArgumentParser) -> None:
    """The flags of every detail, so that scripts and tests need no prompt."""
    p.add_argument("--street", action="append", help="a street line (repeat for more lines)")
    p.add_argument("--postcode", help="postcode of your delivery address")
    p.add_argument("--city", help="city of your delivery address")
    p.add_argument("--country", help="country of your delivery address, e.g. ES")
    p.add_argument("--email", help="email, for digital goods and delivery notices")
    p.add_argument("--phone", help="phone (optional), for couriers")


def add_profile_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "profile",
        help="show or change your details; a change is sent to every vendor that holds them",
        description="Your details, disclosed only as an accepted offer needs them.",
        epilog="examples:\n  intentcast profile show\n  intentcast profile set email a@b.org\n"
        "  intentcast profile set address --street 'Calle Mayor 1' --postcode 28013"
        " --city Madrid --country ES",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ps = p.add_subparsers(dest="profile_command", required=True, metavar="show|set")
    show = ps.add_parser("show", help="your details as your agent holds them")
    show.add_argument("--json", action="store_true")
    put = ps.add_parser("set", help="change name, address, email or phone")
    put.add_argument("key", choices=("name", "address", "email", "phone"))
    put.add_argument("value", nargs="?", help="the new value (name, email, phone)")
    add_detail_flags(put)
    put.add_argument("--no-send", action="store_true", help="change it here only, tell no vendor")
    put.add_argument("--timeout", type=float, default=5.0, help="per-vendor wait, seconds")
    put.add_argument("--bus", help="NATS URL(s)")
    p = sub.add_parser(
        "relationships",
        help="what each vendor you bought from holds about you, and until when",
        description="Per vendor: orders, the fields disclosed, held until, updates and erasure.",
    )
    p.add_argument("--retry", action="store_true", help="re-send what vendors did not acknowledge")
    p.add_argument("--timeout", type=float, default=5.0, help="per-vendor wait, seconds")
    p.add_argument("--bus", help="NATS URL(s)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser(
        "forget",
        help="ask a vendor to erase what it holds about you (right to erasure)",
        description="A signed erasure request per order that vendor holds; its signed"
        " confirmation is kept as evidence.",
    )
    p.add_argument("vendor", help="vendor name or id (or its first characters)")
    p.add_argument("--timeout", type=float, default=5.0, help="wait for the vendor, seconds")
    p.add_argument("--bus", help="NATS URL(s)")


def _prompted(label: str, given: str | None, default: str = "") -> str:
    if given is not None or not sys.stdin.isatty():
        return given if given is not None else default
    got = input(f"{label}{f' [{default}]' if default else ''}: ").strip()
    return got or default


def init_details(args: argparse.Namespace) -> PersonDetails:
    """What deliveries need, from the flags, asked for on a terminal when not given."""
    country = args.region.split("-")[0] if args.region else ""
    streets = args.street
    if streets is None and sys.stdin.isatty():
        line = _prompted("Street (blank to skip)", None)
        streets = [line] if line else []
    return validated_details(
        {
            "name": _prompted("Name", args.name or None),
            "address": streets or [],
            "postcode": _prompted("Postcode", args.postcode),
            "city": _prompted("City", args.city),
            "country": _prompted("Country (ISO code, e.g. ES)", args.country, country).upper(),
            "email": _prompted("Email", args.email),
            "phone": _prompted("Phone (optional)", args.phone),
        }
    )


def set_details(args: argparse.Namespace, old: PersonDetails) -> PersonDetails:
    """The details after ``profile set KEY ...``; a one-line HomeError when they do not hold."""
    fields = old.model_dump()
    if args.key == "address":
        if args.value is not None or not args.street:
            raise HomeError(
                "profile set address: expected --street (and --postcode, --city, --country),"
                f" got {'a value ' + repr(args.value) if args.value else 'no --street'}"
            )
        fields["address"] = args.street
        for k in ("postcode", "city", "country"):
            if getattr(args, k) is not None:
                fields[k] = getattr(args, k).upper() if k == "country" else getattr(args, k)
    else:
        if args.value is None:
            raise HomeError(f"profile set {args.key}: expected a value, got none")
        fields[args.key] = args.value.strip()
    return validated_details(fields)


def profile_command(args: argparse.Namespace, home: Home, cfg: AgentConfig) -> list[str] | None:
    """``profile show`` prints and returns None; ``profile set`` saves and returns the fields
    that changed (the caller tells the vendors that hold the old ones)."""
    p = cfg.person
    if args.profile_command == "show":
        if args.json:
            print(json.dumps({f: getattr(p, f) for f in DETAIL_FIELDS}))
        else:
            for f in DETAIL_FIELDS:
                v = getattr(p, f)
                text = ", ".join(v) if isinstance(v, list) else v
                print(f"{f:9} {shown(text, 200) if text else '(not given)'}")
        return None
    new = set_details(args, p)
    changed = changed_fields(p, new)
    if changed:
        save_details(home, new)
    print(f"changed: {', '.join(changed) if changed else 'nothing'}")
    return changed
