"""A Prometheus ``/metrics`` endpoint for scheduler metrics.

The shortest path from a running scheduler to a Prometheus scrape::

    observer, endpoint = prometheus_observer(port=9464)
    sched.add_observer(observer)
    print(endpoint.url)            # http://127.0.0.1:9464/metrics
    ...
    endpoint.close()               # stops the server and the observer's meter provider

Under the hood :func:`serve_prometheus` serves ``prometheus_client``'s WSGI exposition app
(threaded, on a daemon thread) from a registry of its own (not the process-wide default,
so two endpoints never collide) and registers an OpenTelemetry ``PrometheusMetricReader``
in it; any ``MeterProvider`` given that reader (``endpoint.reader``) is exported there.
Scraping runs on the server's thread and only reads the SDK's aggregates, never scheduler
state.

The server binds 127.0.0.1 unless told otherwise: exposing it on another address needs
``allow_remote=True``, since anyone who can reach the port can read it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ._metrics import MetricsObserver, check_prefix, require_telemetry
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
    from prometheus_client import CollectorRegistry

__all__ = ["PrometheusEndpoint", "check_bind_host", "prometheus_observer", "serve_prometheus"]


_log = logging.getLogger("ecs.trace.prometheus")


class _QuietHandler(WSGIRequestHandler):
    """Serves scrapes without printing a line per request to stderr."""

    timeout = CONNECTION_TIMEOUT  # an idle or stalled scraper frees its thread

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _server_class(host: str) -> type[WSGIServer]:
    from prometheus_client.exposition import ThreadingWSGIServer

    class Server(BoundedThreadingServer, ThreadingWSGIServer):
        logger = _log
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return Server


class PrometheusEndpoint:
    """A running ``/metrics`` HTTP server (returned by :func:`serve_prometheus`)."""

    def __init__(self, server: Any, thread: threading.Thread, registry: CollectorRegistry, reader: Any) -> None:
        self._server = server
        self._thread = thread
        #: The ``prometheus_client`` registry served at ``/metrics``.
        self.registry = registry
        #: The OpenTelemetry ``PrometheusMetricReader``: give it to a ``MeterProvider``.
        self.reader = reader
        self.host: str = server.server_address[0]
        self.port: int = server.server_address[1]
        self._on_close: list[Callable[[], None]] = []
        self.closed = False

    @property
    def url(self) -> str:
        """The scrape URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        return http_url(self.host, self.port, "/metrics")

    def close(self) -> None:
        """Stop serving (and stop the observer :func:`prometheus_observer` made with it)."""
        if self.closed:
            return
        self.closed = True
        stop_serving(self._server, self._thread)
        for fn in self._on_close:
            fn()

    def __enter__(self) -> PrometheusEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PrometheusEndpoint {self.url}{' closed' if self.closed else ''}>"


def serve_prometheus(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    registry: CollectorRegistry | None = None,
    allow_remote: bool = False,
) -> PrometheusEndpoint:
    """Serve Prometheus metrics over HTTP on ``host:port`` (0 picks a free port: read ``.port``).

    ``registry`` defaults to a fresh ``CollectorRegistry``; pass
    ``prometheus_client.REGISTRY`` to serve the process-wide one (with its process and
    garbage-collector metrics) instead. The returned endpoint's ``reader`` is an
    OpenTelemetry ``PrometheusMetricReader`` registered in that registry.

    A ``port`` outside 0..65535 is refused with a TypeError/ValueError naming it. Connections
    time out after :data:`~ecs.trace._net.CONNECTION_TIMEOUT` seconds of silence and at most
    :data:`~ecs.trace._net.MAX_CONNECTIONS` are served at once.
    """
    require_telemetry("serve_prometheus")
    check_bind_host(host, allow_remote, "the Prometheus endpoint")
    port = check_port(port, "the Prometheus endpoint")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, make_wsgi_app

    reg = registry if registry is not None else CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(registry=reg)
    server = make_server(host, port, make_wsgi_app(reg), _server_class(host), handler_class=_QuietHandler)
    return PrometheusEndpoint(server, serve_in_thread(server, "ecs-prometheus-http"), reg, reader)


def prometheus_observer(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    allow_remote: bool = False,
    prefix: str = "ecs",
    service_name: str = "ecs-scheduler",
) -> tuple[MetricsObserver, PrometheusEndpoint]:
    """A :class:`MetricsObserver` wired to a new ``/metrics`` endpoint: ``(observer, endpoint)``.

    The observer owns a ``MeterProvider`` whose only reader is the endpoint's; closing the
    endpoint shuts that provider down too. Arguments are checked before the server starts
    (a ``prefix`` must be a valid OpenTelemetry instrument-name start, see
    :class:`MetricsObserver`), and if building the observer fails anyway the server is closed
    again: a failed call leaves no port bound.
    """
    require_telemetry("prometheus_observer")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    check_prefix(prefix)
    if not isinstance(service_name, str):
        raise TypeError(f"prometheus_observer: service_name must be a str, got {service_name!r}")
    endpoint = serve_prometheus(port, host, allow_remote=allow_remote)
    provider: Any = None
    try:
        provider = MeterProvider(
            metric_readers=[endpoint.reader],
            resource=Resource.create({"service.name": service_name}),
            shutdown_on_exit=False,
        )
        observer = MetricsObserver(provider, prefix=prefix)
        observer._own(provider)
    except BaseException:
        if provider is not None:
            provider.shutdown()
        endpoint.close()
        raise

    def stop_observer() -> None:
        observer.shutdown()

    endpoint._on_close.append(stop_observer)
    return observer, endpoint
