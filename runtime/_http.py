"""A very small HTTP/1.1 server on asyncio, for health, metrics and the agent's local page.
Loopback by default; GET only; one response per connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType

import structlog

__all__ = ["HttpServer", "Response"]

log = structlog.get_logger("intentcast.http")

Response = tuple[int, str, bytes]  # status, content type, body
Handler = Callable[[str], Awaitable[Response]]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HttpServer:
    def __init__(self, routes: dict[str, Handler], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes, self.host, self.port = routes, host, port
        self._server: asyncio.Server | None = None
        # asyncio starts a task per connection and keeps no hold on it: we do, so that
        # leaving the block ends requests in flight (a client sending slowly) at once.
        self._connections: set[asyncio.Task[object]] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._respond(reader, writer)
        except asyncio.CancelledError:
            # Ours (the server is stopping) ends the task quietly: Python 3.11's streams
            # report a cancelled connection task as an unhandled exception, with a
            # traceback. Anybody else's cancellation goes on up.
            if not (self._stopping and task.uncancel() == 0):
                raise
        finally:
            self._connections.discard(task)
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, ctype, body = 400, "text/plain", b"bad request\n"
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while await asyncio.wait_for(reader.readline(), 5) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            if len(parts) == 3:
                method, target = parts[0], parts[1]
                path, _, query = target.partition("?")
                handler = self.routes.get(path)
                if method != "GET":
                    status, ctype, body = 405, "text/plain", b"GET only\n"
                elif handler is None:
                    status, ctype, body = 404, "text/plain", b"not found\n"
                else:
                    status, ctype, body = await handler(query)
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        except Exception:
            log.exception("http.handler_failed")
            status, ctype, body = 500, "text/plain", b"internal error\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()

    async def __aenter__(self) -> HttpServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            self._stopping = True
            for task in self._connections:
                task.cancel("the server is stopping")
            if self._connections:
                await asyncio.wait(self._connections, timeout=1)
            await self._server.wait_closed()
