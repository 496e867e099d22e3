"""``intentcast agent``: the person's agent, running. It keeps every watched intent open until
it expires or is fulfilled, takes in offers whenever they come (``_watching``), tells the
person (notices in the app and in ``intentcast offers``, and ``notify-send`` where it is on
PATH), and serves the app (``_app``) on 127.0.0.1, which is also how the CLI talks to it. On
a schedule of its own (``_rounds``) it picks up what vendors said of orders (shipped,
delivered, cancelled: notified as offers are) and sends again the updates and erasure
requests vendors have not answered.

What a running agent leaves in the home:

- ``agent.json``: ``{"url", "pid"}``, written when it listens, removed when it stops;
- ``agent.token``: 32 random bytes in hex, owner-only, made once: the CLI's bearer token (a
  browser's session has its own CSRF token instead; see ``_app``).

Restarting loses nothing: intents, keys, offers and drops are in ``agent.sqlite``, watches
and notices in ``watches.sqlite``, both fsynced before the stream is acknowledged; offers
sent while the agent was down wait in the intent's reply stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

import structlog
from nats.errors import Error as NatsError

import schemas
from runtime import Bus, NatsTransport, RatingsBoard, WatchStreams

from ._agent import Agent
from ._home import Home
from ._network_trust import NetworkTrust
from ._registered import with_registry
from ._rounds import Rounds, Schedule
from ._screen import shown
from ._session import utcnow
from ._trust import BetaTrust
from ._watching import WATCHES_FILE, Notice, OfferIntake, WatchBook, cast_watched, stored_cast

__all__ = ["AgentDaemon", "RunningAgent", "desktop_notify", "running_agent", "token_of"]

# Unacknowledged (the process died mid-way) for this long, a message goes to a replica or
# to the process restarted: handling one takes milliseconds.
ACK_SECONDS = 10.0
log = structlog.get_logger("intentcast.agent")
RATINGS_WAIT = 2.0  # seconds to read the ratings board at start, as the CLI does
TICK_SECONDS = 30.0  # how often expiry and fulfilment are checked (the clock may be a fake)


class RunningAgent:
    """Where the home's running agent listens, as its ``agent.json`` says."""

    def __init__(self, url: str, pid: int, token: str) -> None:
        self.url, self.pid, self.token = url, pid, token


def token_of(home: Home) -> str:
    """The home's CLI token (made on first use, owner-only)."""
    f = home.path / "agent.token"
    if not f.exists():
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return f.read_text().strip()


def running_agent(home: Home) -> RunningAgent | None:
    """The home's running agent, or None (no agent.json, or its process is gone)."""
    from runtime import pid_alive

    try:
        info = json.loads((home.path / "agent.json").read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return RunningAgent(url, pid, token_of(home)) if pid_alive(pid) else None


async def desktop_notify(notice: Notice) -> None:
    """``notify-send`` where it is on PATH (bounded to 5 s); skipped otherwise."""
    exe = shutil.which("notify-send")
    if exe is None:
        return
    b = notice.body
    said = b.get("total", "") if notice.kind != "status" else f"{b.get('state')} {b.get('carrier')}"
    text = f"{shown(str(b.get('vendor', 'a vendor')), 60)}: {shown(str(said), 60)}"
    if notice.kind == "relationship":
        text = f"{b.get('answered')} vendors answered your updates or erasure requests"
    title = {"offer": "intentcast: a new offer", "status": "intentcast: news of an order"}.get(
        notice.kind, "intentcast"
    )
    proc = await asyncio.create_subprocess_exec(
        exe, "--app-name=intentcast", title, text,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(5):
            code = await proc.wait()
    except TimeoutError:
        proc.kill()
        code = await proc.wait()
    log.info("agent.desktop_notified", kind=notice.kind, ref=notice.ref, exit=code)


class AgentDaemon:
    """``async with AgentDaemon(home, bus) as daemon:`` keeps the home's watched intents
    open on ``bus`` (a connected person's :class:`Bus`) until the block ends. ``clock`` is
    the agent's (tests move it); ``notify`` is the desktop's (``None``: no desktop);
    ``schedule`` says how often :meth:`run` picks up mail and retries (``_rounds``)."""

    def __init__(
        self,
        home: Home,
        bus: Bus,
        *,
        clock: Callable[[], datetime] = utcnow,
        notify: Callable[[Notice], object] | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        self.home, self.bus, self.clock = home, bus, clock
        self.notify = notify
        self.agent = Agent(home, NatsTransport(bus), reply_prefix=bus.reply_prefix, clock=clock)
        self.streams = WatchStreams(bus)
        self.book: WatchBook | None = None
        self.listeners: set[asyncio.Queue[Notice]] = set()
        self._consumers: dict[str, contextlib.AsyncExitStack] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()  # one change of the watches at a time
        self.state = "new"
        self.rounds = Rounds(self, schedule or Schedule())

    async def __aenter__(self) -> AgentDaemon:
        try:
            await self._stack.enter_async_context(self.agent)
            await self._judge_as_the_cli_does()
            self.book = WatchBook(self.home.path / WATCHES_FILE)
            self._stack.callback(self.book.close)
            self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
            for w in self.book.watches():
                try:
                    await self._resume(w.intent_id, w.state)
                except (NatsError, TimeoutError) as exc:  # tried again at the next start
                    log.warning("watch.resume_failed", intent=w.intent_id, error=repr(exc))
            await self.tick()
        except BaseException:
            await self._stack.aclose()
            raise
        self.state = "open"
        log.info("agent.ready", watching=len(self._consumers))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.state = "closing"
        for stack in list(self._consumers.values()):
            await stack.aclose()
        self._consumers.clear()
        await self._stack.aclose()
        self.state = "closed"

    async def _judge_as_the_cli_does(self) -> None:
        """Trust as a one-shot ``want`` has it: the ratings board (kept live by its
        consumer) and the registrars the person trusts (read once, at start)."""
        trust = self.agent.trust
        try:
            board = await self._stack.enter_async_context(RatingsBoard(self.bus))
            async with asyncio.timeout(RATINGS_WAIT):
                await board.catch_up()
            if isinstance(trust, BetaTrust):
                trust = NetworkTrust(trust, board.bundles, self.agent.config.trust)
        except (NatsError, TimeoutError) as exc:
            log.info("ratings.unavailable", error=type(exc).__name__)
        self.agent.trust = await with_registry(
            trust, self.agent.config, self.bus.nc, self.bus.url, self.agent.store
        )

    def watches(self) -> WatchBook:
        if self.book is None:
            raise RuntimeError(f"expected an open agent daemon, it is {self.state}")
        return self.book

    async def _resume(self, intent_id: str, state: str) -> None:
        cast = stored_cast(self.agent, intent_id)
        if state == "casting":  # stopped half-way: the same bytes again (vendors answer once)
            await cast_watched(self.agent, self.streams, self.watches(), cast)
        await self._listen(cast)

    async def _listen(self, cast: schemas.CastIntent) -> None:
        intake = OfferIntake(self.agent, self.watches(), cast, self.on_notice)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(
            await self.streams.reply_consumer(
                cast, intake.on_reply, failpoint_name="agent.watch.stored", ack_wait=ACK_SECONDS
            )
        )
        self._consumers[cast.intent.id] = stack

    async def watch(self, cast: schemas.CastIntent) -> None:
        """Cast a watched intent and keep it open; one the bus refused (no JetStream, no
        permission) is marked ``failed`` and the error raised, so no restart retries it."""
        async with self._lock:
            try:
                await cast_watched(self.agent, self.streams, self.watches(), cast)
            except (NatsError, TimeoutError):  # the bus refused it: not left to resume
                self.watches().set_state(cast.intent.id, "failed")
                raise
            await self._listen(cast)

    async def close_watch(self, intent_id: str, state: str) -> None:
        """Stop watching an intent (``expired``, ``fulfilled`` or ``cancelled``)."""
        async with self._lock:
            stack = self._consumers.pop(intent_id, None)
            if stack is not None:
                await stack.aclose()
            self.watches().set_state(intent_id, state)
            await self.streams.close_replies(intent_id)
            body: dict[str, object] = {"state": state}
            notice = self.watches().notify(self.clock(), intent_id, "closed", intent_id, body)
            log.info("watch.closed", intent=intent_id, state=state)
            if notice is not None:
                self.on_notice(notice)

    async def tick(self) -> None:
        """Close what expired or was fulfilled, as of the agent's clock."""
        now = self.clock()
        store = self.agent.store
        for w in self.watches().watches(("open",)):
            if datetime.fromisoformat(w.expires) <= now:
                await self.close_watch(w.intent_id, "expired")
            elif any(r.intent_id == w.intent_id for r in store.receipts()):
                await self.close_watch(w.intent_id, "fulfilled")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick, pick up the mailboxes and retry what vendors left unanswered, until ``stop``
        is set (the rounds' tasks are this call's own)."""
        async with asyncio.TaskGroup() as tg:
            rounds = [
                tg.create_task(self.rounds.inbox(stop)),
                tg.create_task(self.rounds.retries(stop)),
            ]
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_SECONDS)
                await self.tick()
            for t in rounds:  # a round waiting on a silent vendor must not hold up the exit
                t.cancel()

    def on_notice(self, notice: Notice) -> None:
        """Tell the app's listeners and the desktop of a notice just recorded."""
        log.info("agent.notified", kind=notice.kind, intent=notice.intent_id, ref=notice.ref)
        for q in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(notice)
        if self.notify is not None and self._tasks is not None:
            result = self.notify(notice)
            if asyncio.iscoroutine(result):
                self._tasks.create_task(result)


def write_running(home: Home, url: str) -> Path:
    f = home.path / "agent.json"
    tmp = f.with_name(".agent.json.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, f)
    return f


def forget_running(f: Path) -> None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads(f.read_text())["pid"] == os.getpid():
            f.unlink()
