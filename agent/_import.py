"""``intentcast import``: an export restored into a new home, everything checked first.

The file's digest and, when keys are sealed, the passphrase and the content they were
sealed with; then every signed frame, each against the key it must come from; the new home
is built beside the target and renamed into place only once its orders re-read whole.
(A little over 300 lines: one exchange, its checks kept together in the order they run.)"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas

from ._carried import (
    FriendKey,
    ensure_statuses,
    friend_problems,
    restore_friends,
    restore_statuses,
    status_problems,
)
from ._carried_watches import restore_watches, watch_problems
from ._export import (
    FORMAT,
    Document,
    ExportError,
    IntentKey,
    Kdf,
    KeysPayload,
    PlainKeys,
    Tables,
    box_key,
    fsync_path,
    sha256_of,
    write_private_file,
)
from ._home import Home, HomeError
from ._receipts import check_all
from ._relationships import relationship_problems
from ._rereading import person_key
from ._store import TABLES, AgentStore

__all__ = ["Imported", "import_export"]


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
    got = sha256_of(rest)
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
) -> tuple[dict[str, IntentKey] | None, FriendKey | None]:
    k = doc.keys
    if k is None:
        return None, None
    if isinstance(k, PlainKeys):
        return k.intents, k.friend
    _check_kdf(path, k.kdf)
    try:
        plain = nacl.secret.SecretBox(box_key(passphrase(), k.kdf)).decrypt(k.box)
    except nacl.exceptions.CryptoError:
        raise ExportError(
            f"{path}: expected the passphrase the keys were sealed with, got one that does not"
            " open them; wrong passphrase (or the sealed keys were altered): try again"
        ) from None
    payload = msgspec.json.decode(plain, type=KeysPayload)
    if not secrets.compare_digest(payload.content_sha256, sha256_of(content_b)):
        raise ExportError(
            f"{path}: expected the content the keys were sealed with, got other content; the file"
            " was edited after export: import an intact copy"
        )
    return payload.intents, payload.friend


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
    keys, friend_key = _open_keys(path, doc, raw["content"], passphrase)
    t = doc.content.tables
    _verify_frames(path, t, keys)
    book = doc.content.friends
    if book is not None and (bad := friend_problems(book, friend_key, keys is not None)):
        raise ExportError(
            f"{path}: expected a friend book of cards' fields, got {'; '.join(bad)}; the file"
            " was edited or damaged: import an intact copy"
        )

    watches = doc.content.watches
    if watches is not None and (bad := watch_problems(watches, t.intents)):
        raise ExportError(
            f"{path}: expected watches of the intents it carries, got {'; '.join(bad)}; the"
            " file was edited or damaged: import an intact copy"
        )

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
            ensure_statuses(store)
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
                restore_statuses(
                    store,
                    {"order_statuses": t.order_statuses, "mailbox_reads": t.mailbox_reads,
                     "status_refusals": t.status_refusals},
                )  # fmt: skip
            _verify_receipts(path, store)
            if bad := status_problems(store, t.order_statuses):
                raise ExportError(
                    f"{path}: expected every order status to verify against its vendor's key"
                    f" for that order, got {len(bad)} that do not ({'; '.join(bad)}); the file"
                    " was edited or damaged: import an intact copy"
                )
            if bad := relationship_problems(store):
                raise ExportError(
                    f"{path}: expected every update and erasure request, and their answers, to"
                    f" verify, got {len(bad)} that do not ({'; '.join(bad)}); the file was"
                    " edited or damaged: import an intact copy"
                )
            ratings = sum(1 for o in t.outcomes if o.kind == "rating")
        if book is not None:
            restore_friends(tmp, book, friend_key)
        if watches is not None:
            restore_watches(tmp, watches)
        for f in tmp.iterdir():  # the store is fsynced by SQLite; the rest is made so here
            fsync_path(f)
        fsync_path(tmp)
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
    fsync_path(target.parent)
    counts = {table: len(getattr(t, table)) for table in TABLES}
    return Imported(target, counts, keys is not None, ratings)
