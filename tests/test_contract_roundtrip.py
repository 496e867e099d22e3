"""Properties of signed frames: round trips, tamper evidence, binding to one intent."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

import schemas as s
from schemas import _document
from schemas._envelope import self_signed  # a unit test of the contract's own resolver
from tests.factories import NOW, intent_for_test, messages, offer_for_test, vendor_for_test

KEY = SigningKey(b"\x07" * 32)


def _frame(msg: s.Message) -> bytes:
    return s.sign(msg, KEY, created=NOW, expires=NOW + timedelta(minutes=30))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_every_message_type_round_trips_through_a_signed_frame(msg: s.Message) -> None:
    """Whatever a party signs, the receiver decodes to an equal message."""
    got = s.verify(_frame(msg), type(msg), key=self_signed, now=NOW)
    assert got.msg == msg
    assert got.kid == s.kid_of(KEY)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.data())
def test_any_single_byte_change_is_rejected(msg: s.Message, data: st.DataObject) -> None:
    """Changing one byte anywhere in a frame (signature, tag line, document) never verifies."""
    wire = _frame(msg)
    i = data.draw(st.integers(0, len(wire) - 1), label="index")
    b = data.draw(st.integers(0, 255).filter(lambda v: v != wire[i]), label="byte")
    bad = wire[:i] + bytes([b]) + wire[i + 1 :]
    with pytest.raises(s.ProtocolError):
        s.verify(bad, type(msg), key=self_signed, now=NOW)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_an_offer_for_intent_a_never_verifies_for_intent_b(data: st.DataObject) -> None:
    """A good offer for one intent is rebound, not accepted, when presented for another."""
    vendor = vendor_for_test()
    a = intent_for_test()
    b = intent_for_test()
    sealed_for_a = offer_for_test(a, vendor)
    bundle = s.unseal(a.secrets.seal, sealed_for_a)
    with pytest.raises(s.Rebound):
        s.open_offer_bundle(
            bundle, intent=b.intent, now=NOW, replay=None, profiles=s.ProfileCache()
        )
    # ...and B's key cannot even open what was sealed to A.
    with pytest.raises(s.Malformed):
        s.open_offer(
            sealed_for_a,
            intent=b.intent,
            secrets=b.secrets,
            now=NOW,
            replay=None,
            profiles=s.ProfileCache(),
        )


def test_whole_conversation_verifies_end_to_end() -> None:
    """Intent, offer, acceptance, confirmation with receipt, countersignature: each side
    verifies what the other built, and the receipt binds all three hashes."""
    person, vendor = intent_for_test(), vendor_for_test()
    opened = s.open_offer(
        offer_for_test(person, vendor),
        intent=person.intent,
        secrets=person.secrets,
        now=NOW,
        replay=s.ReplayCache(),
        profiles=s.ProfileCache(),
    )
    accept, sealed = s.make_accept(
        intent_wire=person.wire, intent=person.intent, secrets=person.secrets, offer=opened,
        disclosure=s.Disclosure(name="Ada"), payment_method="card", now=NOW,
    )  # fmt: skip
    at_vendor = s.open_accept(sealed, signer=vendor, now=NOW, replay=s.ReplayCache())
    assert at_vendor.accept.msg.disclosure.name == "Ada"
    _, receipt_wire, reply = s.make_confirmation(
        at_vendor, signer=vendor, order_id=s.new_id(), status="confirmed", reason="", now=NOW
    )
    conf = s.open_confirmation(
        reply,
        secrets=person.secrets,
        accept=accept,
        ring=s.KeyRing.from_profile(opened.profile.msg),
        now=NOW,
        replay=None,
    )
    assert conf.receipt is not None and conf.receipt.wire == receipt_wire
    assert conf.receipt.msg.accept_hash == accept.digest
    assert conf.receipt.msg.offer_hash == opened.offer.digest
    _, cs_sealed = s.countersign(conf.receipt, person.secrets, vendor.profile.keys[0].seal, NOW)
    cs = s.open_countersignature(
        cs_sealed, signer=vendor, intent_key=self_signed, now=NOW, replay=None
    )
    assert cs.msg.receipt_hash == conf.receipt.digest
    assert cs.kid == person.intent.keys.sign


def test_each_thread_compares_a_document_with_its_own_re_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two threads verifying at once never see each other's re-encoded document: even when
    both re-encode before either compares, each canonical frame passes on the fast path
    (the exact slow path is never taken) and decodes to its own message."""
    messages = [
        s.Decline(id=n * 16, intent_id="cd" * 16, offer_id="ef" * 16, vendor_id="01" * 32)
        for n in ("aa", "bb")
    ]
    frames = [_frame(m) for m in messages]
    both_encoded = threading.Barrier(len(frames))
    real_encoder, real_strict = _document._encoder, _document.decode_strict

    class BothReEncodeBeforeEitherCompares:
        def encode_into(self, obj: Any, buf: bytearray) -> None:
            real_encoder.encode_into(obj, buf)
            both_encoded.wait(timeout=10)

    slow_paths: list[bytes] = []

    def counting_strict(body: bytes, where: str = "$") -> Any:
        slow_paths.append(body)
        return real_strict(body, where)

    monkeypatch.setattr(_document, "_encoder", BothReEncodeBeforeEitherCompares())
    monkeypatch.setattr(_document, "decode_strict", counting_strict)
    got: dict[int, s.Decline] = {}

    def verify(i: int) -> None:
        got[i] = s.verify(frames[i], s.Decline, key=self_signed, now=NOW).msg

    threads = [threading.Thread(target=verify, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert got == dict(enumerate(messages))
    assert slow_paths == []
