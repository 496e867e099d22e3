"""Who signs and seals: the person's fresh keys per intent, a vendor's keys and the profile that
lists them, the key rings receivers build from profiles, and the cache that checks a profile
once however many offers carry it. Every exchange leans on this module; it leans on none."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from ._document import check_times
from ._envelope import Verified, self_signed, sign, verify
from ._errors import Rebound, RevokedSigner, UnknownSigner
from ._messages import VendorKey, VendorProfile
from ._terms import VendorTerms

__all__ = [
    "IntentSecrets",
    "KeyRing",
    "ProfileCache",
    "VendorSigner",
    "make_profile",
    "seal_key_for",
]


# --- the person: fresh keys per intent -------------------------------------------------


@dataclass(frozen=True)
class IntentSecrets:
    """The private half of one intent's fresh keys. Never leaves the person's disk."""

    sign: SigningKey
    seal: PrivateKey

    @classmethod
    def generate(cls) -> IntentSecrets:
        return cls(SigningKey.generate(), PrivateKey.generate())

    @classmethod
    def from_hex(cls, sign_seed: str, seal_secret: str) -> IntentSecrets:
        return cls(SigningKey(bytes.fromhex(sign_seed)), PrivateKey(bytes.fromhex(seal_secret)))

    def to_hex(self) -> tuple[str, str]:
        return bytes(self.sign).hex(), bytes(self.seal).hex()

    @property
    def sign_public(self) -> str:
        return bytes(self.sign.verify_key).hex()

    @property
    def seal_public(self) -> str:
        return bytes(self.seal.public_key).hex()


# --- a vendor: identity key, signing and sealing keys, and the profile listing them -------


@dataclass(frozen=True)
class VendorSigner:
    """A vendor's live keys: its identity (which signs its profile) and its current signing
    and sealing keys (listed in the profile)."""

    identity: SigningKey
    signing: SigningKey
    seal: PrivateKey
    profile_wire: bytes
    profile: VendorProfile

    @property
    def vendor_id(self) -> str:
        return bytes(self.identity.verify_key).hex()

    @property
    def ring(self) -> KeyRing:
        return KeyRing.from_profile(self.profile)


def make_profile(
    *,
    identity: SigningKey,
    signing: SigningKey,
    seal_key: PrivateKey,
    name: str,
    categories: list[str],
    terms: VendorTerms,
    now: datetime,
    ttl: timedelta = timedelta(days=365),
) -> VendorSigner:
    vid = bytes(identity.verify_key).hex()
    profile = VendorProfile(
        vendor_id=vid,
        name=name,
        keys=[
            VendorKey(
                sign=bytes(signing.verify_key).hex(),
                seal=bytes(seal_key.public_key).hex(),
                not_before=now - timedelta(minutes=5),
                not_after=now + ttl,
            )
        ],
        categories=categories,
        terms=terms,
    )
    wire = sign(profile, identity, created=now, expires=now + ttl, vendor=vid)
    return VendorSigner(identity, signing, seal_key, wire, profile)


def seal_key_for(profile: VendorProfile, kid: str) -> str:
    """The sealing key listed beside signing key ``kid`` in a vendor's profile."""
    for k in profile.keys:
        if k.sign == kid:
            return k.seal
    raise UnknownSigner(
        f"a key listed in {profile.vendor_id[:16]}...'s profile", kid[:16], "$.keys"
    )


# --- receivers: key rings and the profile cache ----------------------------------------


@dataclass
class KeyRing:
    """Signing keys a receiver attributes to one party, each valid in a window.

    Usable as a ``KeyResolver``: call it with a key id and a time.
    """

    owner: str
    _windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    _keys: dict[str, VerifyKey] = field(default_factory=dict, repr=False)

    def add(self, kid: str, not_before: datetime, not_after: datetime) -> None:
        self._windows[kid] = (not_before, not_after)

    @classmethod
    def from_profile(cls, profile: VendorProfile, revoked: Iterable[str] = ()) -> KeyRing:
        ring = cls(profile.vendor_id, revoked=set(profile.revoked) | set(revoked))
        for k in profile.keys:
            ring.add(k.sign, k.not_before, k.not_after)
        return ring

    def __call__(self, kid: str, at: datetime | None) -> VerifyKey:
        if kid in self.revoked:
            raise RevokedSigner("a key that is not revoked", f"revoked key {kid[:16]}...", "$.tag")
        window = self._windows.get(kid)
        if window is None:
            raise UnknownSigner(
                f"a key of {self.owner[:16]}...", f"unknown key {kid[:16]}...", "$.tag"
            )
        nb, na = window
        if at is not None and not nb <= at <= na:
            raise RevokedSigner(
                f"a key valid from {nb.isoformat()} to {na.isoformat()}",
                f"key {kid[:16]}... used at {at.isoformat()}",
                "$.tag",
            )
        key = self._keys.get(kid)
        if key is None:
            key = self._keys[kid] = VerifyKey(bytes.fromhex(kid))
        return key


class ProfileCache:
    """Verified vendor profiles, so a profile that travels with every offer is checked once,
    and its key ring built once. Found by signature, then compared byte for byte with the
    frame that was checked: only those exact bytes hit. Times are re-checked on every use."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._cache: OrderedDict[bytes, tuple[Verified[VendorProfile], KeyRing]] = OrderedDict()
        self._lock = threading.Lock()  # safe to share between threads opening offers

    def open(self, wire: bytes, now: datetime | None, where: str = "$") -> Verified[VendorProfile]:
        return self.open_with_ring(wire, now, where)[0]

    def open_with_ring(
        self, wire: bytes, now: datetime | None, where: str = "$"
    ) -> tuple[Verified[VendorProfile], KeyRing]:
        key = wire[:64]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0].wire != wire:
                hit = None  # same signature bytes, other frame: verify it afresh
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            v = verify(wire, VendorProfile, key=self_signed, now=None, where=where)
            if v.msg.vendor_id != v.kid:
                raise Rebound(
                    f"a profile signed by its vendor {v.msg.vendor_id[:16]}...",
                    f"one signed by {v.kid[:16]}...",
                    f"{where}.msg.vendor_id",
                )
            hit = (v, KeyRing.from_profile(v.msg))
            with self._lock:
                self._cache[key] = hit
                if len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        if now is not None:
            check_times(hit[0].header, now, where=where)
        return hit
