"""What an intent and a sealed reply leave to link: sealed boxes come in a few sizes, intent
lifetimes from a fixed set, `created` to the second (pure contract, no bus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nacl.public import PrivateKey, SealedBox

import schemas
from tests.conftest import tent_intent

KEY = PrivateKey.generate()
OVERHEAD = 48  # crypto_box_seal: ephemeral public key and MAC


@pytest.mark.parametrize(
    ("size", "box"),
    [
        (0, 1024),
        (1024 - OVERHEAD - 1, 1024),
        (1024 - OVERHEAD, 2048),
        (2900, 4096),
        (4096 - OVERHEAD - 1, 4096),
        (schemas.MAX_SEALED_BYTES - OVERHEAD - 1, schemas.MAX_SEALED_BYTES),
    ],
)
def test_a_box_is_padded_to_the_smallest_size_that_holds_it(size: int, box: int) -> None:
    """The box of ``size`` plaintext bytes is exactly the smallest of BOX_SIZES that holds
    them with the 0x80 mark, and opens to the same bytes (also when they end in zeros)."""
    data = bytes(range(256)) * (size // 256) + b"}" * (size % 256)
    for plain in (data, data[:-1] + b"\x00" if data else data):
        sealed = schemas.seal(KEY.public_key, plain)
        assert len(sealed) == box
        assert schemas.unseal(KEY, sealed) == plain


def test_the_padding_is_a_mark_then_zeros_inside_the_box() -> None:
    """Inside the box: the bundle, 0x80, then zeros up to the bucket (schemas/README.md)."""
    bundle = schemas.pack(b"frame")
    inner = SealedBox(KEY).decrypt(schemas.seal(KEY.public_key, bundle))
    assert inner == bundle + b"\x80" + bytes(1024 - OVERHEAD - len(bundle) - 1)


def test_an_unpadded_box_of_an_older_sender_still_opens() -> None:
    """A box sealed without padding (a bundle ends in `}`) opens to its bundle."""
    bundle = schemas.pack(b"one", b"two")
    old = bytes(SealedBox(KEY.public_key).encrypt(bundle))
    assert schemas.unpack(schemas.unseal(KEY, old), 2) == [b"one", b"two"]


def test_nothing_too_big_for_the_largest_box_is_sealed() -> None:
    """Plaintext that no box size holds is Oversized at the sender, not sent to be refused."""
    with pytest.raises(schemas.Oversized):
        schemas.seal(KEY.public_key, bytes(schemas.MAX_SEALED_BYTES - OVERHEAD))


@pytest.mark.parametrize(
    ("wait", "minutes"),
    [
        (0, 1),
        (3, 1),
        (60, 1),
        (60.5, 5),
        (300, 5),
        (301, 15),
        (3600, 60),
        (3601, 1440),
        (1e9, 1440),
    ],
)
def test_intent_lifetime_is_the_smallest_of_the_set_that_covers_the_wait(
    wait: float, minutes: int
) -> None:
    """1, 5, 15, 60 minutes or a day: the smallest that covers the wait, a day at most."""
    assert schemas.intent_lifetime(wait) == timedelta(minutes=minutes)
    assert schemas.intent_lifetime(wait) in schemas.INTENT_LIFETIMES


def test_cast_intent_keeps_whole_seconds_and_a_lifetime_of_the_set() -> None:
    """Whatever ``now`` and ``ttl`` a caller gives, the signed header says `created` to the
    second and a lifetime of the fixed set (7 minutes asked: 15 given)."""
    cast = tent_intent()
    now = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
    again = schemas.cast_intent(
        category="outdoor/tents", want=cast.intent.want, quantity=1,
        max_price=cast.intent.max_price, wanted_by=cast.intent.wanted_by,
        region=cast.intent.region, terms=cast.intent.terms, now=now, ttl=timedelta(minutes=7),
    )  # fmt: skip
    hdr = schemas.open_intent(again.wire, now=None, replay=None).header
    assert hdr.created == now.replace(microsecond=0) == again.created
    assert hdr.expires - hdr.created == timedelta(minutes=15)
    assert b'"created":"2026-12-01T09:00:00Z"' in again.wire


def test_acceptance_countersignature_and_cancel_keep_whole_seconds() -> None:
    """Every time the person's agent signs after the intent (the acceptance, the
    countersignature, the cancellation) says `created` and `expires` to the second, whatever
    microseconds the clock had."""
    from tests.factories import intent_for_test, offer_for_test, vendor_for_test

    now = datetime(2026, 11, 22, 12, 0, 0, 654321, tzinfo=UTC)
    person, vendor = intent_for_test(), vendor_for_test()
    offer = schemas.open_offer(
        offer_for_test(person, vendor), intent=person.intent, secrets=person.secrets,
        now=now, replay=None, profiles=schemas.ProfileCache(),
    )  # fmt: skip
    accept, sealed = schemas.make_accept(
        intent_wire=person.wire, intent=person.intent, secrets=person.secrets, offer=offer,
        disclosure=schemas.Disclosure(name="Ada"), payment_method="card", now=now,
    )  # fmt: skip
    opened = schemas.open_accept(sealed, signer=vendor, now=now, replay=None)
    _, receipt_wire, _ = schemas.make_confirmation(
        opened, signer=vendor, order_id="77" * 16, status="confirmed", reason="", now=now
    )
    assert receipt_wire is not None
    receipt = schemas.verify(receipt_wire, schemas.Receipt, key=vendor.ring, now=None)
    seal_to = vendor.profile.keys[0].seal
    cs_wire, _ = schemas.countersign(receipt, person.secrets, seal_to, now)
    cancel_wire, _ = schemas.make_cancel(receipt, person.secrets, seal_to, "", now)
    own = person.intent.keys.sign
    for wire, kind in ((accept.wire, schemas.Accept), (cs_wire, schemas.Countersignature),
                       (cancel_wire, schemas.Cancel)):  # fmt: skip
        hdr = schemas.verify(wire, kind, key=_only(own), now=None).header
        assert hdr.created == now.replace(microsecond=0), kind
        assert hdr.created.microsecond == hdr.expires.microsecond == 0, kind
        assert b"654321" not in wire


def _only(key_hex: str) -> schemas.KeyResolver:
    from nacl.signing import VerifyKey

    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        assert kid == key_hex
        return VerifyKey(bytes.fromhex(kid))

    return resolve
