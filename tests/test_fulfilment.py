"""What fulfilment needs: the person's details are given once (``init``, ``profile set``),
an offer says what its fulfilment needs, ``accept`` discloses exactly that (or refuses before
anything is sent), and a vendor refuses, signed, an acceptance that lacks it. Real
nats-server, real vendor subprocesses, the real ``intentcast`` command."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

import schemas
from runtime import Bus, EmbeddedServer, NatsTransport
from tests.conftest import ADDRESS_FLAGS, Agent, VendorFactory, agent_db, signed_by, vendor_db
from tests.shopper import Shopper, intent

pytestmark = pytest.mark.e2e


def _orders(tmp_path: Path, name: str) -> list[dict[str, object]]:
    return [dict(r) for r in vendor_db(tmp_path, name).execute("SELECT * FROM orders")]


def test_init_takes_every_detail_by_flag_and_profile_shows_and_sets_them(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """``init`` with a flag per detail asks nothing (stdin is no terminal); ``profile show``
    gives them back; ``profile set`` changes one field and keeps every other line of the
    config, which stays owner-only."""
    person = Agent(tmp_path / "p", nats_server.url)
    person.ok("init", "--name", "Ada Lovelace", "--region", "ES-28", *ADDRESS_FLAGS, "--phone", "+34 600 000 000")  # fmt: skip
    shown = json.loads(person.ok("profile", "show", "--json"))
    assert shown == {
        "name": "Ada Lovelace", "address": ["Calle Mayor 1"], "postcode": "28013",
        "city": "Madrid", "country": "ES", "email": "ada@example.org", "phone": "+34 600 000 000",
    }  # fmt: skip
    cfg = person.home / "config.toml"
    before = cfg.read_text()
    assert "set email" not in before
    out = person.ok("profile", "set", "email", "ada@new.example", "--no-send")
    assert out.strip() == "changed: email"
    assert json.loads(person.ok("profile", "show", "--json"))["email"] == "ada@new.example"
    after = cfg.read_text()
    outside = [ln for ln in before.splitlines() if "@" not in ln]
    assert all(ln in after.splitlines() for ln in outside)  # every other line kept
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("set", "email", "not-an-email"),
            "profile: email: expected an email address such as ada@example.org, got 'not-an-email'",
        ),
        (
            ("set", "address", "--street", "Calle 1", "--country", "Spain"),
            "profile: country: expected an ISO 3166 country code such as ES, got 'SPAIN'",
        ),
        (("set", "address", "Calle 1"), "expected --street"),
        (("set", "phone"), "expected a value"),
        (("set", "name", "Ada\x1b]0;owned\x07"), "profile: name: expected a name of at most 200"),
    ],
)
def test_profile_set_refuses_bad_details_in_one_line(
    tmp_path: Path, nats_server: EmbeddedServer, args: tuple[str, ...], says: str
) -> None:
    """A bad detail (no email, a country that is not an ISO code, an address without
    --street, a missing value, control characters) is one line naming the field, exit 2, and
    the config is left exactly as it was."""
    person = Agent(tmp_path / "p", nats_server.url)
    person.ok("init", "--name", "Ada", "--region", "ES-28", *ADDRESS_FLAGS)
    before = (person.home / "config.toml").read_bytes()
    cp = person.run("profile", *args)
    assert cp.returncode == 2, cp.stderr
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intentcast: error: ") and says in lines[0]
    assert "Traceback" not in cp.stderr and "\x1b" not in cp.stderr
    assert (person.home / "config.toml").read_bytes() == before


def test_accept_refuses_an_order_that_cannot_be_delivered_before_sending_anything(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """A person with no address accepting an offer whose item needs one: one line naming
    what is missing and the command that adds it, exit 2; no acceptance stored, no order at
    the vendor. After `profile set address`, the same accept goes through and the vendor's
    store holds exactly what the offer needs: name and postal address, not the email."""
    vendor("sierra")
    person = Agent(tmp_path / "p", nats_server.url)
    person.ok("init", "--name", "Ada Lovelace", "--region", "ES-28", "--email", "ada@example.org")
    got = person.want("--expect", "1")
    (offer,) = got["offers"]
    cp = person.run("accept", offer["offer"][:8])
    assert cp.returncode == 2, cp.stderr
    (line,) = cp.stderr.strip().splitlines()
    assert "needs your address, postcode, city to be fulfilled" in line
    assert "intentcast profile set address --street" in line and "Nothing was sent" in line
    assert agent_db(person.home).execute("SELECT COUNT(*) FROM accepts").fetchone()[0] == 0
    assert _orders(tmp_path, "sierra") == []

    person.ok("profile", "set", "address", "--street", "Calle Mayor 1", "--postcode", "28013", "--city", "Madrid", "--country", "ES")  # fmt: skip
    acc = json.loads(person.ok("accept", offer["offer"][:8], "--json"))
    assert acc["status"] == "confirmed"
    (order,) = _orders(tmp_path, "sierra")
    assert json.loads(str(order["disclosure"])) == {
        "name": "Ada Lovelace", "address": ["Calle Mayor 1"], "postcode": "28013",
        "city": "Madrid", "country": "ES",
    }  # fmt: skip


def test_a_digital_good_gets_the_email_alone(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """A vendor whose items need only an email (``[fulfilment] needs``) says so in its offer;
    the acceptance discloses the email and nothing else, though the person's profile holds a
    name and an address too."""
    vendor("sierra", fulfilment='{ needs = ["email"] }')
    got = person.want("--expect", "1")
    (offer,) = got["offers"]
    person.ok("accept", offer["offer"][:8])
    (order,) = _orders(tmp_path, "sierra")
    assert json.loads(str(order["disclosure"])) == {"email": "ada@example.org"}
    accept = schemas.verify(
        bytes(order["accept_wire"]),  # type: ignore[arg-type]
        schemas.Accept,
        key=signed_by(str(order["intent_key"])),
        now=None,
    )
    assert accept.msg.disclosure == schemas.Disclosure(email="ada@example.org")


async def test_vendor_refuses_a_hostile_acceptance_without_the_address(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """A hand-made acceptance that discloses a name but no address, for an offer that needs
    one: the vendor answers with a signed rejection (reason missing_details, verified against
    its key ring), logs what was missing, stores no order and holds no stock; the same
    offer accepted with the address is then confirmed."""
    sierra = vendor("sierra")
    async with Bus(nats_server.url, name="hostile") as bus:
        mallory = Shopper(NatsTransport(bus))
        cast = intent()
        (offer,) = await mallory.offers(cast)
        assert offer.offer.msg.needs == ["name", "postal_address"]
        bad = await mallory.order(cast, offer, disclosure=schemas.Disclosure(name="Mallory"))
        c = bad.confirmation.confirmation.msg
        assert (c.status, c.reason, bad.confirmation.receipt) == (
            "rejected",
            "missing_details",
            None,
        )
        ev = await asyncio.to_thread(sierra.wait_for, "order.refused", reason="missing_details")
        assert ev["missing"] == ["address", "postcode", "city", "country"]
        assert _orders(tmp_path, "sierra") == []
        good = await mallory.order(cast, offer)
        assert good.confirmation.receipt is not None
    (order,) = _orders(tmp_path, "sierra")
    assert order["status"] == "confirmed"


def test_the_profile_travels_in_an_export_and_comes_back_on_import(
    tmp_path: Path, person: Agent
) -> None:
    """An export holds the person's details (in ``config_toml`` and ``config.person``); a
    home imported from it shows the same profile."""
    person.ok("profile", "set", "phone", "+34 600 111 222", "--no-send")
    out = tmp_path / "mine.json"
    person.ok("export", "--out", str(out))
    doc = json.loads(out.read_text())
    assert doc["content"]["config"]["person"]["city"] == "Madrid"
    assert 'phone = "+34 600 111 222"' in doc["content"]["config_toml"]
    new = tmp_path / "new-home"
    person.ok("import", str(out), "--home", str(new))
    again = Agent(new, person.bus)
    assert again.ok("profile", "show", "--json") == person.ok("profile", "show", "--json")


def test_a_catalog_row_says_what_its_item_needs_and_a_wrong_need_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalog's ``needs`` column (``email``; ``name;postal_address``; ``none``) is read
    per item, an empty cell falls back to the config's ``[fulfilment] needs``, and a value
    outside the vocabulary is one line naming the file, row and column, exit 2."""
    from tests.test_vendor_check import refused, shop
    from vendor_adapter import load_catalog, load_config
    from vendor_adapter._needs import item_needs

    header = "sku,title,category,price,currency,stock,needs"
    rows = (
        "E1,Tent manual (PDF),outdoor/tents,5.00,EUR,100,email",
        "T1,Two-person tent,outdoor/tents,129.00,EUR,5,",
        "G1,Gift card,outdoor/tents,20.00,EUR,9,none",
    )
    cfg_path, _ = shop(tmp_path, *rows, header=header)
    cfg = load_config(cfg_path)
    catalog = load_catalog(cfg.catalog)

    async def needs() -> list[list[str]]:
        return [item_needs(await catalog.get(s), cfg) for s in ("E1", "T1", "G1")]

    assert asyncio.run(needs()) == [["email"], ["name", "postal_address"], []]
    cfg_path, cat = shop(tmp_path, "P1,Poster,outdoor/tents,5.00,EUR,1,pigeon", header=header)
    (line,) = refused(cfg_path, capsys)
    assert line.startswith(f"{cat}: line 2 (sku P1): needs: expected some of name,")
    assert "got 'pigeon'" in line


def test_an_offer_needing_what_the_config_does_not_let_out_is_refused_before_sending(
    tmp_path: Path, vendor: VendorFactory, person: Agent
) -> None:
    """The person's ``disclose`` is the ceiling: an offer that needs the email, from a
    person whose config does not let the email out, is refused in one line naming the field
    and where to allow it, exit 2, and nothing reaches the vendor."""
    vendor("sierra", fulfilment='{ needs = ["email"] }')
    cfg = person.home / "config.toml"
    lines = [ln for ln in cfg.read_text().splitlines() if not ln.startswith("disclose =")]
    cfg.write_text("\n".join(['disclose = ["name", "address"]', *lines]) + "\n")
    (offer,) = person.want("--expect", "1")["offers"]
    cp = person.run("accept", offer["offer"][:8])
    assert cp.returncode == 2
    (line,) = cp.stderr.strip().splitlines()
    assert "needs your email, which your config's disclose does not allow" in line
    assert "add 'email' to disclose in config.toml" in line
    assert _orders(tmp_path, "sierra") == []


def test_init_with_a_bad_detail_is_one_line_and_makes_no_home(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """``init --email nope`` is refused in one line naming the field, exit 2, and no home is
    made, so the person runs the same command again, corrected."""
    person = Agent(tmp_path / "p", nats_server.url)
    cp = person.run("init", "--name", "Ada", "--region", "ES-28", "--email", "nope")
    assert cp.returncode == 2
    assert cp.stderr.strip() == (
        "intentcast: error: profile: email: expected an email address such as"
        " ada@example.org, got 'nope'"
    )
    assert not person.home.exists()
