"""Everything under deploy/ is checked: NATS configs by `nats-server -t`, the compose file
against the compose specification, Kubernetes manifests against the Kubernetes schemas, and
the container entrypoints and health checks run directly (no Docker engine here)."""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtime import EmbeddedServer, ServiceProcess, find_nats_server
from tests.cluster import free_port, prepare

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
NATS_CONFIGS = [
    "callout.conf",
    "dev.conf",
    "single.conf",
    "cluster/node-a.conf",
    "cluster/node-b.conf",
    "cluster/node-c.conf",
    "leaf/vendor-site.conf",
    "tls/single-tls.conf",
]


def _with_test_ca(d: Path) -> Path:
    """Run the shipped test-CA script and point tls.conf at its output."""
    subprocess.run(
        ["bash", str(d / "tls" / "make-test-ca.sh"), str(d / "tls" / "out")],
        check=True,
        capture_output=True,
    )
    tls = d / "tls" / "tls.conf"
    tls.write_text(tls.read_text().replace("/etc/nats/tls", str(d / "tls" / "out")))
    return d


def test_every_nats_config_passes_nats_server_t(tmp_path: Path) -> None:
    """Each server config is valid with generated credentials and a throwaway TLS CA."""
    vendors = {"sierra": ("ab" * 32, ["outdoor/tents"])}
    d = _with_test_ca(prepare(tmp_path, persons=["app"], vendors=vendors, callout=True))
    env = {**os.environ, "INTENTCAST_LEAF_SEED": (d / "secrets" / "sierra.nk").read_text().strip()}
    for conf in NATS_CONFIGS:
        cp = subprocess.run(
            [find_nats_server(), "-t", "-c", str(d / conf)],
            capture_output=True,
            text=True,
            env=env,
            cwd=d,
        )
        assert cp.returncode == 0, f"{conf}: {cp.stderr}"
    assert sorted(
        str(p.relative_to(DEPLOY / "nats"))
        for p in (DEPLOY / "nats").rglob("*.conf")
        if p.name != "tls.conf"
    ) == sorted(NATS_CONFIGS)


def test_a_broken_config_fails_nats_server_t(tmp_path: Path) -> None:
    """The check can fail: a config with an unknown field is refused."""
    bad = tmp_path / "bad.conf"
    bad.write_text((DEPLOY / "nats" / "dev.conf").read_text() + "\nmax_payload: lots\n")
    assert (
        subprocess.run([find_nats_server(), "-t", "-c", str(bad)], capture_output=True).returncode
        != 0
    )


def test_payload_limits_match_the_protocol() -> None:
    """Every node allows a full sealed bundle and nothing near the 1 MiB default."""
    import schemas

    for conf in NATS_CONFIGS:
        text = (DEPLOY / "nats" / conf).read_text()
        if "listen" in text and "remotes" not in text:
            m = re.search(r"max_payload:\s*(\d+)KB", text)
            assert m, conf
            assert schemas.MAX_SEALED_BYTES < int(m.group(1)) * 1024 <= 512 * 1024


def test_jetstream_is_synced_on_every_write() -> None:
    """Where JetStream is on, it writes through to disk (sync_interval: always)."""
    for conf in NATS_CONFIGS:
        text = (DEPLOY / "nats" / conf).read_text()
        if "jetstream {" in text:
            assert "sync_interval: always" in text, conf


def test_compose_file_is_valid_compose() -> None:
    """deploy/docker/compose.yaml passes the compose specification's schema, and every
    file it mounts exists."""
    cp = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "docker" / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    spec = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    assert {"nats-a", "nats-b", "nats-c", "vendor-sierra", "vendor-cumbre", "agent"} <= set(
        spec["services"]
    )
    for svc in spec["services"].values():
        for v in svc.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else ""
            if src.startswith("."):
                assert (DEPLOY / "docker" / src).exists(), src


def test_kubernetes_manifests_validate() -> None:
    """The adapter's manifests pass the Kubernetes schemas (strict); the Helm values keep
    the cluster at three nodes with JetStream synced."""
    cp = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", str(DEPLOY / "k8s" / "vendor.yaml")],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "vendor.yaml").read_text()))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    values = yaml.safe_load((DEPLOY / "k8s" / "nats-values.yaml").read_text())
    assert values["config"]["cluster"]["replicas"] == 3
    assert values["config"]["merge"]["jetstream"]["sync_interval"] == "always"


def _dockerfile_stage(target: str) -> dict[str, list[str]]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    stage = text.split(f" AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
    out: dict[str, list[str]] = {}
    for key in ("ENTRYPOINT", "CMD"):
        m = re.search(rf"^{key} (\[.*\])$", stage, re.M)
        if m:
            out[key] = json.loads(m.group(1))
    m = re.search(r"HEALTHCHECK .*CMD (\[.*\])", stage)
    assert m, f"{target} has no HEALTHCHECK"
    out["HEALTHCHECK"] = json.loads(m.group(1))
    assert "USER 10001" in text.split(f" AS {target}", 1)[0] + stage
    return out


def _exe(args: list[str]) -> list[str]:
    return [
        str(BIN / args[0])
        if (BIN / args[0]).exists()
        else sys.executable
        if args[0] == "python"
        else args[0],
        *args[1:],
    ]


def test_vendor_image_entrypoint_and_healthcheck_work(
    tmp_path: Path, nats_server: EmbeddedServer
) -> None:
    """The vendor image's ENTRYPOINT, run as is with the container's config (paths moved to
    a temp dir), answers the image's HEALTHCHECK."""
    stage = _dockerfile_stage("vendor")
    cfg = (DEPLOY / "docker" / "vendors" / "sierra.toml").read_text()
    cfg = cfg.replace("/var/lib/intentcast", str(tmp_path / "state")).replace(
        "/etc/intentcast/sierra.csv", str(ROOT / "demo" / "catalogs" / "sierra.csv")
    )
    cfg = cfg.replace('bus_nkey_seed = "/run/secrets/bus.nk"\n', "").replace(
        "health_port = 8081", f"health_port = {(port := free_port())}"
    )
    (tmp_path / "vendor.toml").write_text(cfg)
    args = [
        a.replace("/etc/intentcast/vendor.toml", str(tmp_path / "vendor.toml"))
        for a in stage["ENTRYPOINT"]
    ]
    with ServiceProcess(
        [*_exe(args), "--bus", nats_server.url], ready_event="vendor.ready", name="vendor-image"
    ):
        check = [a.replace("8081", str(port)) for a in stage["HEALTHCHECK"]]
        assert subprocess.run(_exe(check), capture_output=True, timeout=10).returncode == 0
    assert subprocess.run(_exe(check), capture_output=True, timeout=10).returncode == 1


def test_agent_image_entrypoint_and_healthcheck_work(tmp_path: Path) -> None:
    """The agent image's ENTRYPOINT and CMD serve the page that its HEALTHCHECK probes."""
    stage = _dockerfile_stage("agent")
    env = {**os.environ, "INTENTCAST_HOME": str(tmp_path / "agent")}
    subprocess.run(_exe(["intentcast", "init"]), env=env, check=True, capture_output=True)
    port = free_port()
    cmd = _exe(stage["ENTRYPOINT"] + [a.replace("8765", str(port)) for a in stage["CMD"]])
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        assert "page" in proc.stdout.readline()  # it says where it serves once it listens
        check = [a.replace("8765", str(port)) for a in stage["HEALTHCHECK"]]
        assert subprocess.run(_exe(check), capture_output=True, timeout=10).returncode == 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_systemd_units_name_their_commands_and_restart() -> None:
    """Each unit has the sections systemd needs, restarts on failure and drops privileges."""
    for unit in (DEPLOY / "systemd").glob("*.service"):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.read_string(unit.read_text())
        assert {"Unit", "Service", "Install"} <= set(cp.sections()), unit.name
        assert cp["Service"]["ExecStart"].split()[0].startswith(("/", "%h")), unit.name
        assert cp["Service"].get("Restart") == "on-failure", unit.name


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make the test CA")
def test_tls_config_serves_tls_with_the_test_ca(tmp_path: Path) -> None:
    """tls/single-tls.conf with the throwaway CA: a client that trusts the CA connects over
    TLS with its nkey."""
    from runtime import Bus

    d = _with_test_ca(prepare(tmp_path, persons=["app"], vendors={}))
    conf = d / "tls" / "single-tls.conf"
    port = free_port()
    conf.write_text(conf.read_text().replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}"))
    server = EmbeddedServer(config_file=conf).start()

    async def connect() -> bool:
        seed, ca = d / "secrets" / "app.nk", d / "tls" / "out" / "ca.pem"
        async with Bus(f"tls://localhost:{port}", name="tls", nkey_seed=seed, tls_ca=ca) as bus:
            return bool(bus.nc.is_connected)

    try:
        assert asyncio.run(connect())
    finally:
        server.stop()
