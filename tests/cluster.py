"""The configs under deploy/nats, run on loopback: the same files, with host names, ports and
store folders rewritten, and fresh credentials."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import nats.errors

from runtime import Bus, EmbeddedServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vendor_id(config: Path) -> str:
    out = subprocess.run(
        [str(BIN / "intentcast-vendor"), "id", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def prepare(
    tmp: Path,
    *,
    persons: list[str],
    vendors: dict[str, tuple[str, list[str]]],
    ops: str = "ops",
    callout: bool = False,
    registrars: dict[str, str] | None = None,
) -> Path:
    """Copy deploy/nats to ``tmp/nats`` and make credentials there. Returns that folder."""
    d = tmp / "nats"
    shutil.copytree(
        ROOT / "deploy" / "nats", d, ignore=shutil.ignore_patterns("secrets", "out", "data")
    )
    args = [sys.executable, str(d / "make_credentials.py"), "--out", str(d / "secrets")]
    args += [a for p in persons for a in ("--person", p)] + ["--ops", ops]
    args += ["--callout"] if callout else []
    args += [
        a
        for name, (vid, cats) in vendors.items()
        for a in ("--vendor", f"{name}={vid}:{','.join(cats)}")
    ]
    args += [
        a for name, key in (registrars or {}).items() for a in ("--registrar", f"{name}={key}")
    ]
    subprocess.run(args, check=True, capture_output=True)
    return d


class LocalCluster:
    """deploy/nats/cluster/node-{a,b,c}.conf on loopback."""

    def __init__(self, nats_dir: Path) -> None:
        self.dir = nats_dir
        names = ["a", "b", "c"]
        self.client = {n: free_port() for n in names}
        self.route = {n: free_port() for n in names}
        self.servers: dict[str, EmbeddedServer] = {}
        for n in names:
            text = (nats_dir / "cluster" / f"node-{n}.conf").read_text()
            text = text.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{self.client[n]}")
            text = text.replace("http: 0.0.0.0:8222\n", "")
            text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{self.route[n]}")
            text = text.replace("listen: 0.0.0.0:7422", f"listen: 127.0.0.1:{free_port()}")
            text = re.sub(
                r"nats-route://nats-(\w):6222",
                lambda m: f"nats-route://127.0.0.1:{self.route[m.group(1)]}",
                text,
            )
            text = text.replace(
                'store_dir: "/data/jetstream"', f'store_dir: "{nats_dir / "data" / n}"'
            )
            conf = nats_dir / "cluster" / f"local-{n}.conf"
            conf.write_text(text)
            self.servers[n] = EmbeddedServer(config_file=conf, name=f"nats-{n}")

    def url(self, *nodes: str) -> str:
        return ",".join(f"nats://127.0.0.1:{self.client[n]}" for n in nodes)

    def start(self) -> LocalCluster:
        for s in self.servers.values():
            s.start()
        asyncio.run(self.wait_meshed())
        return self

    async def wait_meshed(self, seconds: float = 20.0) -> None:
        """Until a message published on each node reaches a subscriber on every other node:
        routes are up and interest has spread. Each try waits on delivery, with a timeout."""
        seed = self.dir / "secrets" / "ops.nk"
        async with asyncio.timeout(seconds):
            for src in self.servers:
                for dst in self.servers:
                    if src == dst:
                        continue
                    async with (
                        Bus(self.url(dst), name="probe-dst", nkey_seed=seed) as d,
                        Bus(self.url(src), name="probe-src", nkey_seed=seed) as s,
                    ):
                        sub = await d.nc.subscribe(f"probe.{src}.{dst}")
                        await d.nc.flush()
                        while True:
                            await s.nc.publish(f"probe.{src}.{dst}", b"?")
                            try:
                                await sub.next_msg(timeout=0.2)
                                break
                            except nats.errors.TimeoutError:
                                continue

    def restart(self, node: str) -> None:
        old = self.servers[node]
        self.servers[node] = EmbeddedServer(config_file=old.config_file, name=old.name)
        self.servers[node].start()

    def stop(self) -> None:
        for s in self.servers.values():
            s.stop()
