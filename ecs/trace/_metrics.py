"""OpenTelemetry metrics and spans for a running scheduler.

:class:`MetricsObserver` turns every :class:`~ecs.TickSummary` into OpenTelemetry
measurements, and optionally into spans (one per tick, a child per group, a grandchild per
system). It records through whatever providers you give it, so the same observer feeds a
Prometheus scrape endpoint, an OTLP collector (SigNoz, the OpenTelemetry Collector) or an
in-memory reader in a test::

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    sched.add_observer(MetricsObserver(MeterProvider(metric_readers=[reader])))
    sched.run(60, dt=1 / 60)
    data = reader.get_metrics_data()

The ready-made wirings are :func:`otlp_observer` here and
:func:`~ecs.trace.prometheus_observer` in ``_prometheus.py``.

Instruments (``prefix`` defaults to ``ecs``) and the names Prometheus gives them:

=============================  =========  ======================  =========================
name                           kind       attributes              Prometheus
=============================  =========  ======================  =========================
ecs.ticks                      counter                            ecs_ticks_total
ecs.tick.duration              histogram                          ecs_tick_duration_seconds
ecs.group.duration             histogram  group, mode             ecs_group_duration_seconds
ecs.group.queue_wait           histogram  group                   ecs_group_queue_wait_seconds
ecs.group.skipped              counter    group, reason           ecs_group_skipped_total
ecs.group.errors               counter    group, system           ecs_group_errors_total
ecs.group.dropped              counter    group                   ecs_group_dropped_total
ecs.group.still_running        counter    group                   ecs_group_still_running_total
ecs.async.queue_depth          gauge      group                   ecs_async_queue_depth
ecs.commands.applied           counter    phase                   ecs_commands_applied_total
ecs.entities                   gauge                              ecs_entities
=============================  =========  ======================  =========================

Group durations are the time the group's systems ran (for async groups, on the worker,
without the queue wait, which has its own histogram). Skipped reasons are ``skipped_empty``
(the group ran but its queries matched nothing) and ``skipped_interval`` (not due).

Everything is recorded in ``on_tick`` from the finished summary: one Python call per tick,
attribute dicts built once per group and reused, no objects per system unless system spans
are on. Counters and gauges are plain integers the SDK reads when it collects; histograms
go through the SDK's ``record()``, about 5 us each, so the observer costs roughly 5 us per
group per tick (about 60 us for 10 groups). The OpenTelemetry packages are an optional
extra; importing this module works without them, constructing an observer does not.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .._summary import GroupSummary, SchedulerInfo, SchedulerObserver, TickSummary
from ..scheduler import GroupResult

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["TELEMETRY_HINT", "MetricsObserver", "check_prefix", "otlp_observer", "require_telemetry"]

_log = logging.getLogger("ecs.trace.metrics")

#: How to install what the telemetry features need.
TELEMETRY_HINT: Final = "pip install ecs-scheduler[telemetry]"

#: Tick-duration buckets, in seconds: dense around 60 and 30 frames per second.
TICK_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0083,
    0.0125,
    0.0167,
    0.025,
    0.0333,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
#: Group-duration and queue-wait buckets, in seconds: groups are usually well under a frame.
GROUP_BUCKETS: Final = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)

_EXECUTED: Final = GroupResult.EXECUTED
_ERRORED: Final = GroupResult.ERRORED
_SKIPPED_EMPTY: Final = GroupResult.SKIPPED_EMPTY
_SKIPPED_INTERVAL: Final = GroupResult.SKIPPED_INTERVAL
_STILL_RUNNING: Final = GroupResult.STILL_RUNNING
_DROPPED: Final = GroupResult.DROPPED


#: OpenTelemetry's rule for instrument names: an ASCII letter, then letters, digits, ``_.-/``.
_INSTRUMENT_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]*")
#: Instrument names are at most this long ...
_MAX_INSTRUMENT_NAME: Final = 255
#: ... and the longest name the observer appends to its prefix is this one.
_LONGEST_SUFFIX: Final = ".group.still_running"


def check_prefix(prefix: object) -> None:
    """Refuse a metric-name ``prefix`` OpenTelemetry would reject, with a ValueError naming it.

    The SDK itself raises a bare ``Exception`` from deep inside ``create_histogram``; checking
    first lets callers refuse before they start anything (a server, a provider).
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'ecs', got {prefix!r}")
    limit = _MAX_INSTRUMENT_NAME - len(_LONGEST_SUFFIX)
    if not _INSTRUMENT_NAME.fullmatch(prefix) or len(prefix) > limit:
        raise ValueError(
            f"prefix must start with an ASCII letter, hold only letters, digits and _.-/ and be at most "
            f"{limit} characters (OpenTelemetry instrument names), got {prefix!r}"
        )


def require_telemetry(what: str) -> None:
    """Raise a clear ImportError naming the extra when the OpenTelemetry SDK is missing."""
    try:
        import opentelemetry.sdk.metrics  # noqa: F401 - presence check only
    except ImportError as exc:
        raise ImportError(f"{what} needs the OpenTelemetry SDK, which is an optional extra: {TELEMETRY_HINT}") from exc


class _Tally:
    """Running totals behind an observable instrument: the game thread adds, a reader reads.

    Adding is a dict update (a fraction of a microsecond, against about 4.5 us for a
    synchronous OpenTelemetry ``add``); the SDK calls :meth:`observe` at collection time on
    its own thread. ``list(dict.items())`` runs without releasing the GIL, so the reader
    always sees a consistent set of values without a lock.
    """

    __slots__ = ("attrs", "values")

    def __init__(self) -> None:
        self.values: dict[Hashable, int] = {}
        self.attrs: dict[Hashable, Mapping[str, str]] = {}

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        attrs = self.attrs
        return [Observation(v, attrs[k]) for k, v in list(self.values.items())]


class MetricsObserver(SchedulerObserver):
    """Records scheduler metrics (and optionally spans) through the OpenTelemetry SDK.

    ``meter_provider`` and ``tracer_provider`` default to the global providers
    (``opentelemetry.metrics.get_meter_provider()``), the usual OpenTelemetry convention for
    libraries: with nothing configured they are no-ops.

    With ``spans=True`` every ``span_every``-th tick becomes a span ``ecs.tick`` with a child
    ``ecs.group:NAME`` per group that ran or was dropped (groups skipped by their interval
    get none) and, when ``system_spans`` is true, a grandchild ``ecs.system:NAME`` per
    system. Errored groups and systems carry an error status and message. A span costs
    10-20 us to build, so 10 groups of 10 systems add about 1.5 ms to every traced tick:
    ``span_every=60`` traces one tick a second at 60 frames per second.

    Span timestamps come from the summaries. When the scheduler's clock is the
    :class:`~ecs.MonotonicClock` (``perf_counter_ns``), they are converted to Unix-epoch
    nanoseconds with an offset captured once when the observer is attached, so they line up
    with other services' spans to within the clock drift since then. With any other clock
    (a :class:`~ecs.ManualClock` in a replay) the scheduler's start is pinned to the wall
    time at attachment and the clock's own nanoseconds are laid after it.

    Observers created by :func:`otlp_observer` or :func:`~ecs.trace.prometheus_observer`
    own their providers: call :meth:`shutdown` (also registered with ``atexit``) to flush
    and stop them. Providers you pass in stay yours.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        *,
        spans: bool = False,
        system_spans: bool = True,
        span_every: int = 1,
        prefix: str = "ecs",
    ) -> None:
        require_telemetry("MetricsObserver")
        from opentelemetry import metrics, trace

        check_prefix(prefix)
        if not isinstance(span_every, int) or isinstance(span_every, bool) or span_every < 1:
            raise ValueError(f"span_every must be an int >= 1, got {span_every!r}")
        if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
            raise TypeError(f"meter_provider must be an OpenTelemetry MeterProvider, got {meter_provider!r}")
        if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
            raise TypeError(f"tracer_provider must be an OpenTelemetry TracerProvider, got {tracer_provider!r}")
        mp = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self.meter_provider = mp
        self.prefix = prefix
        self.spans = spans
        self.system_spans = system_spans
        self.span_every = span_every
        meter = mp.get_meter("ecs")
        p = prefix
        # Histograms must be synchronous (OpenTelemetry has no observable histogram).
        self._tick_duration = meter.create_histogram(
            f"{p}.tick.duration",
            unit="s",
            description="Wall time of a whole tick",
            explicit_bucket_boundaries_advisory=TICK_BUCKETS,
        )
        self._group_duration = meter.create_histogram(
            f"{p}.group.duration",
            unit="s",
            description="Time a work group's systems ran",
            explicit_bucket_boundaries_advisory=GROUP_BUCKETS,
        )
        self._queue_wait = meter.create_histogram(
            f"{p}.group.queue_wait",
            unit="s",
            description="Time an async group waited for a worker",
            explicit_bucket_boundaries_advisory=GROUP_BUCKETS,
        )
        # Counters and gauges are cheap Python tallies read back at collection time.
        self._ticks = _Tally()
        self._skipped = _Tally()
        self._errors = _Tally()
        self._dropped = _Tally()
        self._still_running = _Tally()
        self._commands = _Tally()
        self._entities = _Tally()
        self._queue_depth = _Tally()
        self._ticks.values[()] = 0
        self._ticks.attrs[()] = self._entities.attrs[()] = {}
        counters = (
            (self._ticks, "ticks", "{tick}", "Ticks run"),
            (self._skipped, "group.skipped", "{run}", "Group runs skipped (reason: skipped_empty, skipped_interval)"),
            (self._errors, "group.errors", "{error}", "Systems that raised"),
            (self._dropped, "group.dropped", "{run}", "Async runs dropped because the worker queue was full"),
            (self._still_running, "group.still_running", "{run}", "Ticks an async group was still running"),
            (self._commands, "commands.applied", "{command}", "Commands applied, by phase"),
        )
        for tally, name, unit, text in counters:
            meter.create_observable_counter(f"{p}.{name}", [tally.observe], unit=unit, description=text)
        meter.create_observable_gauge(
            f"{p}.entities", [self._entities.observe], unit="{entity}", description="Live entities"
        )
        meter.create_observable_gauge(
            f"{p}.async.queue_depth",
            [self._queue_depth.observe],
            unit="{task}",
            description="Pool tasks ahead of an async group at its last dispatch",
        )

        self.tracer_provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self._set_span: Any = None
        self._status: Any = None
        self._error_code: Any = None
        if spans:
            tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
            self.tracer_provider = tp
            self._tracer = tp.get_tracer("ecs")
            self._set_span = trace.set_span_in_context
            self._status = trace.Status
            self._error_code = trace.StatusCode.ERROR
        self._tick_span_name = f"{p}.tick"
        #: Added to summary timestamps to get Unix-epoch nanoseconds (set again in on_start).
        self.epoch_offset_ns = time.time_ns() - time.perf_counter_ns()
        # Attribute dicts and span names, built once per group (and mode) and reused.
        self._group_attrs: dict[tuple[str, str], Mapping[str, str]] = {}
        self._name_attrs: dict[str, Mapping[str, str]] = {}
        self._span_names: dict[tuple[str, str], str] = {}
        self._owned: tuple[Any, ...] = ()
        self._shut = False

    # -- helpers ------------------------------------------------------------------------------------
    def _g(self, group: str, mode: str) -> Mapping[str, str]:
        attrs = self._group_attrs.get((group, mode))
        if attrs is None:
            attrs = self._group_attrs[(group, mode)] = {"group": group, "mode": mode}
        return attrs

    def _n(self, group: str) -> Mapping[str, str]:
        attrs = self._name_attrs.get(group)
        if attrs is None:
            attrs = self._name_attrs[group] = {"group": group}
        return attrs

    @staticmethod
    def _bump(tally: _Tally, key: Hashable, attrs: Mapping[str, str], n: int = 1) -> None:
        values = tally.values
        if key in values:
            values[key] += n
        else:
            tally.attrs[key] = attrs  # attrs first: a reader never sees a key without them
            values[key] = n

    def _span_name(self, kind: str, name: str) -> str:
        s = self._span_names.get((kind, name))
        if s is None:
            s = self._span_names[(kind, name)] = f"{self.prefix}.{kind}:{name}"
        return s

    # -- observer interface ------------------------------------------------------------------------
    def on_start(self, info: SchedulerInfo) -> None:
        if info.clock == "MonotonicClock":
            # Both reads back to back: the offset is exact to a microsecond or so.
            self.epoch_offset_ns = time.time_ns() - time.perf_counter_ns()
        else:
            self.epoch_offset_ns = time.time_ns() - info.start_ns
        for g in info.groups:  # warm the caches so the first tick costs what the others do
            self._g(g.name, g.mode)

    def on_tick(self, summary: TickSummary) -> None:
        self._ticks.values[()] += 1
        self._tick_duration.record((summary.end_ns - summary.start_ns) * 1e-9)
        self._entities.values[()] = summary.entities
        if summary.queue_depths:
            depths = self._queue_depth
            for name, depth in summary.queue_depths.items():
                if name not in depths.attrs:
                    depths.attrs[name] = {"group": name}
                depths.values[name] = depth
        for ph in summary.phases:
            if ph.commands:
                self._bump(self._commands, ph.phase, {"phase": ph.phase}, ph.commands)
        for g in summary.groups:
            r = g.result
            if r is _EXECUTED or r is _ERRORED or r is _SKIPPED_EMPTY:
                self._group_duration.record(g.run_ns * 1e-9, self._g(g.group, g.mode))
                if g.worker is not None:
                    self._queue_wait.record(g.queue_wait_ns * 1e-9, self._n(g.group))
                if r is _ERRORED:
                    self._count_errors(g)
                elif r is _SKIPPED_EMPTY:
                    self._bump(self._skipped, (g.group, r), {"group": g.group, "reason": r.value})
            elif r is _SKIPPED_INTERVAL:
                self._bump(self._skipped, (g.group, r), {"group": g.group, "reason": r.value})
            elif r is _STILL_RUNNING:
                self._bump(self._still_running, g.group, {"group": g.group})
            elif r is _DROPPED:
                self._bump(self._dropped, g.group, {"group": g.group})
        if self._tracer is not None and summary.tick % self.span_every == 0:
            self._record_spans(summary, self._tracer)

    def _count_errors(self, g: GroupSummary) -> None:
        counted = False
        for t in g.systems:
            if t.result == "errored":
                self._bump(self._errors, (g.group, t.name), {"group": g.group, "system": t.name})
                counted = True
        if not counted:  # a worker failure outside any system, or timings were not taken
            name = g.error_system or "?"
            self._bump(self._errors, (g.group, name), {"group": g.group, "system": name})

    def _record_spans(self, summary: TickSummary, tracer: Tracer) -> None:
        off = self.epoch_offset_ns
        root = tracer.start_span(
            self._tick_span_name,
            start_time=summary.start_ns + off,
            attributes={
                "ecs.tick": summary.tick,
                "ecs.dt": summary.dt,
                "ecs.entities": summary.entities,
                "ecs.aborted": summary.aborted,
                "ecs.in_flight": len(summary.in_flight),
            },
        )
        if summary.aborted:
            root.set_status(self._status(self._error_code, "tick aborted"))
        parent = self._set_span(root)
        for g in summary.groups:
            if g.result is _SKIPPED_INTERVAL:
                continue
            attrs: dict[str, Any] = {
                "ecs.tick": g.tick,
                "ecs.group": g.group,
                "ecs.mode": g.mode,
                "ecs.result": g.result.value,
                "ecs.entities": g.entities,
                "ecs.commands": g.commands,
            }
            if g.worker is not None:
                attrs["ecs.worker"] = g.worker
                attrs["ecs.queue_wait_ns"] = g.queue_wait_ns
                attrs["ecs.queue_depth"] = g.queue_depth
            if g.late:
                attrs["ecs.late"] = True
            if g.retried:
                attrs["ecs.retried"] = True
            if g.error_system is not None:
                attrs["ecs.error_system"] = g.error_system
            span = tracer.start_span(
                self._span_name("group", g.group), context=parent, start_time=g.start_ns + off, attributes=attrs
            )
            if g.result is _ERRORED:
                span.set_status(self._status(self._error_code, g.error))
            if self.system_spans and g.systems:
                inner = self._set_span(span)
                for t in g.systems:
                    if t.result == "skipped_interval":
                        continue
                    s = tracer.start_span(
                        self._span_name("system", t.name),
                        context=inner,
                        start_time=t.start_ns + off,
                        attributes={"ecs.system": t.name, "ecs.result": t.result},
                    )
                    if t.error is not None:
                        s.set_status(self._status(self._error_code, t.error))
                    s.end(end_time=t.end_ns + off)
            span.end(end_time=g.end_ns + off)
        root.end(end_time=summary.end_ns + off)

    # -- lifecycle -----------------------------------------------------------------------------------
    def _own(self, *providers: Any) -> None:
        """Take ownership of providers this module created (stopped by :meth:`shutdown`)."""
        self._owned = providers
        atexit.register(self.shutdown)

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Export what has been recorded now (SDK providers only); False if it timed out."""
        ok = True
        millis = int(timeout * 1000)
        for p in (self.meter_provider, self.tracer_provider):
            flush = getattr(p, "force_flush", None)
            if flush is not None:
                ok = bool(flush(millis)) and ok
        return ok

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush and stop the providers this observer created; providers passed in are left alone.

        Returns within about ``timeout`` seconds even when the collector is unreachable: the
        OpenTelemetry exporters retry with backoff for far longer (a game server with its
        collector down took 20 s to exit), so the flush runs on a helper thread and whatever
        it has not sent by then is dropped, with a warning. Returns True when it all went out.
        """
        if self._shut:
            return True
        self._shut = True
        atexit.unregister(self.shutdown)
        owned = self._owned

        def stop() -> None:
            for p in owned:
                p.force_flush(int(timeout * 1000))
                p.shutdown()

        helper = threading.Thread(target=stop, name="ecs-otel-shutdown", daemon=True)
        helper.start()
        helper.join(timeout)
        if helper.is_alive():
            _log.warning(
                "telemetry shutdown: the exporters did not finish within %.1f s (collector unreachable?); "
                "what was not sent is dropped",
                timeout,
            )
            return False
        return True


def otlp_observer(
    endpoint: str = "http://127.0.0.1:4318",
    *,
    spans: bool = True,
    system_spans: bool = True,
    span_every: int = 1,
    export_interval: float = 1.0,
    headers: Mapping[str, str] | None = None,
    service_name: str = "ecs-scheduler",
    timeout: float = 10.0,
) -> MetricsObserver:
    """A :class:`MetricsObserver` exporting metrics (and spans) over OTLP/HTTP (protobuf).

    ``endpoint`` is the collector's base URL; ``/v1/metrics`` and ``/v1/traces`` are
    appended. Metrics are pushed every ``export_interval`` seconds by a background thread;
    spans are batched by a ``BatchSpanProcessor``, so the game thread never waits on the
    network. ``headers`` go with every request (SigNoz Cloud wants
    ``{"signoz-ingestion-key": KEY}``; a self-hosted SigNoz or OpenTelemetry Collector
    listens on port 4318 with none). Call ``.shutdown()`` to flush before exiting (it is
    also registered with ``atexit``). ``system_spans`` and ``span_every`` are passed to
    :class:`MetricsObserver`: a game at 60 ticks a second with 100 systems makes 6,000
    system spans a second, so consider ``span_every=60`` or ``system_spans=False``.
    """
    require_telemetry("otlp_observer")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if export_interval <= 0:
        raise ValueError(f"export_interval must be > 0 seconds, got {export_interval!r}")
    base = endpoint.rstrip("/")
    hdrs = dict(headers) if headers else None
    resource = Resource.create({"service.name": service_name})
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=hdrs, timeout=timeout),
        export_interval_millis=export_interval * 1000,
    )
    mp = SdkMeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    tp = None
    if spans:
        tp = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=hdrs, timeout=timeout)
        # A bigger queue than the default 2048: one tick of 10 groups x 10 systems is 111 spans.
        tp.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=16384, schedule_delay_millis=export_interval * 1000)
        )
    obs = MetricsObserver(mp, tp, spans=spans, system_spans=system_spans, span_every=span_every)
    obs._own(*(p for p in (mp, tp) if p is not None))
    return obs
