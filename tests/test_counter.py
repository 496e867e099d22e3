"""The vendor's counter, end to end over a real nats-server with JetStream, a real vendor
subprocess and the real CLIs: statuses the vendor stores, signs and leaves in the order's
mailbox reach a person whose agent was not running when they were sent; the person's agent
applies each once; a vendor's cancellation frees the stock and counts against it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import BIN, Agent, VendorFactory, agent_db, restock, vendor_db


def counter(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, vendor: str = "sierra"
) -> subprocess.CompletedProcess[str]:
    """``intentcast-vendor ARGS --config`` a vendor's config as the vendor fixture wrote it."""
    cfg = tmp_path / "market" / "vendors" / f"{vendor}-a.toml"
    return subprocess.run(
        [str(BIN / "intentcast-vendor"), *args, "--config", str(cfg)],
        text=True, capture_output=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def bought(person: Agent) -> dict[str, Any]:
    """One tent from Sierra, accepted and countersigned: the person's receipt as JSON."""
    got = person.want("--expect", "1")
    acc = json.loads(person.ok("accept", got["offers"][0]["offer"][:8], "--json"))
    assert acc["status"] == "confirmed" and acc["vendor_acknowledged"] is True
    (receipt,) = json.loads(person.ok("receipts", "--json"))
    return receipt  # type: ignore[no-any-return]


def test_ship_and_deliver_reach_an_agent_that_was_offline(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """The person's agent runs no process while the vendor ships and delivers; its next
    `inbox` finds both, verified, in order; `receipts` says delivered; a second pick-up
    applies nothing twice and refuses nothing; the person's store keeps the exact signed
    bytes the vendor stored."""
    sierra = vendor("sierra")
    receipt = bought(person)
    order = receipt["order"][:8]
    shipped = counter(tmp_path, "ship", order, "--carrier", "Correos", "--tracking", "PK123")
    assert shipped.returncode == 0, shipped.stderr
    assert "shipped (status 1 stored" in shipped.stdout
    sierra.wait_for("status.sent", seq=1)
    assert counter(tmp_path, "delivered", order).returncode == 0
    sierra.wait_for("status.sent", seq=2)
    got = json.loads(person.ok("inbox", "--json"))
    assert [(s["seq"], s["state"]) for s in got["statuses"]] == [(1, "shipped"), (2, "delivered")]
    assert got["statuses"][0]["tracking"] == "PK123" and got["refused"] == {}
    (r,) = json.loads(person.ok("receipts", "--json"))
    assert r["status"] == "delivered" and r["signatures_verify"]
    again = json.loads(person.ok("inbox", "--json"))
    assert len(again["statuses"]) == 2 and again["refused"] == {}
    mine = [
        x["wire"]
        for x in agent_db(person.home).execute("SELECT wire FROM order_statuses ORDER BY seq")
    ]
    theirs = [
        x["wire"]
        for x in vendor_db(tmp_path, "sierra").execute(
            "SELECT wire FROM order_statuses ORDER BY seq"
        )
    ]
    assert mine == theirs and len(mine) == 2
    said = person.ok("delivered", receipt["receipt"][:8])
    assert "5/5 (delivered)" in said and "the vendor said so too, signed (status #2" in said
    (rating,) = agent_db(person.home).execute("SELECT * FROM outcomes WHERE kind = 'rating'")
    assert rating["ref"] == receipt["receipt"] and rating["positive"] > 0 == rating["negative"]
    history = json.loads(person.ok("history", "--json"))
    assert [s["state"] for h in history for s in h["statuses"]] == ["shipped", "delivered"]
    page = httpx.get(str(sierra.wait_for("vendor.health")["metrics"]), timeout=5).text
    assert 'vendor_outbox_sent_total{what="status"} 2.0' in page
    listed = json.loads(counter(tmp_path, "orders", "--json").stdout)
    assert [(o["state"], [s["sent"] for s in o["statuses"]]) for o in listed] == [
        ("delivered", [True, True])
    ]


def test_illegal_transitions_are_one_line_and_exit_2(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """Shipping twice, cancelling a shipped order, an order id nobody has, or keys that did
    not make the order: each one line naming what was expected, exit 2, nothing new stored.
    The person's cancel of the shipped order is refused by the vendor, signed, and the
    receipt still says shipped."""
    sierra = vendor("sierra")
    receipt = bought(person)
    order = receipt["order"][:8]
    assert counter(tmp_path, "ship", order).returncode == 0
    for args in (("ship", order), ("cancel", order, "--reason", "x"), ("ship", "ffffffff")):
        cp = counter(tmp_path, *args)
        assert cp.returncode == 2, cp
        (line,) = cp.stderr.strip().splitlines()
        assert line.startswith("intentcast-vendor: error: ") and "expected" in line
    vendors = tmp_path / "market" / "vendors"
    text = (vendors / "sierra-a.toml").read_text().replace('"keys/sierra"', '"keys/other"')
    (vendors / "otherkeys-a.toml").write_text(text)  # the same store, another vendor's keys
    cp = counter(tmp_path, "delivered", order, vendor="otherkeys")
    assert cp.returncode == 2 and "expected its receipt to verify with the keys" in cp.stderr
    (n,) = vendor_db(tmp_path, "sierra").execute("SELECT COUNT(*) FROM order_statuses").fetchone()
    assert n == 1
    sierra.wait_for("status.sent", seq=1)
    cp = person.run("cancel", receipt["receipt"][:8])
    assert cp.returncode == 1 and "Not cancelled: order is shipped" in cp.stdout, cp
    (r,) = json.loads(person.ok("receipts", "--json"))
    assert r["status"] == "shipped"


def test_a_vendor_cancel_frees_stock_reaches_the_person_and_counts_against_the_vendor(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """With one tent in stock and it sold, no offer comes; the vendor cancels, saying why:
    the tent is on offer again, the person's receipt says cancelled with the reason, the
    vendor's trust falls below where the sale put it, and the person agreeing (`cancel` of
    the vendor-cancelled order) takes that away again without asking the vendor."""
    restock(tmp_path, "sierra.csv", 1)
    sierra = vendor("sierra")
    receipt = bought(person)
    assert person.want()["offers"] == []
    cp = counter(tmp_path, "cancel", receipt["order"][:8], "--reason", "damaged in the warehouse")
    assert cp.returncode == 0 and "stock is free again" in cp.stdout, cp.stderr
    sierra.wait_for("status.sent", seq=1)
    got = json.loads(person.ok("inbox", "--json"))
    assert [(s["state"], s["reason"]) for s in got["statuses"]] == [
        ("cancelled", "damaged in the warehouse")
    ]
    (r,) = json.loads(person.ok("receipts", "--json"))
    assert r["status"] == "cancelled"

    def outcomes() -> list[dict[str, Any]]:
        db = agent_db(person.home)
        return [dict(o) for o in db.execute("SELECT kind, negative FROM outcomes")]

    assert {"kind": "vendor_cancelled", "negative": 1.0} in outcomes()
    assert len(person.want("--expect", "1")["offers"]) == 1  # the stock is back
    assert "Cancelled" in person.ok("cancel", receipt["receipt"][:8])
    assert all(o["kind"] != "vendor_cancelled" for o in outcomes())


def test_every_status_survives_sigkill_of_the_counter_and_of_the_adapter(
    person: Agent, vendor: VendorFactory, tmp_path: Path
) -> None:
    """`ship` killed inside its transaction keeps nothing (the order is still confirmed, no
    status) and can be run again; `delivered` killed right after its commit keeps the change;
    the adapter killed after the mailbox stored a status but before it noted that, and
    started again, sends what is unsent: the person gets each status exactly once, in order."""
    kill = "INTENTCAST_FAILPOINTS"
    sierra = vendor("sierra", env={kill: "vendor.status.posted"})
    order = bought(person)["order"][:8]
    cp = counter(tmp_path, "ship", order, env={kill: "vendor.counter.writing"})
    assert cp.returncode == -9
    db = vendor_db(tmp_path, "sierra")
    assert db.execute("SELECT status FROM orders").fetchone()[0] == "confirmed"
    assert db.execute("SELECT COUNT(*) FROM order_statuses").fetchone()[0] == 0
    assert counter(tmp_path, "ship", order).returncode == 0
    assert sierra.wait_exit(10) == -9  # posted seq 1, killed before it was marked sent
    cp = counter(tmp_path, "delivered", order, env={kill: "vendor.counter.committed"})
    assert cp.returncode == -9
    assert db.execute("SELECT status FROM orders").fetchone()[0] == "delivered"
    assert [tuple(r) for r in db.execute("SELECT seq, sent FROM order_statuses ORDER BY seq")] == [
        (1, 0),
        (2, 0),
    ]
    again = vendor("sierra")
    again.wait_for("status.sent", seq=2)
    got = json.loads(person.ok("inbox", "--json"))
    assert [(s["seq"], s["state"]) for s in got["statuses"]] == [(1, "shipped"), (2, "delivered")]
    assert got["refused"] == {}
