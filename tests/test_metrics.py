"""MetricsObserver, the Prometheus endpoint and the OTLP wiring (ecs/trace/_metrics.py, _prometheus.py).

Metrics are read back through OpenTelemetry's in-memory reader and span exporter; the
scheduler runs on a manual clock whose systems advance it by known amounts, so every
duration is exact.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import ecs
from ecs.trace import MetricsObserver, otlp_observer, prometheus_observer, serve_prometheus
from ecs.trace._prometheus import check_bind_host

from ._factories import Gate

MS = 1_000_000


@ecs.component
class Body:
    xy: ecs.f32x2


@ecs.component
class Ghost:
    """A component nobody has: a query for it matches nothing."""

    flag: ecs.u8


def timed(name: str, clock: ecs.ManualClock, ns: int, **kw: Any) -> ecs.System:
    """A system that advances the manual clock by ``ns``, so its duration is exactly that."""

    @ecs.system(name=name, **kw)
    def run(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=ns)

    return run


@ecs.system(reads=(Ghost,))
def haunt(ctx: ecs.ExecutionContext) -> None:
    for _ in ctx.query(Ghost):
        pass


@ecs.system(reads=(Body,))
def breed(ctx: ecs.ExecutionContext) -> None:
    ctx.commands.spawn(Body(xy=(0.0, 0.0)))


@ecs.system(reads=(Body,))
def flaky(ctx: ecs.ExecutionContext) -> None:
    if ctx.tick % 2 == 1:
        raise RuntimeError(f"odd tick {ctx.tick}")


@ecs.system(reads=(Body,), async_allowed=True)
def survey(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Body):
        float(np.asarray(b[Body].xy).sum())


def build(clock: ecs.ManualClock, *observers: ecs.SchedulerObserver, with_async: bool = False) -> ecs.Scheduler:
    """physics (1 ms + 2 ms), slow (3 ms every 2nd tick), empty (matches nothing), spawn, flaky."""
    world = ecs.World(components=[Body, Ghost])
    world.spawn_batch(10, {Body: np.zeros((10, 2))})
    # a ManualClock makes untimed systems free, so only every=1 times them all
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1, system_sampling=ecs.SystemSampling(every=1))
    b.add_group("physics", [timed("move", clock, 1 * MS), timed("collide", clock, 2 * MS)])
    b.add_group("slow", [timed("think", clock, 3 * MS)], interval=ecs.Interval(ticks=2), priority=1)
    b.add_group("empty", [haunt], priority=2)
    b.add_group("spawn", [breed], priority=3)
    b.add_group("flaky", [flaky], priority=4)
    if with_async:
        b.add_group("survey", [survey], mode=ecs.Mode.ASYNC)
    for obs in observers:
        b.add_observer(obs)
    return b.build()


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Every data point by metric name: [(attributes, point)]."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend((dict(p.attributes or {}), p) for p in m.data.data_points)
    return out


def value(pts: dict[str, list[tuple[dict[str, Any], Any]]], name: str, **attrs: Any) -> Any:
    """The single data point of ``name`` whose attributes include ``attrs``."""
    found = [p for a, p in pts.get(name, []) if all(a.get(k) == v for k, v in attrs.items())]
    assert len(found) == 1, f"{name}{attrs}: {len(found)} points in {pts.get(name)}"
    return found[0]


@dataclass
class Meters:
    provider: MeterProvider
    reader: InMemoryMetricReader


@pytest.fixture
def m() -> Iterator[Meters]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield Meters(provider, reader)
    provider.shutdown()


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture(autouse=True)
def quiet_failures(caplog: pytest.LogCaptureFixture) -> None:
    """The flaky system's failures are logged by the scheduler; keep them out of the output."""
    caplog.set_level("CRITICAL", logger="ecs.scheduler")


def run(sched: ecs.Scheduler, ticks: int) -> None:
    with sched:
        sched.run(ticks, 1 / 60)


# -- metrics -------------------------------------------------------------------------------------------
def test_ticks_and_tick_durations_are_counted_exactly(m: Meters) -> None:
    clock = ecs.ManualClock()
    run(build(clock, MetricsObserver(m.provider)), 6)
    pts = points(m.reader)
    assert value(pts, "ecs.ticks").value == 6
    hist = value(pts, "ecs.tick.duration")
    assert hist.count == 6
    # 3 ms of physics every tick, 3 ms of "slow" on ticks 0, 2 and 4
    assert hist.sum == pytest.approx((6 * 3 + 3 * 3) * 1e-3)
    assert hist.max == pytest.approx(6e-3)


def test_group_durations_carry_group_and_mode(m: Meters) -> None:
    clock = ecs.ManualClock()
    run(build(clock, MetricsObserver(m.provider)), 6)
    pts = points(m.reader)
    physics = value(pts, "ecs.group.duration", group="physics", mode="sync")
    assert physics.count == 6
    assert physics.sum == pytest.approx(6 * 3e-3)
    slow = value(pts, "ecs.group.duration", group="slow")
    assert (slow.count, slow.sum) == (3, pytest.approx(9e-3))


def test_skips_errors_commands_and_entities_are_counted(m: Meters) -> None:
    clock = ecs.ManualClock()
    sched = build(clock, MetricsObserver(m.provider))
    run(sched, 6)
    pts = points(m.reader)
    assert value(pts, "ecs.group.skipped", group="slow", reason="skipped_interval").value == 3
    assert value(pts, "ecs.group.skipped", group="empty", reason="skipped_empty").value == 6
    assert value(pts, "ecs.group.errors", group="flaky", system="flaky").value == 3
    assert value(pts, "ecs.commands.applied", phase="flush").value == 6
    assert value(pts, "ecs.entities").value == len(sched.world) == 16
    assert "ecs.group.dropped" not in pts
    assert "ecs.async.queue_depth" not in pts


def test_async_groups_report_queue_depth_and_wait(m: Meters) -> None:
    clock = ecs.ManualClock()
    run(build(clock, MetricsObserver(m.provider), with_async=True), 4)
    pts = points(m.reader)
    assert value(pts, "ecs.async.queue_depth", group="survey").value == 0
    assert value(pts, "ecs.group.queue_wait", group="survey").count == 4
    assert value(pts, "ecs.group.duration", group="survey", mode="async").count == 4


def test_dropped_and_still_running_async_runs_are_counted(m: Meters) -> None:
    world = ecs.World(components=[Body])
    world.spawn(Body(xy=(1.0, 1.0)))
    gate = Gate(reads=Body)
    b = ecs.SchedulerBuilder(world, workers=1)
    b.add_group("blocker", [gate], mode=ecs.Mode.ASYNC, timeout=0.0)
    b.add_group("waiter", [survey], mode=ecs.Mode.ASYNC, timeout=0.0, priority=1)
    # the single worker is busy and "waiter" is queued: a queue limit of 1 drops this one
    b.add_group("dropper", [timed("idle", ecs.ManualClock(), 0, reads=(Body,), async_allowed=True)],
                mode=ecs.Mode.ASYNC, queue_limit=1, priority=2)  # fmt: skip
    b.add_observer(MetricsObserver(m.provider))
    with b.build() as sched:
        results = sched.tick(1 / 60)
        assert results["dropper"] is ecs.GroupResult.DROPPED
        sched.tick(1 / 60)
        gate.release.set()
        assert sched.wait_idle(5.0)
        sched.tick(1 / 60)  # merges the late run (and dispatches it again)
        assert sched.wait_idle(5.0)
        stats = sched.stats
    pts = points(m.reader)
    assert value(pts, "ecs.group.dropped", group="dropper").value == stats["dropper"].dropped >= 1
    # reported STILL_RUNNING when the tick waited for it in vain, and when it was not dispatched
    # again because its last run was in flight: once per tick it was still running
    blocker = stats["blocker"]
    assert (
        value(pts, "ecs.group.still_running", group="blocker").value == blocker.still_running + blocker.in_flight_skips
    )
    assert blocker.in_flight_skips == 1 and blocker.still_running >= 1
    assert value(pts, "ecs.group.duration", group="blocker").count == 1


def test_a_custom_prefix_renames_every_instrument(m: Meters) -> None:
    run(build(ecs.ManualClock(), MetricsObserver(m.provider, prefix="game")), 2)
    names = set(points(m.reader))
    assert names and all(n.startswith("game.") for n in names)
    assert {"game.ticks", "game.tick.duration", "game.group.duration"} <= names


def test_without_providers_it_records_into_the_global_no_op_ones() -> None:
    obs = MetricsObserver(spans=True)
    run(build(ecs.ManualClock(), obs), 3)  # nothing configured globally: must simply not fail
    assert obs.tracer_provider is not None
    assert obs.force_flush() is True


# -- spans -----------------------------------------------------------------------------------------------
def by_name(exported: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in exported if s.name == name]


def test_spans_nest_tick_group_system_with_exact_timestamps(
    m: Meters, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    clock = ecs.ManualClock(start_ns=5 * MS)
    obs = MetricsObserver(m.provider, provider, spans=True)
    run(build(clock, obs), 2)
    got = exporter.get_finished_spans()
    ticks = by_name(got, "ecs.tick")
    assert [t.attributes["ecs.tick"] for t in ticks] == [0, 1]  # type: ignore[index]
    # the manual clock's start is pinned to the wall time the observer was attached
    off = obs.epoch_offset_ns
    assert abs(off + 5 * MS - time.time_ns()) < 60 * 10**9
    physics = by_name(got, "ecs.group:physics")
    assert len(physics) == 2
    tick0 = ticks[0]
    assert physics[0].parent is not None and physics[0].parent.span_id == tick0.context.span_id
    assert physics[0].context.trace_id == tick0.context.trace_id
    assert physics[0].end_time - physics[0].start_time == 3 * MS  # type: ignore[operator]
    assert tick0.start_time is not None and physics[0].start_time is not None
    assert tick0.start_time <= physics[0].start_time and physics[0].end_time <= tick0.end_time  # type: ignore[operator]
    attrs = dict(physics[0].attributes or {})
    assert attrs["ecs.group"] == "physics" and attrs["ecs.mode"] == "sync" and attrs["ecs.result"] == "executed"
    moves = by_name(got, "ecs.system:move")
    assert len(moves) == 2
    assert moves[0].parent is not None and moves[0].parent.span_id == physics[0].context.span_id
    assert moves[0].end_time - moves[0].start_time == 1 * MS  # type: ignore[operator]
    # "slow" ran on tick 0 only; its interval skip on tick 1 has no span
    assert len(by_name(got, "ecs.group:slow")) == 1


def test_errored_groups_and_systems_get_an_error_status(
    m: Meters, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    run(build(ecs.ManualClock(), MetricsObserver(m.provider, provider, spans=True)), 2)
    got = exporter.get_finished_spans()
    ok, bad = by_name(got, "ecs.group:flaky")
    assert ok.status.status_code is StatusCode.UNSET
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.status.description == "RuntimeError: odd tick 1"
    assert dict(bad.attributes or {})["ecs.error_system"] == "flaky"
    assert by_name(got, "ecs.system:flaky")[1].status.status_code is StatusCode.ERROR


def test_async_group_spans_carry_worker_and_queue_wait(
    m: Meters, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    run(build(ecs.ManualClock(), MetricsObserver(m.provider, provider, spans=True), with_async=True), 2)
    (first, _) = by_name(exporter.get_finished_spans(), "ecs.group:survey")
    attrs = dict(first.attributes or {})
    assert attrs["ecs.mode"] == "async"
    assert attrs["ecs.worker"] == 0
    assert attrs["ecs.queue_wait_ns"] >= 0 and attrs["ecs.queue_depth"] == 0  # type: ignore[operator]


def test_span_every_and_system_spans_limit_what_is_traced(
    m: Meters, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    obs = MetricsObserver(m.provider, provider, spans=True, span_every=3, system_spans=False)
    run(build(ecs.ManualClock(), obs), 7)
    got = exporter.get_finished_spans()
    assert [t.attributes["ecs.tick"] for t in by_name(got, "ecs.tick")] == [0, 3, 6]  # type: ignore[index]
    assert not [s for s in got if s.name.startswith("ecs.system:")]
    assert value(points(m.reader), "ecs.ticks").value == 7  # metrics still see every tick


def test_monotonic_clock_spans_are_in_unix_epoch_time(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = spans
    before = time.time_ns()
    world = ecs.World(components=[Body])
    b = ecs.SchedulerBuilder(world)
    b.add_group("g", [breed])
    b.add_observer(MetricsObserver(tracer_provider=provider, spans=True))
    with b.build() as sched:
        sched.tick(1 / 60)
    after = time.time_ns()
    (tick,) = by_name(exporter.get_finished_spans(), "ecs.tick")
    assert tick.start_time is not None and tick.end_time is not None
    # converted from perf_counter_ns: within the test's own wall-clock window (plus drift slack)
    assert before - 10**9 < tick.start_time <= tick.end_time < after + 10**9


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"span_every": 0}, ValueError, "span_every must be an int >= 1, got 0"),
        ({"span_every": 1.5}, ValueError, "span_every .* got 1.5"),
        ({"meter_provider": "x"}, TypeError, "meter_provider must be an OpenTelemetry MeterProvider, got 'x'"),
        ({"tracer_provider": 5}, TypeError, "tracer_provider must be an OpenTelemetry TracerProvider, got 5"),
    ],
)
def test_metrics_observer_options_are_checked(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        MetricsObserver(**kwargs)


# -- Prometheus endpoint -----------------------------------------------------------------------------------
def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_prometheus_observer_serves_the_metrics_on_loopback() -> None:
    obs, endpoint = prometheus_observer()
    try:
        assert endpoint.host == "127.0.0.1" and endpoint.port > 0
        assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
        run(build(ecs.ManualClock(), obs), 4)
        text = fetch(endpoint.url)
    finally:
        endpoint.close()
    lines = text.splitlines()
    assert any(line.startswith("ecs_ticks_total{") and line.endswith(" 4.0") for line in lines)
    assert any(line.startswith("ecs_tick_duration_seconds_count{") and line.endswith(" 4.0") for line in lines)
    assert 'group="physics"' in text and 'service_name="ecs-scheduler"' in text
    assert endpoint.closed and "closed" in repr(endpoint)
    endpoint.close()  # idempotent


def test_two_endpoints_do_not_share_a_registry() -> None:
    with serve_prometheus() as one, serve_prometheus() as two:
        assert one.registry is not two.registry
        assert one.port != two.port


def test_serve_prometheus_takes_a_given_registry() -> None:
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("host_things", "things the host counts", registry=registry).inc(3)
    with serve_prometheus(registry=registry) as endpoint:
        assert endpoint.registry is registry
        assert "host_things_total 3.0" in fetch(endpoint.url)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", ""])
def test_non_loopback_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        serve_prometheus(host=host)
    check_bind_host(host, allow_remote=True)  # allowed when asked for explicitly


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    check_bind_host(host, allow_remote=False)


# -- OTLP wiring -------------------------------------------------------------------------------------------
class OtlpSink:
    """A stand-in OTLP/HTTP collector on 127.0.0.1: records each POST and answers 200.

    (The real receiver, rotel, is exercised in tests/integration/test_otlp_rotel.py.)
    """

    def __init__(self) -> None:
        sink = self
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()

    def metric_names(self) -> set[str]:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        names = set()
        for path, _, body in self.requests:
            if path == "/v1/metrics":
                req = ExportMetricsServiceRequest.FromString(body)
                names |= {m.name for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        return names

    def span_names(self) -> list[str]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        names = []
        for path, _, body in self.requests:
            if path == "/v1/traces":
                req = ExportTraceServiceRequest.FromString(body)
                names += [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
        return names


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    s = OtlpSink()
    yield s
    s.close()


def test_otlp_observer_posts_protobuf_metrics_and_spans_with_headers(sink: OtlpSink) -> None:
    obs = otlp_observer(sink.url + "/", headers={"signoz-ingestion-key": "secret"}, export_interval=60)
    run(build(ecs.ManualClock(), obs), 3)
    assert obs.shutdown() is True  # flushes both providers, all sent
    assert obs.shutdown() is True  # and only once
    paths = {path for path, _, _ in sink.requests}
    assert paths == {"/v1/metrics", "/v1/traces"}
    for _, headers, _ in sink.requests:
        assert headers["signoz-ingestion-key"] == "secret"
        assert headers["content-type"] == "application/x-protobuf"
    assert {"ecs.ticks", "ecs.tick.duration", "ecs.group.duration", "ecs.group.errors"} <= sink.metric_names()
    spans = sink.span_names()
    assert spans.count("ecs.tick") == 3
    assert spans.count("ecs.group:physics") == 3 and spans.count("ecs.system:collide") == 3


def test_otlp_observer_without_spans_sends_metrics_only(sink: OtlpSink) -> None:
    obs = otlp_observer(sink.url, spans=False, export_interval=60)
    assert obs.tracer_provider is None
    run(build(ecs.ManualClock(), obs), 2)
    obs.shutdown()
    assert {path for path, _, _ in sink.requests} == {"/v1/metrics"}


def test_shutdown_gives_up_on_an_unreachable_collector_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    # The exporters retry with backoff for 20 s and more; a server's exit must not wait on that.
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # timeout=2: the exporters retry for about 2 s each, long past the shutdown's 0.1 s
    obs = otlp_observer(f"http://127.0.0.1:{port}", export_interval=60, timeout=2)
    run(build(ecs.ManualClock(), obs), 2)
    with caplog.at_level(logging.WARNING, logger="ecs.trace.metrics"):
        assert obs.shutdown(timeout=0.1) is False
    assert "did not finish within 0.1 s" in caplog.text
    # Let the abandoned flush end here: its retries draw jitter from the global `random`,
    # which hypothesis (rightly) reports as flaky in whichever test happens to run next.
    for thread in threading.enumerate():
        if thread.name == "ecs-otel-shutdown":
            thread.join(30)
            assert not thread.is_alive()


def test_otlp_observer_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="export_interval"):
        otlp_observer(export_interval=0)


# -- the optional extra -------------------------------------------------------------------------------------
def test_missing_sdk_gives_an_import_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.metrics", None)
    for make in (MetricsObserver, otlp_observer, serve_prometheus, prometheus_observer):
        with pytest.raises(ImportError, match=r"pip install ecs-scheduler\[telemetry\]"):
            make()


def test_ecs_and_ecs_trace_import_without_the_telemetry_packages() -> None:
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("opentelemetry", "prometheus_client"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import ecs, ecs.trace
        try:
            ecs.trace.MetricsObserver()
        except ImportError as exc:
            print("refused:", exc)
        handler = ecs.trace.configure_logging("kv", stream=sys.stdout, logger="demo")
        import logging
        logging.getLogger("demo").info("still fine")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "refused: MetricsObserver needs the OpenTelemetry SDK" in out.stdout
    assert "pip install ecs-scheduler[telemetry]" in out.stdout
    assert 'msg="still fine"' in out.stdout


# -- bad arguments and misbehaving scrapers -------------------------------------------------------------
def prometheus_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "ecs-prometheus-http" and t.is_alive()]


def request_threads() -> int:
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive())


def wait_for(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        ("1bad", ValueError),
        ("a b", ValueError),
        ("x" * 300, ValueError),
        ("", ValueError),
        ("é", ValueError),
        (None, TypeError),
        (5, TypeError),
    ],
)
def test_a_bad_prefix_is_refused_by_name_and_leaves_no_server(prefix: Any, error: type[Exception]) -> None:
    before = prometheus_threads()
    with pytest.raises(error, match="prefix"):
        prometheus_observer(port=0, prefix=prefix)
    with pytest.raises(error, match="prefix"):
        MetricsObserver(prefix=prefix)
    assert prometheus_threads() == before


@given(prefix=st.text(max_size=40))
def test_every_prefix_is_either_refused_up_front_or_accepted_by_opentelemetry(prefix: str) -> None:
    try:
        MetricsObserver(MeterProvider(), prefix=prefix)
    except ValueError as exc:
        assert "prefix" in str(exc)


def test_a_failure_after_the_server_started_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("observer bug")

    monkeypatch.setattr("ecs.trace._prometheus.MetricsObserver", broken)
    before = prometheus_threads()
    with pytest.raises(RuntimeError, match="observer bug"):
        prometheus_observer(port=0)
    assert prometheus_threads() == before


@pytest.mark.parametrize(
    ("port", "error"), [(-1, ValueError), (65536, ValueError), ("x", TypeError), (None, TypeError), (1.5, TypeError)]
)
def test_a_bad_port_is_refused_by_name(port: Any, error: type[Exception]) -> None:
    for make in (serve_prometheus, prometheus_observer):
        with pytest.raises(error, match=f"port for the Prometheus endpoint must be .* got {port!r}"):
            make(port=port)
    assert prometheus_threads() == []


def test_idle_scrapers_time_out_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="ecs.trace.prometheus")
    monkeypatch.setattr("ecs.trace._prometheus._QuietHandler.timeout", 0.2)
    before = request_threads()
    with serve_prometheus() as endpoint:
        idle = [socket.create_connection((endpoint.host, endpoint.port)) for _ in range(5)]
        for s in idle:  # the server hangs up on each
            s.settimeout(15)
            assert s.recv(1) == b""
            s.close()
        wait_for(lambda: request_threads() == before)
        assert "Traceback" not in capfd.readouterr().err
        assert any(r.levelno == logging.DEBUG and "ended" in r.getMessage() for r in caplog.records)
        with urllib.request.urlopen(endpoint.url, timeout=10) as resp:
            assert resp.status == 200  # and it serves on
