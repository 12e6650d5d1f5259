"""The debug HTTP endpoint (ecs/trace/_debug.py): /metrics, /debug/vars, /debug/profile.

A "game thread" ticks the scheduler in a loop while the tests make real HTTP requests to the
endpoint on 127.0.0.1, as a developer's curl would.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import ecs
from ecs.trace import DebugServer, serve_debug


@ecs.component
class Mote:
    xy: ecs.f32x2


def drift_kernel(xy: np.ndarray) -> None:
    """A named function for the profile to find."""
    xy += np.float32(0.001)


@ecs.system(writes=(Mote,))
def drift(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Mote):
        drift_kernel(b[Mote].xy)


class ProfileProbe:
    """Records which profile function the game thread has installed, tick after tick."""

    def __init__(self) -> None:
        self.descriptor = ecs.SystemDescriptor("probe", reads=(Mote,))
        self.seen: list[object] = []

    def run(self, ctx: ecs.ExecutionContext) -> None:
        self.seen.append(sys.getprofile())


@ecs.system(reads=(Mote,), async_allowed=True)
def census(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Mote):
        len(b)


class Game:
    """A scheduler, its debug server and a thread that ticks it until stopped."""

    def __init__(self) -> None:
        world = ecs.World(components=[Mote])
        world.spawn_batch(100, {Mote: np.zeros((100, 2))})
        b = ecs.SchedulerBuilder(world, workers=1)
        self.probe = ProfileProbe()
        b.add_group("physics", [drift, self.probe])
        b.add_group("census", [census], mode=ecs.Mode.ASYNC)
        self.sched = b.build()
        self.debug = serve_debug(self.sched)  # before the game thread ticks: no concurrent tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.sched.tick(1 / 60)
                time.sleep(0.002)

        self._thread = threading.Thread(target=loop, name="game", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def get(self, path: str, timeout: float = 30) -> tuple[int, str, str]:
        """(status, content type, body) of a GET, errors included."""
        try:
            with urllib.request.urlopen(self.debug.url + path, timeout=timeout) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Content-Type"], err.read().decode()


@pytest.fixture
def game() -> Iterator[Game]:
    g = Game()
    yield g
    g.stop()
    g.debug.close()
    g.sched.close()


# -- /debug/vars --------------------------------------------------------------------------------------
def test_vars_reports_scheduler_state_from_a_fresh_snapshot(game: Game) -> None:
    game.start()
    while game.sched.tick_count < 3:
        time.sleep(0.01)
    status, ctype, body = game.get("/debug/vars")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(body)
    assert doc["fresh"] is True
    assert doc["tick_count"] >= 3 and doc["elapsed"] == pytest.approx(doc["tick_count"] / 60)
    assert doc["entities"] == 100 and doc["archetypes"] >= 1 and doc["workers"] == 1
    assert set(doc["groups"]) == {"physics", "census"}
    physics = doc["groups"]["physics"]
    assert physics["runs"] >= 3 and physics["errors"] == 0 and physics["mean_ms"] > 0
    assert {g["name"] for g in doc["plan"]} == {"census", "physics"}
    assert next(g for g in doc["plan"] if g["name"] == "physics")["systems"] == ["drift", "probe"]
    assert doc["last_tick"]["results"]["physics"] == "executed"
    assert "census" in doc["last_tick"]["queue_depths"]
    assert isinstance(doc["in_flight"], list)
    assert {"_DebugObserver", "MetricsObserver"} <= set(doc["observers"])


def test_vars_of_an_idle_scheduler_is_the_last_snapshot_marked_stale(game: Game) -> None:
    game.sched.run(2, 1 / 60)  # no game thread: nobody will publish a new snapshot
    status, _, body = game.get("/debug/vars?wait=0.05")
    doc = json.loads(body)
    assert status == 200
    assert doc["fresh"] is False
    assert doc["tick_count"] <= 2 and doc["snapshot_age_s"] >= 0


# -- /metrics ----------------------------------------------------------------------------------------
def test_metrics_serves_prometheus_text_from_its_own_registry(game: Game) -> None:
    game.sched.run(5, 1 / 60)
    status, ctype, body = game.get("/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    lines = body.splitlines()
    assert any(line.startswith("ecs_ticks_total{") and line.endswith(" 5.0") for line in lines)
    assert 'ecs_group_duration_seconds_count{group="physics"' in body


def test_metrics_without_the_telemetry_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.metrics", None)
    g = Game()
    try:
        status, _, body = g.get("/metrics")
        assert status == 501
        assert "pip install ecs-scheduler[telemetry]" in body
        assert [type(o).__name__ for o in g.sched.observers] == ["_DebugObserver"]
    finally:
        g.debug.close()
        g.sched.close()


# -- /debug/profile ------------------------------------------------------------------------------------
def test_profile_captures_exactly_the_next_n_ticks_with_cprofile(game: Game) -> None:
    game.start()
    status, ctype, body = game.get("/debug/profile?ticks=5&limit=1000")
    assert status == 200 and ctype.startswith("text/plain")
    first, last = map(int, body.split("ticks ", 1)[1].split(" ", 1)[0].split(".."))
    assert last - first + 1 == 5
    assert "(5 ticks" in body and "profiler cprofile, sorted by cumulative" in body
    assert "drift_kernel" in body
    # pstats counts the calls it saw: the kernel ran once per profiled tick
    kernel = next(line for line in body.splitlines() if "drift_kernel" in line)
    assert kernel.split()[0] == "5"


def test_profile_sort_orders_change_the_table(game: Game) -> None:
    game.start()
    status, _, body = game.get("/debug/profile?ticks=2&sort=tottime&limit=5")
    assert status == 200 and "sorted by tottime" in body


def test_profile_with_pyinstrument_as_text_and_html(game: Game) -> None:
    game.start()
    status, _, text = game.get("/debug/profile?ticks=3&profiler=pyinstrument")
    assert status == 200 and "profiler pyinstrument" in text
    status, ctype, html = game.get("/debug/profile?ticks=3&profiler=pyinstrument&format=html")
    assert status == 200 and ctype.startswith("text/html")
    assert "<html" in html.lower() and "pyinstrument" in html.lower()


def test_the_profiler_is_removed_from_the_game_thread_after_a_capture(game: Game) -> None:
    game.start()
    assert game.get("/debug/profile?ticks=2")[0] == 200
    seen = len(game.probe.seen)
    while len(game.probe.seen) < seen + 3:
        time.sleep(0.01)
    assert game.probe.seen[-1] is None
    assert any(p is not None for p in game.probe.seen[:seen])  # it was installed during the capture


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ticks=0", "ticks must be between 1 and"),
        ("ticks=abc", "ticks must be an integer"),
        ("ticks=2&profiler=perf", "profiler must be one of cprofile, pyinstrument"),
        ("ticks=2&format=svg", "format must be one of text, html"),
        ("ticks=2&format=html", "format=html needs profiler=pyinstrument"),
        ("ticks=2&sort=random", "sort must be one of"),
        ("ticks=2&timeout=-1", "timeout must be between"),
        ("ticks=2&timeout=soon", "timeout must be a number"),
    ],
)
def test_bad_profile_requests_get_400_with_a_message(game: Game, query: str, message: str) -> None:
    status, ctype, body = game.get("/debug/profile?" + query)
    assert status == 400 and ctype.startswith("text/plain")
    assert message in body


def test_a_second_capture_while_one_runs_gets_409_and_a_stuck_one_times_out(game: Game) -> None:
    results: dict[str, Any] = {}

    def long_capture() -> None:
        results["first"] = game.get("/debug/profile?ticks=100000&timeout=1")

    t = threading.Thread(target=long_capture)
    t.start()
    time.sleep(0.2)  # let the first request leave its order
    status, _, body = game.get("/debug/profile?ticks=1")
    assert status == 409 and "already running" in body
    t.join(10)
    status, _, body = results["first"]
    assert status == 504 and "is the scheduler ticking?" in body
    # the abandoned order was cleared: a new capture works once the game ticks
    game.start()
    assert game.get("/debug/profile?ticks=1")[0] == 200


def test_a_capture_that_times_out_mid_run_is_stopped_on_the_game_thread(game: Game) -> None:
    game.start()
    status, _, body = game.get("/debug/profile?ticks=100000&timeout=0.3")
    assert status == 504 and "of 100000 ticks" in body
    seen = len(game.probe.seen)
    while len(game.probe.seen) < seen + 3:
        time.sleep(0.01)
    assert game.probe.seen[-1] is None
    assert game.get("/debug/profile?ticks=2")[0] == 200


def test_closing_the_scheduler_ends_a_capture_and_refuses_new_ones(game: Game) -> None:
    results: dict[str, Any] = {}
    t = threading.Thread(target=lambda: results.update(r=game.get("/debug/profile?ticks=1000&timeout=10")))
    t.start()
    time.sleep(0.2)
    game.sched.run(3, 1 / 60)  # starts the capture
    game.sched.close()
    t.join(10)
    assert results["r"][0] == 503 and "ended early" in results["r"][2]
    status, _, body = game.get("/debug/profile?ticks=1")
    assert status == 503 and "closed" in body


# -- routing and binding -----------------------------------------------------------------------------------
def test_the_index_lists_the_endpoints_and_unknown_paths_are_404(game: Game) -> None:
    status, _, body = game.get("/")
    assert status == 200 and "/debug/vars" in body and "/debug/profile" in body
    status, _, body = game.get("/debug/pprof")
    assert status == 404 and "no such endpoint: /debug/pprof" in body


def test_it_binds_loopback_and_refuses_other_addresses_unless_allowed() -> None:
    sched = ecs.SchedulerBuilder(ecs.World()).build()
    with pytest.raises(ValueError, match="0.0.0.0"):
        serve_debug(sched, host="0.0.0.0")
    with serve_debug(sched) as debug:
        assert isinstance(debug, DebugServer)
        assert debug.host == "127.0.0.1" and debug.url == f"http://127.0.0.1:{debug.port}"
        assert "DebugServer" in repr(debug)
    sched.close()


def test_close_detaches_its_observers_and_stops_serving(game: Game) -> None:
    assert len(game.sched.observers) == 2
    url = game.debug.url
    game.debug.close()
    assert game.sched.observers == ()
    assert "closed" in repr(game.debug)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/", timeout=2)
    game.debug.close()  # idempotent


# -- bad arguments and misbehaving clients --------------------------------------------------------------
def request_threads() -> int:
    """Threads socketserver started for connections (named after process_request_thread)."""
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name and t.is_alive())


def http_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "ecs-debug-http" and t.is_alive()]


def wait_for(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def at_eof(sock: socket.socket) -> bool:
    """True once the server closed ``sock`` (without consuming anything else)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((0, "0.0.0.0"), {}, ValueError, "refusing to listen on '0.0.0.0' for the debug endpoint"),
        ((0, "::"), {}, ValueError, "refusing to listen on '::'"),
        ((-1,), {}, ValueError, "port for the debug endpoint must be in 0..65535.* got -1"),
        (("x",), {}, TypeError, "port for the debug endpoint must be an int.* got 'x'"),
        ((0, None), {}, TypeError, "host for the debug endpoint must be a str"),
        ((), {"publish_interval": float("nan")}, ValueError, "publish_interval .* got nan"),
    ],
)
def test_debug_server_refuses_bad_arguments_before_starting_anything(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    sched = ecs.SchedulerBuilder(ecs.World()).build()
    for make in (DebugServer, serve_debug) if not kwargs else (DebugServer,):
        with pytest.raises(error, match=message):
            make(sched, *args, **kwargs)
    assert sched.observers == () and http_threads() == []
    with pytest.raises(TypeError, match="scheduler must be an ecs.Scheduler"):
        DebugServer(None)  # type: ignore[arg-type]
    sched.close()


def test_debug_server_binds_other_addresses_only_when_allowed() -> None:
    sched = ecs.SchedulerBuilder(ecs.World()).build()
    with DebugServer(sched, 0, "0.0.0.0", allow_remote=True) as debug:
        assert debug.url.startswith("http://0.0.0.0:")
    sched.close()


def test_a_client_that_hangs_up_before_its_answer_is_logged_quietly(
    game: Game, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="ecs.debug")
    conn = socket.create_connection((game.debug.host, game.debug.port))
    conn.sendall(b"GET /debug/profile?ticks=2 HTTP/1.0\r\n\r\n")
    wait_for(lambda: game.debug._observer.capture is not None)  # the request waits for ticks
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # a reset: the answer has nowhere to go
    game.start()
    wait_for(lambda: any("ended" in r.getMessage() for r in caplog.records if r.name == "ecs.debug"))
    record = next(r for r in caplog.records if r.name == "ecs.debug" and "ended" in r.getMessage())
    assert record.levelno == logging.DEBUG
    assert "Traceback" not in capfd.readouterr().err
    assert game.get("/debug/vars")[0] == 200  # and the endpoint serves on


def test_idle_connections_time_out_and_free_their_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ecs.trace._debug.CONNECTION_TIMEOUT", 0.2)
    sched = ecs.SchedulerBuilder(ecs.World()).build()
    before = request_threads()
    with serve_debug(sched) as debug:
        idle = [socket.create_connection((debug.host, debug.port)) for _ in range(5)]
        half = socket.create_connection((debug.host, debug.port))
        half.sendall(b"GET /debug/vars HTTP/1.1\r\n")  # a request that never ends
        wait_for(lambda: all(at_eof(s) for s in [*idle, half]))
        wait_for(lambda: request_threads() == before)
        for s in [*idle, half]:
            s.close()
    sched.close()


def test_connections_beyond_the_cap_are_closed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecs.trace._debug import _Server

    monkeypatch.setattr(_Server, "max_connections", 2)
    sched = ecs.SchedulerBuilder(ecs.World()).build()
    before = request_threads()
    with serve_debug(sched) as debug:
        held = [socket.create_connection((debug.host, debug.port)) for _ in range(6)]
        wait_for(lambda: sum(at_eof(s) for s in held) == 4)
        assert request_threads() - before <= 2
        for s in held:
            s.close()
        wait_for(lambda: request_threads() == before)
        assert game_vars_ok(debug.url)  # the slots are free again
    sched.close()


def game_vars_ok(url: str) -> bool:
    with urllib.request.urlopen(url + "/debug/vars?wait=0", timeout=10) as resp:
        return resp.status == 200
