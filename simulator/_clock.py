"""The market's simulated clock: every part of a run that reads the time reads this one.

Simulated time is the wall clock plus an offset that grows by ``days_per_round`` at each
round, so within a round time runs as it really does (offers live minutes, windows last
seconds) while a run of seconds can cover simulated months. The people's agents (evidence,
forgetting, expiry of what they verify), the vendor adapters (what they sign and when it
expires), the hostile clients, the faked ratings and the ratings' retention all take
``clock.now``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = ["SimClock"]


class SimClock:
    def __init__(self, days_per_round: float = 0.0) -> None:
        self.days_per_round = days_per_round
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        return self.now().date()

    def at_round(self, r: int) -> None:
        """Move simulated time to the start of round ``r`` (round 0 is now)."""
        self.offset = timedelta(days=self.days_per_round * r)
