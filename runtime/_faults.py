"""Failpoints: named places where a process can be made to die on purpose, for the fault
tests (`INTENTCAST_FAILPOINTS=vendor.order.committed intentcast-vendor run ...`). With the
variable unset, a failpoint costs one dictionary look-up."""

from __future__ import annotations

import os
import signal

import structlog

__all__ = ["FAILPOINTS_ENV", "failpoint"]

FAILPOINTS_ENV = "INTENTCAST_FAILPOINTS"
log = structlog.get_logger("intentcast.faults")


def failpoint(name: str) -> None:
    """SIGKILL this process here if ``name`` is listed in $INTENTCAST_FAILPOINTS."""
    spec = os.environ.get(FAILPOINTS_ENV)
    if spec and name in spec.split(","):
        log.warning("failpoint.hit", name=name)
        os.kill(os.getpid(), signal.SIGKILL)
