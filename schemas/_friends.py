"""Friends: a person's ratings that the people who follow them recognise, and nobody else.

A rating is signed by its order's own intent key, so it links nothing. A person who shares
ratings with friends also holds a long-lived **friend identity**: an Ed25519 key ``F`` and a
32-byte secret ``k``, handed out of band on a :class:`FriendCard` (a file or a line of text)
to the people who follow them. Each rating they publish carries, inside the rating the intent
key signs, a **friend seal**:

    seal    = XSalsa20-Poly1305 secretbox under k (fresh 24-byte nonce) of sig
    sig     = Ed25519(F, "intentcast/1 friend-rating\\n" || receipt_hash || " " ||
                         intent_key || " " || vendor_id)

A follower opens the seal with each friend's ``k`` it holds and checks ``sig`` against that
friend's ``F`` (the key the seal must come from: the one whose secret opened it). To anyone
without ``k`` a seal is 104 uniformly random bytes, fresh per rating, and a rating with no
friend behind it carries 104 random bytes too (:func:`cover_seal`), so seals neither link two
ratings nor say who has friends. ``sig`` binds the seal to one receipt, one intent key and one
vendor, so it cannot be moved to another rating; and since ``k`` only opens it, a follower (who
holds ``k`` but not ``F``'s private key) cannot make a seal that passes as the friend's: that is
a :class:`BadSignature`. What a follower can do is link that one friend's ratings: following
is trust, and a friend who stops trusting a follower hands out a new card.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.secret import SecretBox
from nacl.signing import SigningKey, VerifyKey

from ._errors import BadSignature, Malformed

__all__ = [
    "FRIEND_CARD_FORMAT",
    "FRIEND_SEAL_BYTES",
    "Friend",
    "FriendCard",
    "FriendIdentity",
    "cover_seal",
    "friend_seal",
    "recognise_friend",
]

FRIEND_SEAL_BYTES = SecretBox.NONCE_SIZE + SecretBox.MACBYTES + 64  # 104
FRIEND_CARD_FORMAT = "intentcast-friend/1"
_RATING_TAG = b"intentcast/1 friend-rating\n"
_CARD_TAG = b"intentcast/1 friend-card\n"


def _binding(receipt_hash: str, intent_key: str, vendor_id: str) -> bytes:
    return _RATING_TAG + f"{receipt_hash} {intent_key} {vendor_id}".encode()


@dataclass(frozen=True)
class Friend:
    """Someone the person follows: the name the person knows them by, their friend key ``F``
    (hex) and their seal secret ``k``."""

    name: str
    key: str
    secret: bytes


@dataclass(frozen=True)
class FriendIdentity:
    """The person's own friend identity: the seed of ``F`` and the secret ``k``."""

    seed: bytes
    secret: bytes

    @classmethod
    def generate(cls) -> FriendIdentity:
        return cls(os.urandom(32), os.urandom(SecretBox.KEY_SIZE))

    @property
    def key(self) -> str:
        return SigningKey(self.seed).verify_key.encode().hex()

    def card(self, name: str) -> FriendCard:
        return FriendCard.make(self, name)


def friend_seal(
    identity: FriendIdentity, *, receipt_hash: str, intent_key: str, vendor_id: str
) -> bytes:
    """The seal a follower of ``identity`` recognises on the rating of ``receipt_hash``."""
    sig = SigningKey(identity.seed).sign(_binding(receipt_hash, intent_key, vendor_id)).signature
    return bytes(SecretBox(identity.secret).encrypt(sig))


def cover_seal() -> bytes:
    """What a rating with no friend behind it carries: as many random bytes as a seal."""
    return os.urandom(FRIEND_SEAL_BYTES)


def recognise_friend(
    seal: bytes,
    friends: Iterable[Friend],
    *,
    receipt_hash: str,
    intent_key: str,
    vendor_id: str,
    where: str = "$.rating.msg.friend_seal",
) -> Friend | None:
    """The friend behind ``seal``, or None when none of ``friends`` sealed it (a stranger's
    rating). Raises :class:`BadSignature` when a friend's secret opens the seal but what is
    inside is not that friend's signature of this rating: a forged or moved friend seal."""
    if len(seal) != FRIEND_SEAL_BYTES:
        return None
    for f in friends:
        try:
            sig = SecretBox(f.secret).decrypt(seal)
        except CryptoError:
            continue
        try:
            VerifyKey(bytes.fromhex(f.key)).verify(
                _binding(receipt_hash, intent_key, vendor_id), sig
            )
        except (BadSignatureError, ValueError):
            raise BadSignature(
                f"{f.name}'s signature of this rating inside a seal under their secret",
                "a seal that opens but does not verify",
                where,
            ) from None
        return f
    return None


@dataclass(frozen=True)
class FriendCard:
    """What a person hands a friend out of band: one line of text,

        intentcast-friend/1 <name, base64url> <F, hex> <k, hex> <signature, hex>

    the signature by ``F`` over the tag ``intentcast/1 friend-card\\n`` and the three fields
    before it, so a card mistyped or edited in transit does not load."""

    name: str
    key: str
    secret: bytes
    signature: bytes

    @staticmethod
    def _signed(name: str, key: str, secret: bytes) -> bytes:
        return _CARD_TAG + f"{name}\n{key}\n{secret.hex()}".encode()

    @classmethod
    def make(cls, identity: FriendIdentity, name: str) -> FriendCard:
        sig = SigningKey(identity.seed).sign(cls._signed(name, identity.key, identity.secret))
        return cls(name, identity.key, identity.secret, sig.signature)

    def text(self) -> str:
        name = base64.urlsafe_b64encode(self.name.encode()).decode().rstrip("=")
        return f"{FRIEND_CARD_FORMAT} {name} {self.key} {self.secret.hex()} {self.signature.hex()}"

    def friend(self, name: str | None = None) -> Friend:
        return Friend(name or self.name, self.key, self.secret)

    @classmethod
    def parse(cls, text: str, where: str = "card") -> FriendCard:
        """A card from its text (surrounding blank lines and spaces ignored); raises
        :class:`Malformed` or :class:`BadSignature` saying what does not hold."""
        parts = text.strip().split()
        if len(parts) != 5 or parts[0] != FRIEND_CARD_FORMAT:
            raise Malformed(
                f"'{FRIEND_CARD_FORMAT} NAME KEY SECRET SIGNATURE' on one line",
                f"{len(parts)} words starting {parts[0][:24]!r}" if parts else "nothing",
                where,
            )
        _, name64, key, secret_hex, sig_hex = parts
        try:
            name = base64.urlsafe_b64decode(name64 + "=" * (-len(name64) % 4)).decode()
            secret, sig = bytes.fromhex(secret_hex), bytes.fromhex(sig_hex)
            verify_key = VerifyKey(bytes.fromhex(key))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Malformed(
                "base64url name and hex key, secret, signature", str(exc), where
            ) from None
        if len(key) != 64 or len(secret) != SecretBox.KEY_SIZE or len(sig) != 64 or not name:
            raise Malformed(
                "a name, a 32-byte key, a 32-byte secret and a 64-byte signature",
                f"{len(name)} characters, {len(key) // 2}, {len(secret)} and {len(sig)} bytes",
                where,
            )
        try:
            verify_key.verify(cls._signed(name, key, secret), sig)
        except BadSignatureError:
            raise BadSignature(
                "a card signed by the key it names", "a signature that does not match", where
            ) from None
        return cls(name, key, secret, sig)
