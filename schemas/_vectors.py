"""Test vectors for implementers in other languages (pure: returns data, writes nothing).

Every vector is deterministic: fixed seeds, fixed nonces, fixed times. Each names the
context a receiver needs to reproduce the verdict: the type it expects, the time, the audience,
the keys it knows (``"self"``: the key named in the frame is its own credential), revoked keys,
and ``replay_of``: the vector it has already accepted.

The module is one table of cases and the few frames they chain (over 300 lines because every
message type has its valid case); splitting the table would only scatter it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from nacl.signing import SigningKey

from ._envelope import digest, sign
from ._examples import example_vendor_terms
from ._framing import PROTOCOL
from ._messages import (
    Accept,
    Cancel,
    CertifiedRating,
    Countersignature,
    CountersignatureAck,
    Decline,
    DetailsAck,
    DetailsUpdate,
    Disclosure,
    ErasureConfirmation,
    ErasureRequest,
    Intent,
    IntentKeys,
    Item,
    Offer,
    OrderConfirmation,
    OrderStatus,
    Rating,
    Receipt,
    Region,
    RegistrationAnswer,
    RegistrationRequest,
    RegistryEntry,
    VendorKey,
    VendorProfile,
    Want,
)
from ._money import Money
from ._roster import ROSTER

__all__ = ["VECTOR_NOW", "test_vectors"]

VECTOR_NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
_INTENT_ID = "11" * 16
_OTHER_INTENT_ID = "22" * 16
_OFFER_ID = "33" * 16
_HOUR = timedelta(hours=1)


def _key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def _hex(k: SigningKey) -> str:
    return bytes(k.verify_key).hex()


_PERSON, _VENDOR, _STRANGER = _key(1), _key(2), _key(3)
_TERMS = example_vendor_terms(payment_methods=["card", "sepa"])


def _intent() -> Intent:
    return Intent(
        id=_INTENT_ID,
        category="outdoor/tents",
        want=Want("2-person tent", {"colour": "green"}),
        quantity=1,
        max_price=Money(15000, "EUR"),
        wanted_by=date(2026, 12, 10),
        region=Region("ES", "28"),
        terms=ROSTER["nostalking"].terms,
        keys=IntentKeys(sign=_hex(_PERSON), seal="44" * 32),
        reply_subject="ic.v1.reply." + "55" * 16,
    )


def _offer(vendor: SigningKey = _VENDOR) -> Offer:
    return Offer(
        id=_OFFER_ID,
        intent_id=_INTENT_ID,
        vendor_id=_hex(_key(9)),
        item=Item("TENT-2P", "Two-person dome tent", {"colour": "green"}),
        quantity=1,
        unit_price=Money(12900, "EUR"),
        total_price=Money(12900, "EUR"),
        delivery_by=date(2026, 12, 1),
        terms=_TERMS,
    )


def _raw(key: SigningKey, tag: str, body: bytes, proto: str = PROTOCOL) -> bytes:
    signed = f"{proto} {tag} {_hex(key)}\n".encode() + body
    return key.sign(signed).signature + signed


def _body(hdr: dict[str, Any], msg: bytes) -> bytes:
    return b'{"hdr":' + msgspec.json.encode(hdr) + b',"msg":' + msg + b"}"


def _conversation(
    now: datetime, offer_wire: bytes, vendor_hdr: dict[str, str], vendor_keys: list[str]
) -> list[tuple[str, str, bytes, str | None, dict[str, Any]]]:
    """One valid frame of every other message type, chained by hash as in a real order:
    acceptance of valid_offer for valid_intent, the vendor's confirmation and receipt, the
    person's countersignature, a cancellation, a decline and a rating."""
    intent_wire = sign(
        _intent(), _PERSON, created=now, expires=now + timedelta(minutes=5), nonce="cc" * 16,
        intent=_INTENT_ID,
    )  # fmt: skip
    vendor_id, order_id = vendor_hdr["vendor"], "77" * 16
    ids = dict(intent_id=_INTENT_ID, offer_id=_OFFER_ID, vendor_id=vendor_id)

    def framed(msg: Any, key: SigningKey, nonce: str) -> bytes:
        return sign(msg, key, created=now, expires=now + _HOUR, nonce=nonce, **vendor_hdr)

    accept_wire = framed(
        Accept(
            id="88" * 16, **ids, intent_hash=digest(intent_wire[64:]),
            offer_hash=digest(offer_wire[64:]), payment_method="card",
            disclosure=Disclosure(name="Ada Lovelace", address=["Calle Mayor 1"], postcode="28013",
                                  country="ES"),
            reply_subject="ic.v1.reply." + "99" * 16,
        ),
        _PERSON, "e1" * 16,
    )  # fmt: skip
    receipt = Receipt(
        id="aa" * 16, order_id=order_id, **ids, intent_hash=digest(intent_wire[64:]),
        offer_hash=digest(offer_wire[64:]), accept_hash=digest(accept_wire[64:]),
        item=_offer().item, quantity=1, total_price=_offer().total_price,
        delivery_by=_offer().delivery_by, payment_method="card",
    )  # fmt: skip
    receipt_wire = framed(receipt, _VENDOR, "e3" * 16)
    cs_wire = framed(
        Countersignature(receipt_id=receipt.id, receipt_hash=digest(receipt_wire[64:]),
                         intent_id=_INTENT_ID, vendor_id=vendor_id),
        _PERSON, "e4" * 16,
    )  # fmt: skip
    person = {"expect": "", "audience": vendor_hdr, "keys": [_hex(_PERSON)]}
    vendor = {"expect": "", "audience": vendor_hdr, "keys": vendor_keys}
    rating_wire = framed(
        Rating(receipt_hash=digest(receipt_wire[64:]), vendor_id=vendor_id, score=5,
               outcome="delivered", friend_seal=bytes(range(104))), _PERSON, "e7" * 16,
    )  # fmt: skip
    certified = msgspec.structs.replace(
        _offer(), id="cf" * 16,
        certified=[CertifiedRating(rating=rating_wire, receipt=receipt_wire, intent=intent_wire)],
    )  # fmt: skip
    return [
        ("valid_accept", "The person's acceptance of valid_offer, signed by the intent's key, "
         "binding the intent and the offer by the SHA-256 of their signed bytes.",
         accept_wire, None, {**person, "expect": "accept"}),
        ("valid_order_confirmation", "The vendor's confirmation of that acceptance, bound to "
         "it by the SHA-256 of its signed bytes.",
         framed(OrderConfirmation(order_id=order_id, **ids, status="confirmed",
                                  request_hash=digest(accept_wire[64:])), _VENDOR, "e2" * 16),
         None, {**vendor, "expect": "order_confirmation"}),
        ("valid_receipt", "The vendor's receipt binding intent, offer and acceptance by hash.",
         receipt_wire, None, {**vendor, "expect": "receipt"}),
        ("valid_countersignature", "The person's countersignature of valid_receipt.",
         cs_wire, None, {**person, "expect": "countersignature"}),
        ("valid_countersignature_ack", "The vendor's answer that it stored "
         "valid_countersignature, bound to it by the SHA-256 of its signed bytes.",
         framed(CountersignatureAck(receipt_id=receipt.id, request_hash=digest(cs_wire[64:]),
                                    intent_id=_INTENT_ID, vendor_id=vendor_id, status="stored"),
                _VENDOR, "e8" * 16),
         None, {**vendor, "expect": "countersignature_ack"}),
        ("valid_cancel", "The person asks the vendor to cancel the order of valid_receipt.",
         framed(Cancel(order_id=order_id, **ids, by="person", reason="changed my mind"), _PERSON, "e5" * 16),
         None, {**person, "expect": "cancel"}),
        ("valid_decline", "The vendor declines to make an offer, with a reason.",
         framed(Decline(id="bb" * 16, **ids, reason="out_of_stock"), _VENDOR, "e6" * 16),
         None, {**vendor, "expect": "decline"}),
        ("valid_rating", "The person's rating of the order of valid_receipt, by the intent's key;"
         " its friend_seal is opaque bytes to all but the rater's followers.",
         rating_wire, None, {**person, "expect": "rating"}),
        ("valid_offer_certified", "A second offer of the vendor of valid_offer, carrying a"
         " certified copy of valid_rating with valid_receipt and valid_intent; the copy verifies"
         " as a rating bundle with valid_vendor_profile.",
         framed(certified, _VENDOR, "e8" * 16), None, {**vendor, "expect": "offer"}),
        ("valid_order_status", "The vendor's signed word that the order of valid_receipt shipped, "
         "bound to the receipt by id and hash, the first status of that order (seq 1).",
         framed(OrderStatus(order_id=order_id, receipt_id=receipt.id,
                            receipt_hash=digest(receipt_wire[64:]), intent_id=_INTENT_ID,
                            vendor_id=vendor_id, seq=1, state="shipped", carrier="Correos",
                            tracking="PK123456789ES"), _VENDOR, "e9" * 16),
         None, {**vendor, "expect": "order_status"}),
        *_relationship(framed, order_id, digest(receipt_wire[64:]), person, vendor),
    ]  # fmt: skip


def _relationship(
    framed: Any, order_id: str, receipt_hash: str, person: dict[str, Any], vendor: dict[str, Any]
) -> list[tuple[str, str, bytes, str | None, dict[str, Any]]]:
    """The person's new address for the order of valid_receipt and the vendor's
    acknowledgement; an erasure request for that order and the vendor's confirmation."""
    vendor_id = vendor["audience"]["vendor"]
    order = dict(order_id=order_id, intent_id=_INTENT_ID, vendor_id=vendor_id)
    update = framed(
        DetailsUpdate(
            **order, receipt_hash=receipt_hash, changed=["address", "city", "postcode"],
            details=Disclosure(address=["Calle Nueva 7"], postcode="28004", city="Madrid"),
        ),
        _PERSON, "d1" * 16,
    )  # fmt: skip
    erasure = framed(ErasureRequest(**order, receipt_hash=receipt_hash), _PERSON, "d3" * 16)
    answer = dict(order_id=order_id, vendor_id=vendor_id)
    return [
        ("valid_details_update", "The person's changed address for the order of valid_receipt, "
         "signed by that order's intent key and bound to it by the receipt's hash.",
         update, None, {**person, "expect": "details_update"}),
        ("valid_details_ack", "The vendor applied valid_details_update (bound by its hash).",
         framed(DetailsAck(**answer, update_hash=digest(update[64:]), status="applied"),
                _VENDOR, "d2" * 16),
         None, {**vendor, "expect": "details_ack"}),
        ("valid_erasure_request", "The person asks the vendor to erase what it holds for the "
         "order of valid_receipt.", erasure, None, {**person, "expect": "erasure_request"}),
        ("valid_erasure_confirmation", "The vendor's signed word that it erased those details.",
         framed(ErasureConfirmation(**answer, request_hash=digest(erasure[64:]), status="erased"),
                _VENDOR, "d4" * 16),
         None, {**vendor, "expect": "erasure_confirmation"}),
    ]  # fmt: skip


def _registration(
    now: datetime, registrar: SigningKey
) -> list[tuple[str, str, bytes, str | None, dict[str, Any]]]:
    """A vendor's registration request, signed by its identity key, and the registrar's
    answer bound to it by the SHA-256 of its signed bytes."""
    vendor = _key(9)
    request_wire = sign(
        RegistrationRequest(
            vendor_id=_hex(vendor), registrar=_hex(registrar), name="Example Outdoor",
            categories=["outdoor"], regions=["ES"],
        ),
        vendor, created=now, expires=now + timedelta(minutes=5), nonce="f1" * 16,
        vendor=_hex(vendor),
    )  # fmt: skip
    answer_wire = sign(
        RegistrationAnswer(
            vendor_id=_hex(vendor), request_hash=digest(request_wire[64:]), status="registered"
        ),
        registrar, created=now, expires=now + timedelta(minutes=5), nonce="f2" * 16,
        vendor=_hex(vendor),
    )  # fmt: skip
    audience = {"vendor": _hex(vendor)}
    return [
        ("valid_registration_request", "A vendor asks a registrar (named inside) to register "
         "its name; signed by its identity key, whose hex is vendor_id.",
         request_wire, None, {"expect": "registration_request", "audience": audience, "keys": "self"}),
        ("valid_registration_answer", "The registrar's answer, bound to that request by hash.",
         answer_wire, None, {"expect": "registration_answer", "audience": audience,
                             "keys": [_hex(registrar)]}),
    ]  # fmt: skip


def test_vectors() -> dict[str, dict[str, Any]]:
    now = VECTOR_NOW
    t = timedelta
    vendor_hdr = dict(intent=_INTENT_ID, vendor=_hex(_key(9)))

    def offer_frame(
        key: SigningKey = _VENDOR,
        created: datetime = now,
        life: timedelta = _HOUR,
        nonce: str = "aa" * 16,
        intent: str = _INTENT_ID,
    ) -> bytes:
        return sign(
            _offer(),
            key,
            created=created,
            expires=created + life,
            nonce=nonce,
            intent=intent,
            vendor=vendor_hdr["vendor"],
        )

    hdr = {
        "created": "2026-11-01T12:00:00Z",
        "expires": "2026-11-01T13:00:00Z",
        "nonce": "bb" * 16,
        **vendor_hdr,
    }
    offer_json = msgspec.json.encode(_offer())
    vendor_keys = [_hex(_VENDOR)]
    offer_ctx = {"expect": "offer", "audience": vendor_hdr, "keys": vendor_keys}
    profile = VendorProfile(
        vendor_id=_hex(_key(9)), name="Example Outdoor", categories=["outdoor"], terms=_TERMS,
        keys=[VendorKey(sign=_hex(_VENDOR), seal="66" * 32, not_before=now - t(days=1), not_after=now + t(days=364))],
    )  # fmt: skip

    entry = RegistryEntry(
        vendor_id=_hex(_key(9)), name="Example Outdoor", skeleton="exampleoutdoor",
        categories=["outdoor"], registered=date(2026, 10, 1), status="active", serial=1,
        regions=["ES"],
    )  # fmt: skip
    registrar = _key(4)
    entry_ctx = {
        "expect": "registry_entry",
        "audience": {"vendor": _hex(_key(9))},
        "keys": [_hex(registrar)],
    }

    def entry_frame(key: SigningKey) -> bytes:
        return sign(
            entry, key, created=now, expires=now + t(days=90), nonce="ee" * 16, vendor=_hex(_key(9))
        )

    cases: list[tuple[str, str, bytes, str | None, dict[str, Any]]] = [
        *_conversation(now, offer_frame(), vendor_hdr, vendor_keys),
        ("valid_intent", "A self-signed intent.",
         sign(_intent(), _PERSON, created=now, expires=now + t(minutes=5), nonce="cc" * 16, intent=_INTENT_ID),
         None, {"expect": "intent", "audience": {"intent": _INTENT_ID}, "keys": "self"}),
        ("valid_offer", "An offer signed by a key the receiver knows for this vendor.",
         offer_frame(), None, offer_ctx),
        ("valid_vendor_profile", "A vendor profile signed by the vendor's identity key.",
         sign(profile, _key(9), created=now, expires=now + t(days=365), nonce="dd" * 16, vendor=_hex(_key(9))),
         None, {"expect": "vendor_profile", "audience": {"vendor": _hex(_key(9))}, "keys": "self"}),
        ("valid_registry_entry", "A registry entry signed by the registrar the receiver trusts.",
         entry_frame(registrar), None, entry_ctx),
        *_registration(now, registrar),
        ("untrusted_registry_entry", "A registry entry signed by a key the receiver does not trust as a registrar (here the vendor's own).",
         entry_frame(_key(9)), "unknown_signer", entry_ctx),
        ("bad_signature", "A valid offer whose signature has one bit flipped.",
         bytes([offer_frame()[0] ^ 1]) + offer_frame()[1:], "bad_signature", offer_ctx),
        ("tampered_byte", "A valid offer with one byte of the signed JSON changed (price 12900 -> 02900).",
         offer_frame().replace(b"12900", b"02900", 1), "bad_signature", offer_ctx),
        ("unknown_signer", "An offer signed by a key the receiver does not know for this vendor.",
         offer_frame(_STRANGER), "unknown_signer", offer_ctx),
        ("revoked_signer", "An offer signed by a revoked key.",
         offer_frame(), "revoked_signer", {**offer_ctx, "revoked": vendor_keys}),
        ("expired", "An offer that expired an hour before `now` (clock skew is 30 s).",
         offer_frame(created=now - t(hours=2)), "expired", offer_ctx),
        ("not_yet_valid", "An offer created ten minutes after `now`.",
         offer_frame(created=now + t(minutes=10)), "not_yet_valid", offer_ctx),
        ("replayed", "The valid_offer frame again: same signer, same nonce.",
         offer_frame(), "replayed", {**offer_ctx, "replay_of": "valid_offer"}),
        ("rebound_intent", "A good offer for intent 2222... received for intent 1111....",
         offer_frame(intent=_OTHER_INTENT_ID, nonce="ab" * 16), "rebound", offer_ctx),
        ("rebound_type", "A good offer frame presented where an acceptance is expected.",
         offer_frame(nonce="ac" * 16), "rebound", {**offer_ctx, "expect": "accept"}),
        ("oversized", "A frame over the 32 KiB limit; refused before any parsing.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json) + b" " * 33000), "oversized", offer_ctx),
        ("malformed_utf8", "A signed document with invalid UTF-8 inside a string.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json.replace(b"Two-person", b"Two-\xffperson"))), "malformed", offer_ctx),
        ("malformed_duplicate_key", "A signed document in which `total_price` appears twice.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json[:-1] + b',"total_price":{"amount":100,"currency":"EUR"}}')), "malformed", offer_ctx),
        ("malformed_nan", "A signed document with NaN where a number belongs.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json.replace(b'"quantity":1', b'"quantity":NaN'))), "malformed", offer_ctx),
        ("malformed_truncated", "A signed document cut short.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json)[:-40]), "malformed", offer_ctx),
        ("unsupported_version", "A frame whose tag line says intentcast/2.",
         _raw(_VENDOR, "offer", _body(hdr, offer_json), proto="intentcast/2"), "unsupported_version", offer_ctx),
    ]  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for name, description, wire, error, ctx in cases:
        out[name] = {
            "description": description,
            "public_key": wire[64:][wire[64:].index(b"\n") - 64 : wire[64:].index(b"\n")].decode(),
            "signed_bytes": wire[64:].hex(),
            "signature": wire[:64].hex(),
            "valid": error is None,
            "error": error,
            "context": {
                "now": now.isoformat().replace("+00:00", "Z"),
                "audience": ctx.get("audience"),
                "expect": ctx["expect"],
                "keys": ctx["keys"],
                "revoked": ctx.get("revoked", []),
                "replay_of": ctx.get("replay_of"),
            },
        }
    return out
