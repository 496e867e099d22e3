"""The registrar: answers registration requests and keeps entries in a JetStream key-value
bucket, each signed with the registrar's key.

A name is claimed by its skeleton (``schemas.name_skeleton``) with the bucket's create-only-
if-absent write, so two vendors racing for look-alike names cannot both win, even with
several registrar processes on one bucket. A claim outlives its vendor's revocation: a
revoked vendor's name is not free for a new key to take (that is how a vendor rated down
would come back as "new").
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import nats.errors
import nats.js.errors
import structlog
from nacl.signing import SigningKey
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

import schemas
from runtime import Registry

__all__ = ["Decision", "Registrar", "RegistrarError"]

log = structlog.get_logger("intentcast.registry")
REFRESH_BEFORE = timedelta(days=30)  # re-sign entries that lapse within this


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RegistrarError(Exception):
    """An operator command that cannot be carried out; the message says why."""


Decision = tuple[str, str, str, bytes | None]  # status, code, detail, entry frame


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _same_name(a: str, b: str) -> bool:
    """The same name as typed (case and spacing aside), not merely one that looks alike."""
    return _folded(a) == _folded(b)


class Registrar:
    def __init__(
        self,
        key: SigningKey,
        kv: KeyValue,
        *,
        auto_approve: bool,
        metrics: Registry | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.key, self.kv, self.auto_approve, self.clock = key, kv, auto_approve, clock
        self.id = schemas.kid_of(key)
        self.replay = schemas.ReplayCache()
        self.metrics = metrics or Registry()
        self.answers = self.metrics.counter(
            "registry_answers_total", "Registration answers by status and code"
        )
        self.latency = self.metrics.histogram(
            "registry_registration_seconds", "Time to answer one registration request"
        )

    # --- the bucket ------------------------------------------------------------------------

    async def entry(self, vendor_id: str) -> schemas.Verified[schemas.RegistryEntry] | None:
        """This registrar's entry for a vendor, checked against its own key."""
        try:
            e = await self.kv.get(schemas.vendor_entry_key(vendor_id))
        except nats.js.errors.KeyNotFoundError:  # also a deleted key
            return None
        if not e.value:
            return None
        return schemas.open_entry(e.value, registrars={self.id}, now=None, vendor_id=vendor_id)

    async def _claim(self, skeleton: str, vendor_id: str, name: str) -> tuple[str, str] | None:
        """Claim a skeleton for ``vendor_id``; None if ours now, else (holder id, holder name)."""
        key = schemas.name_claim_key(skeleton)
        value = json.dumps({"vendor_id": vendor_id, "name": name}).encode()
        try:
            await self.kv.create(key, value)
            return None
        except nats.js.errors.KeyWrongLastSequenceError:
            held = json.loads((await self.kv.get(key)).value or b"{}")
        if held.get("vendor_id") == vendor_id:
            return None  # ours already (a repeat, or a crash between claim and entry)
        return str(held.get("vendor_id", "")), str(held.get("name", ""))

    async def _release(self, skeleton: str, vendor_id: str) -> None:
        key = schemas.name_claim_key(skeleton)
        try:
            held = json.loads((await self.kv.get(key)).value or b"{}")
        except nats.js.errors.KeyNotFoundError:
            return
        if held.get("vendor_id") == vendor_id:
            await self.kv.delete(key)

    async def _write(
        self,
        *,
        vendor_id: str,
        name: str,
        categories: list[str],
        regions: list[str],
        serial: int,
        registered: date,
        status: str = "active",
        reason: str = "",
    ) -> bytes:
        wire = schemas.make_entry(
            self.key, vendor_id=vendor_id, name=name, categories=categories, regions=regions,
            registered=registered, serial=serial, now=self.clock(), status=status,
            reason=reason,
        )  # fmt: skip
        await self.kv.put(schemas.vendor_entry_key(vendor_id), wire)
        log.info(
            "registry.entry.written", vendor=vendor_id, name=name, serial=serial, status=status
        )
        return wire

    # --- registration ----------------------------------------------------------------------

    async def on_request(self, msg: Msg) -> None:
        started = time.perf_counter()
        now = self.clock()
        try:
            req = schemas.open_registration(
                msg.data, registrar=self.id, now=now, replay=self.replay
            )
        except schemas.ProtocolError as err:
            self.answers.inc(status="unverified", code=err.code)
            log.warning("registration.unverified", code=err.code, error=str(err))
            return  # no answer is bound to a request that did not verify
        try:
            status, code, detail, entry = await self.decide(req.msg, req.wire, now)
        except (nats.errors.Error, TimeoutError) as exc:  # the bucket did not answer
            self.answers.inc(status="failed", code=type(exc).__name__)
            log.error("registration.failed", vendor=req.msg.vendor_id, error=repr(exc))
            return  # nothing was decided; the vendor's request times out and it may retry
        reply = schemas.make_registration_answer(
            self.key, req, status=status, code=code, detail=detail, now=now, entry=entry
        )
        await msg.respond(reply)
        self.answers.inc(status=status, code=code or "none")
        self.latency.observe(time.perf_counter() - started)
        event = "registration.refused" if status == "refused" else f"registration.{status}"
        log.info(event, vendor=req.msg.vendor_id, name=req.msg.name, code=code, detail=detail)

    async def decide(
        self, m: schemas.RegistrationRequest, request_wire: bytes, now: datetime
    ) -> Decision:
        for c in m.categories:
            if c not in schemas.CATEGORIES:
                return "refused", "unknown_category", f"{c!r} is not in the shared taxonomy", None
        skeleton = schemas.name_skeleton(m.name)
        if not skeleton:
            return "refused", "invalid", "a name needs at least one letter or digit", None
        prior = await self.entry(m.vendor_id)
        if prior is not None and prior.msg.status == "revoked":
            return "refused", "revoked", f"this vendor was revoked: {prior.msg.reason}", None
        if prior is not None and prior.msg.skeleton == skeleton:
            p = prior.msg
            if (p.name, p.categories, p.regions) == (m.name, m.categories, m.regions):
                return "registered", "", "already registered", prior.wire
        held = await self._claim(skeleton, m.vendor_id, m.name)
        if held is not None:
            holder, holder_name = held
            owner = f"registered to {holder[:16]}..."
            if _same_name(holder_name, m.name):
                return "refused", "name_taken", f"{holder_name!r} is {owner}", None
            return "refused", "confusable", f"looks like {holder_name!r}, {owner}", None
        if prior is None and not self.auto_approve:
            await self.kv.put(f"pending.{m.vendor_id}", request_wire)
            return "pending", "", "waiting for the operator's approval", None
        entry = await self._write(
            vendor_id=m.vendor_id, name=m.name, categories=list(m.categories),
            regions=list(m.regions), serial=(prior.msg.serial + 1) if prior else 1,
            registered=now.date() if prior is None else prior.msg.registered,
        )  # fmt: skip
        if prior is not None and prior.msg.skeleton != skeleton:
            await self._release(prior.msg.skeleton, m.vendor_id)  # renamed: the old name is free
        return "registered", "", "", entry

    # --- operator commands -----------------------------------------------------------------

    async def approve(self, vendor_id: str) -> bytes:
        try:
            pending = await self.kv.get(f"pending.{vendor_id}")
        except nats.js.errors.KeyNotFoundError:
            raise RegistrarError(f"no pending request from {vendor_id}") from None
        assert pending.value is not None
        req = schemas.open_registration(pending.value, registrar=self.id, now=None, replay=None).msg
        wire = await self._write(
            vendor_id=vendor_id, name=req.name, categories=list(req.categories),
            regions=list(req.regions), serial=1, registered=self.clock().date(),
        )  # fmt: skip
        await self.kv.delete(f"pending.{vendor_id}")
        return wire

    async def revoke(self, vendor_id: str, reason: str) -> bytes:
        prior = await self.entry(vendor_id)
        if prior is None:
            raise RegistrarError(f"no entry for vendor {vendor_id}; see `intentcast-registry list`")
        p = prior.msg
        return await self._write(
            vendor_id=vendor_id, name=p.name, categories=list(p.categories),
            regions=list(p.regions), serial=p.serial + 1, registered=p.registered,
            status="revoked", reason=reason,
        )  # fmt: skip

    async def rotate(self, vendor_id: str) -> bytes:
        """Re-issue an entry: a new serial, a fresh lifetime, the same facts."""
        prior = await self.entry(vendor_id)
        if prior is None:
            raise RegistrarError(f"no entry for vendor {vendor_id}; see `intentcast-registry list`")
        p = prior.msg
        return await self._write(
            vendor_id=vendor_id, name=p.name, categories=list(p.categories),
            regions=list(p.regions), serial=p.serial + 1, registered=p.registered,
            status=p.status, reason=p.reason,
        )  # fmt: skip

    async def entries(self) -> list[schemas.Verified[schemas.RegistryEntry]]:
        try:
            keys = await self.kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        out = []
        for k in sorted(keys):
            if k.startswith("vendor."):
                e = await self.entry(k.removeprefix("vendor."))
                if e is not None:
                    out.append(e)
        return out

    async def refresh(self) -> int:
        """Re-sign every entry that lapses within ``REFRESH_BEFORE``; returns how many."""
        due = self.clock() + REFRESH_BEFORE
        n = 0
        for e in await self.entries():
            if e.header.expires < due:
                await self.rotate(e.msg.vendor_id)
                n += 1
        return n
