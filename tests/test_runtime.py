"""The shared runtime: the embedded server, bus events as logs and counters, metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runtime import (
    Bus,
    EmbeddedServer,
    HttpServer,
    Message,
    NatsTransport,
    NoResponders,
    Registry,
    running_embedded_bus,
)


async def test_embedded_server_starts_on_a_free_port_and_stops(tmp_path: Path) -> None:
    """Two embedded servers get different ports; both stop and free them."""
    async with EmbeddedServer(tmp_path / "a") as a, EmbeddedServer(tmp_path / "b") as b:
        assert a.port != b.port and a.port > 0
        async with Bus(a.url, name="t") as bus:
            sub = await bus.nc.subscribe("x")
            await bus.nc.publish("x", b"hi")
            assert (await sub.next_msg(timeout=2)).data == b"hi"
    assert a.state == b.state == "stopped"


async def test_the_nats_transport_says_no_responders_as_a_typed_error(tmp_path: Path) -> None:
    """Over a real server, a request nobody hears raises NoResponders, and the 503 status a
    server sends to the reply subject of an unheard publish reaches the reply subscription
    as NoResponders, never as a message; a heard request returns the answer's bytes."""
    async with EmbeddedServer(tmp_path / "s") as server, Bus(server.url, name="t") as bus:
        transport = NatsTransport(bus)
        assert transport.connected
        with pytest.raises(NoResponders):
            async with asyncio.timeout(5):
                await transport.request("nobody.here", b"?")
        heard: list[Message] = []
        told: list[NoResponders] = []
        said = asyncio.Event()

        async def on_reply(msg: Message) -> None:
            heard.append(msg)

        def on_no_responders(err: NoResponders) -> None:
            told.append(err)
            said.set()

        await transport.subscribe("replies.1", on_reply, on_no_responders=on_no_responders)
        await transport.publish("nobody.here", b"?", reply="replies.1")
        async with asyncio.timeout(5):
            await said.wait()
        assert heard == [] and len(told) == 1

        async def echo(msg: Message) -> None:
            await transport.publish(msg.reply, msg.data[::-1])

        await transport.subscribe("echo", echo, queue="q")
        async with asyncio.timeout(5):
            assert await transport.request("echo", b"abc") == b"cba"


async def test_losing_the_server_is_logged_and_counted(tmp_path: Path) -> None:
    """A killed server shows up as a `bus.disconnected` event and a counter, not silence."""
    server = EmbeddedServer(tmp_path / "s").start()
    metrics = Registry()
    with capture_logs() as logs:
        bus = await Bus(server.url, name="t", metrics=metrics).connect()
        server.kill()
        await asyncio.wait_for(bus.disconnected.wait(), 10)
        await bus.close()
    assert any(e["event"] == "bus.disconnected" and e["client"] == "t" for e in logs)
    assert metrics.counter("bus_events_total", "").value(event="disconnected") >= 1
    assert metrics.counter("bus_events_total", "").value(event="disconnected") >= 1


async def test_http_server_serves_routes_and_refuses_others() -> None:
    """Health-style routes answer; unknown paths are 404; only GET is served."""

    async def ok(_: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"fine"

    async with HttpServer({"/healthz": ok}) as http:
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(http.url + "/healthz", timeout=5).read()
        )
        assert body == b"fine"
        with pytest.raises(urllib.error.HTTPError) as e:
            await asyncio.to_thread(lambda: urllib.request.urlopen(http.url + "/nope", timeout=5))
        assert e.value.code == 404


def test_metrics_render_in_prometheus_text() -> None:
    """Counters with labels and histograms render in the exposition format."""
    r = Registry()
    r.counter("x_total", "things").inc(reason="a")
    r.histogram("lat_seconds", "latency").observe(0.003)
    text = r.render()
    assert 'x_total{reason="a"} 1' in text
    assert 'lat_seconds_bucket{le="0.005"} 1' in text and "lat_seconds_count 1" in text


def test_histograms_export_what_prometheus_clients_own_would() -> None:
    """The same observations, a bucket's bound among them (``le`` includes it), give the
    same bucket, count and sum samples as ``prometheus_client.Histogram``; the dashboards'
    quantiles read these."""
    import prometheus_client as prom

    from runtime._metrics import BUCKETS

    theirs = prom.CollectorRegistry()
    ref = prom.Histogram("lat_seconds", "latency", buckets=BUCKETS, registry=theirs)
    r = Registry()
    ours = r.histogram("lat_seconds", "latency")
    for s in (0.0001, 0.0005, 0.003, 0.003, 0.7, 9.0):
        ref.observe(s)
        ours.observe(s)

    def samples(text: str) -> list[str]:
        return [
            ln for ln in text.splitlines() if ln.startswith("lat_seconds_") and "_created" not in ln
        ]

    assert samples(r.render()) == samples(prom.generate_latest(theirs).decode())
    assert ours.count == 6


def test_metric_labels_from_the_bus_are_escaped_and_fixed_per_metric() -> None:
    """A label value carrying a quote, a backslash and a newline cannot break the exposition
    format (it did with the hand-written renderer); a second label set is refused."""
    r = Registry()
    c = r.counter("y_total", "things")
    c.inc(reason='a"b\\c\nd')
    line = next(ln for ln in r.render().splitlines() if ln.startswith("y_total{"))
    assert line == 'y_total{reason="a\\"b\\\\c\\nd"} 1.0'
    assert c.value(reason='a"b\\c\nd') == 1
    with pytest.raises(ValueError, match=r"expected labels \['reason'\], got \['kind'\]"):
        c.inc(kind="x")
    with pytest.raises(TypeError):
        r.histogram("y_total", "things")


def test_no_embedded_bus_is_reported_when_none_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `intentcast bus` running, commands do not pretend to find one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert running_embedded_bus() is None
