"""Keys: per-intent key pairs, vendor key rings with validity windows and revocation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from ._errors import RevokedSigner, UnknownSigner
from ._messages import VendorProfile

__all__ = ["IntentSecrets", "KeyRing"]


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
