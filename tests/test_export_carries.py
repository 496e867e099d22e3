"""The export carries everything the person holds beyond receipts: the vendors' signed order
statuses (with the mailbox read positions) and the friend book (who they follow, and their
own friend identity with the keys). Real nats-server, a real vendor and its counter, the
real CLI; import re-verifies each status against the vendor's key for that order."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from .conftest import ADDRESS_FLAGS, Agent, VendorFactory, agent_db
from .test_counter import bought, counter
from .test_export_import import _redigest
from .test_watch import _agent, _watch

pytestmark = pytest.mark.e2e


def _home_with_news_and_friends(person: Agent, vendor: VendorFactory, tmp_path: Path) -> None:
    """A receipt from Sierra that it shipped and delivered (picked up by `inbox`), a friend
    followed, and the person's own card made."""
    sierra = vendor("sierra")
    order = bought(person)["order"][:8]
    assert (
        counter(tmp_path, "ship", order, "--carrier", "Correos", "--tracking", "PK1").returncode
        == 0
    )
    assert counter(tmp_path, "delivered", order).returncode == 0
    sierra.wait_for("status.sent", seq=2)
    assert len(json.loads(person.ok("inbox", "--json"))["statuses"]) == 2
    grace = Agent(tmp_path / "grace", person.bus)
    grace.ok("init", "--name", "Grace Hopper", "--region", "ES-28", *ADDRESS_FLAGS)
    grace.ok("friends", "card", "--out", str(tmp_path / "grace.card"))
    person.ok("friends", "add", str(tmp_path / "grace.card"))
    person.ok("friends", "card", "--out", str(tmp_path / "ada.card"))


def _statuses(home: Path) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in agent_db(home).execute("SELECT * FROM order_statuses ORDER BY seq")]


def test_statuses_and_the_friend_book_make_the_round_trip(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """Exported with sealed keys and imported: the same statuses, byte for byte (history
    shows shipped then delivered), the mailbox read positions kept (a pick-up in the new
    home refuses nothing as replayed), the same friend followed, and the same own friend
    identity (the card made in the new home is the card made in the old one)."""
    _home_with_news_and_friends(person, vendor, tmp_path)
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    out = tmp_path / "mine.json"
    person.ok("export", "--out", str(out), "--include-keys", "--passphrase-file", str(pw))
    doc = json.loads(out.read_text())
    assert [s["state"] for s in doc["content"]["tables"]["order_statuses"]] == [
        "shipped",
        "delivered",
    ]
    assert [f["name"] for f in doc["content"]["friends"]["friends"]] == ["Grace Hopper"]
    assert "seed" not in json.dumps(doc["content"]["friends"])  # the identity's secrets are sealed
    new = Agent(tmp_path / "new-home", person.bus)
    person.ok("import", str(out), "--home", str(new.home), "--passphrase-file", str(pw))
    assert _statuses(new.home) == _statuses(person.home) and len(_statuses(new.home)) == 2
    history = json.loads(new.ok("history", "--json"))
    assert [s["state"] for h in history for s in h["statuses"]] == ["shipped", "delivered"]
    again = json.loads(new.ok("inbox", "--json"))
    assert again["refused"] == {} and len(again["statuses"]) == 2
    assert new.ok("friends", "show") == person.ok("friends", "show")
    assert "Grace Hopper" in new.ok("friends", "show")
    new.ok("friends", "card", "--out", str(tmp_path / "ada-again.card"))
    assert (tmp_path / "ada-again.card").read_text() == (tmp_path / "ada.card").read_text()


def test_a_status_re_signed_by_a_stranger_or_edited_fails_the_import_in_one_line(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """A keyless export whose shipped status is re-signed by a stranger (digest recomputed,
    as a forger would) is refused in one line naming that status, exit 2, no home made; so
    is one whose row says another carrier than its signed bytes. The intact file imports,
    and its friend book without the identity (its keys were not exported)."""
    _home_with_news_and_friends(person, vendor, tmp_path)
    out = tmp_path / "mine.json"
    person.ok("export", "--out", str(out))
    doc = json.loads(out.read_text())
    status = doc["content"]["tables"]["order_statuses"][0]
    wire = base64.b64decode(status["wire"])
    stranger = SigningKey.generate()
    body = wire[64:]
    kid_at = body.index(b"\n") - 64  # the tag line ends with the signer's key
    signed = body[:kid_at] + bytes(stranger.verify_key).hex().encode() + body[kid_at + 64 :]
    forged = json.loads(json.dumps(doc))
    forged["content"]["tables"]["order_statuses"][0]["wire"] = base64.b64encode(
        stranger.sign(signed).signature + signed
    ).decode()
    edited = json.loads(json.dumps(doc))
    edited["content"]["tables"]["order_statuses"][0]["carrier"] = "Seur"
    for name, bad in (("forged", forged), ("edited", edited)):
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps(_redigest(bad)))
        cp = person.run("import", str(f), "--home", str(tmp_path / f"{name}-home"))
        assert cp.returncode == 2, cp
        (line,) = cp.stderr.strip().splitlines()
        assert "expected every order status to verify against its vendor's key" in line
        assert f"status #1 of receipt {status['receipt_id'][:8]}" in line
        assert not (tmp_path / f"{name}-home").exists()
    assert "disagrees with its signed bytes" in cp.stderr
    new = Agent(tmp_path / "new-home", person.bus)
    person.ok("import", str(out), "--home", str(new.home))
    shown = new.ok("friends", "show")
    assert "Grace Hopper" in shown and "your own friend key" not in shown


def _watch_rows(home: Path) -> list[list[tuple[Any, ...]]]:
    db = sqlite3.connect(home / "watches.sqlite")
    try:
        return [
            [tuple(r) for r in db.execute("SELECT * FROM watches ORDER BY intent_id")],
            [tuple(r) for r in db.execute("SELECT at, intent_id, kind, ref, body FROM notices")],
        ]
    finally:
        db.close()


def test_watched_intents_and_their_notices_make_the_round_trip(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """A home watching an intent, with Sierra's offer collected by the agent and a notice
    raised: exported with sealed keys and imported, the new home has the same watch (state,
    expiry, reply subject) and notices, and `intentcast offers` there lists the watched
    intent with the same offer. A keyless file whose watch names an intent it does not
    carry (digest recomputed, as a forger would; with sealed keys the edit already breaks
    the seal) is refused in one line, exit 2, no home made."""
    intent = _watch(person)
    vendor("sierra").wait_for("offer.sent", intent=intent, timeout=20)
    with _agent(person) as a:
        a.wait_for("watch.offer_stored", intent=intent, shown=True, timeout=20)
        a.wait_for("agent.notified", kind="offer", intent=intent)
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    out = tmp_path / "mine.json"
    person.ok("export", "--out", str(out), "--include-keys", "--passphrase-file", str(pw))
    doc = json.loads(out.read_text())
    assert [w["intent_id"] for w in doc["content"]["watches"]["watches"]] == [intent]
    assert [n["kind"] for n in doc["content"]["watches"]["notices"]] == ["offer"]
    new = Agent(tmp_path / "new-home", person.bus)
    person.ok("import", str(out), "--home", str(new.home), "--passphrase-file", str(pw))
    assert _watch_rows(new.home) == _watch_rows(person.home)
    assert json.loads(new.ok("offers", "--json")) == json.loads(person.ok("offers", "--json"))
    (listed,) = json.loads(new.ok("offers", "--json"))
    assert listed["intent"] == intent and listed["state"] == "open" and listed["offers"]

    keyless = tmp_path / "keyless.json"
    person.ok("export", "--out", str(keyless))
    edited = json.loads(keyless.read_text())
    edited["content"]["watches"]["watches"][0]["intent_id"] = "f" * 32
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(_redigest(edited)))
    cp = person.run("import", str(bad), "--home", str(tmp_path / "edited-home"))
    assert cp.returncode == 2, cp
    (line,) = cp.stderr.strip().splitlines()
    assert "expected watches of the intents it carries" in line
    assert "watch ffffffff: no such intent in the file" in line
    assert not (tmp_path / "edited-home").exists()
