"""Valid example messages of every type, and Hypothesis strategies that build them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st
from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas as s

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
VTERMS = s.example_vendor_terms()

hex32 = st.binary(min_size=16, max_size=16).map(bytes.hex)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
money = st.builds(s.Money, st.integers(0, 10**9), st.sampled_from(["EUR", "USD", "JPY"]))
days = st.dates(date(2026, 1, 1), date(2030, 12, 31))
attrs = st.dictionaries(st.text(max_size=10), text, max_size=4)
category = st.lists(st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True), min_size=1, max_size=3).map(
    "/".join
)
item = st.builds(s.Item, st.text(max_size=20), text, attrs)
clause_days = st.builds(s.DaysClause, st.integers(0, 3650), st.booleans(), st.integers(0, 10))
clause_bool = st.builds(s.BoolClause, st.booleans(), st.booleans(), st.integers(0, 10))
terms = st.builds(
    s.Terms,
    agreement=st.none() | st.sampled_from(sorted(s.ROSTER)),
    data_retention_days=st.none() | clause_days,
    no_tracking=st.none() | clause_bool,
    no_sharing=st.none() | clause_bool,
    min_return_days=st.none() | clause_days,
)
vterms = st.builds(
    s.VendorTerms,
    data_retention_days=st.integers(0, 3650), no_tracking=st.booleans(),
    no_sharing=st.booleans(), contact_via_agent_only=st.booleans(),
    return_days=st.integers(0, 365), warranty_months=st.integers(0, 120),
    payment_methods=st.just(["card"]), jurisdiction=st.just("es"),
)  # fmt: skip
reply = hex32.map(lambda t: "ic.v1.reply." + t)


def messages() -> st.SearchStrategy[s.Message]:
    """Every message type, with varied contents."""
    return st.one_of(
        st.builds(
            s.Intent, id=hex32, category=category, want=st.builds(s.Want, text, attrs),
            quantity=st.integers(1, 1000), max_price=money, wanted_by=days,
            region=st.builds(s.Region, st.sampled_from(["ES", "DE", "US"]), st.sampled_from(["", "28", "1"])),
            terms=terms, keys=st.builds(s.IntentKeys, sign=hex64, seal=hex64), reply_subject=reply,
        ),
        st.builds(
            s.Offer, id=hex32, intent_id=hex32, vendor_id=hex64, item=item, quantity=st.integers(1, 99),
            unit_price=money, total_price=money, delivery_by=days, terms=vterms,
            certified=st.lists(
                st.builds(s.CertifiedRating, rating=st.binary(max_size=64), receipt=st.binary(max_size=64), intent=st.binary(max_size=64)),
                max_size=2,
            ),
        ),
        st.builds(
            s.VendorProfile, vendor_id=hex64, name=text,
            keys=st.lists(st.builds(s.VendorKey, sign=hex64, seal=hex64, not_before=st.just(NOW), not_after=st.just(NOW + timedelta(days=9))), min_size=1, max_size=2),
            categories=st.lists(category, max_size=3), terms=vterms,
        ),
        st.builds(
            s.Accept, id=hex32, intent_id=hex32, offer_id=hex32, vendor_id=hex64, intent_hash=hex64,
            offer_hash=hex64, payment_method=st.just("card"),
            disclosure=st.builds(s.Disclosure, name=text, address=st.lists(text, max_size=3)),
            reply_subject=reply,
        ),
        st.builds(s.Decline, id=hex32, intent_id=hex32, offer_id=hex32, vendor_id=hex64, reason=text),
        st.builds(
            s.OrderConfirmation, order_id=hex32, intent_id=hex32, offer_id=hex32, vendor_id=hex64,
            status=st.sampled_from(["confirmed", "rejected"]), reason=text,
        ),
        st.builds(
            s.Receipt, id=hex32, order_id=hex32, intent_id=hex32, offer_id=hex32, vendor_id=hex64,
            intent_hash=hex64, offer_hash=hex64, accept_hash=hex64, item=item,
            quantity=st.integers(1, 9), total_price=money, delivery_by=days, payment_method=st.just("sepa"),
        ),
        st.builds(s.Countersignature, receipt_id=hex32, receipt_hash=hex64, intent_id=hex32, vendor_id=hex64),
        st.builds(
            s.Cancel, order_id=hex32, intent_id=hex32, offer_id=hex32, vendor_id=hex64,
            by=st.sampled_from(["person", "vendor"]), reason=text,
        ),
        st.builds(
            s.Rating, receipt_hash=hex64, vendor_id=hex64, score=st.integers(1, 5),
            outcome=st.sampled_from(["delivered", "late"]), comment=text,
            friend_seal=st.binary(min_size=104, max_size=104),
        ),
    )  # fmt: skip


def intent_for_test(category: str = "outdoor/tents", **kw: object) -> s.CastIntent:
    args: dict[str, object] = dict(category=category, wanted_by=date(2026, 12, 10), now=NOW)
    args.update(kw)
    return s.example_tent_intent(**args)  # type: ignore[arg-type]


def vendor_for_test(name: str = "Example Outdoor", terms: s.VendorTerms = VTERMS) -> s.VendorSigner:
    return s.make_profile(
        identity=SigningKey.generate(), signing=SigningKey.generate(), seal_key=PrivateKey.generate(),
        name=name, categories=["outdoor"], terms=terms, now=NOW,
    )  # fmt: skip


def offer_for_test(
    cast: s.CastIntent,
    vendor: s.VendorSigner,
    *,
    now: datetime = NOW,
    ttl: timedelta = timedelta(hours=1),
) -> bytes:
    """A sealed offer from ``vendor`` for ``cast``."""
    verified = s.open_intent(cast.wire, now=NOW, replay=None)
    _, sealed = s.make_offer(
        intent=verified, signer=vendor, item=s.Item("TENT-2P", "Two-person tent"), quantity=1,
        unit_price=s.Money(12900, "EUR"), total_price=s.Money(12900, "EUR"),
        delivery_by=date(2026, 12, 1), terms=vendor.profile.terms, now=now, ttl=ttl,
    )  # fmt: skip
    return sealed


def minted_rating(
    vendor: s.VendorSigner, *, score: int = 5, outcome: str = "delivered", now: datetime = NOW
) -> bytes:
    """A rating bundle of ``vendor`` for an order it made up: a fresh buyer's intent, a
    receipt the vendor signs for it, and a rating by that intent's key. It verifies, as the
    protocol cannot tell it from a real one (docs/trust.md, threat (a))."""
    cast = intent_for_test(now=now)
    receipt = s.Receipt(
        id=s.new_id(), order_id=s.new_id(), intent_id=cast.intent.id, offer_id=s.new_id(),
        vendor_id=vendor.vendor_id, intent_hash=s.digest(cast.wire[64:]), offer_hash="ab" * 32,
        accept_hash="cd" * 32, item=s.Item("TENT-2P", "Two-person tent"), quantity=1,
        total_price=s.Money(12900, "EUR"), delivery_by=date(2026, 12, 1), payment_method="card",
    )  # fmt: skip
    receipt_wire = s.sign(
        receipt, vendor.signing, created=now, expires=now + timedelta(minutes=10),
        intent=cast.intent.id, vendor=vendor.vendor_id,
    )  # fmt: skip
    return s.make_rating(
        receipt_wire=receipt_wire, intent_wire=cast.wire, profile_wire=vendor.profile_wire,
        intent_seed=bytes(cast.secrets.sign), score=score, outcome=outcome, now=now,
    )  # fmt: skip
