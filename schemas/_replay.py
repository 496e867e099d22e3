"""The replay cache: each (signer, nonce) is accepted once while its message can be valid.

It is the last check a frame passes (``_envelope``): a nonce enters only when everything
else held, so a forged or rejected frame can never use up a real one's nonce.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ._document import CLOCK_SKEW
from ._errors import Replayed

__all__ = ["ReplayCache"]

_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class ReplayCache:
    """Remembers (signer, nonce) until the message expires; bounded.

    When full it forgets the entry that expires first and raises its *horizon* to that expiry:
    from then on anything expiring at or before the horizon is refused as a possible replay,
    so forgetting never lets a replay through.
    """

    capacity: int = 100_000
    skew: timedelta = CLOCK_SKEW
    horizon: datetime = _EPOCH
    _seen: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _heap: list[tuple[datetime, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, kid: str, nonce: str, expires: datetime, now: datetime, where: str = "$") -> None:
        if expires <= self.horizon:
            raise Replayed(
                f"a message expiring after the replay horizon {self.horizon.isoformat()}",
                expires.isoformat(),
                f"{where}.hdr.expires",
            )
        k = (kid, nonce)
        if k in self._seen:
            raise Replayed(
                "a fresh nonce", f"nonce {nonce} seen before from this signer", f"{where}.hdr.nonce"
            )
        while self._heap and self._heap[0][0] < now - self.skew:
            _, a, b = heapq.heappop(self._heap)
            self._seen.pop((a, b), None)
        while len(self._seen) >= self.capacity:
            exp, a, b = heapq.heappop(self._heap)
            self._seen.pop((a, b), None)
            self.horizon = max(self.horizon, exp)
        self._seen[k] = expires
        heapq.heappush(self._heap, (expires, kid, nonce))

    def forget(self, kid: str, nonce: str) -> None:
        """Take back a nonce whose message was admitted but whose effect never happened (an
        acceptance whose order could not be committed), so the same bytes may come again."""
        self._seen.pop((kid, nonce), None)
