"""Which answers a person's agent believes (pure contract, no bus): only one signed by the
vendor dealt with and bound to the very request sent. Every other answer (junk, another
vendor's, one to another request, an old vendor's unbound or unsigned one) is refused with a
typed error of the contract, and nothing else ever raises out of opening it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import msgspec
import pytest

import schemas as s
from tests.factories import NOW, intent_for_test, offer_for_test, vendor_for_test


@dataclass
class Deal:
    person: s.CastIntent
    vendor: s.VendorSigner
    offer: s.OpenedOffer
    accept: s.Verified[s.Accept]
    at_vendor: s.OpenedAccept

    @property
    def ring(self) -> s.KeyRing:
        return s.KeyRing.from_profile(self.offer.profile.msg)


def _deal(vendor: s.VendorSigner | None = None, person: s.CastIntent | None = None) -> Deal:
    person, vendor = person or intent_for_test(), vendor or vendor_for_test()
    offer = s.open_offer(
        offer_for_test(person, vendor), intent=person.intent, secrets=person.secrets, now=NOW,
        replay=None, profiles=s.ProfileCache(),
    )  # fmt: skip
    accept, sealed = s.make_accept(
        intent_wire=person.wire, intent=person.intent, secrets=person.secrets, offer=offer,
        disclosure=s.Disclosure(name="Ada"), payment_method="card", now=NOW,
    )  # fmt: skip
    at_vendor = s.open_accept(sealed, signer=vendor, now=NOW, replay=None)
    return Deal(person, vendor, offer, accept, at_vendor)


def _confirmed(d: Deal, status: str = "confirmed", reason: str = "") -> bytes:
    return s.make_confirmation(
        d.at_vendor, signer=d.vendor, order_id="77" * 16, status=status, reason=reason, now=NOW
    )[2]


def _open(d: Deal, answer: bytes) -> s.OpenedConfirmation:
    return s.open_confirmation(
        answer, secrets=d.person.secrets, accept=d.accept, ring=d.ring, now=NOW, replay=None
    )


def _unbound_rejection(d: Deal) -> bytes:
    """A rejection as a vendor older than answer binding signs it: no request_hash."""
    a = d.accept.msg
    conf = s.OrderConfirmation(
        order_id="77" * 16, intent_id=a.intent_id, offer_id=a.offer_id,
        vendor_id=d.vendor.vendor_id, status="rejected", reason="out_of_stock",
    )  # fmt: skip
    wire = s.sign(
        conf, d.vendor.signing, created=NOW, expires=NOW + s.ACK_LIFETIME,
        intent=a.intent_id, vendor=d.vendor.vendor_id,
    )  # fmt: skip
    return s.seal(d.person.intent.keys.seal, s.pack(wire, wire))


JUNK = [b"[]", b"{}", b"", b'{"stored": true}', b"null", os.urandom(700), b"[" * 5000]


def test_the_vendors_own_answer_to_this_acceptance_is_believed() -> None:
    """The honest answer opens, and it names the acceptance it answers by hash."""
    d = _deal()
    got = _open(d, _confirmed(d))
    assert got.receipt is not None
    assert got.confirmation.msg.request_hash == d.accept.digest


@pytest.mark.parametrize(
    "junk", JUNK, ids=["list", "dict", "empty", "legacy", "null", "random", "deep"]
)
def test_junk_as_an_answer_is_a_protocol_error_never_anything_else(junk: bytes) -> None:
    """``[]``, ``{}``, garbage and deep nesting as an answer to an acceptance, a cancel or a
    countersignature raise only a ProtocolError (the agent's check counts it and waits on)."""
    d = _deal()
    conf = _open(d, _confirmed(d))
    assert conf.receipt is not None
    cs_wire, _ = s.countersign(conf.receipt, d.person.secrets, d.vendor.profile.keys[0].seal, NOW)
    cs = s.verify(cs_wire, s.Countersignature, key=_intent_key(d), now=None)
    cancel_wire, _ = s.make_cancel(
        conf.receipt, d.person.secrets, d.vendor.profile.keys[0].seal, "", NOW
    )
    cancel = s.verify(cancel_wire, s.Cancel, key=_intent_key(d), now=None)
    with pytest.raises(s.ProtocolError):
        _open(d, junk)
    with pytest.raises(s.ProtocolError):
        s.open_cancel_answer(junk, secrets=d.person.secrets, cancel=cancel, ring=d.ring, now=NOW)
    with pytest.raises(s.ProtocolError):
        s.open_acknowledgement(
            junk, secrets=d.person.secrets, countersignature=cs, ring=d.ring, now=NOW
        )


def _intent_key(d: Deal) -> s.KeyResolver:
    from nacl.signing import VerifyKey

    def only(kid: str, at: object) -> VerifyKey:
        if kid != d.person.intent.keys.sign:
            raise s.UnknownSigner("the intent's key", kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return only


def test_an_answer_signed_by_another_vendors_key_is_refused() -> None:
    """A stranger who heard the intent answers the acceptance with a well-formed rejection,
    sealed to the intent and signed by its own vendor key: unknown_signer, because the key is
    not in the profile the person dealt with, whatever key the answer names."""
    d = _deal()
    stranger = vendor_for_test("Stranger")
    forged = s.make_confirmation(
        d.at_vendor, signer=stranger, order_id="66" * 16, status="rejected",
        reason="out_of_stock", now=NOW,
    )[2]  # fmt: skip
    with pytest.raises(s.UnknownSigner):
        _open(d, forged)


def test_a_genuine_answer_to_another_acceptance_is_rebound() -> None:
    """The same vendor's signed answer to an earlier acceptance of the same offer (replayed)
    is not an answer to this one: rebound at request_hash."""
    first = _deal()
    again_accept, again_sealed = s.make_accept(
        intent_wire=first.person.wire, intent=first.person.intent, secrets=first.person.secrets,
        offer=first.offer, disclosure=s.Disclosure(name="Ada"), payment_method="card", now=NOW,
    )  # fmt: skip
    old_answer = _confirmed(first, "rejected", "acceptance_expired")
    second = Deal(
        first.person, first.vendor, first.offer, again_accept,
        s.open_accept(again_sealed, signer=first.vendor, now=NOW, replay=None),
    )  # fmt: skip
    with pytest.raises(s.Rebound, match="request_hash"):
        _open(second, old_answer)
    assert _open(second, _confirmed(second)).receipt is not None


def test_an_answer_bound_to_no_request_is_outdated() -> None:
    """A vendor older than answer binding signs rejections without request_hash: outdated, so
    the agent can say the vendor must upgrade instead of believing it."""
    d = _deal()
    with pytest.raises(s.Outdated):
        _open(d, _unbound_rejection(d))


def test_the_countersignature_ack_binds_its_countersignature() -> None:
    """The vendor's ack opens for the countersignature it answers, and is rebound for another
    (a second countersignature of the same receipt); the legacy ``{"stored": true}`` is
    outdated."""
    d = _deal()
    conf = _open(d, _confirmed(d))
    assert conf.receipt is not None
    seal_to = d.vendor.profile.keys[0].seal
    sent = [s.countersign(conf.receipt, d.person.secrets, seal_to, NOW)[0] for _ in range(2)]
    first, second = (s.verify(w, s.Countersignature, key=_intent_key(d), now=None) for w in sent)
    ack = s.acknowledge(
        first, signer=d.vendor, seal_to=d.person.intent.keys.seal, status="stored", reason="",
        now=NOW,
    )  # fmt: skip
    opened = s.open_acknowledgement(
        ack, secrets=d.person.secrets, countersignature=first, ring=d.ring, now=NOW
    )
    assert opened.msg.status == "stored" and opened.msg.request_hash == first.digest
    with pytest.raises(s.Rebound):
        s.open_acknowledgement(
            ack, secrets=d.person.secrets, countersignature=second, ring=d.ring, now=NOW
        )
    with pytest.raises(s.Outdated):
        s.open_acknowledgement(
            msgspec.json.encode({"stored": True}), secrets=d.person.secrets,
            countersignature=first, ring=d.ring, now=NOW,
        )  # fmt: skip


def test_a_cancel_answer_binds_its_cancellation() -> None:
    """The vendor's answer to one cancellation is rebound for another of the same order, and
    the confirmation of the acceptance (same order, same offer, same intent, same vendor)
    replayed as a cancel answer is rebound too: before binding, it passed as "the order
    stands"."""
    d = _deal()
    conf_reply = _confirmed(d)
    conf = _open(d, conf_reply)
    assert conf.receipt is not None
    seal_to = d.vendor.profile.keys[0].seal
    wires = [s.make_cancel(conf.receipt, d.person.secrets, seal_to, "", NOW)[0] for _ in range(2)]
    one, other = (s.verify(w, s.Cancel, key=_intent_key(d), now=None) for w in wires)
    answer = s.confirm_cancel(
        one, signer=d.vendor, seal_to=d.person.intent.keys.seal, status="rejected",
        reason="cancelled", now=NOW,
    )  # fmt: skip
    kw = dict(secrets=d.person.secrets, ring=d.ring, now=NOW)
    assert s.open_cancel_answer(answer, cancel=one, **kw).msg.reason == "cancelled"  # type: ignore[arg-type]
    with pytest.raises(s.Rebound):
        s.open_cancel_answer(answer, cancel=other, **kw)  # type: ignore[arg-type]
    with pytest.raises(s.Rebound, match="request_hash"):
        s.open_cancel_answer(conf_reply, cancel=one, **kw)  # type: ignore[arg-type]


def test_an_answer_sealed_to_another_intent_does_not_open() -> None:
    """An honest answer for somebody else's intent does not even open with this intent's key."""
    mine, theirs = _deal(), _deal()
    with pytest.raises(s.Malformed):
        _open(mine, _confirmed(theirs))
