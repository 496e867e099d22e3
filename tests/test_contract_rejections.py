"""Each rejection class has a test that builds the bad message and asserts the typed error."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from nacl.signing import SigningKey

import schemas as s
from schemas._envelope import self_signed  # a unit test of the contract's own resolver
from tests.factories import NOW, VTERMS, intent_for_test, offer_for_test, vendor_for_test

KEY = SigningKey(b"\x05" * 32)
MSG = s.Decline(id="ab" * 16, intent_id="cd" * 16, offer_id="ef" * 16, vendor_id="01" * 32)


def frame(**kw: object) -> bytes:
    args: dict[str, object] = dict(
        created=NOW, expires=NOW + timedelta(minutes=5), intent="cd" * 16
    )
    args.update(kw)
    return s.sign(MSG, KEY, **args)  # type: ignore[arg-type]


def raw(tagline: bytes, body: bytes, key: SigningKey = KEY) -> bytes:
    signed = tagline + b"\n" + body
    return key.sign(signed).signature + signed


def body_of(wire: bytes) -> bytes:
    return wire[64:].split(b"\n", 1)[1]


def tagline(key: SigningKey = KEY, tag: str = "decline") -> bytes:
    return f"intentcast/1 {tag} {s.kid_of(key)}".encode()


def check(wire: bytes, **kw: object) -> s.Verified[s.Decline]:
    args: dict[str, object] = dict(key=self_signed, now=NOW)
    args.update(kw)
    return s.verify(wire, s.Decline, **args)  # type: ignore[arg-type]


def test_bad_signature_is_refused_and_says_which_key() -> None:
    """A flipped signature bit gives BadSignature naming the key's prefix."""
    wire = frame()
    with pytest.raises(s.BadSignature) as e:
        check(bytes([wire[0] ^ 0x80]) + wire[1:])
    assert s.kid_of(KEY)[:16] in str(e.value)


def test_unknown_signer_is_refused() -> None:
    """A key that is not in the receiver's ring gives UnknownSigner."""
    ring = s.KeyRing("vendor")
    with pytest.raises(s.UnknownSigner):
        check(frame(), key=ring)


def test_revoked_and_out_of_window_signers_are_refused() -> None:
    """A revoked key, or one used outside its validity window, gives RevokedSigner."""
    ring = s.KeyRing("vendor")
    ring.add(s.kid_of(KEY), NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert check(frame(), key=ring).kid == s.kid_of(KEY)
    ring.revoked.add(s.kid_of(KEY))
    with pytest.raises(s.RevokedSigner):
        check(frame(), key=ring)
    late = s.KeyRing("vendor")
    late.add(s.kid_of(KEY), NOW + timedelta(days=1), NOW + timedelta(days=2))
    with pytest.raises(s.RevokedSigner):
        check(frame(), key=late)


def test_expired_and_not_yet_valid_respect_the_clock_skew() -> None:
    """Within 30 s of skew passes; beyond it gives Expired or NotYetValid."""
    wire = frame()
    check(wire, now=NOW + timedelta(minutes=5, seconds=29))
    with pytest.raises(s.Expired) as e:
        check(wire, now=NOW + timedelta(minutes=6))
    assert "expires after" in e.value.expected and e.value.where.endswith("hdr.expires")
    check(wire, now=NOW - timedelta(seconds=29))
    with pytest.raises(s.NotYetValid):
        check(wire, now=NOW - timedelta(minutes=1))


def test_replay_of_the_same_nonce_is_refused() -> None:
    """The second delivery of one frame gives Replayed; a fresh frame passes."""
    cache = s.ReplayCache()
    wire = frame()
    check(wire, replay=cache)
    with pytest.raises(s.Replayed):
        check(wire, replay=cache)
    check(frame(), replay=cache)


def test_replay_cache_is_bounded_and_forgetting_never_admits_a_replay() -> None:
    """A full cache evicts the earliest-expiring entry and refuses anything expiring by then."""
    cache = s.ReplayCache(capacity=3)
    wires = [frame(expires=NOW + timedelta(minutes=i + 1)) for i in range(5)]
    for w in wires:
        check(w, replay=cache)
    assert len(cache) == 3
    for w in wires:
        with pytest.raises(s.Replayed):
            check(w, replay=cache)


def test_rebound_type_intent_and_vendor_are_refused() -> None:
    """A good signature on the wrong type, intent or vendor gives Rebound."""
    with pytest.raises(s.Rebound):
        s.verify(frame(), s.Offer, key=self_signed, now=NOW)
    with pytest.raises(s.Rebound):
        check(frame(), audience=s.Audience(intent="ff" * 16))
    with pytest.raises(s.Rebound):
        check(frame(vendor="02" * 32), audience=s.Audience(vendor="01" * 32))


def test_vendor_answering_under_another_vendors_profile_is_refused() -> None:
    """An offer signed by vendor X but carrying vendor Y's profile names no key of Y."""
    person, honest, rogue = intent_for_test(), vendor_for_test("Y"), vendor_for_test("X")
    borrowed = s.VendorSigner(
        rogue.identity, rogue.signing, rogue.seal, honest.profile_wire, honest.profile
    )
    sealed = offer_for_test(person, borrowed)
    with pytest.raises(s.UnknownSigner):
        s.open_offer(
            sealed,
            intent=person.intent,
            secrets=person.secrets,
            now=NOW,
            replay=None,
            profiles=s.ProfileCache(),
        )


def test_oversized_frames_and_boxes_are_refused_before_parsing() -> None:
    """Anything over the limits gives Oversized without touching the bytes."""
    with pytest.raises(s.Oversized):
        check(b"\x00" * (s.MAX_FRAME_BYTES + 1))
    with pytest.raises(s.Oversized):
        s.unseal(intent_for_test().secrets.seal, b"\x00" * (s.MAX_SEALED_BYTES + 1))


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda b: b.replace(b'"reason"', b'"re\xffason"'), "invalid UTF-8"),
        # The body ends with msg's "}" then the document's: a second offer_id goes inside msg.
        (lambda b: b[:-2] + b',"offer_id":"' + b"00" * 16 + b'"}}', "duplicate key"),
        (lambda b: b.replace(b'"type":"decline"', b'"type":"decline","n":NaN'), "NaN"),
        (lambda b: b[:-10], "truncation"),
        (lambda b: b.replace(b'"type":"decline"', b'"type":"rating"'), "a body of another type"),
        (lambda b: b.replace(b'"nonce":"', b'"nonce":"zz'), "a schema violation"),
        (
            lambda b: b.replace(b"\\u003a", b"").replace(b'"type"', b'"\\u003a":1,"type"'),
            "escaped colon",
        ),
    ],
)
def test_malformed_documents_with_valid_signatures_are_refused(mutate, what: str) -> None:  # type: ignore[no-untyped-def]
    """A correctly signed but malformed document gives Malformed ({what})."""
    wire = raw(tagline(), mutate(body_of(frame())))
    with pytest.raises(s.Malformed):
        check(wire)


def _duplicated(body: bytes, where: str) -> bytes:
    """``body`` with one key of the object at ``where`` ($ or $.hdr or $.msg) repeated, the
    repeat carrying another valid value: the last one read would pass every other check."""
    if where == "$":  # a second msg, for another offer: two parties could read two messages
        other = body[body.index(b',"msg":') : -1].replace(b"efef", b"0000")
        return body[:-1] + other + b"}"
    if where == "$.hdr":  # a second audience inside the header
        return body.replace(b',"vendor":""}', b',"vendor":"","intent":"' + b"00" * 16 + b'"}', 1)
    return body[:-2] + b',"reason":"changed my mind"}}'


@pytest.mark.parametrize(("where", "key"), [("$", "msg"), ("$.hdr", "intent"), ("$.msg", "reason")])
def test_a_repeated_key_at_the_top_or_nested_is_malformed_at_its_path(where: str, key: str) -> None:
    """A correctly signed document that repeats a key (a second msg at the top level, a second
    intent in the header, a second reason in the message), each repeat valid on its own, is
    Malformed at the repeated key's path and says which key came twice."""
    body = body_of(frame())
    doubled = _duplicated(body, where)
    assert doubled.count(f'"{key}":'.encode()) == body.count(f'"{key}":'.encode()) + 1
    with pytest.raises(s.Malformed) as e:
        check(raw(tagline(), doubled), where="$.offer")
    assert type(e.value) is s.Malformed
    assert e.value.expected == "each key once per object"
    assert e.value.got == f"{key!r} a second time"
    assert e.value.where == f"$.offer{where[1:]}.{key}"


def test_a_document_or_bundle_nested_past_the_decoders_limit_is_malformed_not_a_crash() -> None:
    """A correctly signed document hiding 5000 nested arrays in a field the receiver ignores,
    and a bundle doing the same, give Malformed (msgspec alone raises RecursionError)."""
    deep = b"[" * 5000 + b"]" * 5000
    body = body_of(frame()).replace(b'"type":"decline"', b'"type":"decline","extra":' + deep, 1)
    with pytest.raises(s.Malformed) as e:
        check(raw(tagline(), body))
    assert e.value.got == "nesting past the decoder's limit"
    with pytest.raises(s.Malformed):
        s.unpack(b'{"extra":' + deep + b',"frames":["AA=="]}', 1)


@pytest.mark.parametrize(
    "line",
    [
        b"intentcast/1 decline",
        b"hello",
        b"intentcast/1 nosuchtype " + b"a" * 64,
        b"intentcast/1 decline XYZ",
    ],
)
def test_malformed_tag_lines_are_refused(line: bytes) -> None:
    """A tag line that is not `intentcast/1 <type> <64 hex>` gives Malformed."""
    with pytest.raises(s.Malformed):
        check(raw(line, body_of(frame())))


def test_unknown_protocol_version_is_refused_as_unsupported() -> None:
    """`intentcast/2` gives UnsupportedVersion, a kind of Malformed."""
    wire = raw(b"intentcast/2 decline " + s.kid_of(KEY).encode(), body_of(frame()))
    with pytest.raises(s.UnsupportedVersion):
        check(wire)


def test_lifetime_beyond_the_types_limit_is_refused() -> None:
    """A decline that claims to bind for a year gives Malformed."""
    with pytest.raises(s.Malformed):
        check(frame(expires=NOW + timedelta(days=365)))


def test_errors_say_expected_got_and_where() -> None:
    """Every error carries the three parts in its message, msgspec style."""
    with pytest.raises(s.Rebound) as e:
        check(frame(), audience=s.Audience(intent="ff" * 16))
    text = str(e.value)
    assert text.startswith("rebound: expected intent ffff")
    assert "got intent cdcd" in text and "at `$.hdr.intent`" in text


def _resigned_offer(change: tuple[bytes, bytes]) -> bytes:
    """A vendor's real offer frame with one change to its document, signed again by the
    vendor's signing key: the signature holds, so only the document can be refused."""
    person, vendor = intent_for_test(), vendor_for_test()
    bundle = s.unseal(person.secrets.seal, offer_for_test(person, vendor))
    body = body_of(s.unpack(bundle, 2)[1])
    assert change[0] in body
    return raw(tagline(vendor.signing, "offer"), body.replace(*change, 1), vendor.signing)


def test_a_schema_violation_names_its_real_path_and_what_was_found() -> None:
    """A unit price whose amount is a string is Malformed at msgspec's path under the frame's
    own place (not at `$` with the path buried in `got`): expected the type msgspec wanted,
    got the type and the value found there."""
    wire = _resigned_offer((b'"unit_price":{"amount":12900', b'"unit_price":{"amount":"12900"'))
    with pytest.raises(s.Malformed) as e:
        s.verify(wire, s.Offer, key=self_signed, now=NOW, where="$.offer")
    assert e.value.where == "$.offer.msg.unit_price.amount"
    assert (e.value.expected, e.value.got) == ("`int`", "`str` '12900'")


def test_a_missing_field_and_a_broken_constraint_name_the_field() -> None:
    """A header without its nonce is Malformed at `$.hdr.nonce` (got nothing); a quantity of
    zero at `$.msg.quantity`, expected `int` >= 1, got 0."""
    with pytest.raises(s.Malformed) as e:
        check(raw(tagline(), body_of(frame()).replace(b'"nonce":', b'"once":', 1)))
    assert (e.value.where, e.value.expected, e.value.got) == (
        "$.hdr.nonce",
        "a required field",
        "nothing",
    )
    with pytest.raises(s.Malformed) as e:
        s.verify(
            _resigned_offer((b'"quantity":1', b'"quantity":0')),
            s.Offer,
            key=self_signed,
            now=NOW,
        )
    assert (e.value.where, e.value.expected, e.value.got) == ("$.msg.quantity", "`int` >= 1", "0")


def test_a_key_the_ring_refuses_is_named_at_the_frames_own_tag_line() -> None:
    """A key ring sees only a key id, yet its UnknownSigner points at the tag line of the frame
    being verified (`$.offer.tag` for an offer in a bundle), not at some `$.tag`."""
    with pytest.raises(s.UnknownSigner) as e:
        check(frame(), key=s.KeyRing("vendor"), where="$.offer")
    assert e.value.where == "$.offer.tag" and s.kid_of(KEY)[:16] in e.value.got


def test_a_replayed_nonce_is_named_at_the_nonce() -> None:
    """The second delivery of a frame is Replayed at `$.hdr.nonce`, the field repeated."""
    cache, wire = s.ReplayCache(), frame()
    check(wire, replay=cache)
    with pytest.raises(s.Replayed) as e:
        check(wire, replay=cache)
    assert e.value.where == "$.hdr.nonce"


def test_a_bundle_of_the_wrong_shape_names_the_frame_at_fault() -> None:
    """A bundle whose first frame is not base64 is Malformed at `$.bundle.frames[0]`; one of
    the wrong length at `$.bundle.frames`, saying how many frames it has."""
    with pytest.raises(s.Malformed) as e:
        s.unpack(b'{"frames":["@@"]}', 1, "$.bundle")
    assert e.value.where == "$.bundle.frames[0]"
    with pytest.raises(s.Malformed) as e:
        s.unpack(s.pack(b"a", b"b", b"c"), 2, "$.bundle")
    assert (e.value.where, e.value.got) == ("$.bundle.frames", "3 frames")


def test_intent_signed_by_a_key_other_than_its_own_is_rebound() -> None:
    """An intent re-signed by a stranger (to hijack its replies) is refused."""
    cast = intent_for_test()
    forged = s.sign(
        cast.intent, KEY, created=NOW, expires=NOW + timedelta(minutes=1), intent=cast.intent.id
    )
    with pytest.raises(s.Rebound):
        s.open_intent(forged, now=NOW, replay=None)


def test_unsealing_garbage_is_malformed_not_a_crash() -> None:
    """A box that does not open, or a bundle of the wrong shape, gives Malformed."""
    cast = intent_for_test()
    with pytest.raises(s.Malformed):
        s.unseal(cast.secrets.seal, b"garbage")
    with pytest.raises(s.Malformed):
        s.unpack(msgspec.json.encode({"frames": []}), 2)
    with pytest.raises(s.Malformed):
        s.unpack(b"{", 2)


def test_expired_offer_never_opens() -> None:
    """An offer whose validity has passed is Expired at the agent."""
    person, vendor = intent_for_test(), vendor_for_test()
    sealed = offer_for_test(person, vendor, ttl=timedelta(minutes=1))
    with pytest.raises(s.Expired):
        s.open_offer(
            sealed,
            intent=person.intent,
            secrets=person.secrets,
            now=NOW + timedelta(minutes=2),
            replay=None,
            profiles=s.ProfileCache(),
        )


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (b'"id":"abab', b'"id":"ABAB', "an upper-case id"),
        (b'"offer_id":"efef', b'"offer_id":"zzef', "a non-hex id of the right length"),
        (b'"intent":"cdcd', b'"intent":"cd', "a header intent of the wrong length"),
    ],
)
def test_ids_keys_and_digests_must_be_lowercase_hex_of_their_length(
    old: bytes, new: bytes, what: str
) -> None:
    """A correctly signed document with {what} is Malformed, and the error names the field."""
    body = body_of(frame())
    assert old in body
    with pytest.raises(s.Malformed) as e:
        check(raw(tagline(), body.replace(old, new, 1)))
    assert "[0-9a-f]" in e.value.expected  # says which pattern was expected
    assert e.value.where in ("$.msg.id", "$.msg.offer_id", "$.hdr.intent")  # and where


def test_hex_checks_reach_into_nested_lists() -> None:
    """A vendor profile whose second key is not hex is refused, though every length is right."""
    key = SigningKey(b"\x09" * 32)
    good = s.VendorKey(
        sign="aa" * 32, seal="bb" * 32, not_before=NOW, not_after=NOW + timedelta(days=1)
    )
    bad = s.VendorKey(
        sign="aa" * 32, seal="BB" * 32, not_before=NOW, not_after=NOW + timedelta(days=1)
    )
    prof = s.VendorProfile(
        vendor_id=s.kid_of(key), name="V", keys=[good, bad], categories=[], terms=VTERMS
    )
    wire = s.sign(prof, key, created=NOW, expires=NOW + timedelta(days=1))
    with pytest.raises(s.Malformed) as e:
        s.verify(wire, s.VendorProfile, key=self_signed, now=NOW)
    assert "keys[1]" in e.value.where


def test_a_cancellation_signed_by_another_key_or_for_another_vendor_is_refused() -> None:
    """Only the intent's own key can cancel, and only at the vendor it names."""
    person, vendor, other = intent_for_test(), vendor_for_test("V"), vendor_for_test("W")
    opened = s.open_offer(
        offer_for_test(person, vendor),
        intent=person.intent,
        secrets=person.secrets,
        now=NOW,
        replay=None,
        profiles=s.ProfileCache(),
    )
    _, sealed = s.make_accept(
        intent_wire=person.wire,
        intent=person.intent,
        secrets=person.secrets,
        offer=opened,
        disclosure=s.Disclosure(),
        payment_method="card",
        now=NOW,
    )
    at_vendor = s.open_accept(sealed, signer=vendor, now=NOW, replay=None)
    _, receipt_wire, _ = s.make_confirmation(
        at_vendor, signer=vendor, order_id=s.new_id(), status="confirmed", reason="", now=NOW
    )
    assert receipt_wire is not None
    receipt = s.verify(receipt_wire, s.Receipt, key=self_signed, now=None)
    _, good = s.make_cancel(receipt, person.secrets, vendor.profile.keys[0].seal, "", NOW)
    only_intent = s.KeyRing("intent")
    only_intent.add(person.intent.keys.sign, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (
        s.open_cancel(good, signer=vendor, intent_key=only_intent, now=NOW, replay=None).msg.by
        == "person"
    )
    stranger = intent_for_test()
    _, forged = s.make_cancel(receipt, stranger.secrets, vendor.profile.keys[0].seal, "", NOW)
    with pytest.raises(s.UnknownSigner):
        s.open_cancel(forged, signer=vendor, intent_key=only_intent, now=NOW, replay=None)
    _, misdirected = s.make_cancel(receipt, person.secrets, other.profile.keys[0].seal, "", NOW)
    with pytest.raises(s.Rebound):
        s.open_cancel(misdirected, signer=other, intent_key=self_signed, now=NOW, replay=None)


@pytest.mark.parametrize("smuggled", ["card\nsepa", "card\x1fsepa", "Card"])
def test_a_separator_or_wrong_case_hidden_in_a_token_is_refused(smuggled: str) -> None:
    """Patterned fields are checked together, joined with separators; a value carrying a
    separator (or otherwise off-pattern) is still refused, and the field is named."""
    key = SigningKey(b"\x0a" * 32)
    terms = s.example_vendor_terms(payment_methods=[smuggled], agreements=[])
    prof = s.VendorProfile(
        vendor_id=s.kid_of(key),
        name="V",
        keys=[
            s.VendorKey(
                sign="aa" * 32, seal="bb" * 32, not_before=NOW, not_after=NOW + timedelta(days=1)
            )
        ],
        categories=[],
        terms=terms,
    )
    wire = s.sign(prof, key, created=NOW, expires=NOW + timedelta(days=1))
    with pytest.raises(s.Malformed) as e:
        s.verify(wire, s.VendorProfile, key=self_signed, now=NOW)
    assert e.value.where == "$.msg.terms.payment_methods[0]"


def test_a_cached_profile_hits_only_for_its_exact_bytes() -> None:
    """The profile cache finds a profile by its signature but serves it only for the very
    bytes it verified: a frame reusing that signature over other bytes is checked afresh and
    refused, and the good profile still opens from the cache afterwards."""
    vendor = vendor_for_test("V")
    cache = s.ProfileCache()
    good = cache.open(vendor.profile_wire, NOW)
    forged = vendor.profile_wire.replace(b'"name":"V"', b'"name":"W"', 1)
    assert forged != vendor.profile_wire and forged[:64] == vendor.profile_wire[:64]
    with pytest.raises(s.BadSignature):
        cache.open(forged, NOW)
    assert cache.open(vendor.profile_wire, NOW) is good
