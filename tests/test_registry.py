"""The vendor registry on a real bus: a real nats-server with JetStream, the registrar and
vendors as subprocesses, and the person's real `intentcast` command.

What each test pins is in its docstring. Together: look-alike and duplicate names are
refused at registration (one line, a typed code, the vendor's log says why); on a shared
bus an impersonator, a revoked vendor and a vendor whose entry a stranger signed never
show; registered vendors show by their registered name; the registrar keeps its entries
and claims across a restart of itself and of the bus.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from nacl.signing import SigningKey

import schemas
from runtime import EmbeddedServer, RegistryView, ServiceProcess
from tests.conftest import BIN, Agent, VendorFactory, agent_db, vendor_config

pytestmark = pytest.mark.e2e
ADVERSARY = "cumbre"  # the demo vendor whose config impostors copy


def registrar(
    tmp_path: Path, bus: str, *flags: str, env: dict[str, str] | None = None
) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast-registry"), "run", "--keys", str(tmp_path / "registrar"),
         "--bus", bus, "--health-port", "-1", *flags],
        ready_event="registry.ready", name="registry", env=env,
    ).start()  # fmt: skip


def operator(tmp_path: Path, bus: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "intentcast-registry"), args[0], "--keys", str(tmp_path / "registrar"),
         "--bus", bus, *args[1:]],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def registered(key: str) -> str:
    return f'{{ registrar = "{key}", regions = ["ES"] }}'


def stranger(name: str, who: str, **more: str) -> dict[str, str]:
    """Overrides for a vendor of its own keys and store, going by ``name``."""
    return {
        "name": json.dumps(name),
        "keys_dir": f'"keys/{who}"',
        "data_dir": f'"data/{who}"',
        **more,
    }


def refused_vendor(
    tmp_path: Path, bus: str, **overrides: str
) -> tuple[int, str, list[dict[str, Any]]]:
    """Run a vendor that the registrar should refuse: (exit code, its one line, its events)."""
    cfg = vendor_config(tmp_path, ADVERSARY, "refused", **overrides)
    cp = subprocess.run(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", bus],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    events = [json.loads(ln) for ln in cp.stderr.splitlines() if ln.startswith("{")]
    plain = [ln for ln in cp.stderr.splitlines() if not ln.startswith("{")]
    return cp.returncode, "\n".join(plain), events


def trust_registrar(person: Agent, key: str) -> None:
    cfg = person.home / "config.toml"
    cfg.write_text(f'registrars = ["{key}"]\n' + cfg.read_text())


def want(person: Agent, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """`intentcast want` (JSON) with ``env`` added to the person's environment."""
    cp = person.run(*Agent.want_args(*extra), env=env)
    assert cp.returncode == 0, cp.stderr
    result: dict[str, Any] = json.loads(cp.stdout)
    return result


def drops(person: Agent) -> dict[str, tuple[str, str]]:
    with agent_db(person.home) as db:
        rows = db.execute("SELECT vendor_id, reason, detail FROM drops WHERE vendor_id IS NOT NULL")
        return {r["vendor_id"]: (r["reason"], r["detail"]) for r in rows}


def test_impostors_look_alikes_and_revoked_vendors_never_show_on_the_embedded_default(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent
) -> None:
    """With no set-up (a local registrar, the agent trusting it because it serves this very
    bus): the registered vendors show by their registered names; an unregistered key named
    "Sierra Outfitters" makes an offer and the person never sees it (dropped unregistered,
    stored as such); a Cyrillic look-alike is refused at registration with one line and a
    log event saying why; once the operator revokes Cumbre, its next offers are dropped too."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    reg = registrar(tmp_path, nats_server.url, "--auto-approve", "--local", env=env)
    try:
        local = registered("local")
        sierra = vendor("sierra", env=env, registry=local)
        cumbre = vendor("cumbre", env=env, registry=local)
        sierra.wait_for("vendor.registered")
        cumbre.wait_for("vendor.registered")
        impostor = vendor(
            ADVERSARY, replica="impostor", **stranger("Sierra Outfitters", "impostor")
        )
        key = str(reg.wait_for("registry.ready")["registrar"])
        look_alike = stranger("S\u0456erra Outfitters", "lookalike", registry=registered(key))
        code, line, events = refused_vendor(tmp_path, nats_server.url, **look_alike)
        assert code == 2 and len(line.splitlines()) == 1
        assert "refused the name" in line and "confusable: looks like 'Sierra Outfitters'" in line
        assert [e["code"] for e in events if e["event"] == "vendor.registration.refused"] == [
            "confusable"
        ]

        got = want(person, env, "--expect", "3")
        shown = {o["vendor"]: o["vendor_id"] for o in got["offers"]}
        assert set(shown) == {"Sierra Outfitters", "Cumbre Sports"}
        impostor.wait_for("offer.sent")
        impostor_id = _vendor_id(tmp_path, "impostor")
        assert impostor_id not in shown.values()
        assert drops(person)[impostor_id][0] == "unregistered"
        assert any(
            d["reason"] == "unregistered" and d["vendor_id"] == impostor_id for d in got["dropped"]
        )

        cumbre_id = shown["Cumbre Sports"]
        revoked = operator(
            tmp_path, nats_server.url, "revoke", cumbre_id, "--reason", "never delivered"
        )
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked" in revoked.stdout
        again = want(person, env, "--expect", "3")
        assert [o["vendor"] for o in again["offers"]] == ["Sierra Outfitters"]
        mine = {d["vendor_id"]: d for d in again["dropped"]}
        assert mine[cumbre_id]["reason"] == "unregistered"
        assert "revoked by the registrar: never delivered" in mine[cumbre_id]["detail"]
        assert cumbre.wait_count("offer.sent", 2) == 2  # it offered; the person never saw it
    finally:
        reg.stop()


def _vendor_id(tmp_path: Path, who: str) -> str:
    key = (tmp_path / "market" / "vendors" / "keys" / who / "identity.key").read_text().strip()
    return schemas.kid_of(SigningKey(bytes.fromhex(key)))


async def _put(url: str, key: str, value: bytes) -> None:
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value(schemas.REGISTRY_BUCKET)
        await kv.put(key, value)
    finally:
        await nc.close()


def test_an_entry_signed_by_anyone_but_a_trusted_registrar_is_not_believed(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent
) -> None:
    """A client that can write to the bucket puts in an entry for its own vendor, signed by
    its own key: the person's agent (trusting the real registrar by config) drops that
    vendor unregistered and says the entry did not verify; the registered one shows."""
    reg = registrar(tmp_path, nats_server.url, "--auto-approve")
    try:
        key = str(reg.wait_for("registry.ready")["registrar"])
        vendor("sierra", registry=registered(key)).wait_for("vendor.registered")
        forger = vendor(ADVERSARY, replica="forger", **stranger("Cumbre Sports", "forger"))
        forger_id = _vendor_id(tmp_path, "forger")
        fake = schemas.make_entry(
            SigningKey.generate(), vendor_id=forger_id, name="Cumbre Sports", categories=["outdoor"],
            regions=[], registered=datetime.now(UTC).date(), serial=9, now=datetime.now(UTC),
        )  # fmt: skip
        asyncio.run(_put(nats_server.url, schemas.vendor_entry_key(forger_id), fake))
        trust_registrar(person, key)
        got = person.want("--expect", "2")
        assert [o["vendor"] for o in got["offers"]] == ["Sierra Outfitters"]
        forger.wait_for("offer.sent")
        reason, detail = drops(person)[forger_id]
        assert reason == "unregistered" and "did not verify (unknown_signer)" in detail
    finally:
        reg.stop()


def test_duplicates_are_refused_and_entries_and_claims_survive_a_restart(
    tmp_path: Path, vendor: VendorFactory
) -> None:
    """The same name in other case and spacing is name_taken; after the registrar and the bus
    both restart (JetStream on disk), the entry is still there, a look-alike is still
    refused, and the registered vendor starting again is already registered, same serial."""
    store = tmp_path / "own-bus"
    with EmbeddedServer(store) as bus:
        reg = registrar(tmp_path, bus.url, "--auto-approve")
        key = str(reg.wait_for("registry.ready")["registrar"])
        sierra = vendor("sierra", bus=bus.url, registry=registered(key))
        sierra.wait_for("vendor.registered")
        code, line, _ = refused_vendor(
            tmp_path, bus.url, **stranger("SIERRA  outfitters", "dup", registry=registered(key))
        )
        assert code == 2 and "name_taken: 'Sierra Outfitters' is registered to" in line
        sierra.stop()
        reg.stop()
    with EmbeddedServer(store) as bus:
        reg = registrar(tmp_path, bus.url, "--auto-approve")
        try:
            listed = operator(tmp_path, bus.url, "list")
            assert listed.returncode == 0 and '"Sierra Outfitters"' in listed.stdout
            assert "active   serial 1 " in listed.stdout
            code, line, _ = refused_vendor(
                tmp_path, bus.url, **stranger("Sierra Outf\u00edtters", "accent", registry=registered(key))
            )  # fmt: skip
            assert code == 2 and "confusable" in line
            again = vendor("sierra", replica="b", bus=bus.url, registry=registered(key))
            assert again.wait_for("vendor.registered")["serial"] == 1
        finally:
            reg.stop()


def test_without_auto_approve_a_vendor_waits_for_the_operator(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory, person: Agent
) -> None:
    """Pending: the vendor runs and says so; the person's agent drops it until the operator
    approves; then it shows by its registered name."""
    reg = registrar(tmp_path, nats_server.url)
    try:
        key = str(reg.wait_for("registry.ready")["registrar"])
        sierra = vendor("sierra", registry=registered(key))
        sierra.wait_for("vendor.registration.pending")
        trust_registrar(person, key)
        first = person.want("--expect", "1")
        assert first["offers"] == [] and first["dropped"][0]["reason"] == "unregistered"
        approved = operator(tmp_path, nats_server.url, "approve", _vendor_id(tmp_path, "sierra"))
        assert approved.returncode == 0, approved.stderr
        later = person.want("--expect", "1")
        assert [o["vendor"] for o in later["offers"]] == ["Sierra Outfitters"]
    finally:
        reg.stop()


def test_the_registrar_reports_health_and_metrics_and_stops_cleanly_on_sigterm(
    tmp_path: Path, nats_server: EmbeddedServer, vendor: VendorFactory
) -> None:
    """/healthz names the registrar and its bucket; /metrics counts answers by status; on
    SIGTERM it stops at once, exit 0, and says so. Its key file is readable by its owner only."""
    reg = ServiceProcess(
        [str(BIN / "intentcast-registry"), "run", "--keys", str(tmp_path / "registrar"),
         "--bus", nats_server.url, "--auto-approve", "--health-port", "0"],
        ready_event="registry.ready", name="registry",
    ).start()  # fmt: skip
    try:
        ready = reg.wait_for("registry.ready")
        vendor("sierra", registry=registered(str(ready["registrar"]))).wait_for("vendor.registered")
        health = json.loads(urllib.request.urlopen(str(ready["health"]), timeout=5).read())
        assert health == {"status": "ok", "registrar": ready["registrar"], "bucket": "ic_registry", "bus": "connected"}  # fmt: skip
        metrics = urllib.request.urlopen(
            str(ready["health"]).replace("healthz", "metrics"), timeout=5
        )
        assert (
            'registry_answers_total{code="none",status="registered"} 1' in metrics.read().decode()
        )
        assert (tmp_path / "registrar" / "registrar.key").stat().st_mode & 0o777 == 0o600
    finally:
        assert reg.stop() == 0
    assert reg.count("registry.stopped") == 1


def test_operator_commands_refuse_unknown_vendors_in_one_line(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """Revoking or rotating a vendor the registry does not hold: exit 2, one line."""
    reg = registrar(tmp_path, nats_server.url, "--auto-approve")
    try:
        for cmd in (("revoke", "ab" * 32, "--reason", "x"), ("rotate", "ab" * 32)):
            cp = operator(tmp_path, nats_server.url, *cmd)
            assert cp.returncode == 2 and cp.stderr.count("\n") == 1
            assert "no entry for vendor" in cp.stderr
    finally:
        reg.stop()


async def test_a_registry_that_cannot_be_read_leaves_every_vendor_unregistered_and_says_why(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """No bucket yet: nobody is registered (and the log says the bucket is missing). A bus
    without JetStream: nobody is registered either, and the reason names the failure, so a
    person is not told a vendor never registered when the registry could not be read."""
    key = schemas.kid_of(SigningKey.generate())
    nc = await nats.connect(nats_server.url)
    try:
        view = RegistryView({key})
        assert await view.load(nc, wait=2) == 0
        assert view.lookup("ab" * 32, datetime.now(UTC)).unknown
    finally:
        await nc.close()
    with EmbeddedServer(jetstream=False) as bare:
        nc = await nats.connect(bare.url)
        try:
            view = RegistryView({key})
            assert await view.load(nc, wait=1) == 0
            reg = view.lookup("ab" * 32, datetime.now(UTC))
            assert not reg.active and reg.problem.startswith("the registry could not be read (")
        finally:
            await nc.close()
