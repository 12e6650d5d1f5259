"""An opt-in debug HTTP endpoint: metrics, scheduler state and on-demand profiles.

The Python counterpart of Go's ``expvar`` and ``net/http/pprof``::

    debug = serve_debug(sched, port=6060)     # call it from the thread that ticks
    ...
    debug.close()

then, while the game runs::

    curl http://127.0.0.1:6060/debug/vars                    # JSON: ticks, groups, entities
    curl http://127.0.0.1:6060/metrics                       # Prometheus text
    curl 'http://127.0.0.1:6060/debug/profile?ticks=120'     # cProfile of the next 120 ticks
    curl 'http://127.0.0.1:6060/debug/profile?ticks=60&profiler=pyinstrument&format=html' > p.html

Threads: the game thread ticks and the server answers on its own daemon threads. They share
nothing mutable. A :class:`SchedulerObserver` running on the game thread publishes a fresh
snapshot of the scheduler's state when a request asks for one (and once a second anyway),
as a new dict the HTTP side only reads; a ``/debug/vars`` request waits up to half a second
for the next tick to publish one, and if the scheduler is not ticking returns the latest one
marked ``"fresh": false``. Profiles are taken the same way: the request leaves a capture
order, the observer starts the profiler at the start of the next tick and stops it at
the end of the Nth, on the game thread (``cProfile`` and ``pyinstrument`` profile the
thread that starts them), and the request thread renders the result. Async groups run on
worker threads, which the profile does not include; the time between ticks (rendering,
input, sleeping) is included, as it is part of each frame.

The server binds 127.0.0.1; another address needs ``allow_remote=True``. It exposes
internals and lets callers slow the game down with a profiler: keep it off production
networks.
"""

from __future__ import annotations

import cProfile
import importlib.util
import io
import json
import logging
import os
import pstats
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from .._checks import is_finite_real
from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._metrics import MetricsObserver, require_telemetry
from ._net import (
    CONNECTION_TIMEOUT,
    BoundedThreadingServer,
    check_bind_host,
    check_port,
    http_url,
    serve_in_thread,
    stop_serving,
)

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["DebugServer", "serve_debug"]

log = logging.getLogger("ecs.debug")

#: Most ticks one profile request may capture.
MAX_PROFILE_TICKS: Final = 100_000
#: Longest a profile request may wait, in seconds.
MAX_PROFILE_TIMEOUT: Final = 600.0
_N = TypeVar("_N", int, float)
_SORTS: Final = ("cumulative", "tottime", "calls", "ncalls", "time", "name")


class RequestError(Exception):
    """A request the endpoint refuses: carries the HTTP status and a message for the client."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class _Capture:
    """A profile order: written by the request thread, carried out by the game thread."""

    ticks: int
    profiler: str  # "cprofile" | "pyinstrument"
    done: threading.Event = field(default_factory=threading.Event)
    state: str = "pending"  # pending -> running -> done, or cancelled / closed
    remaining: int = 0
    first_tick: int = -1
    last_tick: int = -1
    started: float = 0.0
    seconds: float = 0.0
    prof: Any = None


def _has_pyinstrument() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None


class _DebugObserver(SchedulerObserver):
    """Runs on the game thread: publishes state snapshots and runs profile captures."""

    def __init__(self, scheduler: Scheduler, publish_interval: float = 1.0) -> None:
        self._sched = scheduler
        self._cond = threading.Condition()
        self._publish_interval = publish_interval
        self._last_publish = 0.0
        self._want = False
        self.snapshot: dict[str, Any] = {}
        self.seq = 0
        self.capture: _Capture | None = None
        self._plan: list[dict[str, Any]] = []
        self._static: dict[str, Any] = {}
        self._last: TickSummary | None = None
        self.closed = False

    # -- snapshots ---------------------------------------------------------------------------------
    def on_start(self, info: SchedulerInfo) -> None:
        self._plan = [
            {
                "name": g.name,
                "mode": g.mode,
                "priority": g.priority,
                "order": g.order,
                "systems": list(g.systems),
                "interval": g.interval,
                "error_policy": g.error_policy,
                "queue_limit": g.queue_limit,
                "timeout_s": g.timeout_ns / 1e9,
                "reads": list(g.reads),
                "writes": list(g.writes),
            }
            for g in info.groups
        ]
        self._static = {
            "world": info.world,
            "clock": info.clock,
            "workers": info.workers,
            "pid": os.getpid(),
            "python": sys.version.split()[0],
        }
        self._publish()

    def _publish(self) -> None:
        """Build a snapshot from live scheduler state. Game thread only."""
        s = self._sched
        groups = {}
        for name, st in s.stats.items():
            d = asdict(st)
            d["mean_ms"] = round(st.total_ns / st.runs / 1e6, 6) if st.runs else 0.0
            groups[name] = d
        last = self._last
        snap: dict[str, Any] = {
            **self._static,
            "time": time.time(),
            "tick_count": s.tick_count,
            "elapsed": s.elapsed,
            "entities": len(s.world),
            "archetypes": len(s.world.archetypes),
            "in_flight": list(s.in_flight),
            "groups": groups,
            "last_tick": None
            if last is None
            else {
                "tick": last.tick,
                "duration_ms": round(last.duration_ns / 1e6, 6),
                "dt": last.dt,
                "aborted": last.aborted,
                "results": {g.group: g.result.value for g in last.groups},
                "queue_depths": dict(last.queue_depths),
            },
            "observers": [type(o).__name__ for o in s.observers],
            "plan": self._plan,
        }
        with self._cond:
            self.snapshot = snap
            self.seq += 1
            self._want = False
            self._last_publish = time.monotonic()
            self._cond.notify_all()

    def request_snapshot(self, wait: float) -> tuple[dict[str, Any], bool]:
        """Ask the game thread for a fresh snapshot; returns (snapshot, fresh). HTTP thread."""
        with self._cond:
            seq = self.seq
            self._want = True
            fresh = self._cond.wait_for(lambda: self.seq != seq, timeout=wait)
            return self.snapshot, fresh

    # -- the tick ------------------------------------------------------------------------------------
    def on_tick_start(self, tick: int, start_ns: int) -> None:
        # A pending capture starts exactly at the start of a tick, so it holds N whole ticks.
        if self.capture is None:
            return
        with self._cond:
            cap = self.capture
            if cap is not None and cap.state == "pending":
                cap.state = "running"
                cap.remaining = cap.ticks
                cap.first_tick = tick
                cap.started = time.perf_counter()
                cap.prof = _start_profiler(cap.profiler)

    def on_tick(self, summary: TickSummary) -> None:
        self._last = summary
        if self._want or time.monotonic() - self._last_publish >= self._publish_interval:
            self._publish()
        if self.capture is not None:
            self._step_capture(summary.tick)

    def _step_capture(self, tick: int) -> None:
        with self._cond:
            cap = self.capture
            if cap is None or cap.state == "pending":
                return  # ordered mid-tick: it starts with the next tick
            if cap.state == "running":
                cap.remaining -= 1
                if cap.remaining > 0:
                    return
                _stop_profiler(cap)
                cap.last_tick = tick
                cap.state = "done"
            elif cap.prof is not None:  # cancelled by a timed-out request: stop on this thread
                _stop_profiler(cap)
            self.capture = None
            cap.done.set()

    def start_capture(self, ticks: int, profiler: str) -> _Capture:
        """Leave a capture order for the game thread (HTTP thread)."""
        with self._cond:
            if self.capture is not None:
                raise RequestError(HTTPStatus.CONFLICT, "a profile capture is already running; try again when it ends")
            cap = self.capture = _Capture(ticks, profiler)
            return cap

    def abandon(self, cap: _Capture) -> None:
        """A request gave up waiting: cancel its capture (the game thread stops a running profiler)."""
        with self._cond:
            if cap.state == "pending":
                cap.state = "cancelled"
                if self.capture is cap:
                    self.capture = None
                cap.done.set()
            elif cap.state == "running":
                cap.state = "cancelled"

    def on_close(self) -> None:
        self.closed = True
        with self._cond:
            cap = self.capture
            if cap is not None:
                if cap.prof is not None and cap.state == "running":
                    _stop_profiler(cap)
                cap.state = "closed"
                self.capture = None
                cap.done.set()
        self._publish()


def _start_profiler(kind: str) -> Any:
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0005, async_mode="disabled")
        sampler.start()
        return sampler
    tracer = cProfile.Profile()
    tracer.enable()
    return tracer


def _stop_profiler(cap: _Capture) -> None:
    if cap.profiler == "pyinstrument":
        cap.prof.stop()
    else:
        cap.prof.disable()
    cap.seconds = time.perf_counter() - cap.started


def _render_profile(cap: _Capture, fmt: str, sort: str, limit: int) -> tuple[str, str]:
    """(content type, body) for a finished capture. Runs on the HTTP thread."""
    head = (
        f"ecs debug profile: ticks {cap.first_tick}..{cap.last_tick} ({cap.ticks} ticks, "
        f"{cap.seconds:.3f} s of wall time), profiler {cap.profiler}"
    )
    if cap.profiler == "pyinstrument":
        if fmt == "html":
            return "text/html; charset=utf-8", str(cap.prof.output_html())
        return "text/plain; charset=utf-8", head + "\n" + str(cap.prof.output_text(unicode=True, color=False))
    out = io.StringIO()
    out.write(f"{head}, sorted by {sort}\n")
    pstats.Stats(cap.prof, stream=out).sort_stats(sort).print_stats(limit)
    return "text/plain; charset=utf-8", out.getvalue()


def _number_arg(query: dict[str, list[str]], name: str, default: _N, lo: _N, hi: _N) -> _N:
    """Query parameter ``name`` as the type of ``default`` (int or float), within [lo, hi]."""
    kind = type(default)
    raw = query.get(name, [str(default)])[-1]
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{name} must be {what}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _choice_arg(query: dict[str, list[str]], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = query.get(name, [default])[-1]
    if value not in choices:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


_INDEX: Final = """ecs debug endpoint
  /metrics                      Prometheus text exposition of the scheduler's metrics
  /debug/vars                   JSON: ticks, per-group stats, entities, archetypes, workers, plan
  /debug/profile?ticks=N        profile the next N ticks; options: format=text|html,
                                profiler=cprofile|pyinstrument, sort=cumulative|tottime|calls,
                                limit=LINES, timeout=SECONDS
"""


class _Server(BoundedThreadingServer, ThreadingHTTPServer):
    """Bounded connections, quiet disconnects (see :class:`~ecs.trace._net.BoundedThreadingServer`)."""

    logger = log


class DebugServer:
    """A running debug endpoint (see the module docstring); usually made by :func:`serve_debug`.

    Binds ``host:port`` (0 picks a free port) when built. Like :func:`serve_debug` it refuses
    an address other than loopback unless ``allow_remote`` is true, and a ``port`` outside
    0..65535 or a non-finite ``publish_interval`` with a TypeError/ValueError naming it,
    before anything is started or attached.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        allow_remote: bool = False,
        publish_interval: float = 1.0,
    ) -> None:
        if not callable(getattr(scheduler, "add_observer", None)):
            raise TypeError(f"DebugServer: scheduler must be an ecs.Scheduler, got {scheduler!r}")
        check_bind_host(host, allow_remote, "the debug endpoint")
        port = check_port(port, "the debug endpoint")
        if not (is_finite_real(publish_interval) and publish_interval > 0):
            raise ValueError(
                f"DebugServer: publish_interval must be a finite number of seconds > 0, got {publish_interval!r}"
            )
        self.scheduler = scheduler
        self._observer = _DebugObserver(scheduler, float(publish_interval))
        self._registry: Any = None
        self._metrics: MetricsObserver | None = None
        self._meter_provider: Any = None
        self._metrics_error = ""
        try:
            self._registry, self._meter_provider, self._metrics = self._setup_metrics()
        except ImportError as exc:
            self._metrics_error = str(exc)
        try:
            server = _Server((host, port), self._handler_class())
        except BaseException:
            if self._meter_provider is not None:
                self._meter_provider.shutdown()
            raise
        self._server = server
        self.host: str = server.server_address[0]  # type: ignore[assignment]
        self.port: int = server.server_address[1]
        try:
            scheduler.add_observer(self._observer)
            if self._metrics is not None:
                scheduler.add_observer(self._metrics)
        except BaseException:  # e.g. a closed scheduler: leave no port bound behind
            server.server_close()
            for obs in (self._observer, self._metrics):
                if obs is not None and obs in scheduler.observers:
                    scheduler.remove_observer(obs)
            if self._meter_provider is not None:
                self._meter_provider.shutdown()
            raise
        self._thread = serve_in_thread(server, "ecs-debug-http")
        self.closed = False

    @staticmethod
    def _setup_metrics() -> tuple[Any, Any, MetricsObserver]:
        """A private registry, meter provider and metrics observer for ``/metrics``."""
        require_telemetry("the debug endpoint's /metrics")
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry

        registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(registry=registry)
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        return registry, provider, MetricsObserver(provider)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:6060``."""
        return http_url(self.host, self.port)

    def close(self) -> None:
        """Stop serving and detach from the scheduler (call it from the thread that ticks)."""
        if self.closed:
            return
        self.closed = True
        stop_serving(self._server, self._thread)
        for obs in (self._observer, self._metrics):
            if obs is not None and obs in self.scheduler.observers:
                self.scheduler.remove_observer(obs)
        if self._meter_provider is not None:
            self._meter_provider.shutdown()

    def __enter__(self) -> DebugServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DebugServer {self.url}{' closed' if self.closed else ''}>"

    # -- request handling (HTTP threads) --------------------------------------------------------------
    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[HTTPStatus, str, bytes]:
        """Answer one GET: (status, content type, body). Raises RequestError for refusals."""
        if path in ("/", "/debug", "/debug/"):
            return HTTPStatus.OK, "text/plain; charset=utf-8", _INDEX.encode()
        if path == "/metrics":
            return self._get_metrics()
        if path == "/debug/vars":
            wait = _number_arg(query, "wait", 0.5, 0.0, 10.0)
            snap, fresh = self._observer.request_snapshot(wait)
            body = {**snap, "fresh": fresh, "snapshot_age_s": round(time.time() - snap["time"], 6)}
            return HTTPStatus.OK, "application/json", json.dumps(body, indent=1).encode()
        if path == "/debug/profile":
            return self._get_profile(query)
        raise RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}; try /")

    def _get_metrics(self) -> tuple[HTTPStatus, str, bytes]:
        if self._registry is None:
            raise RequestError(HTTPStatus.NOT_IMPLEMENTED, f"/metrics is unavailable: {self._metrics_error}")
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(self._registry)

    def _get_profile(self, query: dict[str, list[str]]) -> tuple[HTTPStatus, str, bytes]:
        ticks = _number_arg(query, "ticks", 60, 1, MAX_PROFILE_TICKS)
        profiler = _choice_arg(query, "profiler", "cprofile", ("cprofile", "pyinstrument"))
        fmt = _choice_arg(query, "format", "text", ("text", "html"))
        sort = _choice_arg(query, "sort", "cumulative", _SORTS)
        limit = _number_arg(query, "limit", 60, 1, 100_000)
        timeout = _number_arg(query, "timeout", 30.0, 0.001, MAX_PROFILE_TIMEOUT)
        if profiler == "pyinstrument" and not _has_pyinstrument():
            raise RequestError(HTTPStatus.BAD_REQUEST, "pyinstrument is not installed: pip install pyinstrument")
        if fmt == "html" and profiler != "pyinstrument":
            raise RequestError(HTTPStatus.BAD_REQUEST, "format=html needs profiler=pyinstrument")
        if self.closed or self._observer.closed:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, "the scheduler is closed")
        cap = self._observer.start_capture(ticks, profiler)
        if not cap.done.wait(timeout):
            self._observer.abandon(cap)
            raise RequestError(
                HTTPStatus.GATEWAY_TIMEOUT,
                f"profiled {cap.ticks - cap.remaining if cap.state != 'pending' else 0} of {ticks} ticks "
                f"in {timeout:g} s; is the scheduler ticking? (raise timeout=)",
            )
        if cap.state != "done":
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, f"the capture ended early: {cap.state}")
        ctype, text = _render_profile(cap, fmt, sort, limit)
        return HTTPStatus.OK, ctype, text.encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "ecs-debug/1"
            timeout = CONNECTION_TIMEOUT  # an idle or stalled client frees its thread

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                try:
                    status, ctype, body = owner.handle(parts.path, parse_qs(parts.query, keep_blank_values=True))
                except RequestError as exc:
                    status, ctype, body = exc.status, "text/plain; charset=utf-8", (exc.message + "\n").encode()
                except Exception as exc:  # a bug must reach the client, not kill the server thread
                    log.exception("debug endpoint failed on %s", self.path)
                    status = HTTPStatus.INTERNAL_SERVER_ERROR
                    ctype, body = "text/plain; charset=utf-8", f"internal error: {exc!r}\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s " + format, self.address_string(), *args)

        return Handler


def serve_debug(
    scheduler: Scheduler,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    allow_remote: bool = False,
) -> DebugServer:
    """Start the debug endpoint for ``scheduler`` on ``host:port`` (0 picks a free port).

    Attaches two observers to the scheduler (the snapshot/profile observer and, when the
    ``telemetry`` extra is installed, a :class:`~ecs.trace.MetricsObserver` feeding
    ``/metrics``; without it ``/metrics`` answers 501 with ``pip install
    ecs-scheduler[telemetry]``). Call it, and ``close()``, from the thread that ticks.

    Connections time out after :data:`~ecs.trace._net.CONNECTION_TIMEOUT` seconds of silence
    and at most :data:`~ecs.trace._net.MAX_CONNECTIONS` are served at once; clients that hang
    up early are logged at DEBUG on the ``ecs.debug`` logger, not printed.
    """
    return DebugServer(scheduler, port, host, allow_remote=allow_remote)
