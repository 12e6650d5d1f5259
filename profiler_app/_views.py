"""Draw functions: one per window, each a function of the :class:`ProfilerState`.

They only draw and translate input into state changes; the numbers come from ``_data.py``
(computed through ``state.memo`` so whole-range work does not run every frame). Each view
draws into the window ``_app.py`` opened for it, and :func:`safe_draw` turns an exception in
one view into an error box in that window instead of a dead application.

Every begin/end pair (plots, tables, clip rects, colormaps) is closed in a ``finally`` so an
exception half-way leaves Dear ImGui and ImPlot balanced.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Final

import numpy as np
from imgui_bundle import ImVec2, hello_imgui, imgui, implot

from ._data import (
    ACCESS_LABELS,
    FLAG_LATE,
    FLAG_RETRIED,
    KIND_GROUP,
    KIND_MARKER,
    KIND_PHASE,
    KIND_SYSTEM,
    KIND_WAIT,
    R_DROPPED,
    R_ERRORED,
    R_STILL_RUNNING,
    SR_ERRORED,
    STAT_COLUMNS,
    Capture,
    Timeline,
    access_matrix,
    compare_captures,
    contention_series,
    cull_spans,
    describe_span,
    durations_of,
    frame_graph_series,
    group_statistics,
    histogram,
    hitches,
    percentiles,
    pick_row,
    queue_depths,
    rasterize_spans,
    sampling_note,
    sort_stats,
    span_at,
    span_colors,
    system_statistics,
    timeline_layout,
    truncate_label,
)
from ._replay import MAX_SPEED, MIN_SPEED
from ._state import MAX_TIMELINE_TICKS, ProfilerState

__all__ = [
    "draw_banners",
    "draw_capture_panel",
    "draw_compare",
    "draw_contention",
    "draw_frame_graph",
    "draw_queue_depths",
    "draw_statistics",
    "draw_timeline",
    "handle_keys",
    "safe_draw",
]

# Group colours: readable on the dark theme, and free of the status hues (red errored,
# orange retried / dropped, magenta late merge), so that a group's own colour never reads as
# a status. Blues, greens, purples, teals and earth tones.
PALETTE: Final = (
    (0.35, 0.60, 0.85),
    (0.40, 0.75, 0.40),
    (0.65, 0.50, 0.80),
    (0.35, 0.78, 0.82),
    (0.78, 0.78, 0.35),
    (0.70, 0.52, 0.45),
    (0.48, 0.48, 0.88),
    (0.55, 0.82, 0.65),
    (0.30, 0.60, 0.55),
    (0.60, 0.70, 0.95),
)
RED: Final = (0.95, 0.25, 0.25, 1.0)
ORANGE: Final = (1.0, 0.65, 0.1, 1.0)
MAGENTA: Final = (0.9, 0.3, 0.9, 1.0)
GREEN: Final = (0.4, 0.85, 0.4, 1.0)
GREY: Final = (0.6, 0.6, 0.6, 1.0)
BUDGET: Final = (1.0, 0.85, 0.2, 0.9)
PHASE_COLOR: Final = (0.55, 0.62, 0.72, 1.0)
ACCESS_COLORS: Final = ((0.16, 0.17, 0.2, 1.0), (0.3, 0.55, 0.85, 1.0), (1.0, 0.62, 0.15, 1.0), (0.9, 0.25, 0.3, 1.0))


def _rgba(i: int, alpha: float = 1.0, lighten: float = 0.0) -> tuple[float, float, float, float]:
    r, g, b = PALETTE[i % len(PALETTE)]
    return (r + (1 - r) * lighten, g + (1 - g) * lighten, b + (1 - b) * lighten, alpha)


def _u32(c: tuple[float, float, float, float]) -> int:
    return int(imgui.get_color_u32(imgui.ImVec4(*c)))


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


# ------------------------------------------------------------------------------------------------
# Balanced begin/end helpers
# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _plot(title: str, size: tuple[float, float], flags: int = 0) -> Iterator[bool]:
    opened = implot.begin_plot(title, ImVec2(*size), flags)
    try:
        yield opened
    finally:
        if opened:
            implot.end_plot()


@contextlib.contextmanager
def _subplots(title: str, rows: int, cols: int, size: tuple[float, float], flags: int = 0) -> Iterator[bool]:
    opened = implot.begin_subplots(title, rows, cols, ImVec2(*size), flags)
    try:
        yield opened
    finally:
        if opened:
            implot.end_subplots()


@contextlib.contextmanager
def _clip() -> Iterator[None]:
    implot.push_plot_clip_rect()
    try:
        yield
    finally:
        implot.pop_plot_clip_rect()


@contextlib.contextmanager
def _colormap(cmap: Any) -> Iterator[None]:
    implot.push_colormap(cmap)
    try:
        yield
    finally:
        implot.pop_colormap()


@contextlib.contextmanager
def _table(name: str, columns: int, flags: int, size: tuple[float, float] = (0, 0)) -> Iterator[bool]:
    opened = imgui.begin_table(name, columns, flags, ImVec2(*size))
    try:
        yield opened
    finally:
        if opened:
            imgui.end_table()


@contextlib.contextmanager
def _child(name: str, size: tuple[float, float]) -> Iterator[bool]:
    visible = imgui.begin_child(name, ImVec2(*size))
    try:
        yield visible
    finally:
        imgui.end_child()


def safe_draw(state: ProfilerState, name: str, draw: Callable[[ProfilerState], None]) -> None:
    """Run one view; an exception shows an error box (with Retry) in its window, never kills the app."""
    error = state.view_errors.get(name)
    if error is not None:
        imgui.text_colored(imgui.ImVec4(*RED), f"The {name} view failed and was stopped:")
        imgui.text_wrapped(error)
        if imgui.button(f"Retry##{name}"):
            del state.view_errors[name]
        return
    recovery = imgui.internal.ErrorRecoveryState()
    imgui.internal.error_recovery_store_state(recovery)
    started = time.perf_counter()
    try:
        draw(state)
        state.draw_ms[name] = (time.perf_counter() - started) * 1e3
    except Exception as exc:  # noqa: BLE001 - one broken view must not take the profiler down
        imgui.internal.error_recovery_try_to_recover_window_state(recovery)
        state.view_errors[name] = f"{type(exc).__name__}: {exc}"
        print(f"ecs-profiler: the {name} view failed:", file=sys.stderr)
        traceback.print_exc()


def _empty(state: ProfilerState) -> bool:
    """Draw the 'nothing to show' hint; True when there is nothing to show."""
    cap, lo, hi = state.shown()
    if cap is not None and hi > lo:
        return False
    if state.jobs:
        imgui.text("Loading...")
        for job in state.jobs:
            imgui.progress_bar(job.progress, ImVec2(-1, 0), f"{job.name}: {job.progress * 100:.0f}%")
    elif state.mode == "live":
        live = state.live
        imgui.text_wrapped(f"Live: {live.message if live else 'not connected'} - waiting for ticks.")
    else:
        imgui.text_wrapped("No capture. Open a trace (File > Open, or the Capture panel) or connect to a live stream.")
    return True


def _computing(what: str) -> None:
    """Said while a background computation for a view runs (big captures: a fraction of a second)."""
    dots = "." * (1 + int(imgui.get_time() * 3) % 3)
    imgui.text_disabled(f"Computing {what}{dots}")


def _remember_geometry(state: ProfilerState, name: str, limits: Any) -> None:
    pos, size = implot.get_plot_pos(), implot.get_plot_size()
    state.plot_geometry[name] = (pos.x, pos.y, size.x, size.y, limits.x.min, limits.x.max, limits.y.min, limits.y.max)


def _source(state: ProfilerState, cap: Capture) -> Any:
    """What a cached result depends on: the file, or (live) the stream whose snapshots keep changing."""
    return ("live", cap.name) if state.mode == "live" else id(cap)


def _row_of_tick(cap: Capture, lo: int, hi: int, tick: float) -> int:
    """The row whose tick number is nearest to ``tick`` within [lo, hi)."""
    ticks = cap.data.tick[lo:hi]
    i = int(np.searchsorted(ticks, tick))
    if i >= len(ticks):
        return hi - 1
    if i > 0 and abs(ticks[i - 1] - tick) <= abs(ticks[i] - tick):
        i -= 1
    return lo + i


def _visible_rows(cap: Capture, lo: int, hi: int, x0: float, x1: float) -> tuple[int, int]:
    ticks = cap.data.tick[lo:hi]
    a = lo + max(0, int(np.searchsorted(ticks, x0)) - 1)
    b = lo + min(len(ticks), int(np.searchsorted(ticks, x1, side="right")) + 1)
    return a, max(a + 1, b)


def _ticks_of_rows(cap: Capture, rows: np.ndarray) -> np.ndarray:
    idx = np.clip(rows.astype(np.int64), 0, max(0, len(cap) - 1))
    return cap.data.tick[idx].astype(np.float64)


# ------------------------------------------------------------------------------------------------
# Frame graph
# ------------------------------------------------------------------------------------------------
def draw_frame_graph(state: ProfilerState) -> None:
    """Tick durations over the whole capture, a budget line, hitches in red; click selects a tick."""
    if _empty(state):
        return
    cap, lo, hi = state.shown()
    assert cap is not None
    a, b = state.selection()
    imgui.text(f"{cap.name}: {hi - lo} ticks")
    imgui.same_line()
    imgui.set_next_item_width(hello_imgui.em_size(6))
    changed, value = imgui.drag_float("budget (ms)", state.budget_ms, 0.1, 0.1, 10_000.0, "%.1f")
    if changed:
        state.budget_ms = max(0.1, float(value))
    imgui.same_line()
    if imgui.button("Fit##frame graph"):
        state.fit_frame_graph = True
    n_hitches = len(_visible_hitches(state, cap, lo, hi, limit=len(cap) + 1))
    imgui.same_line()
    imgui.text_colored(imgui.ImVec4(*(RED if n_hitches else GREEN)), f"{n_hitches} over budget")
    imgui.same_line()
    if b - a == 1:
        imgui.text(f"| tick {int(cap.data.tick[a])}: {cap.tick_ms[a]:.3f} ms")
    else:
        sel = cap.tick_ms[a:b]
        span = f"{int(cap.data.tick[a])}..{int(cap.data.tick[b - 1])}"
        imgui.text(f"| ticks {span}: mean {sel.mean():.3f}, max {sel.max():.3f} ms")
    imgui.same_line()
    imgui.text_disabled("(?)")
    if imgui.is_item_hovered():
        imgui.set_tooltip(
            "Click: select a tick (zoomed out: the slowest under the mouse)\n"
            "Shift+click: extend the selection   Right-drag: select a range\n"
            "Left/Right: previous/next tick   PageUp/PageDown: previous/next hitch\n"
            "Home/End: first/last tick (Shift extends)   Wheel: zoom   Drag: pan   Double-click: fit"
        )

    with _plot("##frame graph", (-1, -1), implot.Flags_.no_title) as opened:
        if not opened:
            return
        implot.setup_axes("tick", "ms")
        implot.setup_legend(implot.Location_.north_east, implot.LegendFlags_.horizontal)
        ticks = cap.data.tick
        x0, x1 = float(ticks[lo]), float(ticks[hi - 1])
        ymax = state.memo(
            "frame graph ymax",
            _source(state, cap),
            lambda: float(cap.tick_ms[lo:hi].max()),
            volatile=(id(cap), lo, hi),
            min_interval=0.5,
        )
        top = max(ymax, state.budget_ms) * 1.12
        if state.mode == "live" and state.live_follow:
            implot.setup_axes_limits(x0 - 0.5, x1 + 0.5, 0.0, top, implot.Cond_.always)
        elif state.fit_frame_graph:
            implot.setup_axes_limits(x0 - 0.5, x1 + 0.5, 0.0, top, implot.Cond_.always)
            state.fit_frame_graph = False
        elif state.frame_graph_zoom is not None:
            implot.setup_axis_limits(implot.ImAxis_.x1, *state.frame_graph_zoom, implot.Cond_.always)
        state.frame_graph_zoom = None
        limits = implot.get_plot_limits()
        _remember_geometry(state, "frame_graph", limits)
        width = max(50, int(implot.get_plot_size().x))
        r0, r1 = _visible_rows(cap, lo, hi, limits.x.min, limits.x.max)
        xs_rows, ymin, ymax_b = frame_graph_series(cap.pyramid, r0, r1, width)
        xt = _ticks_of_rows(cap, xs_rows)
        if r1 - r0 <= width // 3:
            over = ymax_b > state.budget_ms
            implot.plot_bars(
                "tick", xt[~over], ymax_b[~over], 0.8, implot.Spec(fill_color=_rgba(0), line_color=_rgba(0))
            )
            implot.plot_bars("over budget", xt[over], ymax_b[over], 0.8, implot.Spec(fill_color=RED, line_color=RED))
        else:
            implot.plot_shaded("min..max", xt, ymin, ymax_b, implot.Spec(fill_color=_rgba(0), fill_alpha=0.35))
            implot.plot_line("tick", xt, ymax_b, implot.Spec(line_color=_rgba(0)))
            rows = _visible_hitches(state, cap, r0, r1)
            if len(rows):
                implot.plot_scatter(
                    "over budget",
                    _ticks_of_rows(cap, rows),
                    cap.tick_ms[rows],
                    implot.Spec(
                        marker=implot.Marker_.circle, marker_size=3, marker_fill_color=RED, marker_line_color=RED
                    ),
                )
        implot.plot_inf_lines(
            f"budget {state.budget_ms:.1f} ms",
            np.array([state.budget_ms]),
            implot.Spec(line_color=BUDGET, line_weight=1.5, flags=implot.InfLinesFlags_.horizontal),
        )
        _draw_selection_band(cap, a, b)
        _frame_graph_input(state, cap, lo, hi, limits, width)


def _visible_hitches(state: ProfilerState, cap: Capture, r0: int, r1: int, limit: int = 400) -> np.ndarray:
    """Over-budget rows in [r0, r1), the worst ``limit``: one whole-capture pass per budget, then O(visible)."""
    all_rows = state.memo(
        "hitch rows",
        (_source(state, cap), state.budget_ms),
        lambda: hitches(cap.tick_ms, state.budget_ms, 0, len(cap), limit=len(cap) + 1),
        volatile=id(cap),
        min_interval=0.25,
    )
    a, b = np.searchsorted(all_rows, [r0, r1])
    rows = all_rows[a:b]
    rows = rows[rows < len(cap)]
    if len(rows) > limit:
        worst = np.argpartition(cap.tick_ms[rows], -limit)[-limit:]
        rows = np.sort(rows[worst])
    return rows


def _draw_selection_band(cap: Capture, a: int, b: int) -> None:
    ticks = cap.data.tick
    left = implot.plot_to_pixels(float(ticks[a]) - 0.5, 0.0).x
    right = implot.plot_to_pixels(float(ticks[b - 1]) + 0.5, 0.0).x
    if right - left < 3:
        mid = (left + right) / 2
        left, right = mid - 1.5, mid + 1.5
    pos, size = implot.get_plot_pos(), implot.get_plot_size()
    with _clip():
        dl = implot.get_plot_draw_list()
        dl.add_rect_filled(ImVec2(left, pos.y), ImVec2(right, pos.y + size.y), _u32((1.0, 1.0, 1.0, 0.18)))
        dl.add_rect(ImVec2(left, pos.y), ImVec2(right, pos.y + size.y), _u32((1.0, 1.0, 1.0, 0.7)))


def _frame_graph_input(state: ProfilerState, cap: Capture, lo: int, hi: int, limits: Any, width: int) -> None:
    if implot.is_plot_selected():
        sel = implot.get_plot_selection()
        state.select_range(_row_of_tick(cap, lo, hi, sel.x.min), _row_of_tick(cap, lo, hi, sel.x.max) + 1)
        implot.cancel_plot_selection()
        return
    if not implot.is_plot_hovered():
        return
    if imgui.is_mouse_clicked(imgui.MouseButton_.left):
        state.fg_press = imgui.get_mouse_pos()
    if imgui.is_mouse_released(imgui.MouseButton_.left):
        press = state.fg_press
        now = imgui.get_mouse_pos()
        if press is not None and abs(press.x - now.x) < 4 and abs(press.y - now.y) < 4:
            mouse = implot.get_plot_mouse_pos()
            ticks_per_px = (limits.x.max - limits.x.min) / max(1, width)
            r0 = _row_of_tick(cap, lo, hi, mouse.x - 2 * ticks_per_px)
            r1 = _row_of_tick(cap, lo, hi, mouse.x + 2 * ticks_per_px) + 1
            row = pick_row(cap.tick_ms, r0, r1) if ticks_per_px > 1 else _row_of_tick(cap, lo, hi, mouse.x)
            if row is not None:
                state.select(row, extend=imgui.get_io().key_shift)
        state.fg_press = None


def handle_keys(state: ProfilerState) -> None:
    """Global keys (not while typing): step ticks, jump to hitches, replay play/pause."""
    io = imgui.get_io()
    if io.want_text_input or state.shown()[0] is None:
        return
    shift = io.key_shift
    if imgui.is_key_pressed(imgui.Key.right_arrow):
        state.step(+1, extend=shift)
    elif imgui.is_key_pressed(imgui.Key.left_arrow):
        state.step(-1, extend=shift)
    elif imgui.is_key_pressed(imgui.Key.page_down):
        state.step_hitch(+1)
    elif imgui.is_key_pressed(imgui.Key.page_up):
        state.step_hitch(-1)
    elif imgui.is_key_pressed(imgui.Key.home, repeat=False):
        state.select(0, extend=shift)
    elif imgui.is_key_pressed(imgui.Key.end, repeat=False):
        _, _, hi = state.shown()
        state.select(hi - 1, extend=shift)
    elif imgui.is_key_pressed(imgui.Key.space, repeat=False) and state.replay is not None:
        state.replay.toggle()


# ------------------------------------------------------------------------------------------------
# Timeline
# ------------------------------------------------------------------------------------------------
_LEGEND: Final = (
    ("group", _rgba(0)),
    ("system (nested)", _rgba(0, lighten=0.45)),
    ("queue wait", (0.7, 0.7, 0.7, 0.35)),
    ("phase", PHASE_COLOR),
    ("errored", RED),
    ("retried", ORANGE),
    ("late merge", MAGENTA),
    ("dropped / still running", ORANGE),
)


def draw_timeline(state: ProfilerState) -> None:
    """The selected ticks: a lane per sync group, per async worker and per phase kind; zoom/pan; tooltips."""
    if _empty(state):
        return
    cap, _, _ = state.shown()
    assert cap is not None
    a, b = state.timeline_range()
    tl: Timeline = state.memo("timeline", (id(cap), a, b), lambda: timeline_layout(cap, a, b))
    sa, sb = state.selection()
    ticks = cap.data.tick
    title = f"tick {int(ticks[a])}" if b - a == 1 else f"ticks {int(ticks[a])}..{int(ticks[b - 1])} ({b - a})"
    if sb - sa > MAX_TIMELINE_TICKS:
        title += f" - first {MAX_TIMELINE_TICKS} of the {sb - sa} selected"
    imgui.text(title)
    imgui.same_line()
    if imgui.button("Fit##timeline"):
        state.fit_timeline = True
    for label, color in _LEGEND:
        imgui.same_line()
        imgui.color_button(f"##legend {label}", imgui.ImVec4(*color), imgui.ColorEditFlags_.no_tooltip, ImVec2(10, 10))
        imgui.same_line(0, 3)
        imgui.text(label)
    # The note only when some run in view really lacks its systems (sampling skipped it).
    untimed: int = state.memo("timeline untimed", (id(cap), a, b), lambda: cap.untimed_runs(a, b))
    note = sampling_note(cap.data.header) if untimed else ""
    if note:
        imgui.same_line()
        imgui.text_disabled("(sampled)")
        if imgui.is_item_hovered():
            imgui.set_tooltip(note)

    flags = implot.Flags_.no_title | implot.Flags_.no_legend | implot.Flags_.no_box_select | implot.Flags_.no_mouse_text
    with _plot("##timeline", (-1, -1), flags) as opened:
        if not opened:
            return
        n_lanes = max(1, len(tl.lanes))
        implot.setup_axes("ms from the first selected tick", "", 0, implot.AxisFlags_.invert | implot.AxisFlags_.lock)
        implot.setup_axis_limits(implot.ImAxis_.y1, 0.0, float(n_lanes), implot.Cond_.always)
        if tl.lanes:
            implot.setup_axis_ticks(implot.ImAxis_.y1, [i + 0.5 for i in range(len(tl.lanes))], list(tl.lanes))
        if state.fit_timeline:
            x_end = float(max(tl.end.max() if len(tl) else 1.0, cap.tick_ms[b - 1] + tl.tick_starts[-1]))
            pad = max(0.01, x_end * 0.02)
            implot.setup_axis_limits(implot.ImAxis_.x1, -pad, x_end + pad, implot.Cond_.always)
            state.fit_timeline = False
        elif state.timeline_zoom is not None:
            implot.setup_axis_limits(implot.ImAxis_.x1, *state.timeline_zoom, implot.Cond_.always)
        state.timeline_zoom = None
        limits = implot.get_plot_limits()
        _remember_geometry(state, "timeline", limits)
        _draw_spans(cap, tl, limits)
        state.hovered_span = None
        if implot.is_plot_hovered():
            mouse = implot.get_plot_mouse_pos()
            i = state.hovered_span = span_at(tl, mouse.x, mouse.y)
            if i is not None:
                imgui.begin_tooltip()
                try:
                    for k, line in enumerate(describe_span(cap, tl, i)):
                        if line.startswith("error:"):
                            imgui.text_colored(imgui.ImVec4(*RED), line)
                        elif k == 0:
                            imgui.text_colored(imgui.ImVec4(*_rgba(int(tl.label[i]), lighten=0.3)), line)
                        else:
                            imgui.text(line)
                finally:
                    imgui.end_tooltip()


def _draw_spans(cap: Capture, tl: Timeline, limits: Any) -> None:
    pos, size = implot.get_plot_pos(), implot.get_plot_size()
    x0, x1 = limits.x.min, limits.x.max
    if x1 <= x0 or size.x <= 0:
        return
    sx = size.x / (x1 - x0)
    lane_top = [implot.plot_to_pixels(x0, float(i)).y for i in range(len(tl.lanes) + 1)]
    lane_h = abs(lane_top[1] - lane_top[0]) if len(lane_top) > 1 else size.y
    wide, thin = cull_spans(tl, x0, x1, size.x)
    if len(thin):
        _draw_raster(cap, tl, thin, x0, x1, int(size.x / 2))
    system_group = _system_group_index(cap)
    text_col = _u32((0.05, 0.05, 0.08, 1.0))
    markers = wide[tl.kind[wide] == KIND_MARKER]
    marker_px = pos.x + (tl.start[markers] - x0) * sx
    # Marker captions only where they do not run into the next marker on the same lane.
    room = np.full(len(markers), np.inf)
    for lane in np.unique(tl.lane[markers]):
        on = np.flatnonzero(tl.lane[markers] == lane)
        room[on[:-1]] = np.diff(marker_px[on])
    captions = dict(zip(markers.tolist(), (room > 170).tolist(), strict=True))
    with _clip():
        dl = implot.get_plot_draw_list()
        # Tick boundaries, labelled when there is room.
        starts = tl.tick_starts
        vis = np.flatnonzero((starts >= x0) & (starts <= x1))
        spacing = (starts[1] - starts[0]) * sx if len(starts) > 1 else size.x
        for i in vis[:400] if spacing > 4 else ():
            px = pos.x + (starts[i] - x0) * sx
            dl.add_line(ImVec2(px, pos.y), ImVec2(px, pos.y + size.y), _u32((1, 1, 1, 0.22)))
            if spacing > 70 or len(vis) == 1:
                dl.add_text(ImVec2(px + 3, pos.y + 2), _u32((1, 1, 1, 0.55)), f"tick {int(tl.ticks[i])}")
        pad = max(1.0, lane_h * 0.08)
        for i in wide:
            kind = int(tl.kind[i])
            lane = int(tl.lane[i])
            left = pos.x + (tl.start[i] - x0) * sx
            right = pos.x + (tl.end[i] - x0) * sx
            top, bottom = lane_top[lane] + pad, lane_top[lane] + lane_h - pad
            label_index = int(tl.label[i])
            if kind == KIND_SYSTEM:
                top = lane_top[lane] + lane_h * 0.5
                bottom -= 1
                left, right = left + 1, right - 1
                color = _rgba(system_group.get(label_index, 0), lighten=0.45)
                name = cap.system_names[label_index] if 0 <= label_index < len(cap.system_names) else "?"
            elif kind == KIND_PHASE:
                color = PHASE_COLOR
                name = ""
            elif kind == KIND_WAIT:
                color = (0.7, 0.7, 0.7, 0.35)
                name = "wait"
            elif kind == KIND_MARKER:
                res = int(tl.result[i])
                color = ORANGE if res in (R_DROPPED, R_STILL_RUNNING) else GREY
                mid = (left + right) / 2
                dl.add_triangle_filled(ImVec2(mid - 6, bottom), ImVec2(mid + 6, bottom), ImVec2(mid, top), _u32(color))
                if captions.get(int(i)):
                    gname = cap.group_names[label_index] if 0 <= label_index < len(cap.group_names) else "?"
                    what = "dropped" if res == R_DROPPED else "still running" if res == R_STILL_RUNNING else "skipped"
                    dl.add_text(ImVec2(mid + 8, top), _u32(color), f"{gname}: {what}")
                continue
            else:
                color = _rgba(label_index)
                name = cap.group_names[label_index] if 0 <= label_index < len(cap.group_names) else "?"
                if kind == KIND_GROUP:
                    bottom_group = lane_top[lane] + lane_h * 0.5 - 1
                    # The group's own bar: top half solid, bottom half holds its systems.
                    dl.add_rect_filled(
                        ImVec2(left, top), ImVec2(right, lane_top[lane] + lane_h - pad), _u32(_rgba(label_index, 0.35))
                    )
                    dl.add_rect_filled(ImVec2(left, top), ImVec2(right, bottom_group), _u32(color))
                    _outline(dl, tl, i, left, top, right, lane_top[lane] + lane_h - pad)
                    _label(dl, name, left, top, right, text_col)
                    continue
            dl.add_rect_filled(ImVec2(left, top), ImVec2(right, bottom), _u32(color))
            if kind == KIND_SYSTEM and (int(tl.result[i]) == SR_ERRORED or int(tl.flags[i]) & FLAG_RETRIED):
                dl.add_rect(
                    ImVec2(left, top),
                    ImVec2(right, bottom),
                    _u32(RED if int(tl.result[i]) == SR_ERRORED else ORANGE),
                    0.0,
                    2.0,
                )
            if name:
                _label(dl, name, left, top, right, text_col)


def _timeline_colormap() -> Any:
    """Raster colours by :func:`span_colors` code, registered once per ImPlot context."""
    existing = implot.get_colormap_index("ecs timeline")
    if existing is not None and existing >= 0:
        return existing
    n = len(PALETTE)
    colors = [(0.0, 0.0, 0.0, 0.0)]
    colors += [_rgba(i) for i in range(n)]
    colors += [_rgba(i, lighten=0.45) for i in range(n)]
    colors += [PHASE_COLOR, (0.7, 0.7, 0.7, 0.35), ORANGE]
    return implot.add_colormap("ecs timeline", np.array(colors, dtype=np.float32), True)


def _draw_raster(cap: Capture, tl: Timeline, idx: np.ndarray, x0: float, x1: float, cols: int) -> None:
    """Spans too thin (or too many) to draw one by one, painted as one heatmap: O(pixels) per frame."""
    n_codes = 2 * len(PALETTE) + 4
    colors = span_colors(cap, tl, len(PALETTE))
    grid = rasterize_spans(tl, idx, colors, x0, x1, max(1, cols))
    values = np.where(grid > 0, grid + 0.5, 0.5)[::-1].copy()  # heatmap rows run top-down
    with _colormap(_timeline_colormap()):
        implot.plot_heatmap(
            "##raster",
            values,
            0.0,
            float(n_codes),
            "",
            implot.Point(x0, 0.0),
            implot.Point(x1, float(len(tl.lanes))),
        )


def _outline(dl: Any, tl: Timeline, i: int, left: float, top: float, right: float, bottom: float) -> None:
    result = int(tl.result[i])
    flags = int(tl.flags[i])
    if result == R_ERRORED:
        dl.add_rect(ImVec2(left, top), ImVec2(right, bottom), _u32(RED), 0.0, 2.5)
        dl.add_text(ImVec2(right + 2, top), _u32(RED), "!")
    elif flags & FLAG_RETRIED:
        dl.add_rect(ImVec2(left, top), ImVec2(right, bottom), _u32(ORANGE), 0.0, 2.0)
    if flags & FLAG_LATE:
        dl.add_rect(ImVec2(left - 1, top - 1), ImVec2(right + 1, bottom + 1), _u32(MAGENTA), 0.0, 1.5)


_TEXT_WIDTH: dict[str, float] = {}


def _label(dl: Any, text: str, left: float, top: float, right: float, col: int) -> None:
    width = _TEXT_WIDTH.get(text)
    if width is None:
        width = _TEXT_WIDTH[text] = imgui.calc_text_size(text).x
    if right - left > width + 6:
        dl.add_text(ImVec2(left + 3, top), col, text)


def _system_group_index(cap: Capture) -> dict[int, int]:
    index = {name: i for i, name in enumerate(cap.group_names)}
    systems = cap.data.header.get("systems") or []
    return {i: index.get(str(s.get("group")), 0) for i, s in enumerate(systems) if isinstance(s, dict)}


# ------------------------------------------------------------------------------------------------
# Contention
# ------------------------------------------------------------------------------------------------
def _access_colormap() -> Any:
    """The qualitative colormap of the access matrix, registered once per ImPlot context."""
    existing = implot.get_colormap_index("ecs access")
    if existing is not None and existing >= 0:
        return existing
    colors = np.array([list(c) for c in ACCESS_COLORS], dtype=np.float32)
    return implot.add_colormap("ecs access", colors, True)


def _fit_labels(labels: list[str], px_per_label: float) -> list[str]:
    """Axis labels cut to fit ``px_per_label`` pixels each; every other one dropped when even that is too tight."""
    room = px_per_label - 8
    out = []
    for text in labels:
        cut = text
        n = len(text)
        while n > 3 and imgui.calc_text_size(cut).x > room:
            n -= 1
            cut = truncate_label(text, n)
        out.append(cut)
    if any(imgui.calc_text_size(c).x > room for c in out):
        out = [c if i % 2 == 0 else "" for i, c in enumerate(out)]
    return out


def draw_contention(state: ProfilerState) -> None:
    """Components x groups (read / write / contended read) and, over time, who contends for what."""
    if _empty(state):
        return
    cap, lo, hi = state.shown()
    assert cap is not None
    matrix = state.memo("access", id(cap.data.header), lambda: access_matrix(cap.data.header))
    legend_w = hello_imgui.em_size(11)
    avail = imgui.get_content_region_avail()
    with _child("##contention scroll", (0, 0)):
        imgui.text("Who touches what (from the trace header)")
        nc, ng = len(matrix.components), len(matrix.groups)
        if nc and ng:
            h = min(max(150.0, 26.0 * nc + 70), avail.y * 0.45 + 80)
            _access_heatmap(matrix, (avail.x - legend_w - 20, h))
            imgui.same_line()
            imgui.begin_group()
            for label, color in zip(ACCESS_LABELS, ACCESS_COLORS, strict=True):
                imgui.color_button(
                    f"##access {label}", imgui.ImVec4(*color), imgui.ColorEditFlags_.no_tooltip, ImVec2(14, 14)
                )
                imgui.same_line()
                imgui.text_wrapped(label)
            imgui.end_group()
        else:
            imgui.text_disabled("The trace header declares no component access.")
        imgui.separator()
        bins = max(8, min(state.contention_bins, int(avail.x / 8)))
        series = state.memo_bg(
            "contention",
            (_source(state, cap), bins),
            lambda: contention_series(cap, lo, hi, bins),
            volatile=(id(cap), lo, hi),
            min_interval=0.5,
        )
        if series is None:
            _computing("contention over time")
            return
        e0, e1 = series.edges[0], series.edges[-1]
        x0 = float(cap.data.tick[min(e0, len(cap) - 1)]) if len(series.edges) else 0.0
        x1 = float(cap.data.tick[min(e1, len(cap)) - 1]) + 1 if len(series.edges) else 1.0
        imgui.text(f"Over time: ticks {int(x0)}..{int(x1) - 1} in {len(series.edges) - 1} bins")
        _time_heatmap(
            "Async reads of what synchronized groups write: overlap (ms per bin)",
            series.pair_labels,
            series.overlap_ms,
            (x0, x1),
            "ms",
            legend_w,
            "No async group reads a component that a synchronized group writes.",
        )
        _time_heatmap(
            "Async queue wait (mean ms per run)",
            series.wait_labels,
            series.wait_ms,
            (x0, x1),
            "ms",
            legend_w,
            "No async groups in this capture.",
        )
        _time_heatmap(
            "Retries, timeouts and drops (count per bin)",
            series.event_labels,
            series.events,
            (x0, x1),
            "count",
            legend_w,
            "No retries, timeouts or drops.",
        )


def _access_heatmap(matrix: Any, size: tuple[float, float]) -> None:
    nc, ng = len(matrix.components), len(matrix.groups)
    axis_flags = implot.AxisFlags_.lock | implot.AxisFlags_.no_grid_lines | implot.AxisFlags_.no_tick_marks
    with (
        _colormap(_access_colormap()),
        _plot("##access", size, implot.Flags_.no_legend | implot.Flags_.no_mouse_text) as opened,
    ):
        if not opened:
            return
        implot.setup_axes("", "", axis_flags, axis_flags)
        implot.setup_axes_limits(0, ng, 0, nc, implot.Cond_.always)
        y_labels_w = max(imgui.calc_text_size(c).x for c in matrix.components)
        labels = _fit_labels(list(matrix.groups), (size[0] - y_labels_w - 40) / max(1, ng))
        implot.setup_axis_ticks(implot.ImAxis_.x1, [i + 0.5 for i in range(ng)], labels)
        implot.setup_axis_ticks(implot.ImAxis_.y1, [nc - j - 0.5 for j in range(nc)], list(matrix.components))
        implot.plot_heatmap(
            "##access",
            matrix.values.astype(np.float64),
            0.0,
            3.0,
            "",
            implot.Point(0, 0),
            implot.Point(ng, nc),
        )
        if implot.is_plot_hovered():
            m = implot.get_plot_mouse_pos()
            gi, cj = int(m.x), nc - 1 - int(m.y)
            if 0 <= gi < ng and 0 <= cj < nc:
                code = int(matrix.values[cj, gi])
                owner = matrix.owners.get(matrix.components[cj], "-")
                imgui.set_tooltip(
                    f"{matrix.components[cj]} / {matrix.groups[gi]}: {ACCESS_LABELS[code]}\nwritten by: {owner}"
                )


def _time_heatmap(
    title: str,
    labels: tuple[str, ...],
    values: np.ndarray,
    x_range: tuple[float, float],
    unit: str,
    legend_w: float,
    empty_text: str,
) -> None:
    imgui.text(title)
    if not labels:
        imgui.text_disabled(empty_text)
        return
    rows, bins = values.shape
    vmax = float(values.max()) if values.size else 0.0
    scale_max = vmax if vmax > 0 else 1.0
    h = 26.0 * rows + 60
    avail = imgui.get_content_region_avail().x
    axis_flags = implot.AxisFlags_.lock | implot.AxisFlags_.no_grid_lines
    with _colormap(implot.Colormap_.viridis):
        with _plot(
            f"##{title}", (avail - legend_w - 20, h), implot.Flags_.no_legend | implot.Flags_.no_mouse_text
        ) as opened:
            if opened:
                implot.setup_axes("tick", "", axis_flags, axis_flags | implot.AxisFlags_.no_tick_marks)
                implot.setup_axes_limits(x_range[0], x_range[1], 0, rows, implot.Cond_.always)
                implot.setup_axis_ticks(implot.ImAxis_.y1, [rows - j - 0.5 for j in range(rows)], list(labels))
                implot.plot_heatmap(
                    f"##{title} map",
                    np.ascontiguousarray(values, dtype=np.float64),
                    0.0,
                    scale_max,
                    "",
                    implot.Point(x_range[0], 0),
                    implot.Point(x_range[1], rows),
                )
                if implot.is_plot_hovered():
                    m = implot.get_plot_mouse_pos()
                    j = rows - 1 - int(m.y)
                    col = int((m.x - x_range[0]) / max(1e-9, x_range[1] - x_range[0]) * bins)
                    if 0 <= j < rows and 0 <= col < bins:
                        imgui.set_tooltip(f"{labels[j]}\nbin {col + 1}/{bins}: {values[j, col]:.3f} {unit}")
        imgui.same_line()
        implot.colormap_scale(f"{unit}##{title} scale", 0.0, scale_max, ImVec2(legend_w, h), "%.2f")


# ------------------------------------------------------------------------------------------------
# Queue depths
# ------------------------------------------------------------------------------------------------
def draw_queue_depths(state: ProfilerState) -> None:
    """Per async group: pool tasks ahead of it at dispatch, over time, its queue limit and its drops."""
    if _empty(state):
        return
    cap, lo, hi = state.shown()
    assert cap is not None
    series = state.memo_bg("queues", id(cap), lambda: queue_depths(cap))
    if series is None:
        _computing("queue depths")
        return
    if not series:
        imgui.text_wrapped("No async groups in this capture: queue depths apply to async groups only.")
        return
    imgui.text(
        "Tasks ahead of each async group in the worker pool when it was dispatched; "
        "dashed: its queue limit; red: runs dropped because the queue was full."
    )
    ticks = cap.data.tick
    refit = (state.mode == "live" and state.live_follow) or state.queue_fit_for != id(cap)
    state.queue_fit_for = id(cap)
    flags = implot.SubplotFlags_.link_all_x | implot.SubplotFlags_.no_title
    with _subplots("##queue depths", len(series), 1, (-1, -1), flags) as opened:
        if not opened:
            return
        for k, s in enumerate(series):
            with _plot(f"##queue {s.group}", (0, 0), implot.Flags_.no_title | implot.Flags_.no_mouse_text) as shown:
                if not shown:
                    continue
                last = k == len(series) - 1
                x_flags = 0 if last else implot.AxisFlags_.no_tick_labels
                implot.setup_axes("tick" if last else "", s.group, x_flags, implot.AxisFlags_.lock)
                implot.setup_axis_limits(implot.ImAxis_.y1, -0.2, max(s.limit, 1) + 1.2, implot.Cond_.always)
                if refit:
                    implot.setup_axis_limits(
                        implot.ImAxis_.x1, float(ticks[lo]), float(ticks[hi - 1]) + 1, implot.Cond_.always
                    )
                implot.setup_legend(implot.Location_.north_east, implot.LegendFlags_.horizontal)
                limits = implot.get_plot_limits()
                width = max(50, int(implot.get_plot_size().x))
                r0, r1 = _visible_rows(cap, lo, hi, limits.x.min, limits.x.max)
                xs_rows, _, ymax = frame_graph_series(s.pyramid, r0, r1, width)
                color = _rgba(k)
                implot.plot_stairs(
                    "depth", _ticks_of_rows(cap, xs_rows), ymax, implot.Spec(line_color=color, line_weight=1.5)
                )
                if s.limit > 0:
                    _dashed_hline(s.limit, color, f"limit {s.limit}")
                a, b = np.searchsorted(s.drops, [r0, r1])
                drops = s.drops[a:b][:2000]
                if len(drops):
                    implot.plot_scatter(
                        f"dropped ({len(s.drops)})",
                        _ticks_of_rows(cap, drops),
                        np.nan_to_num(s.depth[drops], nan=float(s.limit)),
                        implot.Spec(marker=implot.Marker_.cross, marker_size=4, marker_line_color=RED, line_color=RED),
                    )


def _dashed_hline(y: float, color: tuple[float, float, float, float], label: str) -> None:
    implot.plot_dummy(label, implot.Spec(line_color=color))
    pos, size = implot.get_plot_pos(), implot.get_plot_size()
    py = implot.plot_to_pixels(0.0, y).y
    with _clip():
        dl = implot.get_plot_draw_list()
        col = _u32((color[0], color[1], color[2], 0.9))
        x = pos.x
        while x < pos.x + size.x:
            dl.add_line(ImVec2(x, py), ImVec2(min(x + 8, pos.x + size.x), py), col, 2.0)
            x += 14


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------
def draw_statistics(state: ProfilerState) -> None:
    """Per group or system: count, mean, p50, p95, p99, max, skipped, errors; sortable; a histogram."""
    if _empty(state):
        return
    cap, lo, hi = state.shown()
    assert cap is not None
    if imgui.radio_button("groups", state.stats_kind == "group"):
        state.stats_kind = "group"
    imgui.same_line()
    if imgui.radio_button("systems", state.stats_kind == "system"):
        state.stats_kind = "system"
    imgui.same_line()
    span = f"{int(cap.data.tick[lo])}..{int(cap.data.tick[hi - 1])}"
    imgui.text(f"over ticks {span} ({hi - lo}); durations in ms; click a row for its histogram")
    kind = state.stats_kind
    compute = group_statistics if kind == "group" else system_statistics
    rows = state.memo_bg(
        "stats", (_source(state, cap), kind), lambda: compute(cap, lo, hi), volatile=(id(cap), lo, hi), min_interval=0.5
    )
    if rows is None:
        _computing("statistics")
        return
    avail = imgui.get_content_region_avail()
    flags = (
        imgui.TableFlags_.sortable
        | imgui.TableFlags_.borders
        | imgui.TableFlags_.row_bg
        | imgui.TableFlags_.scroll_y
        | imgui.TableFlags_.resizable
        | imgui.TableFlags_.sizing_stretch_prop
    )
    hidden = {"not_run"} if kind == "system" else {"group"}
    columns = [c for c in STAT_COLUMNS if c not in hidden]
    with _table("##stats", len(columns), flags, (0, max(120.0, avail.y * 0.55))) as opened:
        if opened:
            imgui.table_setup_scroll_freeze(0, 1)
            for c in columns:
                col_flags = imgui.TableColumnFlags_.none
                if c == "p95":
                    col_flags |= imgui.TableColumnFlags_.default_sort | imgui.TableColumnFlags_.prefer_sort_descending
                elif c not in ("name", "group"):
                    col_flags |= imgui.TableColumnFlags_.prefer_sort_descending
                header = "not run" if c == "not_run" else c
                imgui.table_setup_column(
                    header, col_flags, 2.0 if c in ("name", "group") else 1.0, STAT_COLUMNS.index(c)
                )
            imgui.table_headers_row()
            specs = imgui.table_get_sort_specs()
            if specs is not None and specs.specs_count > 0 and specs.specs_dirty:
                spec = specs.get_specs(0)
                state.stats_sort = STAT_COLUMNS[int(spec.column_user_id)]
                state.stats_descending = spec.get_sort_direction() == imgui.SortDirection.descending
                specs.specs_dirty = False
            for r in sort_stats(rows, state.stats_sort, state.stats_descending):
                imgui.table_next_row()
                imgui.table_next_column()
                selected = state.stats_selected == (r.kind, r.index)
                clicked, _ = imgui.selectable(
                    f"{r.name}##{r.kind}{r.index}", selected, imgui.SelectableFlags_.span_all_columns
                )
                if clicked:
                    state.stats_selected = (r.kind, r.index)
                for c in columns[1:]:
                    imgui.table_next_column()
                    v = getattr(r, c)
                    if isinstance(v, float):
                        imgui.text(_fmt(v))
                    elif c in ("errors", "not_run") and v:
                        imgui.text_colored(imgui.ImVec4(*RED), str(v))
                    else:
                        imgui.text(str(v))
    picked = state.stats_selected
    if picked is None or picked[0] != kind:
        imgui.text_disabled("Select a row to see the distribution of its durations.")
        return
    sk, si = picked
    names = cap.group_names if sk == "group" else cap.system_names
    name = names[si] if 0 <= si < len(names) else "?"
    durations = state.memo(
        "hist data",
        (_source(state, cap), sk, si),
        lambda: durations_of(cap, sk, si, lo, hi),
        volatile=(id(cap), lo, hi),
        min_interval=0.5,
    )
    edges, counts = histogram(durations, bins=50)
    with _plot(f"{name}: run durations ({len(durations)} runs)", (-1, -1)) as opened:
        if opened:
            implot.setup_axes("ms", "runs", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.setup_legend(implot.Location_.north_east)
            if len(edges):
                centers = (edges[:-1] + edges[1:]) / 2
                implot.plot_bars(
                    "runs", centers, counts, float(edges[1] - edges[0]) * 0.9, implot.Spec(fill_color=_rgba(0))
                )
                p50, p95, p99 = percentiles(durations, [50, 95, 99])
                for label, v, color in (("p50", p50, GREEN), ("p95", p95, ORANGE), ("p99", p99, RED)):
                    # Legend entries, not axis tags: close percentiles would print over each other.
                    implot.plot_inf_lines(
                        f"{label} {v:.3f} ms", np.array([v]), implot.Spec(line_color=color, line_weight=1.5)
                    )


# ------------------------------------------------------------------------------------------------
# Compare
# ------------------------------------------------------------------------------------------------
def draw_compare(state: ProfilerState) -> None:
    """Two captures side by side: tick durations, and per-group means with their deltas."""
    caps = state.captures
    if len(caps) < 2:
        imgui.text_wrapped("Compare needs two captures: open a second trace (File > Open for compare...).")
        return
    names = [f"{i + 1}: {c.name}" for i, c in enumerate(caps)]
    for k, (label, attr) in enumerate((("A (baseline)", "compare_a"), ("B", "compare_b"))):
        if k:
            imgui.same_line()
        current = getattr(state, attr)
        if not 0 <= current < len(caps):
            current = 0 if attr == "compare_a" else min(1, len(caps) - 1)
            setattr(state, attr, current)
        imgui.set_next_item_width(hello_imgui.em_size(16))
        changed, value = imgui.combo(label, current, names)
        if changed:
            setattr(state, attr, value)
    a, b = caps[state.compare_a], caps[state.compare_b]
    rows = state.memo_bg("compare", (id(a), id(b)), lambda: compare_captures(a, b))
    if rows is None:
        _computing("the comparison")
        return
    avail = imgui.get_content_region_avail()
    plot_h = max(140.0, avail.y * 0.35)
    top = (
        max(float(a.tick_ms.max()) if len(a) else 1.0, float(b.tick_ms.max()) if len(b) else 1.0, state.budget_ms) * 1.1
    )
    half = (avail.x - imgui.get_style().item_spacing.x) / 2
    for k, cap in enumerate((a, b)):
        if k:
            imgui.same_line()
        with _plot(f"{'AB'[k]}: {cap.name}##compare plot {k}", (half, plot_h), implot.Flags_.no_legend) as opened:
            if not opened:
                continue
            implot.setup_axes("tick", "ms")
            if len(cap):
                implot.setup_axes_limits(
                    float(cap.data.tick[0]), float(cap.data.tick[-1]) + 1, 0, top, implot.Cond_.once
                )
                limits = implot.get_plot_limits()
                r0, r1 = _visible_rows(cap, 0, len(cap), limits.x.min, limits.x.max)
                xs, ymin, ymax = frame_graph_series(cap.pyramid, r0, r1, int(half))
                xt = _ticks_of_rows(cap, xs)
                implot.plot_shaded("min..max", xt, ymin, ymax, implot.Spec(fill_color=_rgba(k), fill_alpha=0.35))
                implot.plot_line("max", xt, ymax, implot.Spec(line_color=_rgba(k)))
            implot.plot_inf_lines(
                "budget",
                np.array([state.budget_ms]),
                implot.Spec(line_color=BUDGET, flags=implot.InfLinesFlags_.horizontal),
            )
    flags = (
        imgui.TableFlags_.borders | imgui.TableFlags_.row_bg | imgui.TableFlags_.scroll_y | imgui.TableFlags_.resizable
    )
    headers = ("group", "A mean", "B mean", "delta ms", "delta %", "A p95", "B p95", "A runs", "B runs")
    table_h = max(100.0, (imgui.get_content_region_avail().y) * 0.5)
    with _table("##compare table", len(headers), flags, (0, table_h)) as opened:
        if opened:
            imgui.table_setup_scroll_freeze(0, 1)
            for h in headers:
                imgui.table_setup_column(h)
            imgui.table_headers_row()
            for r in rows:
                imgui.table_next_row()
                cells = (
                    r.name,
                    _fmt(r.mean_a),
                    _fmt(r.mean_b),
                    f"{r.delta:+.4f}" if not math.isnan(r.delta) else "-",
                    f"{r.delta_pct:+.1f}%" if not math.isnan(r.delta_pct) else "-",
                    _fmt(r.p95_a),
                    _fmt(r.p95_b),
                    str(r.count_a),
                    str(r.count_b),
                )
                for c, text in enumerate(cells):
                    imgui.table_next_column()
                    if (
                        c in (3, 4)
                        and not math.isnan(r.delta)
                        and abs(r.delta_pct if not math.isnan(r.delta_pct) else 0) >= 1
                    ):
                        imgui.text_colored(imgui.ImVec4(*(RED if r.delta > 0 else GREEN)), text)
                    else:
                        imgui.text(text)
    groups = [r for r in rows[1:] if not math.isnan(r.delta)]
    bars_h = max(120.0, imgui.get_content_region_avail().y - 4)
    with _plot("mean per group: A vs B (ms)##compare bars", (-1, bars_h), 0) as opened:
        if opened and groups:
            n = len(groups)
            implot.setup_axes("", "ms", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            labels = _fit_labels([r.name for r in groups], (imgui.get_content_region_avail().x - 80) / max(1, n))
            implot.setup_axis_ticks(implot.ImAxis_.x1, [float(i) for i in range(n)], labels)
            values = np.array([[r.mean_a for r in groups], [r.mean_b for r in groups]], dtype=np.float64)
            implot.plot_bar_groups([f"A: {a.name}", f"B: {b.name}"], np.ascontiguousarray(values.reshape(-1)), 0.7)


# ------------------------------------------------------------------------------------------------
# Capture panel (sources: files, live, replay) and banners
# ------------------------------------------------------------------------------------------------
_STATUS_COLOR: Final = {
    "connected": GREEN,
    "connecting": ORANGE,
    "disconnected": ORANGE,
    "rejected": RED,
    "failed": RED,
    "stopped": GREY,
}


def draw_capture_panel(state: ProfilerState) -> None:
    """Where the data comes from: opened files, loads in progress, the live connection, replay."""
    imgui.separator_text("Files")
    for i, cap in enumerate(list(state.captures)):
        active = state.mode != "live" and i == state.active
        warn = " (damaged)" if cap.warnings else ""
        if imgui.small_button(f"x##close {i}"):
            state.close_capture(i)
            break
        imgui.set_item_tooltip("close")
        imgui.same_line()
        clicked, _ = imgui.selectable(f"{i + 1}: {cap.name}, {len(cap)} ticks{warn}##capture {i}", active)
        if clicked:
            state.set_active(i)
    for job in list(state.jobs):
        imgui.progress_bar(job.progress, ImVec2(-hello_imgui.em_size(5), 0), f"{job.name} {job.progress * 100:.0f}%")
        imgui.same_line()
        if imgui.small_button(f"cancel##{id(job)}"):
            job.cancel()
    if imgui.button("Open...##dialog"):
        request_dialog(state, "open")
    imgui.same_line()
    if imgui.button("Open for compare...##dialog"):
        request_dialog(state, "compare")
    imgui.set_next_item_width(-hello_imgui.em_size(4))
    entered, state.open_path = imgui.input_text("##path", state.open_path, imgui.InputTextFlags_.enter_returns_true)
    imgui.same_line()
    if (imgui.button("Open##path") or entered) and state.open_path.strip():
        state.open_file(state.open_path.strip())

    imgui.separator_text("Live")
    imgui.set_next_item_width(hello_imgui.em_size(10))
    _, state.live_address = imgui.input_text("address", state.live_address)
    imgui.set_next_item_width(hello_imgui.em_size(10))
    changed, capacity = imgui.input_int("window (ticks)", state.live_capacity, 1000, 10_000)
    if changed:
        state.live_capacity = max(100, min(1_000_000, capacity))
    live = state.live
    if live is None or not live.running:
        if imgui.button("Connect##live"):
            state.connect()
    elif imgui.button("Disconnect##live"):
        state.disconnect()
    if live is not None:
        imgui.same_line()
        imgui.text_colored(imgui.ImVec4(*_STATUS_COLOR.get(live.status, GREY)), live.status)
        if live.message:
            imgui.text_wrapped(live.message)
        window = len(live.capture) if live.capture is not None else 0
        imgui.text(f"ticks received {live.ticks_seen}, in window {window}")
        dropped_color = RED if live.events_dropped else GREY
        imgui.text_colored(imgui.ImVec4(*dropped_color), f"events dropped by the server: {live.events_dropped}")
        if live.rejected:
            imgui.text_colored(imgui.ImVec4(*RED), f"bad lines skipped: {live.rejected}")
        if state.mode == "live":
            _, state.live_paused = imgui.checkbox("Pause", state.live_paused)
            imgui.same_line()
            _, state.live_follow = imgui.checkbox("Follow latest", state.live_follow)
            if imgui.button("Back to files##live") and state.captures:
                state.leave_live()
        elif imgui.button("Show live##live"):
            state.mode = "live"
            state.live_version = -1
        imgui.set_next_item_width(-hello_imgui.em_size(8))
        _, state.save_path = imgui.input_text("##save path", state.save_path)
        imgui.same_line()
        if imgui.button("Save##live") and state.save_path.strip():
            state.save_live(state.save_path.strip())
        imgui.same_line()
        if imgui.button("Save...##live dialog"):
            request_dialog(state, "save")

    imgui.separator_text("Replay")
    if not 0 <= state.active < len(state.captures):
        imgui.text_disabled("Open a trace to replay it as if live.")
        return
    replay = state.replay
    if replay is None or state.mode != "replay":
        if imgui.button("Replay##start"):
            state.start_replay()
        imgui.same_line()
        imgui.text_disabled("plays the active file back as if live")
        return
    # One ID for both labels ("###"), so the button is the same widget whichever it shows.
    if imgui.button("Pause###replay toggle" if replay.playing else "Play###replay toggle"):
        replay.toggle()
    imgui.same_line()
    if imgui.button("Stop##replay"):
        state.stop_replay()
        return
    imgui.set_next_item_width(-hello_imgui.em_size(5))
    changed, speed = imgui.slider_float(
        "speed", replay.speed, MIN_SPEED, MAX_SPEED, "%.2fx", imgui.SliderFlags_.logarithmic
    )
    if changed:
        replay.speed = speed
        state.replay_speed = replay.speed
    imgui.set_next_item_width(-hello_imgui.em_size(5))
    changed, pos = imgui.slider_int("position", replay.position, 1, replay.n)
    if changed:
        replay.seek(pos)
        state.sel_lo, state.sel_hi = replay.position - 1, replay.position
        state.fit_timeline = True


def request_dialog(state: ProfilerState, purpose: str) -> None:
    """Open a native file dialog (portable-file-dialogs); its result is polled by :func:`poll_dialogs`."""
    from imgui_bundle import portable_file_dialogs as pfd

    filters = ["Trace files", "*.jsonl *.jsonl.gz *.gz *.json", "All files", "*"]
    try:
        dialog: Any = (
            pfd.save_file("Save live capture", state.save_path, filters)
            if purpose == "save"
            else pfd.open_file("Open a trace", "", filters)
        )
    except Exception as exc:  # noqa: BLE001 - no dialog tool installed: say so, keep the path fields
        from ._state import Banner

        state.banners.append(Banner(f"no file dialog available ({exc}); type the path in the Capture panel", "warning"))
        return
    state.dialogs.append((purpose, dialog))


def poll_dialogs(state: ProfilerState) -> None:
    for purpose, dialog in list(state.dialogs):
        if not dialog.ready(0):
            continue
        state.dialogs.remove((purpose, dialog))
        result = dialog.result()
        paths = [result] if isinstance(result, str) else list(result or [])
        paths = [p for p in paths if p]
        if purpose == "save":
            if paths:
                state.save_path = paths[0]
                state.save_live(paths[0])
            continue
        for p in paths:
            state.open_file(p, for_compare=purpose == "compare")


def draw_banners(state: ProfilerState) -> None:
    """Warnings and errors across the top of the window, each with Dismiss (damaged files, dropped streams)."""
    if not state.banners:
        return
    viewport = imgui.get_main_viewport()
    width = min(viewport.work_size.x * 0.7, hello_imgui.em_size(60))
    imgui.set_next_window_pos(
        ImVec2(viewport.work_pos.x + (viewport.work_size.x - width) / 2, viewport.work_pos.y + hello_imgui.em_size(2)),
        imgui.Cond_.always,
    )
    imgui.set_next_window_size(ImVec2(width, 0), imgui.Cond_.always)
    worst = "error" if any(b.level == "error" for b in state.banners) else "warning"
    worst = worst if any(b.level != "info" for b in state.banners) else "info"
    tint = {"error": (0.35, 0.08, 0.08, 0.96), "warning": (0.32, 0.22, 0.04, 0.96)}.get(worst, (0.1, 0.25, 0.12, 0.96))
    flags = (
        imgui.WindowFlags_.no_decoration
        | imgui.WindowFlags_.no_docking
        | imgui.WindowFlags_.no_saved_settings
        | imgui.WindowFlags_.no_move
        | imgui.WindowFlags_.no_focus_on_appearing
        | imgui.WindowFlags_.no_nav
    )
    imgui.push_style_color(imgui.Col_.window_bg, imgui.ImVec4(*tint))
    imgui.begin("Messages", None, flags)
    try:
        for i, banner in enumerate(list(state.banners[-4:])):
            color = {"error": (1.0, 0.72, 0.72, 1.0), "warning": (1.0, 0.86, 0.55, 1.0)}.get(
                banner.level, (0.7, 1.0, 0.7, 1.0)
            )
            if imgui.small_button(f"Dismiss##banner {i}"):
                state.banners.remove(banner)
                break
            imgui.same_line()
            imgui.push_text_wrap_pos(0.0)
            imgui.text_colored(imgui.ImVec4(*color), banner.text)
            imgui.pop_text_wrap_pos()
            if banner.details and imgui.tree_node(f"details##banner {i}"):
                for line in banner.details[:20]:
                    imgui.bullet_text(line)
                imgui.tree_pop()
        if len(state.banners) > 4:
            imgui.text_disabled(f"({len(state.banners) - 4} older messages)")
    finally:
        imgui.end()
        imgui.pop_style_color()
