"""A service run as a child process, ready when it logs a given event (JSON log lines on
stderr) or prints a given line (stdout, for commands that talk to people). For the demo,
tests and benchmarks: wait on the event, never on a timer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ServiceProcess", "wait_total"]


class ServiceProcess:
    def __init__(
        self,
        args: Sequence[str],
        *,
        ready_event: str | None = None,
        ready_line: str | None = None,
        name: str = "",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        condition: threading.Condition | None = None,
    ) -> None:
        """Ready when stderr carries the JSON event ``ready_event``, or, with
        ``ready_line`` (a regular expression), when a line of stdout or stderr matches it.
        ``condition``: share one among several processes to wait on what they log between
        them (``wait_total``); by default each process has its own.
        """
        if (ready_event is None) == (ready_line is None):
            raise ValueError("expected one of ready_event and ready_line")
        self.args, self.ready_event, self.name = list(args), ready_event, name or args[0]
        self.ready_line = None if ready_line is None else re.compile(ready_line)
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.events: deque[dict[str, object]] = deque(maxlen=10_000)
        self.lines: deque[str] = deque(maxlen=200)
        self.output: deque[str] = deque(maxlen=200)  # stdout lines
        self._ready = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._out_reader: threading.Thread | None = None
        self._cond = condition or threading.Condition()

    @property
    def pid(self) -> int:
        return self._started().pid

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None:
            raise RuntimeError(f"{self.name}: expected a started process, got none; call start()")
        return self._proc

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self.lines.append(line.rstrip())
            if self.ready_line is not None and self.ready_line.search(line):
                with self._cond:
                    self._cond.notify_all()
                self._ready.set()
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                with self._cond:
                    self.events.append(ev)
                    self._cond.notify_all()
                if ev.get("event") == self.ready_event:
                    self._ready.set()
        with self._cond:
            self._cond.notify_all()
        self._ready.set()  # EOF: the process ended; start() tells the two apart

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.output.append(line.rstrip("\n"))
                self._cond.notify_all()
            if self.ready_line is not None and self.ready_line.search(line):
                self._ready.set()

    def _is_ready(self) -> bool:
        if self.ready_line is not None:
            return any(self.ready_line.search(ln) for ln in [*self.output, *self.lines])
        return any(e.get("event") == self.ready_event for e in self.events)

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        self._proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.env, cwd=self.cwd, start_new_session=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"log:{self.name}")
        self._reader.start()
        self._out_reader = threading.Thread(
            target=self._read_output, daemon=True, name=f"out:{self.name}"
        )
        self._out_reader.start()
        if not self._ready.wait(timeout) or not self._is_ready():
            self.kill()
            tail = "\n".join([*self.output, *self.lines])
            waited = self.ready_event or (self.ready_line and self.ready_line.pattern)
            raise RuntimeError(f"{self.name} did not log {waited!r} within {timeout}s:\n{tail}")
        return self

    def wait_exit(self, timeout: float) -> int:
        """The exit code, once the process has ended; TimeoutError if not within ``timeout``
        (a deadline: it returns as soon as the process is gone)."""
        proc = self._started()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} still running {timeout}s later") from None

    def wait_for(self, event: str, timeout: float = 10.0, **match: object) -> dict[str, object]:
        """Block until a log event named ``event`` (with the given fields) has been seen."""

        def found() -> dict[str, object] | None:
            for ev in self.events:
                if ev.get("event") == event and all(ev.get(k) == v for k, v in match.items()):
                    return ev
            return None

        with self._cond:
            ok = self._cond.wait_for(
                lambda: found() is not None or self.returncode is not None, timeout
            )
            ev = found()
        if not ok or ev is None:
            raise TimeoutError(f"{self.name}: no {event!r} {match or ''} within {timeout}s")
        return ev

    def wait_count(
        self, events: str | tuple[str, ...], n: int, timeout: float = 30.0, **match: object
    ) -> int:
        """Block until at least ``n`` log events named in ``events`` (with the given fields)
        have been seen; return how many. TimeoutError if the process ends or time runs out
        first."""
        return wait_total([self], events, n, timeout, **match)

    def count(self, event: str | tuple[str, ...], **match: object) -> int:
        with self._cond:
            return self._count(event, match)

    def _count(self, event: str | tuple[str, ...], match: dict[str, object]) -> int:
        names = (event,) if isinstance(event, str) else event
        return sum(
            1
            for ev in self.events
            if ev.get("event") in names and all(ev.get(k) == v for k, v in match.items())
        )

    def signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        for reader in (self._reader, self._out_reader):
            if reader is not None:
                reader.join(timeout)
        return self._proc.returncode

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_total(
    procs: Sequence[ServiceProcess],
    events: str | tuple[str, ...],
    n: int,
    timeout: float = 30.0,
    **match: object,
) -> int:
    """Block until ``procs`` between them have logged at least ``n`` of ``events`` (with the
    given fields); return the total. They must share one ``condition``. TimeoutError if every
    one of them has ended or time runs out first."""
    cond = procs[0]._cond
    if any(p._cond is not cond for p in procs):
        raise ValueError("expected processes made with one shared condition=, got several")

    def total() -> int:
        return sum(p._count(events, match) for p in procs)

    with cond:
        cond.wait_for(lambda: total() >= n or all(p.returncode is not None for p in procs), timeout)
        got = total()
    if got < n:
        names = ", ".join(p.name for p in procs)
        raise TimeoutError(f"{names}: expected {n} of {events} {match or ''}, got {got}")
    return got
