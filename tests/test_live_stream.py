"""The live stream: header first, many clients, slow and hostile clients, hostile servers."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecs
from ecs.trace import (
    MAX_CONTROL_BYTES,
    LiveStreamClient,
    LiveStreamServer,
    TraceBuilder,
    TraceRecorder,
    load_trace,
)
from ecs.trace._net import check_port

from ._factories import create_scheduler


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``pred()`` holds (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class Reader:
    """A client iterating in a background thread, keeping every event."""

    def __init__(self, port: int, **kw: Any) -> None:
        self.client = LiveStreamClient("127.0.0.1", port, **kw)
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for ev in self.client:
                self.events.append(ev)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def ticks(self) -> list[int]:
        return [e["tick"] for e in list(self.events) if e["type"] == "tick"]

    def types(self) -> list[str]:
        return [e["type"] for e in list(self.events)]

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error
        self.client.close()


@pytest.fixture
def sched() -> Iterator[ecs.Scheduler]:
    s = create_scheduler(with_async=False)
    yield s
    s.close()


def test_a_client_connecting_mid_run_gets_the_header_first(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    sched.run(10, 0.1)
    assert server.stats.unheard == 10, "with nobody listening, ticks are not even encoded"
    reader = Reader(server.port)
    assert reader.client.header["type"] == "header"
    assert [g["name"] for g in reader.client.header["groups"]] == ["physics", "spawn", "fragile"]
    sched.run(5, 0.1)
    sched.close()
    reader.join()
    assert reader.ticks() == [10, 11, 12, 13, 14]
    assert reader.types()[-1] == "end"
    assert reader.client.complete
    assert server.stats.dropped == 0


def test_two_clients_receive_the_same_events(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    a, b = Reader(server.port), Reader(server.port)
    wait_for(lambda: server.stats.clients == 2)
    sched.run(20, 0.1)
    sched.mark("checkpoint", n=1)
    sched.close()
    a.join()
    b.join()
    assert a.ticks() == b.ticks() == list(range(20))
    for r in (a, b):
        marks = [e for e in r.events if e["type"] == "mark"]
        assert [(m["name"], m["data"]) for m in marks] == [("checkpoint", {"n": 1})]
    assert server.stats.connections == 2
    assert server.stats.sent >= 2 * (1 + 20 + 1 + 1)


def test_a_client_can_disconnect_and_reconnect(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    first = LiveStreamClient("127.0.0.1", server.port)
    wait_for(lambda: server.stats.clients == 1)
    sched.run(3, 0.1)
    events = iter(first)
    assert [next(events)["tick"] for _ in range(3)] == [0, 1, 2]
    first.close()
    wait_for(lambda: server.stats.clients == 0)
    sched.run(2, 0.1)  # nobody listens
    again = Reader(server.port)
    assert again.client.header["schema"] == "ecs-trace"
    sched.run(2, 0.1)
    sched.close()
    again.join()
    assert again.ticks() == [5, 6]
    assert server.stats.connections == 2


def test_a_slow_client_loses_events_without_slowing_ticks_or_other_clients(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0, client_queue=128)
    sched.add_observer(server)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", server.port))  # and never reads
    good = Reader(server.port)
    wait_for(lambda: server.stats.clients == 2)
    total = 0
    for _ in range(30):
        sched.run(100, 0.1)
        total += 100
        wait_for(lambda n=total: len(good.ticks()) == n)  # the good client keeps up, burst after burst
    assert server.stats.dropped > 0, "the slow client's queue overflowed and was counted"
    sched.close()
    good.join()
    assert good.ticks() == list(range(3000)), "the good client lost nothing"
    slow.close()


def test_every_line_wakes_the_fan_out_thread(sched: ecs.Scheduler) -> None:
    """Lines go out as they come, not at the next status line (a lost wake-up would stall 30 s)."""
    server = LiveStreamServer(port=0, status_interval=30)
    sched.add_observer(server)
    reader = Reader(server.port)
    wait_for(lambda: server.stats.clients == 1)
    for n in range(10, 2001, 10):  # bursts: two lines queued while the thread wakes up
        sched.run(10, 0.1)
        wait_for(lambda n=n: len(reader.ticks()) == n)
    sched.close()
    reader.join()


def test_a_full_server_queue_drops_and_counts_instead_of_blocking(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0, queue_size=1)
    sched.add_observer(server)
    reader = Reader(server.port)
    wait_for(lambda: server.stats.clients == 1)
    # The tick loop holds the GIL for whole switch intervals, so the fan-out thread cannot
    # drain a one-line queue in time: lines are dropped rather than waited for.
    sched.run(2000, 0.1)
    assert server.stats.dropped > 0
    sched.close()
    reader.join()
    assert len(reader.ticks()) + server.stats.dropped == 2000
    assert reader.ticks() == sorted(reader.ticks())


def test_garbage_and_oversized_control_lines_are_rejected_and_others_keep_being_served(
    sched: ecs.Scheduler,
) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    good = Reader(server.port)
    bad = socket.create_connection(("127.0.0.1", server.port))
    wait_for(lambda: server.stats.clients == 2)
    bad.sendall(b'not json\n[1, 2]\n{"type": 5}\n{"type": "from-the-future"}\n\n')
    wait_for(lambda: server.stats.rejected == 3)  # the unknown type and the blank line are ignored
    sched.run(5, 0.1)
    bad.sendall(b"x" * (MAX_CONTROL_BYTES + 10))
    wait_for(lambda: server.stats.rejected == 4 and server.stats.clients == 1)
    sched.run(5, 0.1)
    sched.close()
    good.join()
    assert good.ticks() == list(range(10))
    bad.close()


def test_a_control_line_just_over_the_limit_is_rejected_even_with_its_newline(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    bad = socket.create_connection(("127.0.0.1", server.port))
    wait_for(lambda: server.stats.clients == 1)
    line = json.dumps({"type": "hello", "client": "x" * MAX_CONTROL_BYTES}).encode() + b"\n"
    bad.sendall(line)
    wait_for(lambda: server.stats.rejected == 1 and server.stats.clients == 0)
    bad.close()
    server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
def test_binding_beyond_loopback_needs_allow_remote(host: str) -> None:
    with pytest.raises(ValueError, match="allow_remote=True") as info:
        LiveStreamServer(host, 0)
    assert repr(host) in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_addresses_need_no_option(host: str) -> None:
    with LiveStreamServer(host, 0) as server:
        assert server.port > 0
        assert server.address == f"{host}:{server.port}"


def test_allow_remote_binds_all_interfaces_when_asked() -> None:
    with LiveStreamServer("0.0.0.0", 0, allow_remote=True) as server:
        assert server.port > 0
        with socket.create_connection(("127.0.0.1", server.port)):
            wait_for(lambda: server.stats.connections == 1)


def test_bad_server_options_are_refused() -> None:
    with pytest.raises(ValueError, match="status_interval"):
        LiveStreamServer(status_interval=0)
    with pytest.raises(ValueError, match="queue_size"):
        LiveStreamServer(queue_size=0)


def test_status_lines_report_the_server_counters(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0, status_interval=0.02)
    sched.add_observer(server)
    reader = Reader(server.port)
    sched.run(3, 0.1)
    wait_for(lambda: "stream" in reader.types())
    sched.close()
    reader.join()
    status = next(e for e in reader.events if e["type"] == "stream")
    assert {"t", "dropped", "clients", "sent"} <= status.keys()
    assert status["clients"] == 1
    assert reader.client.status is not None


def test_a_client_before_the_scheduler_waits_for_the_header() -> None:
    server = LiveStreamServer(port=0)
    holder: dict[str, Any] = {}

    def connect() -> None:
        holder["client"] = LiveStreamClient("127.0.0.1", server.port, timeout=10)

    t = threading.Thread(target=connect)
    t.start()
    wait_for(lambda: server.stats.clients == 1)
    sched = create_scheduler(with_async=False)
    sched.add_observer(server)
    t.join(10)
    client: LiveStreamClient = holder["client"]
    sched.run(2, 0.1)
    sched.close()
    assert [e["type"] for e in client if e["type"] != "stream"] == ["tick", "tick", "end"]
    client.close()


def test_a_server_closed_before_any_scheduler_gives_a_clear_error() -> None:
    server = LiveStreamServer(port=0)
    holder: dict[str, Any] = {}

    def connect() -> None:
        try:
            LiveStreamClient("127.0.0.1", server.port, timeout=10)
        except ecs.TraceFormatError as exc:
            holder["error"] = exc

    t = threading.Thread(target=connect)
    t.start()
    wait_for(lambda: server.stats.clients == 1)
    server.close()
    t.join(10)
    assert "before sending an ecs-trace header" in str(holder["error"])
    server.close()  # idempotent
    assert server.closed


def test_stream_events_build_the_same_columns_as_the_recorded_file(tmp_path: Path, sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    path = tmp_path / "same.jsonl"
    sched.add_observer(TraceRecorder(path))
    reader = Reader(server.port)
    sched.run(8, 0.1)
    sched.close()
    reader.join()
    builder = TraceBuilder(reader.client.header)
    for ev in reader.events:
        builder.add(ev)
    live = builder.build()
    recorded = load_trace(path)
    assert live.complete and recorded.complete
    assert len(live) == len(recorded) == 8
    assert not live.warnings and not recorded.warnings
    assert live.tick_start.tolist() == recorded.tick_start.tolist()
    assert live.groups.tolist() == recorded.groups.tolist()
    assert live.systems.tolist() == recorded.systems.tolist()


# -- a hostile server --------------------------------------------------------------------------------------
def fake_server(lines: list[bytes]) -> tuple[int, threading.Thread]:
    """A one-shot TCP server that sends ``lines`` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # the client may hang up first: that is its right
            conn.settimeout(5)
            conn.recv(4096)  # the client's hello: unread data would turn our close into a reset
            for line in lines:
                conn.sendall(line)
        listener.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return port, t


def header_line(**over: Any) -> bytes:
    sched = create_scheduler(with_async=False)
    from ecs.trace import Encoder

    h = Encoder(sched.info).header()
    sched.close()
    h.update(over)
    return json.dumps(h).encode() + b"\n"


def test_the_client_skips_and_counts_garbage_from_a_server() -> None:
    tick = {"type": "tick", "tick": 0, "start": 1, "end": 2, "groups": [], "systems": [], "phases": []}
    header = header_line()
    limit = len(header) + 100
    lines = [
        header,
        b"garbage\n",
        b"[1, 2, 3]\n",
        b'{"no_type": 1}\n',
        b"\xff\xfe not utf-8\n",
        b"y" * (limit + 1) + b"\n",  # oversized
        b"z" * (3 * limit),
        b"\n",  # oversized and arriving in pieces
        json.dumps(tick).encode() + b"\n",
        b'{"type": "end", "ticks": 1}\n',
    ]
    port, t = fake_server(lines)
    with LiveStreamClient("127.0.0.1", port, max_line=limit) as client:
        events = list(client)
    t.join(5)
    assert [e["type"] for e in events] == ["tick", "end"]
    assert client.rejected == 4
    assert client.oversized == 2
    assert client.complete


def test_the_client_counts_a_last_line_cut_short() -> None:
    port, t = fake_server([header_line(), b'{"type": "tick", "tick"'])
    with LiveStreamClient("127.0.0.1", port) as client:
        assert list(client) == []
    t.join(5)
    assert client.rejected == 1
    assert not client.complete


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (b'{"type": "header", "schema": "something-else", "version": [1, 0]}\n', "not an ecs-trace"),
        (b"this is not json\n", "not a compatible ecs-trace live stream"),
        (b'{"type": "tick"}\n', "not an ecs-trace"),
        (None, "newer than this reader"),
    ],
)
def test_the_client_refuses_a_stream_that_is_not_ecs_trace(first: bytes | None, message: str) -> None:
    line = first if first is not None else header_line(version=[2, 0])
    port, t = fake_server([line])
    with pytest.raises(ecs.TraceFormatError, match=message):
        LiveStreamClient("127.0.0.1", port)
    t.join(5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h["systems"].__setitem__(0, 5), "systems[0] must be an object, got int"),
        (lambda h: h["groups"].__setitem__(0, []), "groups[0] must be an object, got list"),
        (lambda h: h["groups"][0].__setitem__("order", [1]), "groups[0].order must be an int, got list"),
    ],
    ids=["systems[0]=5", "groups[0]=[]", "order=[1]"],
)
def test_the_client_refuses_a_header_with_a_bad_table_entry(change: Callable[..., object], message: str) -> None:
    """The same check as for files: found on connect, not later by whatever reads the tables."""
    header = json.loads(header_line())
    change(header)
    tick = {"type": "tick", "tick": 0, "start": 1, "end": 2, "groups": [], "systems": [], "phases": []}
    port, t = fake_server([json.dumps(header).encode() + b"\n", json.dumps(tick).encode() + b"\n"])
    with pytest.raises(ecs.TraceFormatError) as info:
        LiveStreamClient("127.0.0.1", port)
    t.join(5)
    assert str(info.value) == f"127.0.0.1:{port} is not a compatible ecs-trace live stream: trace header: {message}"


def test_the_client_times_out_on_a_silent_server() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(TimeoutError):
            LiveStreamClient("127.0.0.1", listener.getsockname()[1], timeout=0.2)
    finally:
        listener.close()


def test_on_tick_after_close_is_ignored(sched: ecs.Scheduler) -> None:
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    server.close()
    sched.tick(0.1)
    assert server.stats.events == 0
    assert "LiveStreamServer" in repr(server)


def test_a_peer_that_only_sends_garbage_is_dropped_after_a_run_of_bad_lines() -> None:
    import socket
    import threading

    from ecs.trace import LiveStreamClient

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    header = b'{"type":"header","schema":"ecs-trace","version":[1,0],"groups":[],"systems":[]}\n'

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(header + b"garbage\n" * 50)
            conn.recv(4096)  # wait for the client to hang up

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    client = LiveStreamClient("127.0.0.1", port, max_garbage_run=10)
    with pytest.raises(ecs.TraceFormatError, match="10 unreadable lines in a row"):
        list(client)
    assert client.rejected == 10
    client.shutdown()
    client.close()
    t.join(5)
    server.close()


# -- bad arguments ------------------------------------------------------------------------------------------
def stream_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ecs-live-stream") and t.is_alive()]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"status_interval": float("inf")}, ValueError, "status_interval must be a number of seconds > 0.* got inf"),
        ({"status_interval": 1e300}, ValueError, "status_interval .* got 1e\\+300"),
        ({"status_interval": float("nan")}, ValueError, "status_interval .* got nan"),
        ({"status_interval": "1"}, TypeError, "status_interval .* got '1'"),
        ({"queue_size": "5"}, TypeError, "queue_size must be an int >= 1, got '5'"),
        ({"queue_size": 2.5}, TypeError, "queue_size .* got 2.5"),
        ({"client_queue": 0}, ValueError, "client_queue .* got 0"),
        ({"max_clients": True}, TypeError, "max_clients .* got True"),
        ({"port": -1}, ValueError, "port for the live stream must be in 0..65535.* got -1"),
        ({"port": 70000}, ValueError, "port .* got 70000"),
        ({"port": "7777"}, TypeError, "port .* must be an int .* got '7777'"),
        ({"port": None}, TypeError, "port .* got None"),
        ({"host": None}, TypeError, "host for the live stream must be a str"),
    ],
)
def test_bad_server_arguments_are_refused_by_name_before_binding(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    before = stream_threads()
    with pytest.raises(error, match=message):
        LiveStreamServer(**kwargs)
    assert stream_threads() == before


@pytest.mark.parametrize(
    ("port", "kwargs", "error", "message"),
    [
        (1, {"timeout": -1}, ValueError, "timeout must be a number of seconds > 0.* got -1"),
        (1, {"timeout": float("nan")}, ValueError, "timeout .* got nan"),
        (1, {"timeout": float("inf")}, ValueError, "timeout .* got inf"),
        (-1, {}, ValueError, "port for LiveStreamClient must be in 0..65535.* got -1"),
        ("80", {}, TypeError, "port for LiveStreamClient must be an int.* got '80'"),
        (1, {"max_line": 0}, ValueError, "max_line .* got 0"),
        (1, {"max_garbage_run": "3"}, TypeError, "max_garbage_run .* got '3'"),
    ],
)
def test_bad_client_arguments_are_refused_by_name_before_connecting(
    port: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        LiveStreamClient("127.0.0.1", port, **kwargs)


@given(
    port=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=65536),
        st.floats(),
        st.text(max_size=5),
        st.none(),
        st.booleans(),
    )
)
def test_check_port_accepts_only_ints_in_range(port: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"port for x must be .* got "):
        check_port(port, "x")


@given(port=st.integers(min_value=0, max_value=65535))
def test_check_port_returns_plain_ints(port: int) -> None:
    assert check_port(np.uint16(port), "x") == port and type(check_port(port, "x")) is int


def test_a_failing_server_thread_keeps_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    server = LiveStreamServer(port=0, status_interval=0.01)

    def broken(sel: Any) -> None:
        raise RuntimeError("status bug")

    monkeypatch.setattr(server, "_status", broken)
    wait_for(lambda: server.error is not None)
    assert isinstance(server.error, RuntimeError)
    server.close()
    assert stream_threads() == []
