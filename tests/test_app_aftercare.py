"""The running agent's relationships API with httpx, against the real `intentcast agent`
and a real vendor on a real bus: an update a vendor missed is retried by the agent on its
own, backing off while the vendor is away, and acknowledged once it is back; the new
state-changing endpoints need the session's CSRF token; a bad detail is one line naming
the field, and nothing is saved."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx

import schemas
from runtime import Bus, EmbeddedServer, Message, ServiceProcess

from .conftest import BIN, Agent, VendorFactory, agent_db, vendor_db
from .test_app_security import _session
from .test_relationships import NEW_ADDRESS, _buy_from


def _agent(person: Agent, *flags: str) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0", *flags],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip


def _cli(person: Agent, url: str) -> httpx.Client:
    """The app's API as the CLI reaches it: the home's bearer token."""
    token = (person.home / "agent.token").read_text().strip()
    return httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _update_of(state: dict[str, object], vendor: str) -> str:
    (v,) = [v for v in state["relationships"] if v["vendor"] == vendor]  # type: ignore[attr-defined]
    (order,) = v["orders"]
    return str(order["update"])


def test_the_running_agent_retries_an_unanswered_update_on_its_own_backing_off(
    tmp_path: Path, person: Agent, vendor: VendorFactory
) -> None:
    """Sierra is down when the address changes through the app: none of 1 acknowledged.
    The agent asks again by itself, waiting twice as long after each silent round (0.5 s,
    then 1, then 2); once Sierra is back, a round gets its signed acknowledgement, the state
    says acknowledged and Sierra's store holds the new street; no CLI command ran."""
    sierra = vendor("sierra")
    _buy_from(person, "Sierra Outfitters", expect=1)
    sierra.stop()
    with _agent(person, "--retry-every", "0.5") as a:
        api = _cli(person, str(a.wait_for("agent.listening")["url"]))
        r = api.post("/api/profile", json={"address": "Calle Nueva 7", "postcode": "28004"})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "changed": ["address", "postcode"],
            "sent": 1,
            "acknowledged": 0,
            "unsigned": 0,
        }
        assert _update_of(api.get("/api/state").json(), "Sierra Outfitters") == "NOT acknowledged"
        a.wait_for("relationships.retried", answered=0, next=1.0, timeout=20)
        a.wait_for("relationships.retried", answered=0, next=2.0, timeout=20)
        vendor("sierra", replica="a")
        a.wait_for("relationships.retried", answered=1, timeout=30)
        a.wait_for("agent.notified", kind="relationship")
        assert _update_of(api.get("/api/state").json(), "Sierra Outfitters") == "acknowledged"
    (held,) = [
        json.loads(r[0])
        for r in vendor_db(tmp_path, "sierra").execute("SELECT disclosure FROM orders")
    ]
    assert held["address"] == ["Calle Nueva 7"] and held["postcode"] == "28004"


def test_profile_forget_and_delivered_need_the_csrf_token_and_check_their_input(
    person: Agent,
) -> None:
    """From a page session without its CSRF token, each new state change is 403 and the
    config is as it was; with it, a country that is no ISO code is 400 in one line naming
    the field, nothing saved; an unknown vendor or receipt is 409 saying what was expected."""
    config = (person.home / "config.toml").read_text()
    with _agent(person) as a:
        client, csrf = _session(str(a.wait_for("agent.listening")["url"]))
        for path, body in (
            ("/api/profile", {"city": "Toledo"}),
            ("/api/forget", {"vendor": "sierra"}),
            ("/api/delivered", {"receipt": "ab"}),
        ):
            r = client.post(path, json=body)
            assert r.status_code == 403 and "CSRF" in r.json()["error"], path
        assert (person.home / "config.toml").read_text() == config
        ok = {"X-CSRF-Token": csrf}
        r = client.post("/api/profile", json={"country": "Spain"}, headers=ok)
        assert r.status_code == 400 and r.json()["error"].startswith(
            "profile: country: expected an ISO 3166"
        )
        r = client.post("/api/profile", json={"colour": "red"}, headers=ok)
        assert r.status_code == 400 and "expected some of" in r.json()["error"]
        assert (person.home / "config.toml").read_text() == config
        r = client.post("/api/forget", json={"vendor": "Nobody Ltd"}, headers=ok)
        assert r.status_code == 409 and "expected one vendor you bought from" in r.json()["error"]
        r = client.post("/api/delivered", json={"receipt": "ffff"}, headers=ok)
        assert r.status_code == 409 and "expected one receipt" in r.json()["error"]


async def test_sigterm_mid_retry_round_exits_at_once_and_keeps_the_update(
    tmp_path: Path, nats_server: EmbeddedServer, person: Agent, vendor: VendorFactory
) -> None:
    """A silent party holds Sierra's details subject (it hears, never answers): the running
    agent's retry round waits on it (5 s per vendor), and SIGTERM then ends the agent within
    3 s, exit 0, the update still stored as pending for the next round."""
    sierra = vendor("sierra")
    await asyncio.to_thread(_buy_from, person, "Sierra Outfitters", 1)
    vendor_id = str(sierra.wait_for("vendor.ready")["vendor"])
    sierra.stop()
    heard = asyncio.Event()
    async with Bus(nats_server.url, name="silent") as bus:

        async def hear(msg: Message) -> None:
            heard.set()

        await bus.nc.subscribe(schemas.vendor_subject(vendor_id, "details"), cb=hear)
        await bus.nc.flush()
        cp = await asyncio.to_thread(
            person.run, "profile", "set", "address", *NEW_ADDRESS, "--timeout", "1"
        )
        assert cp.returncode == 1, cp.stderr
        heard.clear()
        with _agent(person, "--retry-every", "0.1") as a:
            async with asyncio.timeout(20):
                await heard.wait()  # the round is now waiting on the silent party
            a.signal(signal.SIGTERM)
            assert await asyncio.to_thread(a.wait_exit, 3) == 0
    (row,) = agent_db(person.home).execute("SELECT status FROM relationship_updates").fetchall()
    assert row["status"] == "pending"
