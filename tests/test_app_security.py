"""The app's guards, with httpx against the real `intentcast agent` over a real bus: the
Host check (DNS rebinding), the CSRF token, no CORS, the bearer token, and the passphrase
lock. Each refusal says why, is logged, and changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runtime import EmbeddedServer, ServiceProcess

from .conftest import BIN, Agent, VendorFactory, agent_db


@pytest.fixture
def app(person: Agent) -> Iterator[tuple[ServiceProcess, str]]:
    p = ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip
    with p:
        yield p, str(p.wait_for("agent.listening")["url"])


def _session(url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=10)
    page = client.get("/")
    assert page.status_code == 200
    m = re.search(r'<meta name="csrf" content="([^"]+)">', page.text)
    assert m is not None
    return client, m.group(1)


def test_a_request_for_another_host_is_refused(app: tuple[ServiceProcess, str]) -> None:
    """A page on evil.example rebound to 127.0.0.1 sends Host: evil.example: 421, logged,
    for the page and the API alike; the app's own address and localhost are answered."""
    p, url = app
    port = url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{int(port) + 1}", "127.0.0.1"):
        for path in ("/", "/api/state"):
            r = httpx.get(url + path, headers={"Host": host}, timeout=10)
            assert r.status_code == 421, (host, path)
            assert "access-control-allow-origin" not in r.headers
    p.wait_for("app.refused", status=421, host="evil.example")
    assert (
        httpx.get(url + "/", headers={"Host": f"localhost:{port}"}, timeout=10).status_code == 200
    )


def test_state_changes_need_the_sessions_csrf_token(
    app: tuple[ServiceProcess, str], person: Agent
) -> None:
    """POST /api/terms with the session cookie but no token, or another session's token, or
    from another origin even with the token, is 403 and leaves config.toml as it was; with
    the session's own token it is saved. A preflight is 405 and nothing carries CORS."""
    p, url = app
    client, csrf = _session(url)
    _, other = _session(url)
    config = (person.home / "config.toml").read_text()
    body = {"agreement": "sd-base", "disclose": ["name"]}
    for headers in (
        {},
        {"X-CSRF-Token": other},
        {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
    ):
        r = client.post("/api/terms", json=body, headers=headers)
        assert r.status_code == 403 and r.json()["error"], headers
        assert "access-control-allow-origin" not in r.headers
    assert (person.home / "config.toml").read_text() == config
    p.wait_for("app.refused", status=403)
    assert client.options("/api/terms").status_code == 405
    r = client.post("/api/terms", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json() == {"agreement": "sd-base", "disclose": ["name"]}
    assert 'agreement = "sd-base"' in (person.home / "config.toml").read_text()


def test_without_a_session_or_with_a_wrong_bearer_nothing_is_read_or_changed(
    app: tuple[ServiceProcess, str], person: Agent
) -> None:
    """No cookie: /api/state and /api/export are 403. A wrong bearer token is 403; the
    home's own token (agent.token) reads. Junk JSON is a 400 naming what was expected."""
    _, url = app
    assert httpx.get(url + "/api/state", timeout=10).status_code == 403
    assert httpx.get(url + "/api/export", timeout=10).status_code == 403
    bad = {"Authorization": "Bearer " + "0" * 64}
    assert httpx.post(url + "/api/rate", json={}, headers=bad, timeout=10).status_code == 403
    token = (person.home / "agent.token").read_text().strip()
    good = {"Authorization": f"Bearer {token}"}
    assert httpx.get(url + "/api/state", headers=good, timeout=10).status_code == 200
    r = httpx.post(url + "/api/intents", content=b"{nope", headers=good, timeout=10)
    assert r.status_code == 400 and "expected a JSON object" in r.json()["error"]
    r = httpx.post(url + "/api/intents", json={"description": "tent"}, headers=good, timeout=10)
    assert r.status_code == 409 and "--category is required" in r.json()["error"]


def test_a_locked_app_opens_only_with_its_passphrase(person: Agent, tmp_path: Path) -> None:
    """Started with --passphrase-file, a new session reads nothing until /unlock gets the
    passphrase: a wrong one is 403 (logged), the right one unlocks that session only."""
    pw = tmp_path / "pw.txt"
    pw.write_text("correct horse battery\n")
    p = ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0",
         "--passphrase-file", str(pw)],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip
    with p:
        url = str(p.wait_for("agent.listening")["url"])
        client, csrf = _session(url)
        assert client.get("/api/state").status_code == 403
        h = {"X-CSRF-Token": csrf}
        assert client.post("/unlock", json={"passphrase": "wrong"}, headers=h).status_code == 403
        p.wait_for("app.unlock_failed")
        assert (
            client.post(
                "/unlock", json={"passphrase": "correct horse battery"}, headers=h
            ).status_code
            == 200
        )
        assert client.get("/api/state").status_code == 200
        other, _ = _session(url)
        assert other.get("/api/state").status_code == 403


def test_stopping_a_watch_closes_it_and_only_an_open_one(
    app: tuple[ServiceProcess, str], person: Agent
) -> None:
    """POST /api/stop closes an open watched intent as cancelled (its stream is removed,
    `offers` no longer lists it); stopping it again, or an unknown id, is a 404 that names
    what was expected."""
    p, url = app
    token = (person.home / "agent.token").read_text().strip()
    h = {"Authorization": f"Bearer {token}"}
    form = {"description": "tent", "category": "outdoor/tents", "max_price": "150EUR",
            "by": "2099-01-01", "region": "ES-28", "watch": "1d"}  # fmt: skip
    cast = httpx.post(url + "/api/intents", json=form, headers=h, timeout=10)
    assert cast.status_code == 200, cast.text
    intent = cast.json()["intent"]
    r = httpx.post(url + "/api/stop", json={"intent": intent}, headers=h, timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    p.wait_for("watch.closed", intent=intent, state="cancelled")
    assert person.ok("offers", "--json").strip() == "[]"
    for again in (intent, "0" * 32):
        r = httpx.post(url + "/api/stop", json={"intent": again}, headers=h, timeout=10)
        assert r.status_code == 404 and "expected an open watched intent" in r.json()["error"]


def test_accepting_what_was_never_shown_is_refused_with_why(
    app: tuple[ServiceProcess, str], person: Agent
) -> None:
    """POST /api/accept for an offer id the person never saw is a 409 that says so (the
    Agent API's own rule), a non-text offer id is a 400 naming the field, and nothing is
    stored as accepted."""
    _, url = app
    h = {"Authorization": f"Bearer {(person.home / 'agent.token').read_text().strip()}"}
    r = httpx.post(url + "/api/accept", json={"offer": "deadbeef"}, headers=h, timeout=10)
    assert r.status_code == 409 and "no offer 'deadbeef' in your history" in r.json()["error"]
    r = httpx.post(url + "/api/accept", json={"offer": 5}, headers=h, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "offer: expected str, got int"
    assert agent_db(person.home).execute("SELECT count(*) FROM accepts").fetchone()[0] == 0


def test_the_export_is_the_sessions_to_download_and_holds_no_keys(
    app: tuple[ServiceProcess, str],
) -> None:
    """GET /api/export from the page's session is the export file (format
    intentcast-export/2, keys null) as an attachment; without the session it is 403."""
    _, url = app
    client, _ = _session(url)
    r = client.get("/api/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.json()["format"] == "intentcast-export/2" and r.json()["keys"] is None
    assert httpx.get(url + "/api/export", timeout=10).status_code == 403


def test_a_bus_without_jetstream_refuses_a_watch_in_one_clear_answer(
    tmp_path: Path, vendor: VendorFactory
) -> None:
    """On a bus with no JetStream the agent still starts and serves; casting a watched
    intent is a 503 saying watched intents need JetStream (logged), nothing half-made is
    left open, and a vendor there says `watch.unavailable` and keeps serving live intents."""
    server = EmbeddedServer(jetstream=False).start()
    try:
        person = Agent(tmp_path / "p2", server.url)
        person.ok("init", "--name", "Ada", "--region", "ES-28")
        v = vendor("sierra", bus=server.url)
        v.wait_for("watch.unavailable")
        p = ServiceProcess(
            [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
            ready_event="agent.listening", name="intentcast agent", env=person.env,
        )  # fmt: skip
        with p:
            url = str(p.wait_for("agent.listening")["url"])
            cp = person.run(*Agent.want_args("--watch", "3d"))
            assert cp.returncode == 2 and "watched intents need JetStream" in cp.stderr
            p.wait_for("app.bus_failed")
            assert httpx.get(url + "/healthz", timeout=10).status_code == 200
        assert person.ok("offers", "--json").strip() == "[]"
        cp = person.run(*Agent.want_args("--watch", "3d"))  # no agent: the CLI casts itself
        assert cp.returncode == 2 and "watched intents need JetStream" in cp.stderr
        assert person.ok("offers", "--json").strip() == "[]"
        assert json.loads(person.ok(*Agent.want_args()))["offers"]  # live intents still work
    finally:
        server.stop()
