"""Make nkey credentials and the matching accounts/permissions file for a secured bus.

    python deploy/nats/make_credentials.py --out deploy/nats/secrets \\
        --person app \\
        --vendor sierra=<vendor id>:outdoor/tents,outdoor/sleeping-bags \\
        --vendor cumbre=<vendor id>:outdoor

Writes one seed file per user (<name>.nk, mode 0600: give it to that party only) and
auth.conf, which every server config in deploy/nats includes. Get a vendor's id with
`intentcast-vendor id --config vendor.toml`.

Roles (see deploy/README.md for the reasoning):
  person  publish intents and requests to vendors; receive only on reply subjects
          (ic.v1.reply.<token> and a request inbox below it); never subscribe to everything.
          With --callout, only the reply tokens of the connection's own ephemeral key, which
          it proves in its connect token (deploy/README.md), so one person credential can
          be shared by a community without its members hearing each other's replies
  ops     everything in the market account: for the operator's own probes and tooling,
          never for an agent or an adapter
  vendor  receive intents of its categories and requests to its own endpoints; publish
          only its profile, registration requests and at most one response per message
          received (allow_responses); read the ratings board (its certified ratings); its
          requests' replies come to its own ic.v1.vendor.<id>.inbox
  registrar (--registrar NAME=REGISTRAR_KEY) the only writer of the registry bucket
          ($KV.ic_registry.>); serves ic.v1.registry.<key>.register, replies on its inbox
Persons (agents) are the only ones who publish ratings (ic.v1.rating.*); persons read the
ratings board and the registry, never write the registry. The lists are bus_auth._grants'
(tests/test_grants.py checks they agree); the ops user creates the IC_RATINGS stream once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
from nacl.signing import SigningKey

CATEGORY = re.compile(r"^[a-z0-9-]{1,32}(/[a-z0-9-]{1,32}){0,4}$")


def new_user(prefix: int = nkeys.PREFIX_BYTE_USER) -> tuple[str, str]:
    """(seed, public key) of a fresh nkey (a user's, unless ``prefix`` says otherwise)."""
    raw = bytes(SigningKey.generate())
    seed = nkeys.encode_seed(raw, prefix).decode()
    return seed, nkeys.from_seed(seed.encode()).public_key.decode()


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


REGISTRY_STREAM = "KV_ic_registry"
RATINGS_STREAM = "IC_RATINGS"
MAILBOX_STREAMS = [f"IC_MAILBOX_{d}D" for d in (1, 7, 30, 90, 365)]  # runtime.MAILBOX_STREAMS
WATCH_STREAMS = [f"IC_WATCH_{d}D" for d in (1, 3, 7, 14)]  # runtime.WATCH_STREAMS


def stream_reader(stream: str) -> list[str]:
    """What a reader of a JetStream stream publishes to (bus_auth._grants.stream_reader)."""
    api = "$JS.API"
    return [
        f"{api}.STREAM.INFO.{stream}", f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>", f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>", f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}", f"{api}.DIRECT.GET.{stream}.>", f"$JS.FC.{stream}.>",
    ]  # fmt: skip


def mailbox_reader() -> list[str]:
    """What a person reads order mailboxes with (bus_auth._grants.mailbox_reader)."""
    out = []
    for stream in MAILBOX_STREAMS:
        out += stream_reader(stream)
        out += [f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>", f"$JS.ACK.{stream}.>"]
    return out


def watch_consumer(vendor_id: str) -> list[str]:
    """A vendor's own durable consumer of the watch streams (bus_auth._grants.watch_consumer)."""
    durable, out = f"vendor-{vendor_id[:16]}", ["ic.v1.reply.*"]
    for s in WATCH_STREAMS:
        out += [
            f"$JS.API.STREAM.INFO.{s}", f"$JS.API.CONSUMER.CREATE.{s}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{s}.{durable}.>", f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.{durable}",
            f"$JS.API.CONSUMER.INFO.{s}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{s}.{durable}", f"$JS.ACK.{s}.{durable}.>",
        ]  # fmt: skip
    return out


def person_publish() -> list[str]:
    return [
        "ic.v1.intent.>", "ic.v1.vendor.*.order", "ic.v1.vendor.*.receipt",
        "ic.v1.vendor.*.cancel", "ic.v1.vendor.*.details", "ic.v1.vendor.*.erase",
        "ic.v1.rating.*",
        *stream_reader(RATINGS_STREAM), *stream_reader(REGISTRY_STREAM), *mailbox_reader(),
        "ic.v1.watch.*.>", *(f"$JS.API.STREAM.INFO.{s}" for s in WATCH_STREAMS),
        "ic.v1.replies.open", "$JS.API.STREAM.INFO.IC_WATCH_REPLIES",
        "$JS.API.CONSUMER.MSG.NEXT.IC_WATCH_REPLIES.*", "$JS.ACK.IC_WATCH_REPLIES.*.>",
    ]  # fmt: skip


def vendor_publish(vendor_id: str) -> list[str]:
    feed = f"IC_FEED_{vendor_id[:16].upper()}"
    return [
        f"ic.v1.profile.{vendor_id}", "ic.v1.registry.*.register",
        *stream_reader(RATINGS_STREAM),
        "ic.v1.mailbox.*.*", *(f"$JS.API.STREAM.INFO.{s}" for s in MAILBOX_STREAMS),
        f"ic.v1.feed.{vendor_id}.>", f"$JS.API.STREAM.INFO.{feed}",
        f"$JS.API.STREAM.CREATE.{feed}", *watch_consumer(vendor_id),
    ]  # fmt: skip


def registrar_publish() -> list[str]:
    api = "$JS.API"
    return [
        "$KV.ic_registry.>", f"{api}.STREAM.CREATE.{REGISTRY_STREAM}",
        f"{api}.STREAM.UPDATE.{REGISTRY_STREAM}", *stream_reader(REGISTRY_STREAM),
    ]  # fmt: skip


def _quoted(subjects: list[str]) -> str:
    return ", ".join(json.dumps(s) for s in subjects)


PERSON = f"""{{
      publish: {{ allow: [{_quoted(person_publish())}] }}
      subscribe: {{ allow: ["ic.v1.reply.*", "ic.v1.reply.*.*", "ic.v1.reply.*.*.*"] }}
    }}"""


def vendor_permissions(vendor_id: str, categories: list[str]) -> str:
    subs = []
    for c in categories:
        s = "ic.v1.intent." + c.replace("/", ".")
        subs += [s, s + ".>"]
    subs.append(f"ic.v1.vendor.{vendor_id}.>")  # its endpoints and its own inbox
    return f"""{{
      publish: {{ allow: [{_quoted(vendor_publish(vendor_id))}] }}
      subscribe: {{ allow: [{_quoted(subs)}] }}
      allow_responses: {{ max: 1, expires: "2m" }}
    }}"""


def registrar_permissions(key: str) -> str:
    subs = [f"ic.v1.registry.{key}.register", f"ic.v1.registry.{key}.inbox.>"]
    return f"""{{
      publish: {{ allow: [{_quoted(registrar_publish())}] }}
      subscribe: {{ allow: [{_quoted(subs)}] }}
      allow_responses: {{ max: 1, expires: "2m" }}
    }}"""


def write_callout(out: Path, policy: dict[str, dict[str, object]]) -> None:
    """The auth-callout form: every connection but the service's own is decided by
    intentcast-bus-auth, from callout.json, with user JWTs signed by the issuer account key."""
    issuer_seed, issuer_pub = new_user(nkeys.PREFIX_BYTE_ACCOUNT)
    svc_seed, svc_pub = new_user()
    write_secret(out / "issuer.nk", issuer_seed)
    write_secret(out / "callout.nk", svc_seed)
    (out / "callout.json").write_text(json.dumps({"account": "MARKET", **policy}, indent=2) + "\n")
    (
        out / "auth-callout.conf"
    ).write_text(f"""# Generated by deploy/nats/make_credentials.py --callout. Public keys only.
accounts {{
  AUTH: {{ users: [ {{ nkey: {svc_pub} }} ] }}
  MARKET: {{ jetstream: enabled }}
  SYS: {{}}
}}
authorization {{
  auth_callout {{
    issuer: {issuer_pub}
    account: AUTH
    auth_users: [ {svc_pub} ]
  }}
}}
system_account: SYS
""")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="folder for seeds and auth.conf")
    ap.add_argument(
        "--person",
        action="append",
        default=[],
        metavar="NAME",
        help="a person-role user (an agent app or community)",
    )
    ap.add_argument(
        "--ops",
        action="append",
        default=[],
        metavar="NAME",
        help="an operator user with full access (probes, tooling)",
    )
    ap.add_argument(
        "--vendor",
        action="append",
        default=[],
        metavar="NAME=VENDOR_ID:CAT[,CAT]",
        help="a vendor user",
    )
    ap.add_argument(
        "--callout",
        action="store_true",
        help="per-connection permissions through intentcast-bus-auth (auth-callout.conf, callout.json)",
    )
    ap.add_argument(
        "--registrar",
        action="append",
        default=[],
        metavar="NAME=REGISTRAR_KEY",
        help="a registrar user: the only writer of the registry (intentcast-registry key)",
    )
    args = ap.parse_args(argv)
    users: list[str] = []
    policy: dict[str, dict[str, object]] = {
        "persons": {}, "vendors": {}, "ops": {}, "registrars": {},
    }  # fmt: skip
    sys_seed, sys_pub = new_user()
    write_secret(args.out / "sys.nk", sys_seed)
    for name in args.person:
        seed, pub = new_user()
        write_secret(args.out / f"{name}.nk", seed)
        users.append(f"    # person: {name}\n    {{ nkey: {pub}, permissions: $PERSON }}")
        policy["persons"][pub] = name
    for name in args.ops:
        seed, pub = new_user()
        write_secret(args.out / f"{name}.nk", seed)
        users.append(
            f'    # ops: {name}\n    {{ nkey: {pub}, permissions: {{ publish: ">", subscribe: ">" }} }}'
        )
        policy["ops"][pub] = name
    for spec in args.vendor:
        m = re.fullmatch(r"([\w-]+)=([0-9a-f]{64}):([\w/,-]+)", spec)
        if not m:
            ap.error(f"--vendor: expected NAME=VENDOR_ID:CATEGORY[,CATEGORY], got {spec!r}")
        name, vid, cats = m.group(1), m.group(2), m.group(3).split(",")
        bad = [c for c in cats if not CATEGORY.match(c)]
        if bad:
            ap.error(f"--vendor {name}: expected category paths such as outdoor/tents, got {bad}")
        seed, pub = new_user()
        write_secret(args.out / f"{name}.nk", seed)
        policy["vendors"][pub] = {"name": name, "vendor_id": vid, "categories": cats}
        users.append(
            f"    # vendor: {name} ({vid[:16]}...)\n    {{ nkey: {pub}, permissions: {vendor_permissions(vid, cats)} }}"
        )
    for spec in args.registrar:
        m = re.fullmatch(r"([\w-]+)=([0-9a-f]{64})", spec)
        if not m:
            ap.error(f"--registrar: expected NAME=REGISTRAR_KEY (64 hex digits), got {spec!r}")
        name, key = m.group(1), m.group(2)
        seed, pub = new_user()
        write_secret(args.out / f"{name}.nk", seed)
        policy["registrars"][pub] = {"name": name, "key": key}
        users.append(
            f"    # registrar: {name} ({key[:16]}...)\n    {{ nkey: {pub}, permissions: {registrar_permissions(key)} }}"
        )
    auth = f"""# Generated by deploy/nats/make_credentials.py. Public keys only: the seeds stay with
# their owners. Regenerate rather than edit.
PERSON = {PERSON}

accounts {{
  SYS: {{
    users: [ {{ nkey: {sys_pub} }} ]
  }}
  MARKET: {{
    jetstream: enabled
    users: [
{chr(10).join(users)}
    ]
  }}
}}
system_account: SYS
"""
    (args.out / "auth.conf").write_text(auth)
    if args.callout:
        write_callout(args.out, policy)
    print(f"wrote {args.out / 'auth.conf'} and {len(users) + 1} seed files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
