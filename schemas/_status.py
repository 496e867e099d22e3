"""What became of an order: the vendor's signed status (shipped, delivered, cancelled by the
vendor), sealed to the intent's key and left in the order's mailbox until the person's agent
picks it up.

:func:`make_status` (vendor) -> :func:`open_status` (person). The mailbox's subject is
derived from what only the two parties of that order hold (:func:`mailbox_token`): the
X25519 secret shared by the intent's seal key and the vendor's seal key for the offer, and
the receipt's hash. Two orders of one person share no part of a mailbox's name, and a
reader of the ratings board (where receipts may be published) cannot derive it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from nacl.bindings import crypto_scalarmult
from nacl.public import PrivateKey

from ._envelope import Audience, KeyResolver, Verified, sign, verify
from ._errors import Rebound
from ._identity import IntentSecrets, VendorSigner
from ._messages import OrderStatus, Receipt
from ._replay import ReplayCache
from ._sealing import pack, seal, unpack, unseal

__all__ = [
    "MAILBOX_DAYS",
    "MAILBOX_ROOT",
    "STATUS_STATES",
    "mailbox_days",
    "mailbox_stream",
    "mailbox_subject",
    "mailbox_token",
    "make_status",
    "open_status",
]

STATUS_STATES = ("shipped", "delivered", "cancelled")
MAILBOX_ROOT = "ic.v1.mailbox"
MAILBOX_DAYS = (1, 7, 30, 90, 365)  # one mailbox stream per retention, its max_age
_TOKEN_TAG = b"intentcast/1 mailbox\n"


def mailbox_days(retention_days: int) -> int | None:
    """The longest mailbox retention within ``retention_days`` (the shorter of the person's
    term and the vendor's); None when not even a day is allowed: then no mailbox is used."""
    fits = [d for d in MAILBOX_DAYS if d <= retention_days]
    return fits[-1] if fits else None


def mailbox_stream(days: int) -> str:
    """The JetStream stream holding mailboxes kept ``days`` days: ``IC_MAILBOX_7D``."""
    return f"IC_MAILBOX_{days}D"


def mailbox_token(own_seal: PrivateKey, their_seal: str, receipt_hash: str) -> str:
    """32 hex: SHA-256(tag || X25519(own, theirs) || receipt hash)[:16]. The vendor computes
    it with its seal key and the intent's, the person with the intent's and the vendor's."""
    shared = crypto_scalarmult(bytes(own_seal), bytes.fromhex(their_seal))
    return hashlib.sha256(_TOKEN_TAG + shared + bytes.fromhex(receipt_hash)).hexdigest()[:32]


def mailbox_subject(days: int, token: str) -> str:
    """``ic.v1.mailbox.<days>d.<token>``: one order's mailbox."""
    return f"{MAILBOX_ROOT}.{days}d.{token}"


def make_status(
    receipt: Verified[Receipt],
    *,
    signer: VendorSigner,
    seal_to: str,
    seq: int,
    state: str,
    now: datetime,
    ttl: timedelta,
    carrier: str = "",
    tracking: str = "",
    reason: str = "",
) -> tuple[bytes, bytes]:
    """(frame to keep, sealed bytes for the mailbox). ``ttl``: how long it may wait."""
    r = receipt.msg
    status = OrderStatus(
        order_id=r.order_id, receipt_id=r.id, receipt_hash=receipt.digest, intent_id=r.intent_id,
        vendor_id=signer.vendor_id, seq=seq, state=state,  # type: ignore[arg-type]
        carrier=carrier[:200], tracking=tracking[:200], reason=reason[:200],
    )  # fmt: skip
    wire = sign(
        status, signer.signing, created=now, expires=now + ttl,
        intent=r.intent_id, vendor=signer.vendor_id,
    )  # fmt: skip
    return wire, seal(seal_to, pack(wire))


def open_status(
    sealed: bytes,
    *,
    secrets: IntentSecrets,
    receipt: Verified[Receipt],
    vendor_key: KeyResolver,
    now: datetime | None,
    replay: ReplayCache | None = None,
) -> Verified[OrderStatus]:
    """Verify a status against the vendor's key for this order (``vendor_key``: the ring of
    the profile kept with the offer) and bind it to this order's receipt."""
    (wire,) = unpack(unseal(secrets.seal, sealed), 1, "$.bundle")
    r = receipt.msg
    got = verify(
        wire, OrderStatus, key=vendor_key, now=now, replay=replay,
        audience=Audience(intent=r.intent_id, vendor=r.vendor_id),
    )  # fmt: skip
    s = got.msg
    binds = {
        "receipt_id": (s.receipt_id, r.id),
        "receipt_hash": (s.receipt_hash, receipt.digest),
        "order_id": (s.order_id, r.order_id),
        "vendor_id": (s.vendor_id, r.vendor_id),
    }
    for field, (found, wanted) in binds.items():
        if found != wanted:
            raise Rebound(
                f"a status of this order ({field} {wanted[:16]}...)",
                f"{field} {found[:16]}...",
                f"$.msg.{field}",
            )
    return got
