"""Token buckets keyed by a string (an intent key, a category)."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` tokens per ``per`` seconds with a burst of ``rate``; remembers at most
    ``max_keys`` keys (the least recently used are forgotten, i.e. refilled)."""

    def __init__(self, rate: int, per: float, max_keys: int = 100_000) -> None:
        self.rate, self.per, self.max_keys = rate, per, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.pop(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self.rate / self.per)
        ok = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return ok
