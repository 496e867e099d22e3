"""Fake ratings, made the only ways the protocol leaves open.

- **Self-praise** (threat a of docs/trust.md): a vendor casts intents with fresh keys of its
  own, signs receipts for them and rates itself five stars with each intent's key. Buyers
  are unlinkable, so the bundle verifies like any real buyer's; it costs the vendor three
  signatures and nothing else. A *colluding* group of identities rating each other makes
  the same bytes: the receipt must be signed by the identity rated, so its group praising
  it is it praising itself.
- **Smears** (threat b): a rating of a rival needs a receipt the rival signed, so the
  attacker must really buy from it, at its price. The market does that with a shill agent
  over the real protocol (``Market``); this module only makes the praise.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import schemas

__all__ = ["self_praise"]


def self_praise(
    signer: schemas.VendorSigner, *, category: str, price: schemas.Money, now: datetime
) -> bytes:
    """A rating bundle of a made-up order: five stars, delivered, from a buyer the vendor
    made up (a fresh intent key), for a receipt the vendor signed itself."""
    cast = schemas.cast_intent(
        category=category, want=schemas.Want(category.rsplit("/", 1)[-1]), quantity=1,
        max_price=price, wanted_by=(now + timedelta(days=7)).date(),
        region=schemas.Region("ES", "28"), terms=schemas.Terms(), now=now,
        ttl=timedelta(minutes=5),
    )  # fmt: skip
    receipt = schemas.Receipt(
        id=schemas.new_id(), order_id=schemas.new_id(), intent_id=cast.intent.id,
        offer_id=schemas.new_id(), vendor_id=signer.vendor_id,
        intent_hash=schemas.digest(cast.wire[64:]), offer_hash=schemas.digest(b"made up"),
        accept_hash=schemas.digest(b"made up too"), item=schemas.Item("SELF-1", "Anything"),
        quantity=1, total_price=price, delivery_by=(now + timedelta(days=2)).date(),
        payment_method="card",
    )  # fmt: skip
    receipt_wire = schemas.sign(
        receipt, signer.signing, created=now, expires=now + timedelta(minutes=10),
        intent=cast.intent.id, vendor=signer.vendor_id,
    )  # fmt: skip
    return schemas.make_rating(
        receipt_wire=receipt_wire, intent_wire=cast.wire, profile_wire=signer.profile_wire,
        intent_seed=bytes(cast.secrets.sign), score=5, outcome="delivered", now=now,
    )  # fmt: skip
