"""A reader's view of a vendor registry: entries from one JetStream key-value bucket, each
believed only if a registrar key the reader trusts signed it (``schemas.open_entry``).

:meth:`RegistryView.load` takes a snapshot of the bucket (one watch over ``vendor.>`` that
stops once the current values are in); :meth:`RegistryView.lookup` is then synchronous and
verifies a vendor's entry on first use, once per distinct entry. A one-shot command loads
once; a long-running reader loads again when it wants fresher entries.

The local registrar file is the embedded default: a registrar started for one machine writes
its key, bucket and bus there, and a person's agent on that same bus trusts it without set-up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client

import schemas

from ._resolve import default_data_dir

__all__ = [
    "LocalRegistrar",
    "Registration",
    "RegistryView",
    "local_registrar_file",
    "read_local_registrar",
    "write_local_registrar",
]

log = structlog.get_logger("intentcast.registry")
_KEY_PREFIX = schemas.vendor_entry_key("")
NOT_REGISTERED = "not registered with a registrar you trust"


def local_registrar_file() -> Path:
    return default_data_dir() / "registrar.json"


@dataclass(frozen=True)
class LocalRegistrar:
    key: str
    bucket: str
    bus: str


def write_local_registrar(info: LocalRegistrar, path: Path | None = None) -> Path:
    """Written by a registrar serving one machine's bus; readable by its user only."""
    path = path or local_registrar_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"key": info.key, "bucket": info.bucket, "bus": info.bus}, f)
    tmp.replace(path)
    return path


def read_local_registrar(path: Path | None = None) -> LocalRegistrar | None:
    try:
        raw = json.loads((path or local_registrar_file()).read_text())
        info = LocalRegistrar(str(raw["key"]), str(raw["bucket"]), str(raw["bus"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(info.key) != 64 or info.key.strip("0123456789abcdef"):
        return None
    return info


@dataclass(frozen=True)
class Registration:
    """What a reader may believe about one vendor: its verified active entry, or why not."""

    entry: schemas.Verified[schemas.RegistryEntry] | None
    problem: str = ""  # "" when active; else a short reason a person can read

    @property
    def unknown(self) -> bool:
        """No entry at all for this vendor (not one that is revoked, lapsed or forged)."""
        return self.problem == NOT_REGISTERED

    @property
    def active(self) -> bool:
        return self.entry is not None and not self.problem

    @property
    def name(self) -> str | None:
        return self.entry.msg.name if self.active and self.entry is not None else None


class RegistryView:
    def __init__(self, registrars: Collection[str], bucket: str = schemas.REGISTRY_BUCKET) -> None:
        self.registrars = frozenset(registrars)
        self.bucket = bucket
        self.loaded = False
        self.unreadable: str | None = None  # why the last load could not read the bucket
        self._raw: dict[str, bytes] = {}
        self._verified: dict[str, tuple[bytes, Registration]] = {}

    def __len__(self) -> int:
        return len(self._raw)

    async def load(self, nc: Client, wait: float = 5.0) -> int:
        """Replace the snapshot with the bucket's current entries; returns how many. A missing
        bucket is an empty registry (logged): nobody is registered there yet. ``wait`` bounds
        each step on the bus, in seconds."""
        raw: dict[str, bytes] = {}
        self.unreadable = None
        try:
            kv = await nc.jetstream(timeout=wait).key_value(self.bucket)
            watcher = await kv.watch(_KEY_PREFIX + ">", ignore_deletes=True)
            try:
                while (e := await watcher.updates(wait)) is not None:  # type: ignore[no-untyped-call]
                    if e.value:
                        raw[e.key[len(_KEY_PREFIX) :]] = bytes(e.value)
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        except nats.js.errors.BucketNotFoundError:
            log.warning("registry.bucket_missing", bucket=self.bucket)
        except (nats.errors.Error, TimeoutError) as exc:  # no JetStream here, or it is down
            self.unreadable = type(exc).__name__
            log.warning("registry.unreadable", bucket=self.bucket, error=repr(exc))
        self._raw, self.loaded = raw, True
        log.info("registry.loaded", bucket=self.bucket, entries=len(raw))
        return len(raw)

    def hold(self, vendor_id: str, wire: bytes) -> None:
        """Put the frame found under a vendor's key into the snapshot; verified when used."""
        self._raw[vendor_id] = wire

    def lookup(self, vendor_id: str, now: datetime) -> Registration:
        """The vendor's standing in the snapshot, its entry verified against the trusted keys."""
        wire = self._raw.get(vendor_id)
        if wire is None and self.unreadable is not None:
            return Registration(None, f"the registry could not be read ({self.unreadable})")
        if wire is None:
            return Registration(None, NOT_REGISTERED)
        hit = self._verified.get(vendor_id)
        if hit is not None and hit[0] == wire:
            reg = hit[1]
        else:
            reg = self._verify(vendor_id, wire)
            self._verified[vendor_id] = (wire, reg)
        if reg.entry is not None and not reg.problem:
            try:  # times are checked on every use, as profiles' are
                schemas.check_times(reg.entry.header, now)
            except schemas.ProtocolError as err:
                return Registration(reg.entry, f"its registry entry has {err.code}")
        return reg

    def _verify(self, vendor_id: str, wire: bytes) -> Registration:
        try:
            v = schemas.open_entry(wire, registrars=self.registrars, now=None, vendor_id=vendor_id)
        except schemas.ProtocolError as err:
            log.warning("registry.entry_rejected", vendor=vendor_id, code=err.code, error=str(err))
            return Registration(None, f"its registry entry did not verify ({err.code})")
        if v.msg.status != "active":
            why = f"revoked by the registrar{': ' + v.msg.reason if v.msg.reason else ''}"
            return Registration(v, why)
        return Registration(v)
