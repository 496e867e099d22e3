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
