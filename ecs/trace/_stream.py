"""The live stream: trace events over TCP, to any number of profilers, without slowing the game.

The server is a :class:`~ecs.SchedulerObserver`. It listens as soon as it is built (on
127.0.0.1 by default; port 0 picks a free port)::

    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    print("profile me at", server.address)      # "127.0.0.1:53127"
    sched.run(ticks=10_000, dt=1 / 60)
    sched.close()                                # sends the end line, closes the server

and a client reads the same events a trace file holds::

    with LiveStreamClient("127.0.0.1", port) as client:
        builder = TraceBuilder(client.header)
        for event in client:                     # dicts: tick, mark, stream (status), end
            builder.add(event)

Wire format (UTF-8, one JSON object per line, the schema of ``_schema.py``): the server sends
the header first on every connection, then tick and mark lines as they happen, a status line
``{"type": "stream", "t": ns, "dropped": N, "clients": K, "sent": S, ...}`` every
``status_interval`` seconds, and ``{"type": "end", ...}`` when the scheduler closes. A client
may send control lines of at most :data:`MAX_CONTROL_BYTES`, such as
``{"type": "hello", "client": "ecs-profiler"}``; unknown types are ignored, malformed ones
are counted in ``stats.rejected``, and an oversized one disconnects that client.

How the game stays fast: ``on_tick`` runs on the game thread and only encodes the tick and
puts the line into a bounded queue (``queue_size``); when the queue is full the line is
dropped and counted, never waited for. With no client connected it does not even encode.
One background thread accepts clients, reads their control lines and fans lines out; each
client has its own bounded queue (``client_queue``), so a client that reads slowly loses
lines (counted) and never holds up the game or the other clients.

Nothing here executes data: lines are JSON, sizes are bounded on both sides, and binding an
address other than loopback needs ``allow_remote=True``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import numbers
import queue
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from .._checks import check_count, is_finite_real
from .._errors import TraceFormatError
from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._net import check_bind_host, check_port
from ._reader import MAX_LINE_BYTES, TraceReader
from ._schema import Encoder, line_encoder

__all__ = ["MAX_CONTROL_BYTES", "LiveStreamClient", "LiveStreamServer", "StreamStats"]

#: Longest control line a client may send (the newline included); longer ones disconnect it.
MAX_CONTROL_BYTES: Final = 4096
_SEND_CHUNK: Final = 64 * 1024  # bytes joined into one send() call
_SNDBUF: Final = 256 * 1024  # kernel send buffer per client: bounds what a stalled client holds
_LINGER: Final = 1.0  # seconds the closing server keeps sending queued lines to clients
#: Longest ``status_interval`` (and client ``timeout``) accepted, in seconds: a day.
MAX_INTERVAL: Final = 86_400.0

_log = logging.getLogger("ecs.trace.stream")

try:  # orjson parses 3-5x faster; used when installed
    import orjson

    _loads: Any = orjson.loads
    _DecodeError: Any = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _loads = json.loads
    _DecodeError = (json.JSONDecodeError, UnicodeDecodeError)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """A snapshot of a :class:`LiveStreamServer`'s counters (``server.stats``)."""

    sent: int  # lines fully written to client sockets, summed over clients
    dropped: int  # lines lost: the server queue was full, or a client's own queue was
    clients: int  # clients connected now
    rejected: int  # malformed or oversized control lines, and connections refused (too many clients)
    connections: int  # connections accepted since the server started
    events: int = 0  # tick and mark lines the scheduler produced
    unheard: int = 0  # of those, produced while no client was connected (neither sent nor dropped)


class _Client:
    """Server-side state of one connection."""

    __slots__ = ("addr", "chunk_lines", "dropped", "inbuf", "lines", "name", "out", "sock", "writing")

    def __init__(self, sock: socket.socket, addr: str) -> None:
        self.sock = sock
        self.addr = addr
        self.name = ""
        self.lines: deque[bytes] | None = None  # None until it has been given the header
        self.out = memoryview(b"")  # the part of the current chunk not yet sent
        self.chunk_lines = 0
        self.inbuf = bytearray()
        self.dropped = 0
        self.writing = False  # registered for EVENT_WRITE


def _check_seconds(owner: str, name: str, value: Any) -> float:
    """``value`` as seconds in (0, MAX_INTERVAL], or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number of seconds > 0 and <= {MAX_INTERVAL:g}, got {value!r}")
    if not (is_finite_real(value) and 0 < value <= MAX_INTERVAL):
        raise ValueError(f"{owner}: {name} must be a number of seconds > 0 and <= {MAX_INTERVAL:g}, got {value!r}")
    return float(value)


class LiveStreamServer(SchedulerObserver):
    """Streams a scheduler's trace events to TCP clients (see the module docstring).

    Arguments are checked before the socket is bound: a ``port`` outside 0..65535, counts
    that are not ints >= 1 and a ``status_interval`` that is not a number of seconds in
    (0, :data:`MAX_INTERVAL`] raise a TypeError/ValueError naming them. If the server thread
    ever fails, the exception is kept in :attr:`error` and logged on ``ecs.trace.stream``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        queue_size: int = 4096,
        client_queue: int = 1024,
        status_interval: float = 1.0,
        max_clients: int = 64,
    ) -> None:
        check_bind_host(host, allow_remote, "the live stream")
        port = check_port(port, "the live stream")
        queue_size = check_count("LiveStreamServer", "queue_size", queue_size)
        client_queue = check_count("LiveStreamServer", "client_queue", client_queue)
        max_clients = check_count("LiveStreamServer", "max_clients", max_clients)
        # select() overflows on an infinite or enormous timeout, killing the server thread
        status_interval = _check_seconds("LiveStreamServer", "status_interval", status_interval)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        self._sock = socket.create_server((host, port), family=family, backlog=16)
        try:
            self._sock.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
        except BaseException:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self._client_queue = client_queue
        self._status_interval = status_interval
        self._max_clients = max_clients
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_size)
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        self._encoder: Encoder | None = None
        self._dumps = line_encoder()
        self._header: bytes | None = None
        self._stop = threading.Event()
        self._closed = False
        self._last_t = 0
        self._ticks = 0
        # Counters: each is written by one thread only (game thread or server thread), so no lock.
        self._events = 0
        self._unheard = 0
        self._dropped_queue = 0
        self._dropped_clients = 0
        self._sent = 0
        self._rejected = 0
        self._connections = 0
        self._n_clients = 0
        self._clients: list[_Client] = []
        #: The exception that stopped the server thread, if any (the game is never interrupted).
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"ecs-live-stream-{self.port}", daemon=True)
        self._thread.start()

    # -- public ------------------------------------------------------------------------------------
    @property
    def stats(self) -> StreamStats:
        return StreamStats(
            sent=self._sent,
            dropped=self._dropped_queue + self._dropped_clients,
            clients=self._n_clients,
            rejected=self._rejected,
            connections=self._connections,
            events=self._events,
            unheard=self._unheard,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> LiveStreamServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LiveStreamServer {self.address} {self.stats}>"

    def close(self, timeout: float = 2.0) -> None:
        """Send the end line (when a scheduler was attached), flush briefly, and stop listening."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        self._thread.join(timeout)

    # -- observer (game thread) ---------------------------------------------------------------------
    def on_start(self, info: SchedulerInfo) -> None:
        if self._encoder is not None or self._closed:
            return  # one header per server; a second scheduler needs its own server
        self._encoder = Encoder(info)
        header = self._encoder.header(stream={"status_interval": self._status_interval})
        self._header = self._dumps(header)
        self._last_t = info.start_ns
        self._wake()

    def on_tick(self, summary: TickSummary) -> None:
        if self._encoder is None or self._closed:
            return
        self._events += 1
        self._ticks += 1
        self._last_t = summary.end_ns
        if not self._n_clients:
            self._unheard += 1  # nobody listens: skip the encoding altogether
            return
        self._put(self._dumps(self._encoder.tick(summary)))

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        if self._encoder is None or self._closed:
            return
        self._events += 1
        if not self._n_clients:
            self._unheard += 1
            return
        self._put(self._dumps(Encoder.mark(tick, name, t_ns, data)))

    def on_close(self) -> None:
        self.close()

    def _put(self, line: bytes) -> None:
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self._dropped_queue += 1
            return
        if not self._wake_pending:
            self._wake()

    def _wake(self) -> None:
        self._wake_pending = True
        with contextlib.suppress(OSError):  # a full wake-up buffer means a wake-up is pending anyway
            self._wake_w.send(b"\0")

    # -- server thread ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        next_status = time.monotonic() + self._status_interval
        try:
            while not self._stop.is_set():
                timeout = max(0.0, next_status - time.monotonic())
                for key, mask in sel.select(timeout):
                    if key.fileobj is self._sock:
                        self._accept(sel)
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        client: _Client = key.data
                        if mask & selectors.EVENT_READ:
                            self._read(sel, client)
                        if mask & selectors.EVENT_WRITE and client in self._clients:
                            self._send(sel, client)
                self._fan_out(sel)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self._status_interval
                    self._status(sel)
            self._finish(sel)
        except Exception as exc:  # noqa: BLE001 - a bug here must not vanish with the thread
            self.error = exc
            _log.error("the live stream on %s stopped", self.address, exc_info=True)
        finally:
            for c in list(self._clients):
                self._drop(sel, c)
            sel.close()
            self._sock.close()
            self._wake_r.close()
            self._wake_w.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        while True:
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. too many open files: try again on the next readiness
            if len(self._clients) >= self._max_clients:
                self._rejected += 1
                sock.close()
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
            client = _Client(sock, f"{addr[0]}:{addr[1]}")
            self._clients.append(client)
            self._connections += 1
            self._n_clients = len(self._clients)
            sel.register(sock, selectors.EVENT_READ, client)
            self._give_header(sel, client)

    def _give_header(self, sel: selectors.BaseSelector, client: _Client) -> None:
        if client.lines is not None or self._header is None:
            return
        client.lines = deque([self._header])
        self._send(sel, client)

    def _read(self, sel: selectors.BaseSelector, client: _Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(sel, client)
            return
        if not data:
            self._drop(sel, client)
            return
        buf = client.inbuf
        buf += data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) >= MAX_CONTROL_BYTES:
                    self._rejected += 1  # an oversized control line: this client is not a friendly tool
                    self._drop(sel, client)
                return
            line = bytes(buf[: nl + 1])
            del buf[: nl + 1]
            if len(line) > MAX_CONTROL_BYTES:
                self._rejected += 1
                self._drop(sel, client)
                return
            self._control(line)

    def _control(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            obj = _loads(line)
        except _DecodeError:
            self._rejected += 1
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            self._rejected += 1
            return
        # "hello" names the client; nothing else is defined yet, and unknown types are ignored
        # so that newer profilers can talk to older games.

    def _enqueue(self, client: _Client, line: bytes) -> None:
        lines = client.lines
        if lines is None:
            return  # still waiting for the header: the stream starts after it
        if len(lines) >= self._client_queue:
            client.dropped += 1
            self._dropped_clients += 1
            return
        lines.append(line)

    def _fan_out(self, sel: selectors.BaseSelector) -> None:
        if self._header is not None:
            for c in self._clients:
                if c.lines is None:
                    self._give_header(sel, c)
        # Clear the flag *before* draining: a line put after this point sends a fresh wake-up
        # byte, and a line put before it is drained below. (Clearing it when the wake-up byte is
        # read instead loses wake-ups: one recv can swallow the bytes of two puts, the flag
        # stays set, and later puts would wait for the status timeout.)
        self._wake_pending = False
        got = False
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            got = True
            for c in self._clients:
                self._enqueue(c, line)
        if got:
            for c in list(self._clients):
                self._send(sel, c)

    def _status(self, sel: selectors.BaseSelector) -> None:
        if not self._clients:
            return
        s = self.stats
        line = {
            "type": "stream",
            "t": self._last_t,
            "dropped": s.dropped,
            "clients": s.clients,
            "sent": s.sent,
            "rejected": s.rejected,
            "events": s.events,
        }
        data = self._dumps(line)
        for c in list(self._clients):
            self._enqueue(c, data)
            self._send(sel, c)

    def _send(self, sel: selectors.BaseSelector, client: _Client) -> None:
        """Write as much as the socket takes without blocking; ask for EVENT_WRITE when it is full."""
        lines = client.lines
        while True:
            if not client.out:
                if client.chunk_lines:
                    self._sent += client.chunk_lines
                    client.chunk_lines = 0
                if not lines:
                    break
                parts: list[bytes] = []
                size = 0
                while lines and size < _SEND_CHUNK:
                    part = lines.popleft()
                    parts.append(part)
                    size += len(part)
                client.out = memoryview(b"".join(parts))
                client.chunk_lines = len(parts)
            try:
                n = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(sel, client)
                return
            client.out = client.out[n:]
        want_write = bool(client.out) or bool(lines)
        if want_write != client.writing:
            client.writing = want_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
            with contextlib.suppress(KeyError, ValueError, OSError):
                sel.modify(client.sock, events, client)

    def _drop(self, sel: selectors.BaseSelector, client: _Client) -> None:
        if client not in self._clients:
            return
        self._clients.remove(client)
        self._n_clients = len(self._clients)
        with contextlib.suppress(KeyError, ValueError, OSError):
            sel.unregister(client.sock)
        with contextlib.suppress(OSError):
            client.sock.close()

    def _finish(self, sel: selectors.BaseSelector) -> None:
        """Closing: pass on what is queued, then the end line, for at most ``_LINGER`` seconds."""
        self._fan_out(sel)
        if self._encoder is not None:
            end = Encoder.end(self._ticks, self._dropped_queue + self._dropped_clients)
            data = self._dumps(end)
            for c in list(self._clients):
                if c.lines is not None:
                    c.lines.append(data)  # past the bound on purpose: the end line is never dropped
                self._send(sel, c)
        deadline = time.monotonic() + _LINGER
        while any(c.out or c.lines for c in self._clients) and time.monotonic() < deadline:
            for key, mask in sel.select(max(0.0, deadline - time.monotonic())):
                if isinstance(key.data, _Client) and key.data in self._clients:
                    if mask & selectors.EVENT_WRITE:
                        self._send(sel, key.data)
                    if mask & selectors.EVENT_READ and key.data in self._clients:
                        self._read(sel, key.data)
                elif key.fileobj is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                elif key.fileobj is self._sock:
                    with contextlib.suppress(OSError):
                        self._sock.accept()[0].close()  # too late to join
        for c in list(self._clients):
            self._goodbye(c)

    @staticmethod
    def _goodbye(client: _Client) -> None:
        """End a connection so that what was sent arrives: read what the client sent, then FIN.

        Closing a socket with unread input (a hello line that came in while we were shutting
        down) makes the kernel send a reset, and a reset can destroy data the client has not
        read yet, such as the end line.
        """
        sock = client.sock
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more to read
            for _ in range(16):
                if not sock.recv(65536):
                    break
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)


class LiveStreamClient:
    """Reads a live stream: the header on connect, then events as dicts (see the module docstring).

    ``timeout`` (seconds) bounds the connection and each wait for data; the server sends a
    status line every second or so, so silence longer than that means it hung, and iteration
    raises :class:`TimeoutError`. Iteration ends after the ``end`` event or when the server
    goes away. Lines that are not JSON event objects are skipped and counted in ``rejected``;
    lines longer than ``max_line`` bytes are skipped and counted in ``oversized``;
    ``max_garbage_run`` unreadable lines in a row end the iteration with
    :class:`~ecs.TraceFormatError`. :meth:`shutdown` may be called from another thread to
    stop a blocked read. A ``port`` outside 0..65535, a ``timeout`` that is not a number of
    seconds in (0, :data:`MAX_INTERVAL`] and counts that are not ints >= 1 raise a
    TypeError/ValueError naming them before connecting.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 5.0,
        max_line: int = MAX_LINE_BYTES,
        client_name: str = "ecs-trace",
        max_garbage_run: int = 100,
    ) -> None:
        if not isinstance(host, str):
            raise TypeError(f"LiveStreamClient: host must be a str, got {host!r}")
        port = check_port(port, "LiveStreamClient")
        timeout = _check_seconds("LiveStreamClient", "timeout", timeout)
        max_line = check_count("LiveStreamClient", "max_line", max_line)
        max_garbage_run = check_count("LiveStreamClient", "max_garbage_run", max_garbage_run)
        self.max_garbage_run = max_garbage_run
        self.rejected = 0
        self.oversized = 0
        self.events = 0
        self.complete = False
        self.status: dict[str, Any] | None = None  # the last "stream" status line
        self._max = max_line
        self._buf = bytearray()
        self._scan = 0
        self._skipping = False
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self.address = f"{host}:{port}"
        try:
            hello = json.dumps({"type": "hello", "client": client_name}).encode("utf-8") + b"\n"
            with contextlib.suppress(OSError):
                self._sock.sendall(hello)
            line = self._line()
            if line is None:
                raise TraceFormatError(f"{self.address} closed the connection before sending an ecs-trace header")
            try:
                self.header: dict[str, Any] = TraceReader(io.BytesIO(line)).header
            except TraceFormatError as exc:
                raise TraceFormatError(f"{self.address} is not a compatible ecs-trace live stream: {exc}") from None
        except BaseException:
            self._sock.close()
            raise

    def __enter__(self) -> LiveStreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shutdown(self) -> None:
        """Stop the connection from any thread: a read blocked in another thread returns at once.

        Then call :meth:`close` (from the reading thread, or after it finished).
        """
        with contextlib.suppress(OSError):  # already closed by the peer: nothing to wake
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()

    def _line(self) -> bytes | None:
        """The next complete line (newline included), or None at the end of the stream."""
        buf = self._buf
        while True:
            nl = buf.find(b"\n", self._scan)
            if nl >= 0:
                line = bytes(buf[: nl + 1])
                del buf[: nl + 1]
                self._scan = 0
                if self._skipping:  # the tail of an oversized line
                    self._skipping = False
                    continue
                if len(line) > self._max:
                    self.oversized += 1
                    continue
                return line
            self._scan = len(buf)
            if len(buf) > self._max:
                if not self._skipping:
                    self.oversized += 1
                self._skipping = True
                buf.clear()
                self._scan = 0
            try:
                data = self._sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                data = b""  # a server that went away abruptly: the end of the stream, as a close is
            if not data:
                if buf.strip() and not self._skipping:
                    self.rejected += 1  # a last line cut in the middle
                buf.clear()
                return None
            buf += data

    def __iter__(self) -> Iterator[dict[str, Any]]:
        bad_run = 0
        while not self.complete:
            line = self._line()
            if line is None:
                return
            if not line.strip():
                continue
            try:
                obj = _loads(line)
            except _DecodeError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                self.rejected += 1
                bad_run += 1
                if bad_run >= self.max_garbage_run:
                    # A peer that only sends garbage would otherwise keep us reading forever.
                    raise TraceFormatError(
                        f"{self.address} sent {bad_run} unreadable lines in a row; not an ecs-trace stream"
                    )
                continue
            bad_run = 0
            self.events += 1
            kind = obj["type"]
            if kind == "stream":
                self.status = obj
            elif kind == "end":
                self.complete = True
            yield obj
