"""The registry's parts on their own: name skeletons, the signed entry, request and answer,
and how the agent's ranker uses a registry snapshot (in-process, no bus)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey

import schemas
from agent import AgentStore, BetaTrust, Collected, RegisteredTrust, rank_offers
from agent._home import RankingWeights, TrustPolicy
from agent._render import render_ranked
from runtime import RegistryView
from tests.factories import NOW, intent_for_test, offer_for_test, vendor_for_test

REGISTRAR = SigningKey(b"\x07" * 32)
RID = schemas.kid_of(REGISTRAR)


@pytest.mark.parametrize(
    "look_alike",
    [
        "Sierra Outfitters",
        "S\u0456erra Outfitters",  # Cyrillic i
        "SIERRA  outfitters",
        "Sierra Outf\u00edtters",  # i with an acute accent
        "Sierra-Outfitters.",
        "Sierra\u200b Outfitters",  # a zero-width space
        "\uff33ierra Outfitters",  # a full-width S
    ],
)
def test_look_alike_names_share_one_skeleton(look_alike: str) -> None:
    """Case, spacing, punctuation, accents, invisible characters, full-width forms and
    Cyrillic letters do not make a name distinct."""
    assert schemas.name_skeleton(look_alike) == schemas.name_skeleton("Sierra Outfitters")


def test_digits_that_look_like_letters_collide_and_distinct_names_stay_distinct() -> None:
    """As in TR39, 0 is O and 1 is l ("Cumbre Sp0rts" is "Cumbre Sports", "rn" is "m");
    names that merely share letters keep their own skeletons; punctuation alone is empty."""
    sk = schemas.name_skeleton
    assert sk("Cumbre Sp0rts") == sk("Cumbre Sports") == sk("Curnbre Sports")
    assert sk("Hoard1ng Deals") == sk("Hoardlng Deals")
    assert sk("Sierra Outfitters") != sk("Slerra Outfitters")
    assert sk("Sierra Outfitters") != sk("Cumbre Sports")
    assert sk("!!! ...") == ""


def _entry(vendor_id: str, name: str = "Sierra Outfitters", **kw: object) -> bytes:
    args: dict[str, object] = dict(
        vendor_id=vendor_id, name=name, categories=["outdoor"], regions=["ES"],
        registered=date(2026, 10, 1), serial=1, now=NOW,
    )  # fmt: skip
    args.update(kw)
    key = args.pop("key", REGISTRAR)
    return schemas.make_entry(key, **args)  # type: ignore[arg-type]


def test_an_entry_verifies_only_against_a_trusted_registrar_and_for_its_vendor() -> None:
    """An entry signed by any other key is unknown_signer, even a key it could name; one
    read for another vendor is rebound; a flipped byte is bad_signature."""
    vid = "ab" * 32
    wire = _entry(vid)
    v = schemas.open_entry(wire, registrars={RID}, now=NOW, vendor_id=vid)
    assert (v.msg.name, v.msg.skeleton, v.msg.status) == (
        "Sierra Outfitters",
        "sierraoutfitters",
        "active",
    )
    forged = _entry(vid, key=SigningKey(b"\x08" * 32))
    with pytest.raises(schemas.UnknownSigner):
        schemas.open_entry(forged, registrars={RID}, now=NOW, vendor_id=vid)
    with pytest.raises(schemas.Rebound):
        schemas.open_entry(wire, registrars={RID}, now=NOW, vendor_id="cd" * 32)
    tampered = wire.replace(b"Sierra", b"Sierrb")
    with pytest.raises(schemas.BadSignature):
        schemas.open_entry(tampered, registrars={RID}, now=NOW)


def test_a_request_proves_its_identity_key_and_is_bound_to_one_registrar() -> None:
    """A request opens only at the registrar it names, once; the answer binds to it."""
    identity = SigningKey(b"\x09" * 32)
    req = schemas.make_registration(
        identity, registrar=RID, name="Sierra Outfitters", categories=["outdoor"], regions=[],
        now=NOW,
    )  # fmt: skip
    with pytest.raises(schemas.Rebound):
        schemas.open_registration(req, registrar="ee" * 32, now=NOW, replay=None)
    replay = schemas.ReplayCache()
    opened = schemas.open_registration(req, registrar=RID, now=NOW, replay=replay)
    assert opened.msg.vendor_id == schemas.kid_of(identity)
    with pytest.raises(schemas.Replayed):
        schemas.open_registration(req, registrar=RID, now=NOW, replay=replay)
    reply = schemas.make_registration_answer(
        REGISTRAR, opened, status="refused", code="confusable", detail="looks like X", now=NOW
    )
    answer, entry = schemas.open_registration_answer(reply, registrar=RID, request=req, now=NOW)
    assert (answer.msg.status, answer.msg.code, entry) == ("refused", "confusable", None)
    other = schemas.make_registration(
        identity, registrar=RID, name="Other", categories=["outdoor"], regions=[], now=NOW
    )
    with pytest.raises(schemas.Rebound):
        schemas.open_registration_answer(reply, registrar=RID, request=other, now=NOW)
    with pytest.raises(schemas.UnknownSigner):
        schemas.open_registration_answer(reply, registrar="ee" * 32, request=req, now=NOW)


def _opened(cast: schemas.CastIntent, vendor: schemas.VendorSigner) -> schemas.OpenedOffer:
    return schemas.open_offer(
        offer_for_test(cast, vendor), intent=cast.intent, secrets=cast.secrets, now=NOW,
        replay=None, profiles=schemas.ProfileCache(),
    )  # fmt: skip


def test_the_ranker_drops_unregistered_and_revoked_vendors_and_names_registered_ones(
    tmp_path: Path,
) -> None:
    """On a shared bus: an impersonator with a registered vendor's name and no entry is
    dropped unregistered, so is a revoked vendor and one whose entry a stranger signed; the
    registered vendor is shown by its registered name, not its profile's."""
    cast = intent_for_test()
    real = vendor_for_test("Sierra Outfitters (tents)")
    impostor = vendor_for_test("Sierra Outfitters")
    revoked = vendor_for_test("Cumbre Sports")
    forged = vendor_for_test("Mirage Goods")
    view = RegistryView({RID})
    view.hold(real.vendor_id, _entry(real.vendor_id))
    view.hold(revoked.vendor_id, _entry(revoked.vendor_id, "Cumbre Sports", status="revoked", serial=2, reason="never delivered"))  # fmt: skip
    view.hold(forged.vendor_id, _entry(forged.vendor_id, "Mirage Goods", key=SigningKey(b"\x08" * 32)))  # fmt: skip
    store = AgentStore(tmp_path / "a.sqlite")
    trust = RegisteredTrust(BetaTrust(store, TrustPolicy()), view, required=True)
    offers = [_opened(cast, v) for v in (real, impostor, revoked, forged)]
    ranked, dropped = rank_offers(
        cast.intent, offers, trust=trust, policy=TrustPolicy(), weights=RankingWeights(), now=NOW
    )
    assert [r.vendor_name for r in ranked] == ["Sierra Outfitters"]
    assert ranked[0].reasons[0] == "registered as Sierra Outfitters since 2026-10-01"
    by_vendor = {d.vendor_id: d for d in dropped}
    assert {d.reason for d in dropped} == {"unregistered"}
    assert (
        by_vendor[impostor.vendor_id].detail == "the name 'Sierra Outfitters' is only its own claim"
    )
    assert "revoked by the registrar: never delivered" in by_vendor[revoked.vendor_id].detail
    assert "did not verify (unknown_signer)" in by_vendor[forged.vendor_id].detail
    page = render_ranked(Collected(cast, offers, dropped, ranked), show=5, as_json=False)
    assert "1. Sierra Outfitters: " in page and "(tents)" not in page


def test_a_name_like_a_different_vendor_in_the_history_is_flagged(tmp_path: Path) -> None:
    """A vendor registered as "SIERRA OUTFITTERS" is shown, with a warning, when the person
    bought from another vendor id as "Sierra Outfitters"; the same vendor is not flagged."""
    cast = intent_for_test()
    before, newcomer = vendor_for_test("Sierra Outfitters"), vendor_for_test("x")
    view = RegistryView({RID})
    view.hold(newcomer.vendor_id, _entry(newcomer.vendor_id, "SIERRA OUTFITTERS"))
    view.hold(before.vendor_id, _entry(before.vendor_id))
    store = AgentStore(tmp_path / "a.sqlite")
    history = [(before.vendor_id, "Sierra Outfitters")]
    trust = RegisteredTrust(BetaTrust(store, TrustPolicy()), view, required=True, history=history)
    ranked, _ = rank_offers(
        cast.intent, [_opened(cast, newcomer), _opened(cast, before)], trust=trust,
        policy=TrustPolicy(), weights=RankingWeights(), now=NOW,
    )  # fmt: skip
    flags = {r.offer.vendor_id: [x for x in r.reasons if "looks like" in x] for r in ranked}
    assert flags[newcomer.vendor_id] == [
        "name looks like Sierra Outfitters you bought from before: not the same vendor"
    ]
    assert flags[before.vendor_id] == []


def test_on_a_private_bus_unregistered_vendors_are_shown_marked_as_such(tmp_path: Path) -> None:
    """shared_bus = false: nothing is dropped for want of an entry; the reasons say it."""
    cast = intent_for_test()
    mine = vendor_for_test("My Own Shop")
    trust = RegisteredTrust(
        BetaTrust(AgentStore(tmp_path / "a.sqlite"), TrustPolicy()),
        RegistryView({RID}),
        required=False,
    )
    ranked, dropped = rank_offers(
        cast.intent, [_opened(cast, mine)], trust=trust, policy=TrustPolicy(),
        weights=RankingWeights(), now=NOW,
    )  # fmt: skip
    assert dropped == [] and ranked[0].vendor_name == "My Own Shop"
    assert ranked[0].reasons[0].startswith("not registered (")


def test_a_lapsed_entry_counts_as_unregistered(tmp_path: Path) -> None:
    """An entry past its expiry is not a registration, however well signed."""
    cast = intent_for_test()
    v = vendor_for_test("Sierra Outfitters")
    view = RegistryView({RID})
    view.hold(v.vendor_id, _entry(v.vendor_id, now=NOW - timedelta(days=100)))
    trust = RegisteredTrust(
        BetaTrust(AgentStore(tmp_path / "a.sqlite"), TrustPolicy()), view, required=True
    )
    ranked, dropped = rank_offers(
        cast.intent, [_opened(cast, v)], trust=trust, policy=TrustPolicy(),
        weights=RankingWeights(), now=NOW,
    )  # fmt: skip
    assert ranked == [] and "expired" in dropped[0].detail
