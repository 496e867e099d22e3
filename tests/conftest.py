"""Shared fixtures: a real nats-server on a free loopback port that always shuts down, vendor
adapters and agents as real subprocesses, and helpers to read their SQLite stores."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

import agent
import schemas
from agent import AgentConfig, Collected, Home
from runtime import Bus, EmbeddedServer, NatsTransport, ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO = ROOT / "demo"
# What a delivery needs, as `intentcast init` flags and as the in-process agent's details.
ADDRESS_FLAGS = (
    "--street", "Calle Mayor 1", "--postcode", "28013", "--city", "Madrid", "--country", "ES",
    "--email", "ada@example.org",
)  # fmt: skip
TEST_PERSON = agent.PersonDetails(
    name="Ada Lovelace", address=["Calle Mayor 1"], postcode="28013", city="Madrid",
    country="ES", email="ada@example.org",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _structlog_as_it_was() -> Iterator[None]:
    """A command run in-process (``main([...])``) configures logging for the whole process;
    put it back after each test, so a later test's ``capture_logs`` sees every level."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A real nats-server with JetStream on a free loopback port."""
    server = EmbeddedServer(tmp_path / "nats-store")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _shared_dir(tmp_path: Path) -> Path:
    d = tmp_path / "market"
    if not d.exists():
        shutil.copytree(DEMO / "vendors", d / "vendors")
        shutil.copytree(DEMO / "catalogs", d / "catalogs")
    return d


def restock(tmp_path: Path, catalog: str, stock: int) -> None:
    """Give every item in a demo catalog (as copied for this test) ``stock`` units."""
    p = _shared_dir(tmp_path) / "catalogs" / catalog
    lines = p.read_text().splitlines()
    col = lines[0].split(",").index("stock")
    out = [lines[0]]
    for ln in lines[1:]:
        parts = ln.split(",")
        parts[col] = str(stock)
        out.append(",".join(parts))
    p.write_text("\n".join(out) + "\n")


VendorFactory = Callable[..., ServiceProcess]


def vendor_config(tmp_path: Path, name: str, replica: str = "a", /, **overrides: str) -> Path:
    """A demo vendor's config, copied for this test as ``<name>-<replica>.toml``, with
    top-level settings replaced by ``overrides`` (values are TOML)."""
    d = _shared_dir(tmp_path)
    cfg = d / "vendors" / f"{name}-{replica}.toml"
    lines = (d / "vendors" / f"{name}.toml").read_text().splitlines()
    for key, value in overrides.items():
        lines = [ln for ln in lines if not ln.startswith(f"{key} =")]
        lines.insert(
            next(i for i, ln in enumerate(lines) if ln.startswith("[")), f"{key} = {value}"
        )
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@pytest.fixture
def vendor(tmp_path: Path, nats_server: EmbeddedServer) -> Iterator[VendorFactory]:
    """Start a demo vendor as a subprocess: ``vendor("sierra", replica="b", **overrides)``.

    Replicas of one vendor share its keys and its store, as replicas on one host would."""
    started: list[ServiceProcess] = []
    logged = threading.Condition()  # shared, so tests can wait on what replicas log together

    def start(
        name: str,
        /,
        *,
        replica: str = "a",
        bus: str | None = None,
        env: dict[str, str] | None = None,
        **overrides: str,
    ) -> ServiceProcess:
        """``overrides`` replace top-level settings: values are TOML, e.g. terms_policy='"honour"'
        (``name`` too: the demo vendor to copy comes first, by position)."""
        cfg = vendor_config(tmp_path, name, replica, **overrides)
        p = ServiceProcess(
            [
                str(BIN / "intentcast-vendor"),
                "run",
                "--config",
                str(cfg),
                "--bus",
                bus or nats_server.url,
            ],
            ready_event="vendor.ready",
            name=f"{name}-{replica}",
            env=env,
            condition=logged,
        ).start()
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.stop()


def vendor_db(tmp_path: Path, name: str) -> sqlite3.Connection:
    db = sqlite3.connect(_shared_dir(tmp_path) / "vendors" / "data" / name / "vendor.sqlite")
    db.row_factory = sqlite3.Row
    return db


def agent_db(home: Path) -> sqlite3.Connection:
    db = sqlite3.connect(home / "agent.sqlite")
    db.row_factory = sqlite3.Row
    return db


@pytest.fixture
def rogue(nats_server: EmbeddedServer) -> Iterator[ServiceProcess]:
    p = ServiceProcess(
        [sys.executable, str(DEMO / "rogue_vendor.py"), "--bus", nats_server.url],
        ready_event="rogue.ready",
        name="rogue",
    ).start()
    try:
        yield p
    finally:
        p.stop()


@contextlib.asynccontextmanager
async def own_agent(
    path: Path, bus: Bus, config: AgentConfig | None = None
) -> AsyncIterator[agent.Agent]:
    """The real agent (in-process, through its public API) over a home at ``path`` with the
    default config (or ``config``), talking through ``bus``."""
    async with agent.Agent(
        Home(path),
        NatsTransport(bus),
        config=config or AgentConfig(person=TEST_PERSON),
        reply_prefix=bus.reply_prefix,
    ) as a:
        yield a


async def collect(a: agent.Agent, *, window: float = 5.0, expect: int | None = None) -> Collected:
    """One intent for a 2-person tent, cast and ranked by the real agent code (in-process)."""
    return await a.cast(tent_intent(), window=window, expect=expect)


def web_page(home: Path) -> str:
    """The person's web page (``intentcast web``'s ``/``), as the agent renders it now."""

    async def render() -> str:
        async with agent.Agent(Home(home)) as a:
            return agent.web_page(a)

    import asyncio

    return asyncio.run(render())


def archived(home: Path) -> dict[str, schemas.ArchivedOrder | None]:
    """Every receipt in the person's home, re-read by the agent against the keys each frame
    must come from: receipt id -> the verified order (None: it does not verify)."""

    async def read() -> dict[str, schemas.ArchivedOrder | None]:
        async with agent.Agent(Home(home)) as a:
            return {c.row.receipt_id: c.order for c in a.receipts()}

    import asyncio

    return asyncio.run(read())


def signed_by(key_hex: str) -> schemas.KeyResolver:
    """A resolver that believes one key: a stored frame checked against the key it must come
    from (never the key it names)."""
    from nacl.signing import VerifyKey

    def resolve(kid: str, at: datetime | None) -> VerifyKey:
        if kid != key_hex:
            raise schemas.UnknownSigner(key_hex[:16], kid[:16], "$.tag")
        return VerifyKey(bytes.fromhex(kid))

    return resolve


def tent_intent() -> schemas.CastIntent:
    return schemas.example_tent_intent(now=datetime.now(UTC))


class Agent:
    """The ``intentcast`` command, run as a person would, against one home and bus."""

    def __init__(self, home: Path, bus: str, seed: Path | None = None) -> None:
        self.home, self.bus = home, bus
        self.env = {"INTENTCAST_BUS": bus}
        if seed is not None:  # the person's credential on a secured bus
            self.env["INTENTCAST_BUS_SEED"] = str(seed)

    def run(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **(env or {})}
        return subprocess.run(
            [str(BIN / "intentcast"), "--home", str(self.home), *args],
            text=True,
            capture_output=True,
            timeout=timeout,
            env=env,
        )

    def ok(self, *args: str) -> str:
        cp = self.run(*args)
        assert cp.returncode == 0, f"intentcast {' '.join(args)} -> {cp.returncode}\n{cp.stderr}"
        return cp.stdout

    @staticmethod
    def want_args(*extra: str, wait: str | None = None) -> list[str]:
        """`intentcast want` for a 2-person tent, 150 EUR, in 18 days, as JSON; ``extra``
        flags come last and so win. The window is 1.5 s, or 10 s with ``--expect`` (which
        ends it as soon as the expected offers are in: a deadline, not a wait)."""
        if wait is None:
            wait = "10s" if "--expect" in extra else "1500ms"
        by = (date.today() + timedelta(days=18)).isoformat()
        return [
            "want",
            "2-person tent",
            "--category",
            "outdoor/tents",
            "--max-price",
            "150EUR",
            "--by",
            by,
            "--region",
            "ES-28",
            "--terms",
            "nostalking",
            "--wait",
            wait,
            "--json",
            *extra,
        ]

    def want(self, *extra: str, wait: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.ok(*self.want_args(*extra, wait=wait)))
        return result


@pytest.fixture
def person(tmp_path: Path, nats_server: EmbeddedServer) -> Agent:
    a = Agent(tmp_path / "person", nats_server.url)
    a.ok("init", "--name", "Ada Lovelace", "--region", "ES-28", *ADDRESS_FLAGS)
    return a
