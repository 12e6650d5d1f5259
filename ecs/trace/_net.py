"""Small network helpers shared by the servers in ``ecs.trace`` (stream, Prometheus, debug)."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

__all__ = ["check_bind_host", "http_url", "serve_in_thread", "stop_serving"]


def check_bind_host(host: str, allow_remote: bool, what: str = "this endpoint") -> None:
    """Refuse to listen on a non-loopback address unless ``allow_remote`` is true.

    Every listener in the library binds 127.0.0.1 by default: a game's telemetry should not
    become reachable from the network because someone typed 0.0.0.0. A host *name* other
    than ``localhost`` may resolve to anything, so it needs ``allow_remote`` too.
    """
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


def http_url(host: str, port: int, path: str = "") -> str:
    """``http://host:port/path``, with IPv6 hosts in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


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
