"""Failpoints: named places where a process can be made to die on purpose, for the fault
tests (`INTENTCAST_FAILPOINTS=vendor.order.committed intentcast-vendor run ...`), or to stop
(SIGSTOP) until a test continues it, with ``:stop`` after the name
(`INTENTCAST_FAILPOINTS=vendor.accept.received:stop`): a test can then act while the process
is known to be held at that point. With the variable unset, a failpoint costs one dictionary
look-up."""

from __future__ import annotations

import os
import signal

import structlog

__all__ = ["FAILPOINTS_ENV", "failpoint"]

FAILPOINTS_ENV = "INTENTCAST_FAILPOINTS"
log = structlog.get_logger("intentcast.faults")


def failpoint(name: str) -> None:
    """SIGKILL this process here if ``name`` is listed in $INTENTCAST_FAILPOINTS; SIGSTOP it
    if ``name:stop`` is."""
    spec = os.environ.get(FAILPOINTS_ENV)
    if not spec:
        return
    names = spec.split(",")
    if name in names:
        log.warning("failpoint.hit", name=name)
        os.kill(os.getpid(), signal.SIGKILL)
    elif f"{name}:stop" in names:
        log.warning("failpoint.hit", name=name, stop=True)
        os.kill(os.getpid(), signal.SIGSTOP)
