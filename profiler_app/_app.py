"""Wiring: the window, its docking layout, menus and status bar, around the draw functions.

The layout (a Capture panel on the left, the frame graph on top, the other views as tabs) is
a hello_imgui docking layout; hello_imgui saves it with the window geometry in an ini file
under the user's config folder (``~/.config/ecs-profiler/ecs-profiler.ini`` on Linux), so a
layout the user rearranged comes back next time. View > Restore layout brings the default
back. A few settings (budget, live address, window size) are kept in the same file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson
from imgui_bundle import hello_imgui, imgui, immapp

from ._state import VIEWS, ProfilerState
from ._views import (
    draw_banners,
    draw_capture_panel,
    draw_compare,
    draw_contention,
    draw_frame_graph,
    draw_queue_depths,
    draw_statistics,
    draw_timeline,
    handle_keys,
    poll_dialogs,
    request_dialog,
    safe_draw,
)

__all__ = ["DEFAULT_SETTINGS", "build_runner_params", "run_app", "save_png"]

#: Where the layout and settings live, relative to the user's config folder.
DEFAULT_SETTINGS: Final = "ecs-profiler/ecs-profiler.ini"
_PREFS: Final = "ecs-profiler"
#: How long a screenshot run waits for its files (or first live ticks) before drawing anyway.
SCREENSHOT_WAIT_S: Final = 60.0
_FAR: Final = 3.0e38  # ImGui's "no mouse" position is -FLT_MAX

_DRAW: Final[dict[str, Callable[[ProfilerState], None]]] = {
    "frame_graph": draw_frame_graph,
    "timeline": draw_timeline,
    "contention": draw_contention,
    "queue_depths": draw_queue_depths,
    "statistics": draw_statistics,
    "compare": draw_compare,
    "capture": draw_capture_panel,
}


def _splits() -> list[hello_imgui.DockingSplit]:
    #    ___________________________________
    #   |         |  Frame graph            |
    #   | Capture |-------------------------|
    #   |         |  Timeline | Contention  |
    #   |         |  | Queue | Stats | ...  |
    #   |_________|_________________________|
    left = hello_imgui.DockingSplit("MainDockSpace", "CaptureSpace", imgui.Dir.left, 0.2)
    top = hello_imgui.DockingSplit("MainDockSpace", "GraphSpace", imgui.Dir.up, 0.3)
    return [left, top]


def _view_gui(state: ProfilerState, key: str, draw: Callable[[ProfilerState], None]) -> Callable[[], None]:
    def gui() -> None:
        safe_draw(state, key, draw)

    return gui


def _windows(state: ProfilerState) -> list[hello_imgui.DockableWindow]:
    spaces = {"capture": "CaptureSpace", "frame_graph": "GraphSpace"}
    windows = []
    for key, label in VIEWS.items():
        w = hello_imgui.DockableWindow()
        w.label = label
        w.dock_space_name = spaces.get(key, "MainDockSpace")
        w.gui_function = _view_gui(state, key, _DRAW[key])
        w.remember_is_visible = True
        windows.append(w)
    # The timeline is the view people come for: in front of the other tabs at start.
    focus = state.focus_view or "timeline"
    for w in windows:
        if w.label == VIEWS.get(focus):
            w.focus_window_at_next_frame = True
    return windows


def _menus(state: ProfilerState) -> None:
    if imgui.begin_menu("File"):
        try:
            if imgui.menu_item("Open...", "", False)[0]:
                request_dialog(state, "open")
            if imgui.menu_item("Open for compare...", "", False)[0]:
                request_dialog(state, "compare")
            live = state.live is not None
            if imgui.menu_item("Save live capture...", "", False, live)[0]:
                request_dialog(state, "save")
            if imgui.menu_item("Close capture", "", False, 0 <= state.active < len(state.captures))[0]:
                state.close_capture(state.active)
        finally:
            imgui.end_menu()
    if imgui.begin_menu("Live"):
        try:
            running = state.live is not None and state.live.running
            if imgui.menu_item(f"Connect to {state.live_address}", "", False, not running)[0]:
                state.connect()
            if imgui.menu_item("Disconnect", "", False, running)[0]:
                state.disconnect()
            if imgui.menu_item("Pause", "", state.live_paused, state.mode == "live")[0]:
                state.live_paused = not state.live_paused
            if imgui.menu_item("Follow latest", "", state.live_follow, state.mode == "live")[0]:
                state.live_follow = not state.live_follow
        finally:
            imgui.end_menu()


def _status(state: ProfilerState) -> None:
    cap, lo, hi = state.shown()
    if state.mode == "live" and state.live is not None:
        imgui.text(f"live {state.live.address}: {state.live.status}" + (" (paused)" if state.live_paused else ""))
    elif state.mode == "replay" and state.replay is not None:
        imgui.text(f"replay {state.replay.position}/{state.replay.n} at {state.replay.speed:.2f}x")
    elif cap is not None:
        imgui.text(f"{cap.name}: {hi - lo} ticks")
    else:
        imgui.text("no capture")
    for job in state.jobs:
        imgui.same_line()
        imgui.text(f"| loading {job.name} {job.progress * 100:.0f}%")


def _load_prefs(state: ProfilerState) -> None:
    text = hello_imgui.load_user_pref(_PREFS)
    if not text:
        return
    try:
        prefs = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    if isinstance(prefs, dict):
        state.budget_ms = float(prefs.get("budget_ms", state.budget_ms))
        state.live_address = str(prefs.get("live_address", state.live_address))
        state.live_capacity = int(prefs.get("live_capacity", state.live_capacity))


def _save_prefs(state: ProfilerState) -> None:
    prefs = {"budget_ms": state.budget_ms, "live_address": state.live_address, "live_capacity": state.live_capacity}
    hello_imgui.save_user_pref(_PREFS, orjson.dumps(prefs).decode())


def build_runner_params(
    state: ProfilerState,
    *,
    settings: str | Path | None = DEFAULT_SETTINGS,
    window_size: tuple[int, int] = (1280, 720),
    frames: int | None = None,
    on_frame: Callable[[ProfilerState], None] | None = None,
    full_speed: bool = False,
) -> hello_imgui.RunnerParams:
    """hello_imgui parameters for the profiler around ``state``.

    ``settings``: the ini file (relative: under the user's config folder; absolute: that file;
    None: remember nothing, for tests and screenshots). ``frames``: exit after that many frames
    once the data is ready (screenshot runs). ``on_frame`` runs at the start of every frame.
    ``full_speed``: never idle, no vsync (benchmarks measure frame times with it).
    """
    params = hello_imgui.RunnerParams()
    params.app_window_params.window_title = "ecs-profiler"
    params.app_window_params.window_geometry.size = window_size
    params.imgui_window_params.menu_app_title = "ecs-profiler"
    params.imgui_window_params.show_menu_bar = True
    params.imgui_window_params.show_menu_app = True
    params.imgui_window_params.show_menu_view = True
    params.imgui_window_params.show_status_bar = True
    params.imgui_window_params.default_imgui_window_type = (
        hello_imgui.DefaultImGuiWindowType.provide_full_screen_dock_space
    )
    params.imgui_window_params.enable_viewports = False
    params.docking_params.docking_splits = _splits()
    params.docking_params.dockable_windows = _windows(state)
    params.callbacks.show_menus = lambda: _menus(state)
    params.callbacks.show_status = lambda: _status(state)
    if settings is None:
        params.ini_disable = True
    else:
        path = Path(settings)
        if path.is_absolute():
            params.ini_folder_type = hello_imgui.IniFolderType.absolute_path
        else:
            params.ini_folder_type = hello_imgui.IniFolderType.app_user_config_folder
            params.app_window_params.restore_previous_geometry = True
        params.ini_filename = str(path)
        params.callbacks.post_init = lambda: _load_prefs(state)
    started = time.monotonic()
    counted = [0]

    def before_exit() -> None:
        if settings is not None:
            _save_prefs(state)
        state.close()

    params.callbacks.before_exit = before_exit

    def gui() -> None:
        io = imgui.get_io()
        state.poll(io.delta_time)
        poll_dialogs(state)
        handle_keys(state)
        draw_banners(state)
        # Live and replay animate: keep rendering at full rate; otherwise idle to save power.
        animating = (state.mode == "live" and not state.live_paused) or (
            state.replay is not None and state.replay.playing
        )
        hello_imgui.get_runner_params().fps_idling.enable_idling = not (animating or state.jobs or full_speed)
        if on_frame is not None:
            on_frame(state)
        if frames is not None:
            # A screenshot shows the views, not a tooltip under wherever the pointer happens to be.
            io.add_mouse_pos_event(-_FAR, -_FAR)
            ready = not state.jobs and (state.mode != "live" or state.live_capture is not None)
            if ready or time.monotonic() - started > SCREENSHOT_WAIT_S:
                counted[0] += 1
            if counted[0] >= frames:
                hello_imgui.get_runner_params().app_shall_exit = True

    params.callbacks.show_gui = gui
    params.fps_idling.fps_idle = 10.0
    if full_speed:
        params.fps_idling.vsync_to_monitor = False
    return params


def add_ons() -> immapp.AddOnsParams:
    return immapp.AddOnsParams(with_implot=True)


def run_app(state: ProfilerState, params: hello_imgui.RunnerParams) -> None:
    """Run the window until it closes (blocking)."""
    try:
        immapp.run(params, add_ons())
    finally:
        state.close()


def save_png(path: str | Path) -> tuple[int, int]:
    """Write the last frame of the app that just exited to ``path`` as PNG; returns (width, height)."""
    from PIL import Image

    pixels: Any = hello_imgui.final_app_window_screenshot()
    if pixels is None or getattr(pixels, "size", 0) == 0:
        raise RuntimeError("no frame to save: the window never rendered")
    image = Image.fromarray(pixels)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return image.width, image.height
