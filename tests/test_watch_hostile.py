"""Hostile input on the watch path, each from the bad input to what the person sees and
what is stored: junk on a watched intent's reply subject, a forged intent in the watch
stream, and a vendor whose name carries markup and terminal escapes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats

import schemas
from runtime import ServiceProcess

from .conftest import BIN, Agent, VendorFactory, agent_db


def _agent(person: Agent) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip


def _watch(person: Agent, description: str = "2-person tent") -> str:
    args = Agent.want_args("--watch", "3d")
    args[args.index("2-person tent")] = description
    return str(json.loads(person.ok(*args))["intent"])


async def test_junk_on_a_watched_reply_subject_is_dropped_not_shown(person: Agent) -> None:
    """A stranger publishes junk and a replayed-looking frame to a watched intent's reply
    subject (it is in the intent, for all to read): the agent stores each as a drop
    `unverified:<code>` with no vendor, shows no offer, logs it, and keeps running."""
    with _agent(person) as a:
        intent = _watch(person)
        reply = (
            agent_db(person.home)
            .execute("SELECT wire FROM intents WHERE id = ?", (intent,))
            .fetchone()[0]
        )
        subject = schemas.open_intent(bytes(reply), now=None, replay=None).msg.reply_subject
        nc = await nats.connect(person.bus)
        try:
            await nc.publish(subject, b"\x00" * 200)
            await nc.publish(subject, b"not even close")
            await nc.flush()
        finally:
            await nc.close()
        a.wait_count("offer.dropped", 2, intent=intent, timeout=20)
        (listed,) = json.loads(person.ok("offers", "--json"))
        assert listed["offers"] == []
        assert [d["reason"].split(":")[0] for d in listed["dropped"]] == ["unverified"] * 2
        assert a.returncode is None
    db = agent_db(person.home)
    assert db.execute("SELECT count(*) FROM offers").fetchone()[0] == 0


async def test_a_forged_watched_intent_is_rejected_acknowledged_and_never_answered(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """An intent whose signature was tampered with and a junk frame, stored in the watch
    stream ahead of a genuine one: the vendor rejects them (`intent.rejected`), answers
    only the genuine one (one row in its answer log), and, restarted, is handed none of the
    three again (all were acknowledged)."""
    sierra = vendor("sierra")
    sierra.wait_for("watch.ready")
    genuine = schemas.example_tent_intent(now=datetime.now(UTC), ttl=timedelta(days=3))
    forged = bytearray(
        schemas.example_tent_intent(now=datetime.now(UTC), ttl=timedelta(days=3)).wire
    )
    forged[3] ^= 1  # inside the signature
    subject = schemas.watch_subject("outdoor/tents", timedelta(days=3))
    nc = await nats.connect(person.bus)
    try:
        js = nc.jetstream()
        for data in (bytes(forged), b"{}", genuine.wire):
            await js.publish(subject, data)
    finally:
        await nc.close()
    sierra.wait_for("offer.sent", intent=genuine.intent.id, timeout=20)
    assert sierra.count("intent.rejected") >= 1  # then summarised, once per interval
    log = tmp_path / "market" / "vendors" / "data" / "sierra" / "watched.sqlite"
    rows = sqlite3.connect(log).execute("SELECT intent_id FROM answered").fetchall()
    assert rows == [(genuine.intent.id,)]
    sierra.stop()
    again = vendor("sierra", replica="b")
    again.wait_for("watch.ready")
    later = schemas.example_tent_intent(now=datetime.now(UTC), ttl=timedelta(days=3))
    nc = await nats.connect(person.bus)
    try:
        await nc.jetstream().publish(subject, later.wire)
    finally:
        await nc.close()
    again.wait_for("offer.sent", intent=later.intent.id, timeout=20)  # behind any redelivery
    assert again.count("intent.rejected") == 0 and again.count("offer.sent") == 1


def test_a_vendor_name_with_markup_and_escapes_reaches_the_app_cleaned(
    person: Agent, vendor: VendorFactory
) -> None:
    """A vendor named with HTML and an OSC terminal escape: the app's state carries the
    name without the escape (as text: the page sets it with textContent), and `intentcast
    offers` prints no escape character. An intent described with markup is drawn in the
    charts' SVG escaped."""
    evil = "<img src=x onerror=alert(1)>\x1b]0;owned\x07Sierra"
    vendor("sierra", name=json.dumps(evil))
    with _agent(person) as a:
        url = str(a.wait_for("agent.listening")["url"])
        intent = _watch(person, "<script>alert(1)</script> tent")
        a.wait_for("watch.offer_stored", intent=intent, timeout=20)
        token = (person.home / "agent.token").read_text().strip()
        state = httpx.get(
            url + "/api/state", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
    (offer,) = state["intents"][0]["offers"]
    assert "\x1b" not in offer["vendor"] and "\x07" not in offer["vendor"]
    assert offer["vendor"].startswith("<img")  # text: the page puts it in as text only
    charts = state["charts"]["offers"] + state["charts"]["spending"]
    assert "<script" not in charts and "<img" not in charts
    assert "&lt;script&gt;alert(1)&lt;/script&gt; tent" in charts
    out = person.ok("offers")
    assert "\x1b" not in out and "\x07" not in out
