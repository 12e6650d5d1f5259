"""Live mode against real streams: a scheduler's LiveStreamServer, and small servers that misbehave."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from ecs.trace import LiveStreamServer, load_trace
from profiler_app._live import MAX_GARBAGE_RUN, LiveConnection, parse_address

from . import _traces as T
from .conftest import sample_game


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll until true; the timeout only guards against a hang (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@contextlib.contextmanager
def connection(port: int, **options: object) -> Iterator[LiveConnection]:
    live = LiveConnection("127.0.0.1", port, publish_interval=0.05, retry_delay=0.05, **options)  # type: ignore[arg-type]
    live.start()
    try:
        yield live
    finally:
        live.stop()


@contextlib.contextmanager
def fake_server(lines: list[bytes], *, repeat_last: bool = False) -> Iterator[tuple[int, list[int]]]:
    """A TCP server that sends ``lines`` to every client (the last one forever with repeat_last)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.1)
    port = srv.getsockname()[1]
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            with conn:
                try:
                    for line in lines:
                        conn.sendall(line)
                    while repeat_last and not stop.is_set():
                        conn.sendall(lines[-1] * 50)
                        time.sleep(0.005)
                    stop.wait(0.5)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, accepted
    finally:
        stop.set()
        srv.close()
        thread.join(5)


def test_addresses_parse_with_a_default_host() -> None:
    assert parse_address("127.0.0.1:7777") == ("127.0.0.1", 7777)
    assert parse_address(":9000") == ("127.0.0.1", 9000)
    assert parse_address("9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="not an address: 'here'"):
        parse_address("here")
    with pytest.raises(ValueError, match="out of range"):
        parse_address("localhost:70000")


def test_a_live_scheduler_fills_a_bounded_window_and_can_be_saved(tmp_path: Path) -> None:
    server = LiveStreamServer(port=0, status_interval=0.05)
    sched = sample_game(entities=200, stall_every=1000)
    sched.add_observer(server)
    with sched, connection(server.port, capacity=50) as live:
        assert wait_for(lambda: live.status == "connected" and server.stats.clients == 1)
        sched.run(120, 1 / 60)
        # Snapshots are published a few times a second: wait for the one holding the last tick.
        assert wait_for(lambda: live.capture is not None and int(live.capture.data.tick[-1]) == 119)
        assert live.ticks_seen == 120
        cap = live.capture
        assert cap is not None
        assert cap.group_names[:2] == ("input", "physics")
        assert list(cap.data.tick) == list(range(70, 120))
        assert live.rejected == 0
        saved = tmp_path / "live.trace.jsonl.gz"
        assert live.save(saved) == 50
    loaded = load_trace(saved)
    assert list(loaded.tick) == list(range(70, 120))
    assert loaded.complete


def test_the_connection_comes_back_when_the_scheduler_does() -> None:
    first = LiveStreamServer(port=0, status_interval=0.05)
    port = first.port
    sched = sample_game(entities=100, stall_every=1000)
    sched.add_observer(first)
    with connection(port, capacity=1000) as live:
        with sched:
            assert wait_for(lambda: first.stats.clients == 1)
            sched.run(10, 1 / 60)
            assert wait_for(lambda: live.ticks_seen == 10)
        # The scheduler closed: its server sent the end line and stopped listening.
        assert wait_for(lambda: live.status in ("disconnected", "connecting"))
        assert "closed" in live.message or "cannot connect" in live.message
        second = LiveStreamServer(port=port, status_interval=0.05)
        again = sample_game(entities=100, stall_every=1000)
        again.add_observer(second)
        with again:
            assert wait_for(lambda: live.status == "connected" and second.stats.clients == 1)
            again.run(5, 1 / 60)
            # A new scheduler (new header) starts a fresh window.
            assert wait_for(lambda: live.capture is not None and list(live.capture.data.tick) == [0, 1, 2, 3, 4])
        assert live.connects == 2


def test_server_drop_counts_are_shown() -> None:
    head = orjson.dumps(T.header([{"name": "a"}])) + b"\n"
    status = orjson.dumps({"type": "stream", "t": 0, "dropped": 7, "clients": 1, "sent": 3}) + b"\n"
    with fake_server([head, status]) as (port, _), connection(port) as live:
        assert wait_for(lambda: live.events_dropped == 7)
        assert live.status == "connected"


def test_a_stream_that_sends_garbage_is_dropped_with_a_message() -> None:
    head = orjson.dumps(T.header([{"name": "a"}])) + b"\n"
    with (
        fake_server([head, b"\x00\x01 not json at all\n"], repeat_last=True) as (port, accepted),
        connection(port) as live,
    ):
        assert wait_for(lambda: live.status == "rejected")
        assert "sent garbage" in live.message
        assert live.rejected >= MAX_GARBAGE_RUN
        time.sleep(0.3)
        assert len(accepted) == 1  # not retried: the other end is not a profiler stream


def test_a_peer_that_is_not_a_trace_stream_is_refused() -> None:
    with fake_server([b"SSH-2.0-OpenSSH_9.0\r\n"]) as (port, accepted), connection(port) as live:
        assert wait_for(lambda: live.status == "rejected")
        assert "not a compatible ecs-trace live stream" in live.message
        assert len(accepted) == 1


def test_a_stream_whose_header_has_a_bad_table_entry_is_refused_with_the_reason() -> None:
    head = T.header([{"name": "a"}, {"name": "b"}])
    head["systems"][1] = 5
    with fake_server([orjson.dumps(head) + b"\n"]) as (port, accepted), connection(port) as live:
        assert wait_for(lambda: live.status == "rejected")
        assert live.message.endswith("trace header: systems[1] must be an object, got int; disconnected")
        assert live.capture is None
        assert len(accepted) == 1


def test_a_good_stream_survives_a_few_bad_lines() -> None:
    head = T.header([{"name": "a"}])
    lines = [orjson.dumps(head) + b"\n", b"garbage\n", b"[1, 2]\n"]
    lines += [
        orjson.dumps(T.tick(i, i * 20, i * 20 + 5, [T.group(0, i, i * 20 + 1, i * 20 + 2)])) + b"\n" for i in range(5)
    ]
    with fake_server(lines) as (port, _), connection(port) as live:
        assert wait_for(lambda: live.capture is not None and len(live.capture) == 5)
        assert live.rejected == 2
        assert live.status == "connected"


def test_nobody_listening_means_retrying_until_stopped() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    live = LiveConnection("127.0.0.1", port, retry_delay=0.02, max_retry_delay=0.05)
    live.start()
    assert wait_for(lambda: "cannot connect" in live.message)
    assert live.status in ("disconnected", "connecting")
    assert live.running
    live.stop()
    assert live.status == "stopped"
    assert not live.running
    assert live.connects == 0
    with pytest.raises(RuntimeError, match="nothing to save"):
        live.save("never.trace.jsonl")


def test_without_reconnect_nobody_listening_ends_disconnected_and_says_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    live = LiveConnection("127.0.0.1", port, reconnect=False)
    live.start()
    assert wait_for(lambda: not live.running)
    assert live.status == "disconnected" and live.message.endswith("; disconnected")  # it said "retrying"
    assert "cannot connect to 127.0.0.1" in live.message


# -- bad input: refused by name, and no dead thread behind a stale status ---------------------------------
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("a..b:1", r"not a host name in 'a..b:1'"),  # once a UnicodeError in the thread, "connecting" forever
        ("x" * 300 + ":1", "not a host name in"),
        ("example..com:7777", "not a host name"),
    ],
)
def test_a_host_that_no_resolver_accepts_is_refused_with_a_banner(address: str, message: str) -> None:
    from profiler_app._state import ProfilerState

    with pytest.raises(ValueError, match=message):
        parse_address(address)
    state = ProfilerState()
    try:
        assert state.connect(address) is False
        assert state.live is None and state.mode == "file"
        assert any("not a host name" in b.text for b in state.banners)
    finally:
        state.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": -1}, "timeout must be a finite number of seconds > 0, got -1"),
        ({"timeout": float("nan")}, "timeout .* got nan"),
        ({"timeout": "3"}, "timeout .* got '3'"),
        ({"retry_delay": -1}, "retry_delay .* got -1"),
        ({"max_retry_delay": float("inf")}, "max_retry_delay .* got inf"),
        ({"publish_interval": 0}, "publish_interval .* got 0"),
        ({"capacity": 0}, "capacity must be an int >= 1, got 0"),
        ({"capacity": 2.5}, "capacity .* got 2.5"),
        ({"host": "a..b"}, "not a host name"),
        ({"host": ""}, "host must be a non-empty host name"),
        ({"port": 0}, "port must be an int from 1 to 65535, got 0"),
        ({"port": "7777"}, "port .* got '7777'"),
    ],
)
def test_a_connection_refuses_bad_options_before_any_thread_starts(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"host": "127.0.0.1", "port": 1, **options}
    before = threading.active_count()
    with pytest.raises(ValueError, match=message):
        LiveConnection(**arguments)  # type: ignore[arg-type]
    assert threading.active_count() == before


def test_a_host_name_that_gets_to_the_thread_is_rejected_not_retried() -> None:
    live = LiveConnection("127.0.0.1", 1, retry_delay=0.05)
    live.host = "a..b"  # as if it had slipped past the checks
    live.start()
    try:
        assert wait_for(lambda: not live.running)
        assert live.status == "rejected"
        assert "127.0.0.1:1" in live.message and "not a valid host name" in live.message
    finally:
        live.stop()


@pytest.mark.parametrize("where", ["_connect_loop", "_watch_loop"])
def test_any_error_in_a_background_thread_ends_as_a_visible_failed_status(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = LiveConnection("127.0.0.1", 1, retry_delay=0.05, publish_interval=0.05)

    def boom() -> None:
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(live, where, boom)
    live.start()
    try:
        assert wait_for(lambda: live.status == "failed" and not live.running)
        assert "127.0.0.1:1" in live.message and "RuntimeError: something unforeseen" in live.message
    finally:
        live.stop()
