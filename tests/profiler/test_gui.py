"""The real profiler window driven by the Dear ImGui test engine (under Xvfb in the test command).

Each test builds the app exactly as ``ecs-profiler`` does (``build_runner_params``) and hands
it to ``imgui_bundle.immapp.testing.run`` with a test function that types, clicks, scrolls and
presses keys like a user. Screenshots of the main views go to ``tmp_path``; set
``ECS_PROFILER_DOCS_IMAGES=docs/images`` to refresh the pictures of ``docs/profiler.md``.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imgui_bundle import ImVec2, imgui
from imgui_bundle.immapp import testing
from PIL import Image

from ecs.trace import LiveStreamServer
from profiler_app import _views
from profiler_app._app import add_ons, build_runner_params
from profiler_app._data import KIND_GROUP, timeline_layout
from profiler_app._state import ProfilerState

pytestmark = pytest.mark.gui

Ctx = Any  # imgui.test_engine.TestContext


def run_gui(state: ProfilerState, test: Callable[[Ctx], None], **options: Any) -> None:
    params = build_runner_params(state, settings=options.pop("settings", None), **options)
    faults_traced = faulthandler.is_enabled()
    try:
        testing.run(test_function=test, runner_params=params, add_ons_params=add_ons(), raise_on_error=True)
    finally:
        restore_signals(faults_traced)


def restore_signals(faults_traced: bool) -> None:
    """Undo the test engine's crash handler, which outlives the window.

    It takes over SIGSEGV, SIGPIPE and friends for the rest of the process: Python's ignored
    SIGPIPE is gone (a later test writing to a closed socket would kill pytest) and so is
    faulthandler's traceback dump.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if faults_traced:
        faulthandler.enable(file=sys.__stderr__)


def until(ctx: Ctx, predicate: Callable[[], bool], frames: int = 600) -> bool:
    """Let frames run until ``predicate`` holds (bounded; loads and streams run in threads)."""
    for _ in range(frames):
        if predicate():
            return True
        ctx.yield_()
        time.sleep(0.005)
    return predicate()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Callable[[Ctx, str], Path]]:
    """``shot(ctx, "timeline")`` writes profiler_timeline.png (and copies it to the docs when asked)."""
    written: list[Path] = []

    def shot(ctx: Ctx, view: str) -> Path:
        path = tmp_path / f"profiler_{view}.png"
        testing.capture(ctx, str(path))
        written.append(path)
        return path

    yield shot
    docs = os.environ.get("ECS_PROFILER_DOCS_IMAGES")
    for path in written:
        with Image.open(path) as img:
            assert img.size == (1280, 720)
            colors = np.asarray(img.convert("RGB").resize((160, 90))).reshape(-1, 3)
            assert len(np.unique(colors, axis=0)) > 50, f"{path.name} looks blank"
        if docs:
            shutil.copy(path, Path(docs) / path.name)


def pixel(state: ProfilerState, plot: str, x: float, y: float) -> ImVec2:
    """Screen position of plot point (x, y), from where the plot was drawn last frame."""
    px, py, w, h, x0, x1, y0, y1 = state.plot_geometry[plot]
    fy = (y - y0) / (y1 - y0)
    if plot == "timeline":  # lanes run downwards (inverted y axis)
        return ImVec2(px + (x - x0) / (x1 - x0) * w, py + fy * h)
    return ImVec2(px + (x - x0) / (x1 - x0) * w, py + (1 - fy) * h)


def show(ctx: Ctx, state: ProfilerState, view: str, title: str) -> None:
    """Bring a tabbed view to the front and wait until it has drawn without error."""
    ctx.window_focus(f"//{title}")
    state.draw_ms.pop(view, None)
    assert until(ctx, lambda: view in state.draw_ms or view in state.view_errors)
    ctx.yield_(3)
    assert view not in state.view_errors, state.view_errors.get(view)


def test_open_a_trace_select_a_tick_step_hover_and_zoom(sample_trace: Path, shots: Callable[[Ctx, str], Path]) -> None:
    state = ProfilerState()
    seen: dict[str, Any] = {}

    def test(ctx: Ctx) -> None:
        # Open a recorded trace by typing its path (Enter opens it).
        ctx.item_input_value("//Capture/##path", str(sample_trace))
        assert until(ctx, lambda: len(state.captures) == 1)
        cap = state.captures[0]
        worst = int(np.argmax(cap.tick_ms))
        assert state.selection() == (worst, worst + 1)
        assert ctx.item_exists("//Capture/**/1: game.trace.jsonl.gz, 260 ticks##capture 0")

        # Click tick 97 in the frame graph (its combat group failed), then step with the keys.
        ctx.yield_(2)
        ctx.mouse_move_to_pos(pixel(state, "frame_graph", 97, 1.0))
        ctx.mouse_click(0)
        assert until(ctx, lambda: state.selection() == (97, 98))
        ctx.key_press(imgui.Key.right_arrow)
        assert state.selection() == (98, 99)
        ctx.key_press(imgui.Key.left_arrow)
        assert state.selection() == (97, 98)
        ctx.key_press(imgui.Key.page_down)  # the next hitch: the streaming stall of tick 120
        assert state.selection() == (120, 121)
        ctx.key_press(imgui.Key.page_up)
        assert state.selection() == (60, 61)

        # Hover the stalled group in the timeline: its tooltip is the span under the mouse.
        ctx.yield_(3)
        tl = timeline_layout(cap, 60, 61)
        lane = tl.lanes.index("streaming")
        span = int(np.flatnonzero((tl.lane == lane) & (tl.kind == KIND_GROUP))[0])
        mid = (tl.start[span] + tl.end[span]) / 2
        ctx.mouse_move_to_pos(pixel(state, "timeline", mid, lane + 0.25))
        assert until(ctx, lambda: state.hovered_span is not None)
        seen["hovered"] = cap.group_names[int(tl.label[state.hovered_span])]
        shots(ctx, "timeline")

        # Zoom the timeline with the mouse wheel.
        before = state.plot_geometry["timeline"]
        for _ in range(8):
            ctx.mouse_wheel_y(1)
            ctx.yield_()
        ctx.yield_(2)
        after = state.plot_geometry["timeline"]
        seen["zoom"] = (before[5] - before[4]) / (after[5] - after[4])

        # Shift+Right grows the selection; the whole capture shows the timeline zoomed out.
        ctx.key_down(imgui.Key.left_shift)
        ctx.key_press(imgui.Key.right_arrow, 5)
        ctx.key_up(imgui.Key.left_shift)
        assert state.selection() == (60, 66)
        ctx.mouse_move_to_pos(pixel(state, "frame_graph", 200, 1.0))
        ctx.key_press(imgui.Key.home)
        assert state.selection() == (0, 1)
        ctx.key_down(imgui.Key.left_shift)
        ctx.key_press(imgui.Key.end)
        ctx.key_up(imgui.Key.left_shift)
        assert state.selection() == (0, 260)
        ctx.yield_(4)
        shots(ctx, "frame_graph")

    run_gui(state, test)
    assert seen["hovered"] == "streaming"
    assert seen["zoom"] > 1.5
    assert not state.view_errors


def test_switch_between_the_views_and_compare_two_files(
    sample_trace: Path, sample_trace_b: Path, shots: Callable[[Ctx, str], Path]
) -> None:
    state = ProfilerState()
    state.open_file(sample_trace)

    def test(ctx: Ctx) -> None:
        assert until(ctx, lambda: len(state.captures) == 1)
        state.select_range(60, 66)
        show(ctx, state, "contention", "Contention")
        assert until(ctx, lambda: state.computed("contention"))
        ctx.yield_(2)
        shots(ctx, "contention")
        show(ctx, state, "queue_depths", "Queue depths")
        assert until(ctx, lambda: state.computed("queues"))
        ctx.yield_(2)
        shots(ctx, "queue_depths")
        show(ctx, state, "statistics", "Statistics")
        assert until(ctx, lambda: state.computed("stats"))
        ctx.item_click("//Statistics/**/pathing##group6")
        assert state.stats_selected == ("group", 6)
        ctx.item_click("//Statistics/**/mean")
        assert state.stats_sort == "mean"
        ctx.yield_(3)
        shots(ctx, "statistics")
        ctx.item_click("//Statistics/systems")
        assert state.stats_kind == "system"
        ctx.yield_(2)
        assert "statistics" not in state.view_errors

        # Compare with a second capture, opened for comparison.
        ctx.item_input_value("//Capture/##path", str(sample_trace_b))
        assert until(ctx, lambda: len(state.captures) == 2)
        show(ctx, state, "compare", "Compare")
        assert (state.compare_a, state.compare_b) == (0, 1)
        assert until(ctx, lambda: state.computed("compare"))
        ctx.yield_(3)
        shots(ctx, "compare")
        # Pick the first file again from the Capture panel.
        ctx.item_click("//Capture/**/1: game.trace.jsonl.gz, 260 ticks##capture 0")
        assert state.active == 0

    run_gui(state, test)
    assert not state.view_errors


class Ticking:
    """A demo game (asteroids on autopilot) ticking in a background thread with a live stream server."""

    def __init__(self) -> None:
        from demos.asteroids import create_scheduler

        self.server = LiveStreamServer(port=0, status_interval=0.1)
        self.sched = create_scheduler(seed=3, autopilot=True, workers=2)
        self.sched.add_observer(self.server)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.sched.tick(1 / 60)
            time.sleep(0.004)

    def __enter__(self) -> Ticking:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sched.close()


def test_connect_to_a_demos_live_stream_pause_save_and_disconnect(
    tmp_path: Path, shots: Callable[[Ctx, str], Path]
) -> None:
    state = ProfilerState(live_capacity=2000)
    saved = tmp_path / "captured.trace.jsonl.gz"

    def test(ctx: Ctx) -> None:
        with Ticking() as game:
            ctx.item_input_value("//Capture/address", f"127.0.0.1:{game.server.port}")
            ctx.item_click("//Capture/Connect##live")
            assert until(ctx, lambda: state.live_capture is not None and len(state.live_capture) > 120)
            assert state.mode == "live"
            assert state.live is not None and state.live.status == "connected"
            cap = state.live_capture
            assert cap is not None
            assert state.selection()[1] == len(cap)  # following the newest tick
            show(ctx, state, "timeline", "Timeline")
            shots(ctx, "live")
            ctx.item_click("//Capture/Pause")
            assert state.live_paused
            frozen = state.live_capture
            ctx.yield_(30)
            assert state.live_capture is frozen
            ctx.item_click("//Capture/Pause")
            ctx.item_input_value("//Capture/##save path", str(saved))
            ctx.item_click("//Capture/Save##live")
            assert "saved" in state.banners[-1].text
            ctx.item_click("//Capture/Disconnect##live")
            assert until(ctx, lambda: state.live is not None and state.live.status == "stopped")
            assert ctx.item_exists("//Capture/Connect##live")

    run_gui(state, test)
    assert saved.exists()


def test_replay_a_file_as_if_live(sample_trace: Path) -> None:
    state = ProfilerState(replay_speed=0.05)  # this trace lasts 0.3 s: replay it slowly
    state.open_file(sample_trace)

    def test(ctx: Ctx) -> None:
        assert until(ctx, lambda: len(state.captures) == 1)
        ctx.item_click("//Capture/Replay##start")
        assert state.mode == "replay"
        replay = state.replay
        assert replay is not None
        assert until(ctx, lambda: replay.position > 5)
        ctx.item_click("//Capture/###replay toggle")
        assert not replay.playing
        paused_at = replay.position
        _, _, hi = state.shown()
        assert hi == paused_at  # the views show only what was played
        ctx.yield_(10)
        assert replay.position == paused_at
        ctx.item_input_value("//Capture/speed", 0.2)
        assert replay.speed == pytest.approx(0.2)
        assert state.replay_speed == pytest.approx(0.2)
        ctx.item_input_value("//Capture/position", 200)
        assert replay.position == 200
        assert state.selection() == (199, 200)
        ctx.item_click("//Capture/###replay toggle")
        assert until(ctx, lambda: replay.position > 200)
        ctx.item_click("//Capture/Stop##replay")
        assert state.mode == "file"
        assert state.shown()[2] == 260

    run_gui(state, test)
    assert not state.view_errors


def test_a_damaged_file_shows_a_banner_that_can_be_dismissed(
    damaged_trace: Path, shots: Callable[[Ctx, str], Path]
) -> None:
    state = ProfilerState()
    state.open_file(damaged_trace)

    def test(ctx: Ctx) -> None:
        assert until(ctx, lambda: bool(state.banners))
        ctx.yield_(3)
        assert ctx.item_exists("//Messages/Dismiss##banner 0")
        shots(ctx, "damaged")
        ctx.item_click("//Messages/Dismiss##banner 0")
        assert not state.banners

    run_gui(state, test)
    assert len(state.captures) == 1


def test_a_failing_view_shows_an_error_box_and_the_others_keep_working(
    sample_trace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(cap: Any) -> Any:
        raise RuntimeError("queue depths are broken on purpose")

    monkeypatch.setattr(_views, "queue_depths", broken)
    state = ProfilerState()
    state.open_file(sample_trace)

    def test(ctx: Ctx) -> None:
        assert until(ctx, lambda: len(state.captures) == 1)
        ctx.window_focus("//Queue depths")
        assert until(ctx, lambda: "queue_depths" in state.view_errors)
        assert "broken on purpose" in state.view_errors["queue_depths"]
        ctx.yield_(2)
        assert ctx.item_exists("//Queue depths/Retry##queue_depths")
        show(ctx, state, "statistics", "Statistics")  # other views still draw
        monkeypatch.undo()
        ctx.window_focus("//Queue depths")
        ctx.item_click("//Queue depths/Retry##queue_depths")
        assert until(ctx, lambda: "queue_depths" in state.draw_ms)
        assert "queue_depths" not in state.view_errors

    run_gui(state, test)


def test_the_menus_close_a_capture_and_drive_the_live_connection(sample_trace: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:  # a port nobody listens on
        free = probe.getsockname()[1]
    state = ProfilerState(live_address=f"127.0.0.1:{free}")
    state.open_file(sample_trace)

    def test(ctx: Ctx) -> None:
        assert until(ctx, lambda: len(state.captures) == 1)
        ctx.set_ref("##MainMenuBar")
        ctx.menu_click("File/Close capture")
        assert not state.captures
        ctx.menu_click(f"Live/Connect to 127.0.0.1:{free}")
        assert state.mode == "live"
        assert until(ctx, lambda: state.live is not None and "cannot connect" in state.live.message)
        ctx.menu_click("Live/Pause")
        assert state.live_paused
        ctx.menu_click("Live/Follow latest")
        assert not state.live_follow
        ctx.menu_click("Live/Disconnect")
        assert until(ctx, lambda: state.live is not None and state.live.status == "stopped")

    run_gui(state, test)


def test_the_layout_and_settings_are_remembered(tmp_path: Path) -> None:
    ini = tmp_path / "profiler.ini"
    first = ProfilerState()

    def change_budget(ctx: Ctx) -> None:
        first.budget_ms = 33.3
        ctx.yield_(2)

    run_gui(first, change_budget, settings=ini)
    text = ini.read_text()
    assert "[Window][Timeline]" in text
    assert "DockSpace" in text
    second = ProfilerState()
    run_gui(second, lambda ctx: ctx.yield_(2), settings=ini)
    assert second.budget_ms == 33.3


def test_the_command_line_renders_frames_and_writes_a_screenshot(sample_trace: Path, tmp_path: Path) -> None:
    from profiler_app.__main__ import main

    out = tmp_path / "shot.png"
    assert main([str(sample_trace), "--frames", "5", "--screenshot", str(out), "--view", "statistics"]) == 0
    with Image.open(out) as img:
        assert img.size == (1280, 720)


def test_the_command_line_refuses_a_screenshot_without_frames(capsys: pytest.CaptureFixture[str]) -> None:
    from profiler_app.__main__ import main

    with pytest.raises(SystemExit):
        main(["--screenshot", "x.png"])
    assert "--frames" in capsys.readouterr().err


def test_after_a_gui_run_writing_to_a_closed_socket_raises_instead_of_killing_the_process() -> None:
    state = ProfilerState()
    run_gui(state, lambda ctx: ctx.yield_(2))
    a, b = socket.socketpair()
    b.close()

    def flood() -> None:
        for _ in range(100):  # the first sends may land in the buffer before the peer's close is seen
            a.send(b"x" * 65536)

    with a, pytest.raises(BrokenPipeError):
        flood()
