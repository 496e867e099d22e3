"""Counters and histograms, rendered in the Prometheus text format. No dependency."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

__all__ = ["Counter", "Histogram", "Registry"]

_Labels = tuple[tuple[str, str], ...]


def _fmt(labels: _Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self._values: dict[_Labels, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] += amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_fmt(k)} {v:g}" for k, v in sorted(self._values.items())]
        return lines


class Histogram:
    BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self._counts = [0] * (len(self.BUCKETS) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.BUCKETS, seconds)] += 1
            self._sum += seconds

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        acc = 0
        for le, c in zip(self.BUCKETS, self._counts, strict=False):
            acc += c
            lines.append(f'{self.name}_bucket{{le="{le:g}"}} {acc}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        lines += [f"{self.name}_sum {self._sum:.6f}", f"{self.name}_count {self.count}"]
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Counter | Histogram] = {}

    def counter(self, name: str, help: str) -> Counter:
        m = self._metrics.setdefault(name, Counter(name, help))
        if not isinstance(m, Counter):
            raise TypeError(f"metric {name}: expected a counter, got a {type(m).__name__}")
        return m

    def histogram(self, name: str, help: str) -> Histogram:
        m = self._metrics.setdefault(name, Histogram(name, help))
        if not isinstance(m, Histogram):
            raise TypeError(f"metric {name}: expected a histogram, got a {type(m).__name__}")
        return m

    def render(self) -> str:
        lines: list[str] = []
        for m in self._metrics.values():
            lines += m.render()
        return "\n".join(lines) + "\n"
