"""Clean stops for long-running commands: SIGINT and SIGTERM end the main task wherever it
is (connected, retrying a dead bus, mid-request), and its ``finally`` blocks and context
managers still run, so children such as an embedded ``nats-server`` are stopped.

    async with StopOnSignals("intentcast-vendor") as stop:
        ...  # connect, serve; the block ends when a signal arrives
        await stop.wait()
    return 0  # we get here after a signal as after a normal end

The first signal cancels the task that entered the block (the one ``asyncio.run`` runs);
the block absorbs that cancellation on the way out, and only that one, the way
``asyncio.timeout`` does: a cancellation from anywhere else still propagates. A second
signal cancels again, which cuts short whatever clean-up is waiting (a bus drain, say);
clean-up that must finish (stopping a child process) shields itself. Libraries do swallow
a cancellation now and then (nats-py does, in its flush path), so if the block has not ended
``grace`` seconds after the first signal it is cancelled again, as by a second signal, and
again every ``grace / 4`` seconds until it ends: the stop keeps its deadline.

``exit=True`` is for blocks whose caller cannot carry on without them (a one-shot command
with a private embedded bus): after the clean-up the stop leaves by ``SystemExit(128 +
signal)``, the exit status a shell expects of a process ended by that signal.
"""

from __future__ import annotations

import asyncio
import signal
from types import TracebackType

import structlog

__all__ = ["STOP_SIGNALS", "StopOnSignals"]

log = structlog.get_logger("intentcast.process")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
    """Turn SIGINT and SIGTERM into the end of the enclosing block, for its duration.

    ``signal`` says which signal stopped it (``None`` if none did); ``event`` is set by the
    first one, for code that takes an :class:`asyncio.Event` to watch.
    """

    def __init__(
        self,
        name: str,
        *,
        signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
        grace: float = 3.0,
        exit: bool = False,
    ) -> None:
        self.name = name
        self.signals = signals
        self.grace = grace
        self.exit = exit
        self.signal: signal.Signals | None = None
        self.event = asyncio.Event()
        self._again: asyncio.TimerHandle | None = None
        self._cancels = 0
        self._task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def stopped(self) -> bool:
        return self.signal is not None

    async def wait(self) -> None:
        """Wait for a stop signal (in practice the block is cancelled before this returns)."""
        await self.event.wait()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.signal is None:
            self.signal = sig
            self.event.set()
            log.info("process.stopping", process=self.name, signal=sig.name)
            assert self._loop is not None
            self._again = self._loop.call_later(self.grace, self._cancel_again)
        else:
            log.warning("process.stopping_now", process=self.name, signal=sig.name)
        self._cancel(sig.name)

    def _cancel_again(self) -> None:
        assert self._loop is not None and self.signal is not None
        log.warning("process.stopping_now", process=self.name, signal=self.signal.name,
                    reason=f"still running {self.grace}s after the signal")  # fmt: skip
        self._again = self._loop.call_later(self.grace / 4, self._cancel_again)
        self._cancel(self.signal.name)

    def _cancel(self, why: str) -> None:
        assert self._task is not None
        self._cancels += 1
        self._task.cancel(f"stopped by {why}")

    async def __aenter__(self) -> StopOnSignals:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("expected to run inside a task, found none")
        self._task, self._loop = task, asyncio.get_running_loop()
        for sig in self.signals:
            self._loop.add_signal_handler(sig, self._on_signal, sig)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool:
        assert self._task is not None and self._loop is not None
        for sig in self.signals:  # before any await: no signal cancels us after this line
            self._loop.remove_signal_handler(sig)
        if self._again is not None:
            self._again.cancel()
        if not self._cancels:
            return False
        others = 0
        for _ in range(self._cancels):
            others = self._task.uncancel()
        if et is None:
            # The signal came as the block ended: its cancellation is still pending and
            # would hit the next await after the block. Take it here.
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                if others:
                    raise
        elif not issubclass(et, asyncio.CancelledError) or others:
            return False  # a real error, or somebody else's cancellation: not ours to eat
        assert self.signal is not None
        log.info("process.stopped", process=self.name, signal=self.signal.name)
        if self.exit:
            raise SystemExit(128 + self.signal)
        return True
