"""The Grafana dashboard under deploy/grafana reads only what a real adapter exports: every
metric and every label its queries name appears on the /metrics of a vendor adapter that has
answered an intent and confirmed an order on a real nats-server."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

from runtime import Bus, EmbeddedServer
from tests.conftest import Agent, VendorFactory

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "intentcast-vendor.json"
PROMQL_WORDS = {"sum", "rate", "increase", "by", "histogram_quantile", "le", "job"}


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _exported(url: str) -> dict[str, set[str]]:
    """series name -> label names seen on it; a declared metric with no sample yet is there
    too (from its TYPE line), with no labels known."""
    out: dict[str, set[str]] = {}
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        typed = re.match(r"^# TYPE (\w+) (\w+)$", line)
        if typed:
            name = typed.group(1)
            for suffix in SUFFIXES.get(typed.group(2), ("",)):
                out.setdefault(name if name.endswith(suffix) else name + suffix, set())
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ", line)
        if m and not line.startswith("#"):
            labels = set(re.findall(r'(\w+)="', m.group(2) or ""))
            out.setdefault(m.group(1), set()).update(labels)
    return out


def _queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return exprs


async def _junk_intent(url: str) -> None:
    async with Bus(url, name="junk") as bus:
        await bus.nc.publish("ic.v1.intent.outdoor.tents", b"intentcast/1 intent junk")
        await bus.nc.flush()


def test_every_dashboard_query_names_metrics_and_labels_the_adapter_exports(
    person: Agent, vendor: VendorFactory, nats_server: EmbeddedServer
) -> None:
    """Metric names (with their _bucket or _total forms) and the labels of each `by (...)`
    and `{label=...}` exist on the running adapter's /metrics."""
    sierra = vendor("sierra")
    offer = person.want("--expect", "1")["offers"][0]["offer"]
    person.ok("accept", offer)
    person.want("--max-price", "1EUR", "--expect", "1", wait="300ms")  # a decline
    asyncio.run(_junk_intent(nats_server.url))  # a verification refusal
    sierra.wait_for("intent.rejected")
    exported = _exported(str(sierra.wait_for("vendor.health")["metrics"]))
    missing = []
    for expr in _queries():
        for name in re.findall(r"\b((?:vendor|bus)_[a-z_]+)\b", expr):
            if name not in exported:
                missing.append(f"{name} (in {expr})")
                continue
            used = set(re.findall(r"by \(([^)]*)\)", expr))
            labels = {x.strip() for group in used for x in group.split(",")}
            labels |= set(re.findall(r"(\w+)=~?\"", expr))
            seen = exported[name]  # empty: declared, not yet counted, labels unknown
            for label in labels - PROMQL_WORDS:
                if seen and label not in seen:
                    missing.append(f"label {label} of {name} (in {expr})")
    assert not missing, "\n".join(missing)
    assert len(_queries()) >= 8
