"""Everything the person's agent holds, as one JSON file: theirs to keep, move or inspect, and
to restore with ``intentcast import``. The format is documented in README.md, "Export and
import"; :data:`FORMAT` names its version.

Integrity: a SHA-256 digest over a canonical encoding of everything else in the file detects
truncation and accidental edits (not a forger, who can recompute it). When keys are included
they are sealed with a key derived from the person's passphrase (Argon2id, then libsodium's
secretbox), and the sealed part also carries the digest of the content: without the
passphrase, nobody can change the content and have it import. Whatever the file says, every
signed frame is verified again on import before the new home exists."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import shutil
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas

from ._home import Home, HomeError
from ._receipts import check_all
from ._records import AcceptRow, DropRow, IntentRow, OfferRow, OutcomeRow, ReceiptRow
from ._rereading import person_key
from ._store import KEY_COLUMNS, TABLES, AgentStore

__all__ = [
    "FORMAT",
    "KDF_MODERATE",
    "PASSPHRASE_ENV",
    "ExportError",
    "Imported",
    "export_document",
    "import_export",
    "read_passphrase",
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


class Content(_Row):
    config_toml: str  # config.toml exactly as it is on disk
    config: dict[str, Any]  # the same, as the agent reads it
    tables: Tables


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


class KeysPayload(_Row):
    content_sha256: str  # binds the keys to this export's content
    intents: dict[str, IntentKey]


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


def _sha256(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj)).hexdigest()


def _box_key(passphrase: str, kdf: Kdf) -> bytes:
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
    content = msgspec.convert(
        {
            "config_toml": home.config_path.read_text(),
            "config": home.config().model_dump(mode="json"),
            "tables": by_table,
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
        keys_part = PlainKeys(intent_keys)
    elif keys == "sealed":
        assert passphrase is not None
        kdf = Kdf("argon2id13", *kdf_limits, secrets.token_bytes(argon2id.SALTBYTES))
        payload = msgspec.json.encode(KeysPayload(_sha256(content_b), intent_keys))
        box = nacl.secret.SecretBox(_box_key(passphrase, kdf)).encrypt(payload)
        keys_part = SealedKeys(kdf, bytes(box))
    body: dict[str, Any] = {
        "format": FORMAT,
        "exported": (now or datetime.now(UTC)).isoformat(),
        "content": content_b,
        "keys": msgspec.to_builtins(keys_part),
    }
    body["digest"] = {"alg": "sha256", "value": _sha256(body)}
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
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"expected a file that can be written at {path}, got {exc.strerror or exc}; check"
            " the directory exists and is yours"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
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


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    home: Path
    counts: dict[str, int]
    keys: bool
    ratings: int


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(
            data.decode("utf-8"), object_pairs_hook=_strict_object, parse_constant=_no_constant
        )
    except UnicodeDecodeError as exc:
        raise ExportError(
            f"{path}: expected UTF-8 JSON, got a byte that is not UTF-8 at offset {exc.start};"
            " the file is damaged: import an intact copy"
        ) from None
    except ValueError as exc:
        raise ExportError(
            f"{path}: expected a complete {FORMAT} file, got invalid JSON ({exc}); it is truncated"
            " or damaged: import an intact copy"
        ) from None
    if not isinstance(raw, dict):
        raise ExportError(
            f"{path}: expected a {FORMAT} object, got a JSON {type(raw).__name__}; is this an"
            " intentcast export?"
        )
    return raw


def _check_digest(path: Path, raw: dict[str, Any]) -> None:
    fmt = raw.get("format")
    if fmt != FORMAT:
        raise ExportError(
            f"{path}: expected format {FORMAT!r}, got {fmt!r}; it was written by another version"
            " of intentcast: import it with that version, or export again with this one"
        )
    dig = raw.get("digest")
    rest = {k: v for k, v in raw.items() if k != "digest"}
    if (
        not isinstance(dig, dict)
        or dig.get("alg") != "sha256"
        or not isinstance(dig.get("value"), str)
    ):
        raise ExportError(
            f"{path}: expected a sha256 digest, got {dig!r:.60}; the file is damaged: import an"
            " intact copy"
        )
    got = _sha256(rest)
    if not secrets.compare_digest(got, dig["value"]):
        raise ExportError(
            f"{path}: expected content with SHA-256 {dig['value'][:16]}..., got {got[:16]}...; the"
            " file was edited or damaged after export: import an intact copy"
        )


def _check_kdf(path: Path, kdf: Kdf) -> None:
    ops_ok = argon2id.OPSLIMIT_MIN <= kdf.opslimit <= argon2id.OPSLIMIT_SENSITIVE
    mem_ok = argon2id.MEMLIMIT_MIN <= kdf.memlimit <= argon2id.MEMLIMIT_SENSITIVE
    if not (ops_ok and mem_ok and len(kdf.salt) == argon2id.SALTBYTES):
        raise ExportError(
            f"{path}: expected Argon2id limits within libsodium's MIN..SENSITIVE and a"
            f" {argon2id.SALTBYTES}-byte salt, got opslimit {kdf.opslimit}, memlimit"
            f" {kdf.memlimit}, a {len(kdf.salt)}-byte salt; the file is damaged: import an intact copy"
        )


def _open_keys(
    path: Path, doc: Document, content_b: Any, passphrase: Callable[[], str]
) -> dict[str, IntentKey] | None:
    k = doc.keys
    if k is None:
        return None
    if isinstance(k, PlainKeys):
        return k.intents
    _check_kdf(path, k.kdf)
    try:
        plain = nacl.secret.SecretBox(_box_key(passphrase(), k.kdf)).decrypt(k.box)
    except nacl.exceptions.CryptoError:
        raise ExportError(
            f"{path}: expected the passphrase the keys were sealed with, got one that does not"
            " open them; wrong passphrase (or the sealed keys were altered): try again"
        ) from None
    payload = msgspec.json.decode(plain, type=KeysPayload)
    if not secrets.compare_digest(payload.content_sha256, _sha256(content_b)):
        raise ExportError(
            f"{path}: expected the content the keys were sealed with, got other content; the file"
            " was edited after export: import an intact copy"
        )
    return payload.intents


def _frame_error(path: Path, what: str, err: Exception) -> ExportError:
    return ExportError(
        f"{path}: {what} does not verify ({err}); the file was edited or damaged: import an"
        " intact copy"
    )


def _verify_frames(path: Path, t: Tables, keys: dict[str, IntentKey] | None) -> None:
    """Every stored frame verified again, as the agent verifies what it keeps (archival, no
    time checks), and each row's columns checked against the signed bytes they summarise."""
    intents: dict[str, schemas.Intent] = {}
    for i in t.intents:
        try:
            v = schemas.open_intent(i.wire, now=None, replay=None)
            im = v.msg
            if (im.id, im.category, im.want.description) != (i.id, i.category, i.description):
                raise ValueError("its row disagrees with its signed bytes")
        except (schemas.ProtocolError, ValueError) as exc:
            raise _frame_error(path, f"intent {i.id[:8]}", exc) from None
        intents[i.id] = v.msg
        if keys is not None:
            k = keys.get(i.id)
            try:
                if k is None:
                    raise ValueError("none")
                sign_pub = bytes(SigningKey(bytes.fromhex(k.sign_seed)).verify_key).hex()
                seal_pub = bytes(PrivateKey(bytes.fromhex(k.seal_secret)).public_key).hex()
                if (sign_pub, seal_pub) != (v.msg.keys.sign, v.msg.keys.seal):
                    raise ValueError("keys other than those it was cast with")
            except (ValueError, TypeError, nacl.exceptions.CryptoError) as exc:
                raise ExportError(
                    f"{path}: expected the private keys of intent {i.id[:8]}, got {exc}; the file"
                    " is damaged: import an intact copy"
                ) from None
    if keys is not None and set(keys) != set(intents):
        raise ExportError(
            f"{path}: expected keys for exactly the {len(intents)} intents, got {len(keys)};"
            " the file is damaged: import an intact copy"
        )
    profiles = schemas.ProfileCache()
    for o in t.offers:
        try:
            intent = intents[o.intent_id]
            op = schemas.open_offer_bundle(
                o.bundle, intent=intent, now=None, replay=None, profiles=profiles
            )
            m = op.offer.msg
            got = (m.id, op.profile.msg.vendor_id, m.total_price.amount, m.total_price.currency)
            if got != (o.id, o.vendor_id, o.total_amount, o.currency):
                raise ValueError("its row disagrees with its signed bytes")
        except (schemas.ProtocolError, ValueError, KeyError) as exc:
            raise _frame_error(path, f"offer {o.id[:8]}", exc) from None
    for a in t.accepts:
        try:
            person = person_key(intents[a.intent_id])
            acc = schemas.verify(a.accept_wire, schemas.Accept, key=person, now=None)
            if (acc.msg.offer_id, acc.msg.intent_id) != (a.offer_id, a.intent_id):
                raise ValueError("its row disagrees with its signed bytes")
        except (schemas.ProtocolError, ValueError, KeyError) as exc:
            raise _frame_error(path, f"acceptance of offer {a.offer_id[:8]}", exc) from None


def _verify_receipts(path: Path, store: AgentStore) -> None:
    """The agent's own archival check of every order (``schemas.reread_order``: each frame
    against the key it must come from, and the hashes that bind them), on the bytes as the
    new home holds them; then each confirmation against the vendor's ring."""
    checked = check_all(store)
    bad = [f"{c.row.receipt_id[:8]}: {c.problem}" for c in checked if c.order is None]
    if bad:
        raise ExportError(
            f"{path}: expected every receipt and countersignature to verify, got"
            f" {len(bad)} that do not ({'; '.join(bad)}); the file was edited or"
            " damaged: import an intact copy"
        )
    for c in checked:
        r, order = c.row, c.order
        assert order is not None
        try:
            ring = schemas.KeyRing.from_profile(order.profile.msg)
            conf = schemas.verify(
                r.confirmation_wire, schemas.OrderConfirmation, key=ring, now=None
            )
            if (conf.msg.order_id, conf.msg.offer_id) != (r.order_id, r.offer_id):
                raise ValueError("its row disagrees with its signed bytes")
        except (schemas.ProtocolError, ValueError) as exc:
            raise _frame_error(path, f"receipt {r.receipt_id[:8]}", exc) from None


def _target_free(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(
            f"expected a new or empty directory for --home, got {target}, which already holds"
            " something; nothing was changed: pick a new --home"
        )


def import_export(path: Path, target: Path, passphrase: Callable[[], str]) -> Imported:
    """Restore an export into a new home at ``target``. Everything is checked first, the home
    is built in a temporary sibling directory and renamed into place only once its receipts
    verify: on any failure ``target`` is left as it was."""
    _target_free(target)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError(
            f"expected an export file, got {exc.strerror or exc} for {path}; check the path"
        ) from None
    raw = _parse(path, data)
    _check_digest(path, raw)
    try:
        doc = msgspec.convert(raw, Document)
    except msgspec.ValidationError as exc:
        raise ExportError(
            f"{path}: expected {FORMAT} fields, got {exc}; the file is damaged: import an intact copy"
        ) from None
    keys = _open_keys(path, doc, raw["content"], passphrase)
    t = doc.content.tables
    _verify_frames(path, t, keys)

    tmp = target.parent / f".{target.name}.importing-{secrets.token_hex(4)}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(mode=0o700)
    except OSError as exc:
        raise ExportError(
            f"expected to create a home beside {target}, got {exc.strerror or exc}; pick a"
            " --home in a directory that is yours"
        ) from None
    try:
        home = Home(tmp)
        write_private_file(home.config_path, doc.content.config_toml.encode("utf-8"))
        try:
            cfg = home.config().model_dump(mode="json")
        except HomeError as exc:
            raise ExportError(f"{path}: the config in it is unusable: {exc}") from None
        if cfg != doc.content.config:
            raise ExportError(
                f"{path}: expected config and config_toml to say the same, got two different"
                " configs; the file was edited: import an intact copy"
            )
        with AgentStore(home.db_path) as store:
            with store.transaction():
                for table in TABLES:
                    rows = []
                    for row in getattr(t, table):
                        d = msgspec.structs.asdict(row)
                        if table == "offers":
                            d["reasons"] = json.dumps(d["reasons"])
                        if table == "intents":
                            k = keys.get(row.id) if keys is not None else None
                            d["sign_seed"] = k.sign_seed if k else ""
                            d["seal_secret"] = k.seal_secret if k else ""
                        rows.append(d)
                    store.restore(table, rows)
            _verify_receipts(path, store)
            ratings = sum(1 for o in t.outcomes if o.kind == "rating")
        for f in tmp.iterdir():  # the store is fsynced by SQLite; the rest is made so here
            _fsync_dir(f)
        _fsync_dir(tmp)
        try:
            os.rename(tmp, target)  # replaces an empty directory, never a non-empty one
        except OSError as exc:
            raise ExportError(
                f"expected a new or empty directory for --home, got {target}, which"
                f" {exc.strerror}; nothing was changed: pick a new --home"
            ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    counts = {table: len(getattr(t, table)) for table in TABLES}
    return Imported(target, counts, keys is not None, ratings)
