"""Refusals of input that did not verify: every one counted in the metrics at once, but
logged at most once per interval, so a flood of junk costs a few log lines, not one each.

The first refusal of an interval is logged in full (``<kind>.rejected``, with the error);
the rest are counted, and :meth:`RejectionLog.flush` (called by the service each interval,
and on the next refusal after one) logs one ``rejections.summary`` with the counts by kind
and reason. Memory is bounded: kinds and error codes are a small fixed set."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import structlog

import schemas
from runtime import Counter as Metric

__all__ = ["RejectionLog"]

log = structlog.get_logger("intentcast.vendor")


class RejectionLog:
    def __init__(
        self,
        metric: Metric,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metric, self.interval, self.clock = metric, interval_seconds, clock
        self._suppressed: Counter[str] = Counter()
        self._opened = float("-inf")  # when the current interval began

    def reject(self, kind: str, err: schemas.ProtocolError) -> None:
        self.metric.inc(kind=kind, reason=err.code)
        now = self.clock()
        if now - self._opened >= self.interval:
            self.flush()
            self._opened = now
            log.warning(f"{kind}.rejected", code=err.code, error=str(err))
        else:
            self._suppressed[f"{kind}:{err.code}"] += 1

    def flush(self) -> None:
        """Log the refusals counted but not logged since the last flush, if any."""
        if self._suppressed:
            counts = dict(sorted(self._suppressed.items()))
            self._suppressed.clear()
            log.warning(
                "rejections.summary",
                total=sum(counts.values()),
                counts=counts,
                interval_seconds=self.interval,
            )
