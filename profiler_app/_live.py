"""Live mode: follow a scheduler's live stream in a background thread, reconnecting by itself.

The stream (``ecs.trace.LiveStreamServer``; see ``docs/trace-format.md``) is newline-delimited
JSON of the trace schema over TCP: a header line on every (re)connect, then tick and mark
lines, ``{"type": "stream", ...}`` status lines carrying the server's drop count, and an
``end`` line when the scheduler closes. :class:`ecs.trace.LiveStreamClient` reads it with the
decoding rules of trace files; this module adds what a viewer needs around it.

The GUI never blocks on the network: :class:`LiveConnection` owns a reader thread that feeds a
:class:`~profiler_app._data.RollingWindow` (bounded memory), and a watchdog thread that
publishes an indexed :class:`~profiler_app._data.Capture` a few times a second and drops a
stream that sends garbage. The GUI only reads attributes::

    live = LiveConnection("127.0.0.1", 7777, capacity=10_000)
    live.start()
    ...
    cap = live.capture          # the latest published window (None before the first tick)
    live.status, live.message   # "connected" / "connecting" / "disconnected" / "rejected" / "failed" / "stopped"
    live.stop()

Bad input: a peer whose first line is not an ``ecs-trace`` header is dropped with a message
and not retried (it is not a profiler stream); single bad lines are skipped and counted in
``rejected``; ``MAX_GARBAGE_RUN`` bad lines in a row drop the stream the same way. A host
name that can never resolve (``a..b``, a label over 63 characters) is refused by
:func:`parse_address`, and by the thread as ``rejected`` if it gets that far. Whatever else
goes wrong in the background threads ends as status ``failed`` with a message naming the
address and the error: a thread never dies leaving a stale ``connecting`` behind.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Final

import orjson

from ecs import TraceFormatError
from ecs._checks import is_finite_real, is_int
from ecs.trace import LiveStreamClient
from ecs.trace._net import parse_address

from ._data import Capture, RollingWindow, index_capture, write_trace

__all__ = ["MAX_GARBAGE_RUN", "LiveConnection", "parse_address"]

#: Bad lines in a row after which a stream is considered garbage and dropped.
MAX_GARBAGE_RUN: Final = 20
#: Seconds of silence after which a connection is considered lost (servers send a status line every second).
READ_TIMEOUT: Final = 10.0


class LiveConnection:
    """A background connection to a live stream; see the module docstring.

    Attributes read by the GUI (plain assignments, safe to read from another thread):
    ``status``, ``message``, ``capture``, ``version`` (bumped on every publish),
    ``events_dropped`` (as reported by the server), ``rejected`` (bad lines skipped here),
    ``ticks_seen``, ``connects``.

    Arguments are checked here, before any thread starts: ``host`` a non-empty host name,
    ``port`` an int 1-65535, ``capacity`` an int >= 1, the delays and the timeout finite
    numbers of seconds > 0 (ValueError naming the argument; a negative or NaN timeout used
    to kill the reader thread and leave the status at "connecting" for good).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        capacity: int = 10_000,
        reconnect: bool = True,
        retry_delay: float = 0.25,
        max_retry_delay: float = 3.0,
        publish_interval: float = 0.2,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        address = f"{host}:{port}"
        if not isinstance(host, str) or not host:
            raise ValueError(f"LiveConnection: host must be a non-empty host name, got {host!r}")
        if not is_int(port) or not 0 < port < 65536:
            raise ValueError(f"LiveConnection: port must be an int from 1 to 65535, got {port!r}")
        parse_address(address, connect=True)  # a host name no resolver accepts ("a..b")
        if not is_int(capacity) or capacity < 1:
            raise ValueError(f"LiveConnection: capacity must be an int >= 1, got {capacity!r}")
        for name, seconds in (
            ("retry_delay", retry_delay),
            ("max_retry_delay", max_retry_delay),
            ("publish_interval", publish_interval),
            ("timeout", timeout),
        ):
            if not is_finite_real(seconds) or seconds <= 0:
                raise ValueError(f"LiveConnection: {name} must be a finite number of seconds > 0, got {seconds!r}")
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self.capacity = capacity
        self.reconnect = reconnect
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.publish_interval = publish_interval
        self.timeout = timeout
        self.status = "idle"
        self.message = ""
        self.capture: Capture | None = None
        self.version = 0
        self.events_dropped = 0
        self.rejected = 0
        self.ticks_seen = 0
        self.connects = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_watch = threading.Event()
        self._client: LiveStreamClient | None = None
        self._window: RollingWindow | None = None
        self._dirty = False
        self._garbage = False
        self._published_at = 0.0
        self._rejected_base = 0
        self._last_good_rejected = 0
        self._thread: threading.Thread | None = None

    # -- control (GUI thread) --------------------------------------------------------------------
    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._stop_watch.clear()
        self.status = "connecting"
        self._thread = threading.Thread(target=self._run, name=f"ecs-profiler live {self.address}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Disconnect and stop reconnecting; the last published capture stays readable."""
        self._stop.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown()  # wakes the reader thread blocked in recv()
        if self._thread is not None:
            self._thread.join(timeout)
        self.status = "stopped"
        self.message = f"disconnected from {self.address}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def save(self, path: str | os.PathLike[str]) -> int:
        """Write the retained ticks to a trace file (gzip when it ends in .gz); returns the tick count."""
        with self._lock:
            window = self._window
            if window is None:
                raise RuntimeError(f"nothing to save: no header received yet from {self.address}")
            header = dict(window.header)
            lines = window.lines()
            marks = list(window.marks)
        return write_trace(path, header, lines, marks)

    # -- the threads -------------------------------------------------------------------------------
    def _fail(self, exc: BaseException, where: str) -> None:
        """Make an unexpected error in a background thread visible, and stop the connection."""
        self.status = "failed"
        self.message = f"live connection to {self.address} failed in the {where}: {type(exc).__name__}: {exc}"
        self._stop.set()
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown()

    def _run(self) -> None:
        watchdog = threading.Thread(target=self._watch, name=f"ecs-profiler watchdog {self.address}", daemon=True)
        watchdog.start()
        try:
            self._connect_loop()
        except Exception as exc:  # noqa: BLE001 - never a dead thread with a stale "connecting"
            self._fail(exc, "reader")
        finally:
            self._stop_watch.set()
            watchdog.join(1.0)

    def _connect_loop(self) -> None:
        delay = self.retry_delay
        while not self._stop.is_set():
            self.status = "connecting"
            try:
                client = LiveStreamClient(self.host, self.port, timeout=self.timeout, client_name="ecs-profiler")
            except TraceFormatError as exc:
                if "before sending" not in str(exc):  # a peer that is not a profiler stream: do not retry
                    self.rejected += 1
                    self.status = "rejected"
                    self.message = f"{exc}; disconnected"
                    break
                self.status = "disconnected"
                self.message = f"{exc}; {'retrying' if self.reconnect else 'disconnected'}"
                if not self.reconnect or self._stop.wait(delay):
                    break
                continue
            except UnicodeError as exc:  # a host name no resolver accepts: retrying cannot help
                self.status = "rejected"
                self.message = f"cannot connect to {self.address}: not a valid host name ({exc}); disconnected"
                break
            except OSError as exc:
                self.status = "disconnected"
                then = "retrying" if self.reconnect else "disconnected"
                self.message = f"cannot connect to {self.address}: {exc.strerror or exc}; {then}"
                if not self.reconnect or self._stop.wait(delay):
                    break
                delay = min(self.max_retry_delay, delay * 2)
                continue
            delay = self.retry_delay
            self._client = client
            self.connects += 1
            try:
                keep_going = self._serve(client)
            finally:
                self._client = None
                client.close()
                self._publish(force=True)
            if not keep_going or not self.reconnect or self._stop.wait(delay):
                break
        if self._stop.is_set() and self.status != "failed":
            self.status = "stopped"

    def _serve(self, client: LiveStreamClient) -> bool:
        """Read one connection until it ends; returns False when the stream must not be retried."""
        self._on_header(client.header)
        self._rejected_base = self.rejected
        try:
            for event in client:
                self._last_good_rejected = client.rejected
                self.rejected = self._rejected_base + client.rejected
                self._on_event(event)
        except TraceFormatError:  # the client gave up on a run of garbage lines
            self.rejected = self._rejected_base + client.rejected
            self._garbage = True
            self.status = "rejected"
            self.message = f"{self.address} sent garbage ({client.rejected} bad lines); disconnected"
            return False
        except (OSError, ValueError) as exc:  # ValueError: a socket closed by the watchdog or stop()
            self.rejected = self._rejected_base + client.rejected
            if self._stop.is_set():
                return False
            if self._garbage:
                return False
            self.status = "disconnected"
            self.message = f"connection to {self.address} lost ({type(exc).__name__}); reconnecting"
            return True
        self.rejected = self._rejected_base + client.rejected
        if self._stop.is_set() or self._garbage:
            return False
        self.status = "disconnected"
        if client.complete:
            self.message = f"{self.address}: the scheduler closed the stream; waiting for it to return"
        else:
            self.message = f"{self.address} closed the connection; reconnecting"
        return True

    def _watch(self) -> None:
        """Publish snapshots while data flows, and drop a stream that only sends garbage."""
        try:
            self._watch_loop()
        except Exception as exc:  # noqa: BLE001 - no more snapshots would come: say so, not freeze
            self._fail(exc, "watchdog")

    def _watch_loop(self) -> None:
        while not self._stop_watch.wait(self.publish_interval / 2):
            self._publish()
            client = self._client
            if client is None:
                continue
            self.rejected = self._rejected_base + client.rejected
            if client.rejected - self._last_good_rejected >= MAX_GARBAGE_RUN:
                self._garbage = True
                self.status = "rejected"
                self.message = f"{self.address} sent garbage ({client.rejected} bad lines); disconnected"
                with contextlib.suppress(OSError):
                    client.shutdown()

    def _on_header(self, header: dict[str, Any]) -> None:
        with self._lock:
            old = self._window
            same = old is not None and _same_scheduler(old.header, header)
            if not same:
                self._window = RollingWindow(header, self.capacity)
                self.ticks_seen = 0
                self.capture = None
                self.version += 1
        self._garbage = False
        self._last_good_rejected = 0
        self.status = "connected"
        self.message = f"connected to {self.address}" + (" (resumed)" if same else "")

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in {"stream", "end"}:
            dropped = event.get("dropped")
            if isinstance(dropped, int) and not isinstance(dropped, bool):
                self.events_dropped = max(self.events_dropped, dropped) if kind == "end" else dropped
            return
        with self._lock:
            window = self._window
            if window is not None and window.add(event, orjson.dumps(event) if kind == "tick" else None):
                self.ticks_seen = window.ticks_seen
                self._dirty = True

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._dirty or (not force and now - self._published_at < self.publish_interval):
            return
        with self._lock:
            window = self._window
            data = window.snapshot() if window is not None else None
            self._dirty = False
        self._published_at = now
        if data is not None:
            self.capture = index_capture(data, f"live {self.address}")
            self.version += 1


def _same_scheduler(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """A reconnect to the same scheduler resumes the window; a different one starts afresh."""
    return all(a.get(k) == b.get(k) for k in ("start_ns", "groups", "systems", "world"))
