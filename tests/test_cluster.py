"""A real 3-node NATS cluster on loopback, from deploy/nats/cluster/*.conf, with nkeys and
per-role permissions: the agent on node A, vendors on B and C (`pytest -m cluster`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import ServiceProcess
from tests.cluster import LocalCluster, prepare, vendor_id
from tests.conftest import ADDRESS_FLAGS, BIN, DEMO, Agent, vendor_db

pytestmark = pytest.mark.cluster


class Market:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        shutil.copytree(DEMO / "vendors", tmp / "market" / "vendors")
        shutil.copytree(DEMO / "catalogs", tmp / "market" / "catalogs")
        self.configs = {v: tmp / "market" / "vendors" / f"{v}.toml" for v in ("sierra", "cumbre")}
        ids = {v: vendor_id(c) for v, c in self.configs.items()}
        cats = {"sierra": ["outdoor/tents", "outdoor/sleeping-bags"], "cumbre": ["outdoor"]}
        self.nats = prepare(tmp, persons=["app"], vendors={v: (ids[v], cats[v]) for v in ids})
        self.cluster = LocalCluster(self.nats).start()
        self.vendors: dict[str, ServiceProcess] = {}

    def start_vendor(self, name: str, *nodes: str) -> ServiceProcess:
        p = ServiceProcess(
            [str(BIN / "intentcast-vendor"), "run", "--config", str(self.configs[name]), "--bus", self.cluster.url(*nodes)],
            ready_event="vendor.ready", name=name,
            env={"INTENTCAST_BUS_SEED": str(self.nats / "secrets" / f"{name}.nk")},
        ).start()  # fmt: skip
        self.vendors[name] = p
        return p

    def agent(self, *nodes: str) -> Agent:
        a = Agent(self.tmp / "person", self.cluster.url(*nodes), self.nats / "secrets" / "app.nk")
        if not (a.home / "config.toml").exists():
            a.ok("init", "--name", "Ada Lovelace", "--region", "ES-28", *ADDRESS_FLAGS)
        return a

    def close(self) -> None:
        for p in self.vendors.values():
            p.stop()
        self.cluster.stop()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    m = Market(tmp_path)
    try:
        yield m
    finally:
        m.close()


def test_offers_cross_the_cluster(market: Market) -> None:
    """An intent cast on node A reaches vendors on B and C; their sealed offers come back;
    acceptance and receipt cross the cluster too."""
    market.start_vendor("sierra", "b")
    market.start_vendor("cumbre", "c")
    person = market.agent("a")
    got = person.want("--expect", "2", "--wait", "10s")
    assert sorted(o["vendor"] for o in got["offers"]) == ["Cumbre Sports", "Sierra Outfitters"]
    acc = json.loads(person.ok("accept", got["offers"][0]["offer"], "--json"))
    assert acc["status"] == "confirmed" and acc["vendor_acknowledged"]


def test_a_node_killed_mid_stream_loses_no_acknowledged_order(market: Market) -> None:
    """Node B (where Sierra is connected) is SIGKILLed during a stream of intents and
    acceptances, then restarted: Sierra reconnects and carries on, and every order the agent
    saw confirmed is in Sierra's store with the same receipt; none is duplicated."""
    sierra = market.start_vendor("sierra", "b")  # finds a and c through the cluster
    person = market.agent("a", "c")
    confirmed: dict[str, str] = {}
    failures = 0
    for i in range(8):
        if i == 3:
            market.cluster.servers["b"].kill()
        if i == 6:
            market.cluster.restart("b")
        got = person.run(*person.want_args("--expect", "1", "--wait", "10s"))
        offers = json.loads(got.stdout)["offers"] if got.returncode == 0 else []
        if not offers:
            failures += 1
            continue
        cp = person.run("accept", offers[0]["offer"], "--json")
        if cp.returncode == 0:
            r = json.loads(cp.stdout)["receipt"]
            confirmed[offers[0]["offer"]] = r["hash"]
        else:
            failures += 1
    sierra.wait_for("bus.reconnected", timeout=30)
    assert len(confirmed) >= 6, (confirmed, failures)
    rows = (
        vendor_db(market.tmp, "sierra")
        .execute("SELECT offer_id, receipt_wire FROM orders")
        .fetchall()
    )
    import schemas

    held = {r["offer_id"]: schemas.digest(r["receipt_wire"][64:]) for r in rows}
    assert len(rows) == len(held)  # one order per offer
    for offer, receipt_hash in confirmed.items():
        assert held.get(offer) == receipt_hash
