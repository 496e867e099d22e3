"""A NATS connection with the callbacks nats-py only reports through turned into log events
and counters (permission violations, slow consumers, disconnects, the final close).

A person's connection (``person=True``) makes a fresh ephemeral Ed25519 key and proves it in
its connect token, signed over the server's nonce for this connection
(:func:`reply_key_proof_bytes`); a bus with the auth callout then lets it listen only on
the reply tokens derived from that key (:func:`reply_tokens`): token 0 is its request
inbox, token 1 its :attr:`Bus.reply_prefix`, and :meth:`Bus.next_reply_prefix` hands out the
others, one per intent, then opens a fresh connection with a fresh key. A bus without the
callout ignores the token.

Over 300 lines because a connection's whole life is here (connect, the reply-key proof and
its rotation, reconnects, the bounded drain): each part changes the others' state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import nkeys  # type: ignore[import-untyped]
import structlog
from nacl.signing import SigningKey
from nats.aio.client import Client
from nats.errors import SlowConsumerError

import schemas

from ._metrics import Registry

__all__ = ["REPLY_KEY_PROOF_TAG", "REPLY_TOKENS", "Bus", "reply_key_proof_bytes", "reply_tokens"]

log = structlog.get_logger("intentcast.bus")
SEED_ENV = "INTENTCAST_BUS_SEED"  # path to an nkey seed file: the credential for a secured bus
CA_ENV = "INTENTCAST_BUS_CA"  # path to the CA certificate that signed the bus's TLS certificate


# Reply tokens granted per connection: token 0 is the connection's request inbox, token 1 its
# reply_prefix, the others one intent each; then a fresh ephemeral key on a fresh connection.
REPLY_TOKENS = 32
REPLY_KEY_PROOF_TAG = b"intentcast/1 bus-reply-key\n"
_TOKEN_TAG = b"intentcast/1 reply-token\n"


def reply_tokens(ephemeral_key: bytes, count: int = REPLY_TOKENS) -> list[str]:
    """The reply tokens of a connection's ephemeral Ed25519 public key (32 raw bytes):
    ``SHA-256("intentcast/1 reply-token\\n" || key || i as one byte)``, first 16 bytes in
    hex, for i in 0..count-1. The client and the auth callout both derive them."""
    if len(ephemeral_key) != 32:
        raise ValueError(f"expected a 32-byte public key, got {len(ephemeral_key)} bytes")
    if not 0 < count <= 256:
        raise ValueError(f"expected 1 to 256 tokens, got {count}")
    return [
        hashlib.sha256(_TOKEN_TAG + ephemeral_key + bytes([i])).digest()[:16].hex()
        for i in range(count)
    ]


def reply_key_proof_bytes(credential: str, nonce: str) -> bytes:
    """What a person's connection signs with its ephemeral key: the domain tag, the public
    nkey of the credential it connects with, a newline and the server's nonce for this
    connection."""
    return REPLY_KEY_PROOF_TAG + credential.encode() + b"\n" + nonce.encode()


def _error_kind(err: BaseException) -> str:
    text = str(err).lower()
    if "permissions violation" in text:
        return "permission_violation"
    if isinstance(err, SlowConsumerError):
        return "slow_consumer"
    if "maximum payload" in text:
        return "max_payload"
    return type(err).__name__


Callback = Callable[[], Awaitable[None]]


class Bus:
    """``async with Bus(url, name=...) as bus:`` then use ``bus.nc``.

    ``reconnect_forever`` suits services; a one-shot command gives up sooner. ``person``
    makes a person's connection (see the module's docstring); ``reply_token`` is the old way
    to ask for one: any value means ``person=True`` and the value itself is not used, since
    a token the client chooses and sends in its intents is a bearer secret.
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
        person: bool = False,
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
        self.person = person or reply_token is not None
        self._reply_key: SigningKey | None = None
        self._tokens: list[str] = []
        self._next_token = 2  # 0 is the request inbox, 1 the reply_prefix
        if self.person:
            self._new_reply_key()
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
        self._retired: Client | None = None  # the connection of the previous reply key

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError(f"expected a connected bus, it is {self.state}")
        return self._nc

    # --- reply tokens (person connections) ---------------------------------------------

    def _new_reply_key(self) -> None:
        self._reply_key = SigningKey.generate()
        self._tokens = reply_tokens(bytes(self._reply_key.verify_key))
        self._next_token = 2

    @property
    def reply_prefix(self) -> str:
        """Where this connection may hear replies: on a person's connection the prefix of
        its reply token 1, for a caller that casts one intent per connection (casting more,
        take :meth:`next_reply_prefix` for each); on others ``ic.v1.reply``."""
        if not self.person:
            return schemas.REPLY_ROOT
        return schemas.connection_reply_prefix(self._tokens[1])

    async def next_reply_prefix(self) -> str:
        """A reply prefix no other intent on this bus was given: the next of this key's
        reply tokens; when they are used up, a fresh key on a fresh connection (the previous
        connection stays open, for replies still coming to it, until the next change of key
        or :meth:`close`)."""
        if not self.person:
            raise RuntimeError("expected a person's connection: Bus(..., person=True)")
        if self._next_token >= len(self._tokens):
            await self._rekey()
        token = self._tokens[self._next_token]
        self._next_token += 1
        return schemas.connection_reply_prefix(token)

    async def _rekey(self) -> None:
        old, key, tokens = self.nc, self._reply_key, self._tokens
        self._new_reply_key()
        try:
            new = await self._open()
        except BaseException:  # the old key and connection stay; nothing half-changed
            self._reply_key, self._tokens, self._next_token = key, tokens, len(tokens)
            raise
        self._nc = new
        retired, self._retired = self._retired, old
        log.info("bus.rekeyed", client=self.name)
        if retired is not None:
            await self._drain_close(retired, self.drain_timeout)

    def _reply_proof(self, nc: Client, key: SigningKey, credential: str) -> str:
        """The connect token: ``<ephemeral key>.<its signature over this connection's
        nonce>``. nats-py asks for it while it writes CONNECT, after reading the server's
        INFO, so the nonce is this connection's (and a reconnect's, afresh)."""
        nonce = str(nc._server_info.get("nonce", ""))
        if not nonce:  # a bus without authentication: nothing to prove
            return ""
        sig = key.sign(reply_key_proof_bytes(credential, nonce)).signature
        return f"{bytes(key.verify_key).hex()}.{sig.hex()}"

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

    def _current_only(self, nc: Client, cb: Callback) -> Callback:
        """``cb``, run only while ``nc`` is this bus's connection (not a retired one)."""

        async def guarded() -> None:
            if self._nc is nc or self._nc is None:
                await cb()

        return guarded

    async def connect(self) -> Bus:
        # With reconnect_forever an unreachable bus is retried for ever, every
        # reconnect_time_wait, each failure a bus.error event: the wait is only awaits, so a
        # cancellation (a stop signal, see StopOnSignals) ends it at once.
        self.state = "connecting"
        log.info("bus.connecting", client=self.name, server=self.url)
        self._nc = await self._open()
        self.state = "connected"
        log.info("bus.connected", client=self.name, server=self.url)
        return self

    async def _open(self) -> Client:
        nc = Client()
        servers = [u.strip() for u in self.url.split(",") if u.strip()]
        opts: dict[str, Any] = dict(
            servers=servers,
            name=self.name,
            connect_timeout=self.connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1 if self.reconnect_forever else 5,
            reconnect_time_wait=0.25,
            error_cb=self._on_error,
            disconnected_cb=self._current_only(nc, self._on_disconnected),
            reconnected_cb=self._current_only(nc, self._on_reconnected),
            closed_cb=self._current_only(nc, self._on_closed),
        )
        credential = ""
        if self.nkey_seed is not None:
            if not self.nkey_seed.exists():
                raise FileNotFoundError(
                    f"nkey seed file {self.nkey_seed} not found (set by --bus-seed or ${SEED_ENV})"
                )
            opts["nkeys_seed"] = str(self.nkey_seed)
            if self.person:  # the proof names the credential it goes with
                seed = bytearray(self.nkey_seed.read_bytes().strip())
                credential = nkeys.from_seed(seed).public_key.decode()
        if self.tls_ca is not None:
            ctx = ssl.create_default_context(cafile=str(self.tls_ca))
            opts["tls"] = ctx
        opts.update(self.options)
        if self.person and self._reply_key is not None:
            key = self._reply_key
            opts["inbox_prefix"] = schemas.connection_reply_prefix(self._tokens[0])
            opts["token"] = lambda: self._reply_proof(nc, key, credential)
        await nc.connect(**opts)
        return nc

    async def close(self, drain_seconds: float | None = None) -> None:
        """Drain (let handlers in flight finish, up to ``drain_seconds``, default the
        ``drain_timeout`` given), then close. Not connected (reconnecting): just close."""
        if self._nc is None or self.state == "closed":
            return
        nc = self._nc
        self.state = "closing"
        wait = self.drain_timeout if drain_seconds is None else drain_seconds
        try:
            if self._retired is not None:
                await self._drain_close(self._retired, wait)
                self._retired = None
            await self._drain_close(nc, wait)
        finally:
            self.state = "closed"

    async def _drain_close(self, nc: Client, wait: float) -> None:
        try:
            if nc.is_connected:
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

    async def __aenter__(self) -> Bus:
        return await self.connect()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.shield(self.close())
