"""The counter on a secured bus (deploy/nats/callout.conf with intentcast-bus-auth): the
vendor, granted only its own subjects, leaves a status in a mailbox the operator made and
keeps its own order feed, with JetStream's acknowledgements on its private inbox; the
person's agent reads its mailbox; a person's connection cannot write into any mailbox."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import schemas
from runtime import Bus, Mailboxes
from tests.conftest import ADDRESS_FLAGS, BIN, Agent
from tests.test_callout import Secured

pytestmark = pytest.mark.e2e


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    s = Secured(tmp_path)
    try:
        yield s
    finally:
        s.close()


async def _as(secured: Secured, who: str, job: str, subject: str = "") -> int:
    """As the operator: make the mailbox streams; count a subject's messages. As a person:
    try to write into a mailbox (the bus refuses it)."""
    person = who == "app"
    async with Bus(
        secured.url, name=who, nkey_seed=secured.secrets / f"{who}.nk", person=person
    ) as bus:
        if job == "make":
            await Mailboxes(bus).ensure_all()
        elif job == "write":
            await bus.nc.publish(subject, b"not a status")
            await bus.nc.flush()
        days = subject.split(".")[3].rstrip("d") if subject else "1"
        if person:
            return -1
        info = await bus.nc.jetstream().stream_info(
            schemas.mailbox_stream(int(days)), subjects_filter=subject or None
        )
        return int((info.state.subjects or {}).get(subject, 0))


def test_ship_reaches_the_person_through_the_secured_bus(secured: Secured, tmp_path: Path) -> None:
    """The operator makes the mailbox streams; the vendor ships a countersigned order and its
    outbox sends the status and the feed events (acknowledged by JetStream on the vendor's
    inbox); the person's next `inbox` has it; a person's connection writing to that mailbox
    adds nothing to it."""
    asyncio.run(_as(secured, "ops", "make"))
    sierra = secured.start_sierra()
    person = Agent(tmp_path / "person", secured.url, secured.secrets / "app.nk")
    assert person.run("init", "--name", "Ada", "--region", "ES-28", *ADDRESS_FLAGS).returncode == 0
    offers = json.loads(person.ok(*person.want_args("--expect", "1", "--wait", "5s")))["offers"]
    acc = json.loads(person.ok("accept", offers[0]["offer"], "--json"))
    order = acc["receipt"]["order_id"][:8]
    shipped = subprocess.run(
        [str(BIN / "intentcast-vendor"), "ship", order, "--config", str(secured.sierra_cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shipped.returncode == 0, shipped.stderr
    sent = sierra.wait_for("status.sent", timeout=15)
    sierra.wait_for("feed.sent", timeout=15)
    cp = person.run("-v", "inbox", "--json")  # -v: its log lines on stderr
    assert cp.returncode == 0 and "permission" not in cp.stderr, cp.stderr
    got = json.loads(cp.stdout)
    assert [(s["seq"], s["state"]) for s in got["statuses"]] == [(1, "shipped")]
    db = sqlite3.connect(secured.sierra_cfg.parent / "data" / "sierra" / "vendor.sqlite")
    (subject,) = db.execute("SELECT subject FROM order_statuses").fetchone()
    assert sent["order"] == acc["receipt"]["order_id"]
    asyncio.run(_as(secured, "app", "write", subject))
    assert asyncio.run(_as(secured, "ops", "count", subject)) == 1
    assert sierra.count("outbox.retry") == 0
