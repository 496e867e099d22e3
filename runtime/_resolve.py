"""Which bus to use: the URL the user gave, else a running embedded bus, else start one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import platformdirs
import structlog

from ._embedded import EmbeddedServer, pid_alive
from ._signals import StopOnSignals

__all__ = ["bus_url", "default_data_dir", "embedded_bus_file", "running_embedded_bus"]

log = structlog.get_logger("intentcast.bus")
ENV_VAR = "INTENTCAST_BUS"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("intentcast", appauthor=False))


def embedded_bus_file() -> Path:
    return default_data_dir() / "bus.json"


def _reachable(url: str) -> bool:
    u = urlparse(url)
    with contextlib.suppress(OSError), socket.create_connection((u.hostname, u.port or 4222), 1):
        return True
    return False


def running_embedded_bus() -> str | None:
    """The URL of an embedded bus started by ``intentcast bus`` on this machine, if alive."""
    f = embedded_bus_file()
    with contextlib.suppress(OSError, ValueError, KeyError):
        info = json.loads(f.read_text())
        if pid_alive(int(info["pid"])) and _reachable(info["url"]):
            return str(info["url"])
    return None


@contextlib.asynccontextmanager
async def bus_url(given: str | None, *, store_dir: Path | None = None) -> AsyncIterator[str]:
    """Yield a bus URL: ``given``, else ``$INTENTCAST_BUS``, else a running embedded bus,
    else an embedded bus started for the lifetime of this block."""
    url = given or os.environ.get(ENV_VAR) or running_embedded_bus()
    if url:
        yield url
        return
    store = store_dir or default_data_dir() / "jetstream"
    # The private nats-server must not outlive us. A long-running service handles SIGINT
    # and SIGTERM itself (StopOnSignals) and stops this block with it. A one-shot command
    # left SIGTERM at its default, which would kill us and leave the child running, and
    # SIGINT to asyncio.run's single cancel, which a library can swallow (then the command
    # ran out its whole window): here both unwind this block, with StopOnSignals' repeated
    # cancel, and exit 128 + the signal.
    async with contextlib.AsyncExitStack() as stack:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            await stack.enter_async_context(
                StopOnSignals("private bus", signals=(signal.SIGINT, signal.SIGTERM), exit=True)
            )
        server = await stack.enter_async_context(EmbeddedServer(store))
        log.info("bus.embedded.private", url=server.url,
                 hint="nobody else is on this bus; run `intentcast bus` to share one")  # fmt: skip
        yield server.url
