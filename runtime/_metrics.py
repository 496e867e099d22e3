"""Counters and histograms for a service's ``/metrics``, through ``prometheus_client``.

One :class:`Registry` per service (never the library's process-wide default registry), so
two services in one process, or a test beside them, never mix their figures. A metric's label
names are fixed the first time it is counted (Prometheus wants one set per metric); counting
it later with another set is a ``ValueError`` naming both."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import prometheus_client as prom
from prometheus_client.core import HistogramMetricFamily

__all__ = ["CONTENT_TYPE", "Counter", "Histogram", "Registry"]

CONTENT_TYPE = prom.CONTENT_TYPE_LATEST

# Seconds: from a fraction of a millisecond (one verification) to a few seconds (a stalled bus).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LE = (*(repr(float(b)) for b in BUCKETS), "+Inf")  # as prometheus_client writes them


class Counter:
    """A counter whose labels are given as keywords: ``c.inc(reason="out_of_stock")``."""

    def __init__(
        self,
        registry: prom.CollectorRegistry,
        name: str,
        help: str,
        labels: tuple[str, ...] | None = None,
    ) -> None:
        self.name, self.help, self._registry = name, help, registry
        self._metric: prom.Counter | None = None
        self._labels: tuple[str, ...] = ()
        self._children: dict[tuple[tuple[str, str], ...], prom.Counter] = {}
        if labels is not None:  # declared: exported (with no samples yet) from the start
            self._create(tuple(sorted(labels)))

    def _create(self, names: tuple[str, ...]) -> prom.Counter:
        base = self.name.removesuffix("_total")
        self._metric = prom.Counter(base, self.help, names, registry=self._registry)
        self._labels = names
        return self._metric

    def _for(self, labels: dict[str, str]) -> prom.Counter:
        names = tuple(sorted(labels))
        metric = self._metric if self._metric is not None else self._create(names)
        if names != self._labels:
            raise ValueError(
                f"metric {self.name}: expected labels {list(self._labels)}, got {list(names)}"
            )
        return metric.labels(**labels) if names else metric

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._for(labels)
        child.inc(amount)

    def value(self, **labels: str) -> float:
        if self._metric is None:
            return 0.0
        got = self._registry.get_sample_value(self.name, labels or None)
        return 0.0 if got is None else float(got)


class Histogram:
    """Latencies in seconds, with the buckets above. Exported as ``prometheus_client``'s
    histogram is (``_bucket``, ``_count``, ``_sum``), but an observation is one bisect and
    two additions: it is on every intent's path, and the library's takes a lock per bucket
    value it updates. Observed only from the service's event loop, so it takes none."""

    BUCKETS = BUCKETS

    def __init__(self, registry: prom.CollectorRegistry, name: str, help: str) -> None:
        self.name, self.help, self._registry = name, help, registry
        self._counts = [0] * (len(BUCKETS) + 1)  # the last: above every bucket (+Inf)
        self._sum = 0.0
        registry.register(self)

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(BUCKETS, seconds)] += 1
        self._sum += seconds

    @property
    def count(self) -> int:
        return sum(self._counts)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.help)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, total = [], 0
        for le, n in zip(_LE, self._counts, strict=True):
            total += n
            cumulative.append((le, total))
        family = HistogramMetricFamily(self.name, self.help)
        family.add_metric([], cumulative, self._sum)
        yield family


class Registry:
    """The metrics of one service; :meth:`render` is the body of its ``/metrics``."""

    def __init__(self) -> None:
        self._registry = prom.CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Counter | Histogram] = {}

    def counter(self, name: str, help: str, labels: tuple[str, ...] | None = None) -> Counter:
        """``labels``: the label names, declared so the metric is exported before it is first
        counted (dashboards and alerts see it from the start); else fixed at the first count."""
        m = self._metrics.get(name)
        if m is None:
            m = self._metrics[name] = Counter(self._registry, name, help, labels)
        if not isinstance(m, Counter):
            raise TypeError(f"metric {name}: expected a counter, got a {type(m).__name__}")
        return m

    def histogram(self, name: str, help: str) -> Histogram:
        m = self._metrics.get(name)
        if m is None:
            m = self._metrics[name] = Histogram(self._registry, name, help)
        if not isinstance(m, Histogram):
            raise TypeError(f"metric {name}: expected a histogram, got a {type(m).__name__}")
        return m

    def render(self) -> str:
        return prom.generate_latest(self._registry).decode()
