"""Registering a vendor: the request a vendor signs, the entry a registrar signs, the answer
that binds the two, and how a receiver opens each. Both sides of the exchange sit here.

    vendor                                   registrar
    RegistrationRequest (identity key)  -->  ic.v1.registry.<registrar>.register
                                        <--  Bundle[RegistrationAnswer, RegistryEntry?]

Entries are kept in a JetStream key-value bucket (``REGISTRY_BUCKET``) under
``vendor.<vendor_id>``; each name's skeleton is claimed under ``name.<digest>`` so that a
create-only-if-absent write makes the uniqueness check atomic. Readers trust an entry only
if a registrar key they chose signed it: never the key the entry names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date, datetime, timedelta

from nacl.signing import SigningKey, VerifyKey

from ._envelope import Audience, KeyResolver, Verified, digest, kid_of, self_signed, sign, verify
from ._errors import Rebound, UnknownSigner
from ._messages import RegistrationAnswer, RegistrationRequest, RegistryEntry
from ._names import name_skeleton
from ._replay import ReplayCache
from ._sealing import pack, unpack

__all__ = [
    "ENTRY_LIFETIME",
    "REGISTRY_BUCKET",
    "make_entry",
    "make_registration",
    "make_registration_answer",
    "name_claim_key",
    "open_entry",
    "open_registration",
    "open_registration_answer",
    "vendor_entry_key",
]

REGISTRY_BUCKET = "ic_registry"
ENTRY_LIFETIME = timedelta(days=90)  # a registrar re-signs entries well before they lapse
_REQUEST_LIFETIME = timedelta(minutes=10)
_ANSWER_LIFETIME = timedelta(minutes=10)


def vendor_entry_key(vendor_id: str) -> str:
    """The bucket key of a vendor's entry."""
    return f"vendor.{vendor_id}"


def name_claim_key(skeleton: str) -> str:
    """The bucket key that claims a name's skeleton (hashed: keys allow few characters)."""
    return "name." + hashlib.sha256(skeleton.encode()).hexdigest()[:40]


# --- the vendor asks ----------------------------------------------------------------------


def make_registration(
    identity: SigningKey,
    *,
    registrar: str,
    name: str,
    categories: list[str],
    regions: list[str],
    now: datetime,
) -> bytes:
    vid = kid_of(identity)
    msg = RegistrationRequest(
        vendor_id=vid, registrar=registrar, name=name, categories=categories, regions=regions
    )
    return sign(msg, identity, created=now, expires=now + _REQUEST_LIFETIME, vendor=vid)


def open_registration(
    wire: bytes, *, registrar: str, now: datetime | None, replay: ReplayCache | None
) -> Verified[RegistrationRequest]:
    """A request signed by the identity key it names, addressed to this registrar.
    ``now=None`` re-reads a stored request (no time checks, no replay cache)."""
    v = verify(wire, RegistrationRequest, key=self_signed, now=now, audience=None, replay=None)
    m = v.msg
    if v.kid != m.vendor_id or v.header.vendor != m.vendor_id:
        raise Rebound(
            f"a request signed by its vendor {m.vendor_id[:16]}...",
            f"one signed by {v.kid[:16]}... for {v.header.vendor[:16] or '(none)'}",
            "$.msg.vendor_id",
        )
    if m.registrar != registrar:
        raise Rebound(f"registrar {registrar[:16]}...", f"{m.registrar[:16]}...", "$.msg.registrar")
    if replay is not None and now is not None:  # last, once everything else held
        replay.add(v.kid, v.header.nonce, v.header.expires, now)
    return v


# --- the registrar signs ------------------------------------------------------------------


def make_entry(
    key: SigningKey,
    *,
    vendor_id: str,
    name: str,
    categories: list[str],
    regions: list[str],
    registered: date,
    serial: int,
    now: datetime,
    status: str = "active",
    reason: str = "",
    ttl: timedelta = ENTRY_LIFETIME,
) -> bytes:
    entry = RegistryEntry(
        vendor_id=vendor_id,
        name=name,
        skeleton=name_skeleton(name),
        categories=categories,
        registered=registered,
        status=status,  # type: ignore[arg-type]
        serial=serial,
        regions=regions,
        reason=reason,
    )
    return sign(entry, key, created=now, expires=now + ttl, vendor=vendor_id)


def make_registration_answer(
    key: SigningKey,
    request: Verified[RegistrationRequest],
    *,
    status: str,
    now: datetime,
    code: str = "",
    detail: str = "",
    entry: bytes | None = None,
) -> bytes:
    """The reply: ``[answer, entry]``, or ``[answer, answer]`` when there is no entry (as a
    rejected order repeats its confirmation: a reply is always two frames)."""
    vid = request.msg.vendor_id
    answer = RegistrationAnswer(
        vendor_id=vid, request_hash=request.digest,
        status=status,  # type: ignore[arg-type]  # the decoder checks it on the way back
        code=code, detail=detail,
    )  # fmt: skip
    wire = sign(answer, key, created=now, expires=now + _ANSWER_LIFETIME, vendor=vid)
    return pack(wire, entry if entry is not None else wire)


# --- anybody reads ------------------------------------------------------------------------


def _trusted(registrars: Collection[str]) -> KeyResolver:
    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        if kid not in registrars:
            raise UnknownSigner("a registrar you trust", f"key {kid[:16]}...", "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve


def open_entry(
    wire: bytes,
    *,
    registrars: Collection[str],
    now: datetime | None,
    vendor_id: str | None = None,
    where: str = "$",
) -> Verified[RegistryEntry]:
    """An entry signed by one of ``registrars`` (never by the key it names), about
    ``vendor_id`` when given. Its status is the caller's to read: a revoked entry verifies."""
    v = verify(
        wire,
        RegistryEntry,
        key=_trusted(registrars),
        now=now,
        audience=Audience(vendor=vendor_id),
        where=where,
    )
    if v.header.vendor != v.msg.vendor_id:
        raise Rebound(
            f"an entry for {v.header.vendor[:16]}...",
            f"one for {v.msg.vendor_id[:16]}...",
            f"{where}.msg.vendor_id",
        )
    return v


def open_registration_answer(
    reply: bytes, *, registrar: str, request: bytes, now: datetime
) -> tuple[Verified[RegistrationAnswer], Verified[RegistryEntry] | None]:
    """The registrar's answer to the request whose frame is ``request``, and the entry that
    came with it (checked to be this vendor's)."""
    frames = unpack(reply, 2)
    answer = verify(frames[0], RegistrationAnswer, key=_trusted({registrar}), now=now)
    want = digest(request[64:])
    if answer.msg.request_hash != want:
        raise Rebound(f"an answer to request {want[:16]}...", answer.msg.request_hash[:16], "$.msg")
    entry = None
    if frames[1] != frames[0]:
        entry = open_entry(
            frames[1], registrars={registrar}, now=now, vendor_id=answer.msg.vendor_id
        )
    return answer, entry
