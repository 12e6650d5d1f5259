"""Small network helpers shared by the servers in ``ecs.trace`` (stream, Prometheus, debug)."""

from __future__ import annotations

import ipaddress
import logging
import sys
import threading
from typing import Any, Final

from .._checks import is_int

__all__ = [
    "CONNECTION_TIMEOUT",
    "MAX_CONNECTIONS",
    "BoundedThreadingServer",
    "check_bind_host",
    "check_port",
    "http_url",
    "parse_address",
    "serve_in_thread",
    "stop_serving",
]

#: Seconds an HTTP connection may sit idle (or stall mid-request) before its thread gives up on it.
CONNECTION_TIMEOUT: Final = 10.0
#: Connections an HTTP endpoint serves at once; more are closed as soon as they are accepted.
MAX_CONNECTIONS: Final = 32


def check_bind_host(host: str, allow_remote: bool, what: str = "this endpoint") -> None:
    """Refuse to listen on a non-loopback address unless ``allow_remote`` is true.

    Every listener in the library binds 127.0.0.1 by default: a game's telemetry should not
    become reachable from the network because someone typed 0.0.0.0. A host *name* other
    than ``localhost`` may resolve to anything, so it needs ``allow_remote`` too.
    """
    if not isinstance(host, str):
        raise TypeError(f"host for {what} must be a str such as '127.0.0.1', got {host!r}")
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"refusing to listen on {host!r} for {what}: it is not a loopback address; "
            "pass allow_remote=True to expose it to other machines"
        )


def check_port(port: Any, what: str = "this endpoint") -> int:
    """``port`` as a plain int, or a TypeError/ValueError naming it (0..65535; 0 picks a free port).

    Checked before anything binds: the socket layer's own errors ("Servname not supported",
    a bare TypeError) do not say which argument was wrong.
    """
    if not is_int(port):
        raise TypeError(f"port for {what} must be an int in 0..65535 (0 picks a free port), got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port for {what} must be in 0..65535 (0 picks a free port), got {port!r}")
    return int(port)


def parse_address(text: str, default_host: str = "127.0.0.1", *, connect: bool = False) -> tuple[str, int]:
    """``"PORT"``, ``":PORT"``, ``"HOST:PORT"`` or ``"[V6HOST]:PORT"`` -> ``(host, port)``.

    One reading of an address for every command line (``ecs-trace``, the demos, the
    profiler). ValueError naming ``text`` when it is malformed, the port is out of range
    (``connect=True``: 1..65535, as port 0 only makes sense to listen on), or the host is no
    name a resolver would accept (``a..b`` would otherwise fail later, inside the socket call,
    with a UnicodeError that names nothing).
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = default_host, text.strip()
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif not host:
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"not an address: {text!r} (expected PORT or HOST:PORT)") from None
    low = 1 if connect else 0
    if not low <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}: {port} (expected {low}..65535)")
    try:
        host.encode("idna")  # what socket.getaddrinfo does to a name first
    except UnicodeError as exc:
        raise ValueError(f"not a host name in {text!r}: {host!r} ({exc})") from None
    return host, port


def http_url(host: str, port: int, path: str = "") -> str:
    """``http://host:port/path``, with IPv6 hosts in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


class BoundedThreadingServer:
    """Mixin for a ``socketserver.ThreadingMixIn`` server that misbehaving clients cannot swamp.

    Put it first in the bases (``class S(BoundedThreadingServer, ThreadingHTTPServer)``) and
    give the handler a ``timeout`` (:data:`CONNECTION_TIMEOUT`) so that an idle connection
    ends. At most ``max_connections`` requests are served at once; further connections are
    closed on accept, so threads stay bounded however many sockets a client opens. Errors a
    handler raises (a client that hung up before its answer, a timeout) go to ``logger`` at
    DEBUG instead of socketserver's traceback on the game's stderr; anything else is logged
    as an error on the same logger.
    """

    max_connections: int = MAX_CONNECTIONS
    logger: logging.Logger = logging.getLogger("ecs.trace")
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.logger.debug("refused %s: %d connections are being served", client_address, self.max_connections)
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        try:
            super().process_request(request, client_address)  # type: ignore[misc]
        except BaseException:
            self._slots.release()  # the thread did not start: its slot is free again
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Called from inside the except block that caught the handler's exception.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # reset, broken pipe, timeout: the client's doing
            self.logger.debug("connection from %s ended: %r", client_address, exc)
        else:
            self.logger.error("request from %s failed", client_address, exc_info=True)


def serve_in_thread(server: Any, name: str) -> threading.Thread:
    """Run a ``socketserver`` server on a daemon thread.

    A short poll interval makes :func:`stop_serving` quick; between polls the thread idles in
    ``select()``.
    """
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return thread


def stop_serving(server: Any, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop a server started by :func:`serve_in_thread` and release its socket."""
    server.shutdown()
    server.server_close()
    thread.join(timeout=timeout)
