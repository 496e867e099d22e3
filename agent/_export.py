"""Everything the person's agent holds, as one JSON file: theirs to keep, move or inspect, and
to restore with ``intentcast import``. The format is documented in README.md, "Export and
import"; :data:`FORMAT` names its version.

Integrity: a SHA-256 digest over a canonical encoding of everything else in the file detects
truncation and accidental edits (not a forger, who can recompute it). When keys are included
they are sealed with a key derived from the person's passphrase (Argon2id, then libsodium's
secretbox), and the sealed part also carries the digest of the content: without the
passphrase, nobody can change the content and have it import. Whatever the file says, every
signed frame is verified again on import before the new home exists.

A little over 300 lines: the format's structs, one per record, stay beside their writer."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret

from ._carried import (
    FriendKey,
    Friends,
    MailboxReadRow,
    OrderStatusRow,
    StatusRefusalRow,
    ensure_statuses,
    read_friends,
    status_tables,
)
from ._carried_watches import Watches, read_watches
from ._home import Home
from ._records import (
    AcceptRow,
    DropRow,
    IntentRow,
    OfferRow,
    OutcomeRow,
    ReceiptRow,
    RelationshipErasureRow,
    RelationshipUpdateRow,
)
from ._store import KEY_COLUMNS, TABLES, AgentStore

__all__ = [
    "FORMAT",
    "KDF_MODERATE",
    "PASSPHRASE_ENV",
    "Document",
    "ExportError",
    "IntentKey",
    "Kdf",
    "KeysPayload",
    "PlainKeys",
    "Tables",
    "box_key",
    "export_document",
    "fsync_path",
    "read_passphrase",
    "sha256_of",
    "write_private_file",
]

FORMAT = "intentcast-export/2"
PASSPHRASE_ENV = "INTENTCAST_PASSPHRASE"
# libsodium's MODERATE limits: 3 passes over 256 MiB, about 0.7 s on this machine. An export
# may sit in a backup for years; an attacker with the file can guess offline, so the
# interactive limits (64 MiB) are too cheap. The file records the limits used.
KDF_MODERATE = (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)
_MIN_PASSPHRASE = 8


class ExportError(Exception):
    """The export or import could not be done; one line saying expected, got, what to do.

    The message may quote a hostile file (field names, parser errors): anything that is not
    printable (newlines, ESC, bidi overrides) is shown escaped, so it cannot forge lines."""

    def __init__(self, message: str) -> None:
        super().__init__("".join(c if c.isprintable() else ascii(c)[1:-1] for c in message))


# --- the format: the store's own records (``_records``), one struct per table ------------


class _Row(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Tables(_Row):
    intents: list[IntentRow]
    offers: list[OfferRow]
    drops: list[DropRow]
    accepts: list[AcceptRow]
    receipts: list[ReceiptRow]
    outcomes: list[OutcomeRow]
    # Updates of the person's details and erasure requests, with the vendors' answers
    # (absent from files written before they existed: none).
    relationship_updates: list[RelationshipUpdateRow] = []
    relationship_erasures: list[RelationshipErasureRow] = []
    # What vendors signed of orders, the mailbox read positions, mail refused (``_carried``).
    order_statuses: list[OrderStatusRow] = []
    mailbox_reads: list[MailboxReadRow] = []
    status_refusals: list[StatusRefusalRow] = []


class Content(_Row):
    config_toml: str  # config.toml exactly as it is on disk
    config: dict[str, Any]  # the same, as the agent reads it
    tables: Tables
    friends: Friends | None = None  # friends.sqlite, when the home has one
    watches: Watches | None = None  # watches.sqlite, when the home has one


class IntentKey(_Row):
    sign_seed: str  # hex, Ed25519 seed
    seal_secret: str  # hex, X25519 secret


class Kdf(_Row):
    alg: Literal["argon2id13"]
    opslimit: int
    memlimit: int
    salt: bytes


class SealedKeys(_Row, tag="argon2id-secretbox", tag_field="protection"):
    kdf: Kdf
    box: bytes  # secretbox nonce || ciphertext of a KeysPayload as JSON


class PlainKeys(_Row, tag="plaintext", tag_field="protection"):
    intents: dict[str, IntentKey]
    friend: FriendKey | None = None  # the person's own friend identity


class KeysPayload(_Row):
    content_sha256: str  # binds the keys to this export's content
    intents: dict[str, IntentKey]
    friend: FriendKey | None = None


class Digest(_Row):
    alg: Literal["sha256"]
    value: str


class Document(_Row):
    format: str
    exported: str
    content: Content
    keys: SealedKeys | PlainKeys | None
    digest: Digest


def _canonical(obj: Any) -> bytes:
    """Sorted keys, no spaces, ASCII: the bytes the digest is taken over."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj)).hexdigest()


def box_key(passphrase: str, kdf: Kdf) -> bytes:
    pw = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    key: bytes = argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, pw, kdf.salt, opslimit=kdf.opslimit, memlimit=kdf.memlimit
    )
    return key


# --- export ----------------------------------------------------------------------------------


def export_document(
    store: AgentStore,
    home: Home,
    *,
    keys: Literal["none", "sealed", "plaintext"] = "none",
    passphrase: str | None = None,
    kdf_limits: tuple[int, int] = KDF_MODERATE,
    now: datetime | None = None,
) -> bytes:
    """The whole home as one export file (JSON bytes). ``keys="sealed"`` needs ``passphrase``."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    intent_keys: dict[str, IntentKey] = {}
    ensure_statuses(store)
    # Before the store's snapshot: a watch is recorded only after its intent is stored, so
    # every watch read here names an intent the snapshot holds.
    watches = read_watches(home.path)
    with store.snapshot():
        for table in TABLES:
            # Columns by name: iterating a sqlite3.Row yields its values, not its keys. The
            # store opened only because its columns are exactly its records' (and the keys).
            cols = [c for c in store.columns(table) if table != "intents" or c not in KEY_COLUMNS]
            out = []
            for row in store.rows(table):
                d = {k: row[k] for k in cols}
                if table == "offers":
                    d["reasons"] = json.loads(d["reasons"])
                if table == "intents" and row["sign_seed"] and row["seal_secret"]:
                    intent_keys[row["id"]] = IntentKey(row["sign_seed"], row["seal_secret"])
                out.append(d)
            by_table[table] = out
        try:
            by_table.update(status_tables(store))
        except ValueError as exc:
            raise ExportError(f"{exc}; use the intentcast that wrote this store") from None
    friends, friend_key = read_friends(home.path)
    content = msgspec.convert(
        {
            "config_toml": home.config_path.read_text(),
            "config": home.config().model_dump(mode="json"),
            "tables": by_table,
            "friends": None if friends is None else msgspec.structs.asdict(friends),
            "watches": msgspec.to_builtins(watches),
        },
        Content,
    )
    content_b = msgspec.to_builtins(content)
    keys_part: SealedKeys | PlainKeys | None = None
    if keys != "none" and len(intent_keys) != len(by_table["intents"]):
        raise ExportError(
            f"expected the keys of all {len(by_table['intents'])} intents, got"
            f" {len(intent_keys)}: this home was itself imported without keys; export without"
            " --include-keys"
        )
    if keys == "plaintext":
        keys_part = PlainKeys(intent_keys, friend_key)
    elif keys == "sealed":
        assert passphrase is not None
        kdf = Kdf("argon2id13", *kdf_limits, secrets.token_bytes(argon2id.SALTBYTES))
        payload = msgspec.json.encode(KeysPayload(sha256_of(content_b), intent_keys, friend_key))
        box = nacl.secret.SecretBox(box_key(passphrase, kdf)).encrypt(payload)
        keys_part = SealedKeys(kdf, bytes(box))
    body: dict[str, Any] = {
        "format": FORMAT,
        "exported": (now or datetime.now(UTC)).isoformat(),
        "content": content_b,
        "keys": msgspec.to_builtins(keys_part),
    }
    body["digest"] = {"alg": "sha256", "value": sha256_of(body)}
    return (json.dumps(body, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only: a temporary sibling, fsynced,
    then renamed into place, so a crash leaves the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"expected a file that can be written at {path}, got {exc.strerror or exc}; check"
            " the directory exists and is yours"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (the latter makes its entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_passphrase(file: Path | None, *, confirm: bool) -> str:
    """From ``file`` (one trailing newline dropped), else ``$INTENTCAST_PASSPHRASE``, else
    typed at the terminal (twice when ``confirm``)."""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ExportError(
                f"--passphrase-file: expected a readable file, got {exc.strerror or exc} for {file}"
            ) from None
        pw = text[:-1] if text.endswith("\n") else text
        pw = pw[:-1] if pw.endswith("\r") else pw
    elif os.environ.get(PASSPHRASE_ENV):
        pw = os.environ[PASSPHRASE_ENV]
    elif sys.stdin.isatty():
        pw = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase again: ") != pw:
            raise ExportError(
                "expected the same passphrase twice, got two different ones; try again"
            )
    else:
        raise ExportError(
            f"expected a passphrase from --passphrase-file PATH, ${PASSPHRASE_ENV} or a terminal,"
            " got none; pass one of those"
        )
    if not pw:
        raise ExportError("expected a passphrase, got an empty one; choose one")
    if confirm and len(pw) < _MIN_PASSPHRASE:
        raise ExportError(
            f"expected a passphrase of at least {_MIN_PASSPHRASE} characters, got {len(pw)};"
            " choose a longer one (it alone protects the keys in the file)"
        )
    return pw
