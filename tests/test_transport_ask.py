"""``Transport.ask``: a request that waits on its own inbox for the first answer the caller's
check believes, over a real nats-server and over the in-process transport alike. Messages
the check refuses, and "no responders" statuses (real or forged), end nothing; only the
caller's own timeout does, and the inbox is unsubscribed whatever ended the request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import Bus, EmbeddedServer, InProcessTransport, Message, NatsTransport, Transport


@contextlib.asynccontextmanager
async def _transports(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Transport, Transport]]:
    """(asker, answerer): two connections to one real server, or one in-process transport."""
    if kind == "inprocess":
        async with InProcessTransport() as bus:
            yield bus, bus
        return
    async with (
        EmbeddedServer(tmp_path / "s") as server,
        Bus(server.url, name="asker") as a,
        Bus(server.url, name="answerer") as b,
    ):
        yield NatsTransport(a), NatsTransport(b)


def _believe_ok(data: bytes) -> str | None:
    return data.decode() if data.startswith(b"ok:") else None


@pytest.mark.parametrize("kind", ["nats", "inprocess"])
async def test_ask_returns_the_first_answer_the_check_believes(kind: str, tmp_path: Path) -> None:
    """The answerer first sends junk and a forged "503" into the inbox, then the real answer:
    ask returns the real one; the check saw every message before it, in order; the 503 was
    heard as a hint."""
    async with _transports(kind, tmp_path) as (asker, answerer):
        seen: list[bytes] = []
        hints: list[int] = []

        async def respond(msg: Message) -> None:
            if isinstance(answerer, NatsTransport):  # the server's form of the status
                await answerer.bus.nc.publish(msg.reply, b"", headers={"Status": "503"})
            for junk in (b"[]", b"{}", b"\x00garbage"):
                await answerer.publish(msg.reply, junk)
            await answerer.publish(msg.reply, b"ok:" + msg.data)

        await answerer.subscribe("svc", respond)
        await answerer.flush()

        def check(data: bytes) -> str | None:
            seen.append(data)
            return _believe_ok(data)

        async with asyncio.timeout(5):
            got = await asker.ask("svc", b"hi", check, on_no_responders=lambda: hints.append(1))
    assert got == "ok:hi"
    assert seen == [b"[]", b"{}", b"\x00garbage", b"ok:hi"]
    assert hints == ([1] if kind == "nats" else [])


@pytest.mark.parametrize("kind", ["nats", "inprocess"])
async def test_no_responders_is_a_hint_and_the_callers_timeout_ends_the_ask(
    kind: str, tmp_path: Path
) -> None:
    """Nobody listens: the no-responders status calls the hint once and the ask goes on
    waiting, until the caller's timeout raises TimeoutError; a later answer into the old
    inbox finds nobody there (it was unsubscribed)."""
    async with _transports(kind, tmp_path) as (asker, _):
        hints: list[int] = []
        inboxes: list[str] = []
        real_new_inbox = asker.new_inbox

        def remember() -> str:
            inboxes.append(real_new_inbox())
            return inboxes[-1]

        asker.new_inbox = remember  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            # The caller's deadline: 30 s, brought to 0.2 s after the hint, so the ask is
            # seen to go on waiting past the hint however slow the machine is.
            async with asyncio.timeout(30) as deadline:

                def hint() -> None:
                    hints.append(1)
                    deadline.reschedule(loop.time() + 0.2)

                await asker.ask("nobody.here", b"?", _believe_ok, on_no_responders=hint)
        assert hints == [1]
        # The ask's subscription is gone: a message wanting answers, sent to its inbox now,
        # finds nobody there.
        gone = asyncio.Event()

        async def ignore(msg: Message) -> None:
            pass

        await asker.subscribe("probe", ignore, on_no_responders=lambda _: gone.set())
        await asker.publish(inboxes[0], b"ok:late", reply="probe")
        async with asyncio.timeout(5):
            await gone.wait()
