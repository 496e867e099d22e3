"""A NATS connection with the callbacks nats-py only reports through turned into log events
and counters (permission violations, slow consumers, disconnects, the final close)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import structlog
from nats.aio.client import Client
from nats.errors import SlowConsumerError

import schemas

from ._metrics import Registry

__all__ = ["Bus"]

log = structlog.get_logger("intentcast.bus")
SEED_ENV = "INTENTCAST_BUS_SEED"  # path to an nkey seed file: the credential for a secured bus
CA_ENV = "INTENTCAST_BUS_CA"  # path to the CA certificate that signed the bus's TLS certificate


def _error_kind(err: BaseException) -> str:
    text = str(err).lower()
    if "permissions violation" in text:
        return "permission_violation"
    if isinstance(err, SlowConsumerError):
        return "slow_consumer"
    if "maximum payload" in text:
        return "max_payload"
    return type(err).__name__


class Bus:
    """``async with Bus(url, name=...) as bus:`` then use ``bus.nc``.

    ``reconnect_forever`` suits services; a one-shot command gives up sooner.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        metrics: Registry | None = None,
        reconnect_forever: bool = True,
        connect_timeout: float = 5.0,
        drain_timeout: float = 5.0,
        nkey_seed: Path | None = None,
        tls_ca: Path | None = None,
        reply_token: str | None = None,
        **options: Any,
    ) -> None:
        self.url = url
        self.name = name
        self.metrics = metrics or Registry()
        self.reconnect_forever = reconnect_forever
        self.connect_timeout = connect_timeout
        self.drain_timeout = drain_timeout
        self.options = options
        # A person's connection names a fresh reply token: its request inbox and reply
        # subjects live under ic.v1.reply.<token>, the one place a per-connection grant
        # (deploy/nats/callout.conf) lets it listen.
        self.reply_token = reply_token
        self.reply_prefix = schemas.REPLY_ROOT
        if reply_token is not None:
            self.reply_prefix = schemas.connection_reply_prefix(reply_token)
            options.setdefault("inbox_prefix", self.reply_prefix)
            options.setdefault("token", reply_token)
        seed = nkey_seed or os.environ.get(SEED_ENV)
        ca = tls_ca or os.environ.get(CA_ENV)
        self.nkey_seed = Path(seed) if seed else None
        self.tls_ca = Path(ca) if ca else None
        self.state = "new"
        self.errors = self.metrics.counter(
            "bus_errors_total", "Errors reported by the NATS client", ("kind",)
        )
        self.events = self.metrics.counter("bus_events_total", "Connection events", ("event",))
        self.closed = asyncio.Event()
        self.reconnected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._nc: Client | None = None

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError(f"expected a connected bus, it is {self.state}")
        return self._nc

    async def _on_error(self, err: Exception) -> None:
        kind = _error_kind(err)
        self.errors.inc(kind=kind)
        log.warning("bus.error", kind=kind, error=str(err), client=self.name)

    async def _on_disconnected(self) -> None:
        self.events.inc(event="disconnected")
        self.reconnected.clear()
        self.disconnected.set()
        if self.state == "closing":
            log.info("bus.disconnected", client=self.name, reason="closing")
        else:
            log.warning("bus.disconnected", client=self.name)

    async def _on_reconnected(self) -> None:
        self.events.inc(event="reconnected")
        self.reconnected.set()
        self.disconnected.clear()
        url = self._nc.connected_url.netloc if self._nc and self._nc.connected_url else None
        log.info("bus.reconnected", client=self.name, server=url)

    async def _on_closed(self) -> None:
        self.events.inc(event="closed")
        self.state = "closed"
        self.closed.set()
        log.info("bus.closed", client=self.name)

    async def connect(self) -> Bus:
        servers = [u.strip() for u in self.url.split(",") if u.strip()]
        opts: dict[str, Any] = dict(
            servers=servers,
            name=self.name,
            connect_timeout=self.connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1 if self.reconnect_forever else 5,
            reconnect_time_wait=0.25,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
        )
        if self.nkey_seed is not None:
            if not self.nkey_seed.exists():
                raise FileNotFoundError(
                    f"nkey seed file {self.nkey_seed} not found (set by --bus-seed or ${SEED_ENV})"
                )
            opts["nkeys_seed"] = str(self.nkey_seed)
        if self.tls_ca is not None:
            ctx = ssl.create_default_context(cafile=str(self.tls_ca))
            opts["tls"] = ctx
        opts.update(self.options)
        # With reconnect_forever an unreachable bus is retried for ever, every
        # reconnect_time_wait, each failure a bus.error event: the wait is only awaits, so a
        # cancellation (a stop signal, see StopOnSignals) ends it at once.
        self.state = "connecting"
        log.info("bus.connecting", client=self.name, server=self.url)
        self._nc = await nats.connect(**opts)
        self.state = "connected"
        log.info("bus.connected", client=self.name, server=self.url)
        return self

    async def close(self, drain_seconds: float | None = None) -> None:
        """Drain (let handlers in flight finish, up to ``drain_seconds``, default the
        ``drain_timeout`` given), then close. Not connected (reconnecting): just close."""
        if self._nc is None or self.state == "closed":
            return
        nc = self._nc
        self.state = "closing"
        try:
            if nc.is_connected:
                wait = self.drain_timeout if drain_seconds is None else drain_seconds
                # nats-py's own drain timeout, not a cancellation from outside: cancelling
                # its drain() leaves a gathered CancelledError that asyncio reports, as a
                # traceback, as "never retrieved". Its timeout path reports DrainTimeoutError
                # through error_cb (a bus.error event) and closes. wait_for is a backstop
                # for the flush that follows.
                nc.options["drain_timeout"] = wait
                await asyncio.wait_for(nc.drain(), wait + 1.0)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            log.warning("bus.drain_failed", client=self.name, error=str(exc))
        finally:
            if not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.close()
            self.state = "closed"

    async def __aenter__(self) -> Bus:
        return await self.connect()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(self.close())
