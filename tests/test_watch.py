"""Watched intents end to end over a real nats-server with JetStream: `intentcast want
--watch`, vendors that start later, `intentcast agent` killed and restarted, vendors
killed between answering and acknowledging, and `intentcast offers`."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import schemas
from runtime import FAILPOINTS_ENV, ServiceProcess

from .conftest import BIN, Agent, VendorFactory, agent_db


def _agent(person: Agent, *, env: dict[str, str] | None = None) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
        ready_event="agent.ready",
        name="intentcast agent",
        env={**person.env, **(env or {})},
    )  # started by its `with`


def _watch(person: Agent, *extra: str) -> str:
    got = json.loads(person.ok(*Agent.want_args("--watch", "3d", *extra)))
    assert got["watching"] is True
    return str(got["intent"])


def _offers(person: Agent) -> list[dict[str, object]]:
    got: list[dict[str, object]] = json.loads(person.ok("offers", "--json"))
    return got


def _count(db: sqlite3.Connection, sql: str, *args: object) -> int:
    return int(db.execute(sql, args).fetchone()[0])


def test_a_vendor_started_after_the_cast_answers_and_the_agent_stores_it(
    person: Agent, vendor: VendorFactory
) -> None:
    """An intent cast with --watch while no vendor and no agent runs is kept by the bus: a
    vendor started afterwards answers it, the agent started after that collects the offer
    (verified, ranked, with reasons), and `intentcast offers` lists it."""
    intent = _watch(person)
    assert [i["offers"] for i in _offers(person)] == [[]]
    sierra = vendor("sierra")
    sierra.wait_for("offer.sent", intent=intent, timeout=20)
    with _agent(person) as a:
        a.wait_for("watch.offer_stored", intent=intent, shown=True, timeout=20)
        a.wait_for("agent.notified", kind="offer", intent=intent)
    (listed,) = _offers(person)
    assert listed["intent"] == intent and listed["state"] == "open"
    (offer,) = listed["offers"]  # type: ignore[misc]
    assert offer["vendor"] == "Sierra Outfitters" and offer["reasons"]


def test_the_cli_casts_through_a_running_agent(person: Agent, vendor: VendorFactory) -> None:
    """With the agent running, `want --watch` asks it (no bus of its own: the agent logs
    the cast) and an offer from a vendor already up reaches `intentcast offers`."""
    vendor("sierra")
    with _agent(person) as a:
        intent = _watch(person)
        a.wait_for("watch.cast", intent=intent)
        a.wait_for("watch.offer_stored", intent=intent, timeout=20)
    assert [len(i["offers"]) for i in _offers(person)] == [1]  # type: ignore[arg-type]


def test_an_agent_killed_and_restarted_loses_nothing_and_duplicates_nothing(
    person: Agent, vendor: VendorFactory
) -> None:
    """The agent is SIGKILLed after storing an offer but before acknowledging it; a second
    vendor answers while no agent runs. Restarted, the agent has the intent, both offers
    once each (the redelivered one is recognised, not stored again), and its store and
    `intentcast offers` agree."""
    with _agent(person, env={FAILPOINTS_ENV: "agent.watch.stored"}) as a:
        intent = _watch(person)
        vendor("sierra")
        a.wait_for("failpoint.hit", name="agent.watch.stored", timeout=20)
        code = a.wait_exit(10)
        assert code == -9, "\n".join([*a.output, *a.lines])
    cumbre = vendor("cumbre")
    cumbre.wait_for("offer.sent", intent=intent, timeout=20)
    with _agent(person) as a:
        a.wait_for("watch.offer_again", intent=intent, timeout=20)
        a.wait_for("watch.offer_stored", intent=intent, timeout=20)
    db = agent_db(person.home)
    assert _count(db, "SELECT count(*) FROM intents WHERE id = ?", intent) == 1
    assert _count(db, "SELECT count(*) FROM offers WHERE intent_id = ?", intent) == 2
    assert (
        _count(db, "SELECT count(DISTINCT vendor_id) FROM offers WHERE intent_id = ?", intent) == 2
    )
    assert _count(db, "SELECT count(*) FROM drops WHERE intent_id = ?", intent) == 0
    (listed,) = _offers(person)
    assert sorted(o["vendor"] for o in listed["offers"]) == ["Cumbre Sports", "Sierra Outfitters"]  # type: ignore[attr-defined]


def test_a_vendor_killed_before_its_ack_answers_nothing_twice(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """A vendor SIGKILLed after its answer is on its disk but before the stream has the
    acknowledgement (the offer itself may not have left its buffer) is given the intent
    again when it restarts: it sends the stored bytes (`intent.already_answered`), never a
    new offer, and the agent ends with one offer from it; its answer log has one row."""
    with _agent(person) as a:
        sierra = vendor("sierra", env={FAILPOINTS_ENV: "vendor.watch.answered"})
        intent = _watch(person)
        sierra.wait_for("failpoint.hit", name="vendor.watch.answered", timeout=20)
        again = vendor("sierra", replica="b")
        again.wait_for("intent.already_answered", intent=intent, offer=True, timeout=45)
        a.wait_for("watch.offer_stored", intent=intent, timeout=20)
        assert again.count("offer.sent", intent=intent) == 0
    db = agent_db(person.home)
    assert _count(db, "SELECT count(*) FROM offers WHERE intent_id = ?", intent) == 1
    log = tmp_path / "market" / "vendors" / "data" / "sierra" / "watched.sqlite"
    answered = sqlite3.connect(log)
    assert _count(answered, "SELECT count(*) FROM answered WHERE intent_id = ?", intent) == 1


def test_the_desktop_is_notified_and_the_cli_accepts_through_the_agent(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """With `notify-send` on PATH the agent calls it for a new offer (vendor and price, no
    escapes); `intentcast accept` then goes through the running agent (its own bus URL is a
    dead one, so it opens no bus), gets the receipt, and the intent is closed as fulfilled."""
    stub = tmp_path / "stub-bin"
    stub.mkdir()
    said = tmp_path / "notify-send.txt"
    (stub / "notify-send").write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {said}\n')
    (stub / "notify-send").chmod(0o755)
    vendor("sierra")
    with _agent(person, env={"PATH": f"{stub}:{os.environ['PATH']}"}) as a:
        intent = _watch(person)
        offer = a.wait_for("watch.offer_stored", intent=intent, timeout=20)["offer"]
        a.wait_for("agent.desktop_notified", kind="offer", exit=0, timeout=20)
        assert (
            said.read_text()
            == "--app-name=intentcast|intentcast: a new offer|Sierra Outfitters: 129.00 EUR|"
        )
        dead_bus = {"INTENTCAST_BUS": "nats://127.0.0.1:9"}
        cp = person.run("accept", str(offer)[:8], "--json", env=dead_bus)
        assert cp.returncode == 0, cp.stderr
        assert json.loads(cp.stdout)["status"] == "confirmed"
        a.wait_for("watch.closed", intent=intent, state="fulfilled")
    (listed,) = json.loads(person.ok("offers", "--json", "--all"))
    assert listed["state"] == "fulfilled"
    assert json.loads(person.ok("offers", "--json")) == []


def test_two_watched_intents_share_nothing_on_the_wire(person: Agent) -> None:
    """Two intents watched through one running agent: each reply subject is
    ic.v1.reply.<32 hex> of its own (no reply token of a connection, which two intents
    could share), and the intents have different ids, keys and subjects."""
    with _agent(person):
        first, second = _watch(person), _watch(person)
    db = agent_db(person.home)
    wires = [bytes(db.execute("SELECT wire FROM intents WHERE id = ?", (i,)).fetchone()[0])
             for i in (first, second)]  # fmt: skip
    a, b = (schemas.open_intent(w, now=None, replay=None).msg for w in wires)
    for i in (a, b):
        assert re.fullmatch(r"ic\.v1\.reply\.[0-9a-f]{32}", i.reply_subject), i.reply_subject
    assert a.reply_subject != b.reply_subject and a.keys != b.keys and a.id != b.id


def test_an_agent_killed_while_casting_publishes_the_intent_when_restarted(
    person: Agent, vendor: VendorFactory
) -> None:
    """The agent dies after keeping a watched intent (intent, keys, watch: on disk) but
    before it reached the bus: the CLI says the agent did not answer (exit 2, one line);
    restarted, the agent publishes the same intent, a vendor answers it, and the store
    holds that one intent once."""
    vendor("sierra")
    with _agent(person, env={FAILPOINTS_ENV: "agent.watch.kept"}) as a:
        cp = person.run(*Agent.want_args("--watch", "3d"))
        a.wait_for("failpoint.hit", name="agent.watch.kept")
        assert cp.returncode == 2 and "did not answer" in cp.stderr, cp.stderr
    db = agent_db(person.home)
    (intent,) = [r[0] for r in db.execute("SELECT id FROM intents")]
    with _agent(person) as a:
        a.wait_for("watch.cast", intent=intent)
        a.wait_for("watch.offer_stored", intent=intent, timeout=20)
    assert _count(db, "SELECT count(*) FROM intents") == 1
    assert [i["state"] for i in _offers(person)] == ["open"]
