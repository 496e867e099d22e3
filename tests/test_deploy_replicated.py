"""The multi-host layout under deploy/: Kubernetes replicas of one vendor spread one per node
(and over zones) on a shared PostgreSQL order store whose URL and password come from secrets;
the compose file's replicated vendor (Cumbre) and its database; and the replicas' config run as the
image runs it against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtime import EmbeddedServer, ServiceProcess
from tests.cluster import free_port
from tests.postgres import PostgresServer, postgres_server
from vendor_adapter import STORE_ENV, load_config

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
REPLICATED = DEPLOY / "k8s" / "vendor-replicated.yaml"


def test_replicated_manifests_validate_and_spread_one_replica_per_node() -> None:
    """vendor-replicated.yaml passes the Kubernetes schemas (strict); its Deployment runs
    several replicas, at most one per node (a hard spread and anti-affinity on the host
    name) and spread over zones, keeps no volume of its own, rolls (never Recreate), and
    takes the store's URL and password from a Secret; a disruption budget keeps one up."""
    cp = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", str(REPLICATED)],
        capture_output=True,
        text=True,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(REPLICATED.read_text())}
    dep = docs["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] >= 2 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    spread = {c["topologyKey"]: c["whenUnsatisfiable"] for c in spec["topologySpreadConstraints"]}
    assert spread == {
        "kubernetes.io/hostname": "DoNotSchedule",
        "topology.kubernetes.io/zone": "ScheduleAnyway",
    }
    (anti,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert not any("persistentVolumeClaim" in v for v in spec["volumes"])
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env[STORE_ENV]["valueFrom"]["secretKeyRef"] == {"name": "sierra-store", "key": "url"}
    projected = next(v for v in spec["volumes"] if v["name"] == "bus")["projected"]["sources"]
    assert {"key": "password", "path": "store-password"} in projected[1]["secret"]["items"]
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert docs["StatefulSet"]["spec"]["volumeClaimTemplates"]


def test_compose_runs_cumbre_as_replicas_on_its_postgresql() -> None:
    """In compose.yaml Cumbre has two replicas, one per node on a Swarm, on the postgres
    service (healthy first), with the URL in the environment (no password in it) and the
    password and keys as secrets."""
    spec = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    sierra, pg = spec["services"]["vendor-cumbre"], spec["services"]["postgres"]
    assert sierra["deploy"]["replicas"] == 2
    assert sierra["deploy"]["placement"]["max_replicas_per_node"] == 1
    url = sierra["environment"][STORE_ENV]
    assert url.startswith("postgresql://intentcast@postgres:5432/") and ":" not in url[13:30]
    assert sierra["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in sierra  # replicas cannot share a host port
    targets = {s["target"] for s in sierra["secrets"]}
    assert {"store-password", "/etc/intentcast-keys/identity.key"} <= targets
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/store-password"
    assert "pg_isready" in pg["healthcheck"]["test"]


@pytest.mark.postgres
def test_the_replicas_config_runs_on_a_real_postgresql(
    tmp_path: Path, nats_server: EmbeddedServer, postgres_server: PostgresServer
) -> None:
    """k8s/sierra-replicated.toml, with its container paths moved to a temp dir and the store
    URL in $INTENTCAST_STORE as the secret gives it, starts, opens the PostgreSQL store
    (migrating it) and serves; its password comes from store_password_file."""
    cfg = (DEPLOY / "k8s" / "sierra-replicated.toml").read_text()
    for old, new in (
        ("/etc/intentcast-keys", str(tmp_path / "keys")),
        ("/var/lib/intentcast", str(tmp_path / "state")),
        ("/etc/intentcast/sierra.csv", str(ROOT / "demo" / "catalogs" / "sierra.csv")),
        ("/run/secrets/store-password", str(tmp_path / "store-password")),
        ("health_port = 8081", f"health_port = {free_port()}"),
        ('bus_nkey_seed = "/run/secrets/bus.nk"\n', ""),
    ):
        cfg = cfg.replace(old, new)
    (tmp_path / "store-password").write_text("not-checked-by-a-trust-server\n")
    (tmp_path / "vendor.toml").write_text(cfg)
    assert load_config(tmp_path / "vendor.toml").store_password_file == tmp_path / "store-password"
    env = {STORE_ENV: postgres_server.dsn(), "PGPASSWORD": ""}
    with ServiceProcess(
        [str(BIN / "intentcast-vendor"), "run", "--config", str(tmp_path / "vendor.toml"),
         "--bus", nats_server.url],
        ready_event="vendor.ready", name="replica", env={**os.environ, **env},
    ) as p:  # fmt: skip
        opened = p.wait_for("store.opened")
    assert opened["engine"] == "postgresql"
    migrations = len(list((ROOT / "vendor_adapter" / "migrations" / "postgresql").glob("*.sql")))
    assert postgres_server.sql("SELECT count(*) FROM schema_version", "vendor") == str(migrations)
