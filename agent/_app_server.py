"""``intentcast agent`` (and ``intentcast web`` when no agent runs): the daemon and its app,
served by uvicorn on 127.0.0.1, until SIGINT or SIGTERM.

The listening socket is bound before uvicorn starts (so a taken port is one clear error,
and ``agent.json`` names a port that answers), uvicorn's own signal handling is left out
(``runtime.StopOnSignals`` owns the signals) and its shutdown waits at most 2 s for open
connections (an event stream never ends by itself)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import datetime

import structlog
import uvicorn

from runtime import Bus, bus_url

from ._app import build_app
from ._daemon import AgentDaemon, desktop_notify, forget_running, token_of, write_running
from ._home import Home
from ._rounds import Schedule
from ._session import utcnow

__all__ = ["bind_loopback", "run_agent"]

log = structlog.get_logger("intentcast.agent")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # StopOnSignals owns SIGINT and SIGTERM


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: any free one); OSError if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def run_agent(
    home: Home,
    *,
    bus: str | None,
    host: str,
    port: int,
    stop: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
    on_listening: Callable[[str], None] | None = None,
    schedule: Schedule | None = None,
) -> int:
    """Run the home's agent until ``stop`` is set; 0 then."""
    cfg = home.config()
    sock = bind_loopback(host, port)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # a container's own bind
    url = f"http://{shown_host}:{sock.getsockname()[1]}"
    with sock:
        async with (
            bus_url(bus or cfg.bus_url, store_dir=home.path / "jetstream") as nats_url,
            Bus(nats_url, name="agent", person=True) as connection,
            AgentDaemon(
                home, connection, clock=clock, notify=desktop_notify, schedule=schedule
            ) as daemon,
        ):
            app = build_app(daemon, token_of(home), lambda: sock.getsockname()[1])
            config = uvicorn.Config(
                app, log_config=None, access_log=False, lifespan="off", proxy_headers=False,
                server_header=False, timeout_graceful_shutdown=2,
            )  # fmt: skip
            server = _Server(config)
            running = write_running(home, url)
            try:
                async with asyncio.TaskGroup() as tg:
                    serving = tg.create_task(server.serve(sockets=[sock]))
                    ticking = tg.create_task(daemon.run(stop))
                    log.info("agent.listening", url=url)
                    if on_listening is not None:
                        on_listening(url)
                    await stop.wait()
                    server.should_exit = True
                    await serving
                    await ticking
            finally:
                forget_running(running)
    return 0
