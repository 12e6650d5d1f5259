"""The profiler's one state object: everything the views read and the user changes.

The views (``_views.py``) are functions of this object; ``_app.py`` wires them into windows.
Nothing here imports imgui, so the behaviour behind the buttons (open, select, step, live,
replay, compare) is testable without a window.

Tick rows vs tick numbers: selections are *rows* of the shown capture (0..len-1); the plots'
x axes show tick *numbers* (``capture.data.tick``), which stay stable while a live window
rolls.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import numpy as np

from ._data import Capture, hitches
from ._live import LiveConnection, parse_address
from ._loader import LoadJob
from ._replay import ReplayClock

__all__ = ["VIEWS", "Banner", "ProfilerState"]

#: Dockable windows, by the short name used on the command line (``--view``) and in screenshots.
VIEWS: Final = {
    "frame_graph": "Frame graph",
    "timeline": "Timeline",
    "contention": "Contention",
    "queue_depths": "Queue depths",
    "statistics": "Statistics",
    "compare": "Compare",
    "capture": "Capture",
}
#: The timeline lays out at most this many ticks (a selection is clamped to it).
MAX_TIMELINE_TICKS: Final = 600

T = TypeVar("T")


@dataclass
class Banner:
    """A message across the top of the window until dismissed."""

    text: str
    level: str = "warning"  # "info" | "warning" | "error"
    details: list[str] = field(default_factory=list)


@dataclass
class _Memo:
    key: Any
    volatile: Any
    value: Any
    at: float
    pending: Future[Any] | None = None


@dataclass
class ProfilerState:
    """See the module docstring. Fields are public: the views read and set them directly."""

    captures: list[Capture] = field(default_factory=list)
    jobs: list[LoadJob] = field(default_factory=list)
    active: int = -1  # index into captures of the file shown (file and replay modes)
    mode: str = "file"  # "file" | "live" | "replay"
    sel_lo: int = 0  # selected tick rows [sel_lo, sel_hi)
    sel_hi: int = 0
    budget_ms: float = 16.6
    fit_frame_graph: bool = True
    fit_timeline: bool = True
    frame_graph_zoom: tuple[float, float] | None = None  # tick numbers to show next frame (then cleared)
    timeline_zoom: tuple[float, float] | None = None  # ms to show next frame (then cleared)
    stats_kind: str = "group"  # "group" | "system"
    stats_sort: str = "p95"
    stats_descending: bool = True
    stats_selected: tuple[str, int] | None = None  # (kind, header index) of the histogram
    contention_bins: int = 80
    compare_a: int = -1
    compare_b: int = -1
    # live
    live: LiveConnection | None = None
    live_address: str = "127.0.0.1:7777"
    live_capacity: int = 10_000
    live_paused: bool = False
    live_follow: bool = True
    live_capture: Capture | None = None
    live_version: int = -1
    # replay
    replay: ReplayClock | None = None
    replay_speed: float = 1.0  # the last speed chosen, used by the next replay too
    # messages
    banners: list[Banner] = field(default_factory=list)
    view_errors: dict[str, str] = field(default_factory=dict)
    draw_ms: dict[str, float] = field(default_factory=dict)  # last draw time of each view (benchmarks)
    # Where plots were drawn last frame, (x, y, w, h, x_min, x_max, y_min, y_max): lets tests and
    # tools turn a tick or a time into a mouse position.
    plot_geometry: dict[str, tuple[float, ...]] = field(default_factory=dict)
    hovered_span: int | None = None  # the timeline span under the mouse (its tooltip is shown)
    open_path: str = ""
    save_path: str = "live-capture.trace.jsonl.gz"
    focus_view: str | None = None
    dialogs: list[tuple[str, Any]] = field(default_factory=list)  # (purpose, portable_file_dialogs object)
    frames: int = 0
    queue_fit_for: int = 0  # id() of the capture the queue-depth plot was last fitted to
    fg_press: Any = None  # mouse position of a press in the frame graph (a click, unless it drags)
    _memo: dict[str, _Memo] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None

    # -- what is shown ---------------------------------------------------------------------------
    def shown(self) -> tuple[Capture | None, int, int]:
        """The capture the views draw and its visible tick rows ``[lo, hi)``."""
        if self.mode == "live":
            cap = self.live_capture
            return cap, 0, len(cap) if cap is not None else 0
        if not 0 <= self.active < len(self.captures):
            return None, 0, 0
        cap = self.captures[self.active]
        if self.mode == "replay" and self.replay is not None:
            return cap, 0, self.replay.position
        return cap, 0, len(cap)

    def selection(self) -> tuple[int, int]:
        """The selected rows clamped to what is shown (an empty range when nothing is)."""
        _, lo, hi = self.shown()
        a = min(max(self.sel_lo, lo), max(lo, hi - 1))
        b = min(max(self.sel_hi, a + 1), hi)
        return (a, b) if hi > lo else (0, 0)

    def timeline_range(self) -> tuple[int, int]:
        """The rows the timeline lays out: the selection, clamped to ``MAX_TIMELINE_TICKS``."""
        a, b = self.selection()
        return a, min(b, a + MAX_TIMELINE_TICKS)

    # -- selection ---------------------------------------------------------------------------------
    def select(self, row: int, extend: bool = False) -> None:
        """Select one tick row; ``extend`` grows the selection to include it."""
        cap, lo, hi = self.shown()
        if cap is None or hi <= lo:
            return
        row = min(max(row, lo), hi - 1)
        if extend:
            a, b = self.selection()
            self.sel_lo, self.sel_hi = min(a, row), max(b, row + 1)
        else:
            self.sel_lo, self.sel_hi = row, row + 1
        self.fit_timeline = True
        if self.mode == "live":
            _, _, hi = self.shown()
            self.live_follow = row >= hi - 1

    def select_range(self, a: int, b: int) -> None:
        _, lo, hi = self.shown()
        a, b = max(lo, min(a, b)), min(hi, max(a, b))
        if b > a:
            self.sel_lo, self.sel_hi = a, b
            self.fit_timeline = True

    def step(self, delta: int, extend: bool = False) -> None:
        """Move the selection ``delta`` ticks (keys Left/Right); ``extend`` grows it instead."""
        a, b = self.selection()
        if extend:
            if delta > 0:
                self.select(b - 1 + delta, extend=True)
            else:
                self.select(a + delta, extend=True)
        else:
            self.select((a if delta < 0 else b - 1) + delta)

    def step_hitch(self, direction: int) -> bool:
        """Select the next (+1) or previous (-1) tick over budget; False when there is none."""
        cap, lo, hi = self.shown()
        if cap is None:
            return False
        a, b = self.selection()
        if direction > 0:
            rows = hitches(cap.tick_ms, self.budget_ms, b, hi, limit=1 << 62)
            target = int(rows[0]) if len(rows) else None
        else:
            rows = hitches(cap.tick_ms, self.budget_ms, lo, a, limit=1 << 62)
            target = int(rows[-1]) if len(rows) else None
        if target is None:
            return False
        self.select(target)
        return True

    # -- files -------------------------------------------------------------------------------------
    def open_file(self, path: str | os.PathLike[str], *, for_compare: bool = False) -> LoadJob:
        """Start loading a trace in the background (it becomes active, or compare B, when done)."""
        job = LoadJob.start(path)
        job.for_compare = for_compare  # type: ignore[attr-defined]
        self.jobs.append(job)
        return job

    def _show_partial(self, job: LoadJob) -> None:
        """A long load shows the ticks read so far in the slot its capture will take."""
        partial, job.partial = job.partial, None
        assert partial is not None
        if job.slot is None or not 0 <= job.slot < len(self.captures):
            self.captures.append(partial)
            job.slot = len(self.captures) - 1
            self.set_active(job.slot)
        else:
            self.captures[job.slot] = partial
            if self.active == job.slot:
                self.fit_frame_graph = True

    def _finish_load(self, job: LoadJob) -> None:
        slot = job.slot if job.slot is not None and 0 <= job.slot < len(self.captures) else None
        if job.capture is None:
            if slot is not None:  # cancelled or failed half-way: drop the partial view
                self.close_capture(slot)
            if job.error:
                self.banners.append(Banner(job.error, "error"))
            return
        self.add_capture(job.capture, for_compare=bool(getattr(job, "for_compare", False)), slot=slot)

    def add_capture(self, cap: Capture, *, for_compare: bool = False, slot: int | None = None) -> None:
        """Add a loaded capture; warn about damage; make it active (or compare B).

        ``slot``: replace the capture there (the partial view of the same load) instead.
        """
        if slot is not None:
            self.captures[slot] = cap
            index = slot
        else:
            self.captures.append(cap)
            index = len(self.captures) - 1
        if cap.warnings:
            self.banners.append(
                Banner(
                    f"{cap.name} is damaged: opened the {len(cap)} readable ticks ({len(cap.warnings)} warnings)",
                    "warning",
                    list(cap.warnings),
                )
            )
        if for_compare and self.captures:
            self.compare_b = index
            if self.compare_a < 0 or self.compare_a == index:
                self.compare_a = self.active if self.active >= 0 and self.active != index else 0
            if self.active < 0:
                self.set_active(index)
            return
        self.set_active(index)
        self._adopt_flight_budget(cap)
        if self.compare_a < 0:
            self.compare_a = index
        elif self.compare_b < 0 and index != self.compare_a:
            self.compare_b = index

    def _adopt_flight_budget(self, cap: Capture) -> None:
        """A FlightRecorder's hitch file says which budget the hitch broke: use it."""
        flight = cap.data.header.get("flight")
        if not isinstance(flight, dict) or flight.get("reason") != "hitch":
            return
        budget = flight.get("budget_ms")
        if isinstance(budget, int | float) and not isinstance(budget, bool) and 0 < budget < 1e6:
            self.budget_ms = float(budget)
            self.banners.append(
                Banner(
                    f"{cap.name}: written by a flight recorder because tick {flight.get('tick')} ran over "
                    f"{budget:g} ms; the frame graph's budget is set to that",
                    "info",
                )
            )

    def set_active(self, index: int) -> None:
        if not 0 <= index < len(self.captures):
            return
        self.active = index
        if self.mode == "replay":
            self.stop_replay()
        if self.mode != "live":
            self.mode = "file"
        self._reset_selection()

    def close_capture(self, index: int) -> None:
        if not 0 <= index < len(self.captures):
            return
        del self.captures[index]

        def fix(i: int) -> int:
            return -1 if i == index else i - 1 if i > index else i

        self.active = fix(self.active)
        self.compare_a = fix(self.compare_a)
        self.compare_b = fix(self.compare_b)
        if self.active < 0 and self.captures:
            self.active = len(self.captures) - 1
        if self.mode == "replay":
            self.stop_replay()
        self._reset_selection()

    def _reset_selection(self) -> None:
        cap, lo, hi = self.shown()
        if cap is not None and hi > lo:
            # Start on the worst tick: the first thing anyone looks for in a profile.
            row = lo + int(np.argmax(cap.tick_ms[lo:hi]))
            self.sel_lo, self.sel_hi = row, row + 1
        else:
            self.sel_lo = self.sel_hi = 0
        self.fit_frame_graph = True
        self.fit_timeline = True

    # -- live --------------------------------------------------------------------------------------
    def connect(self, address: str | None = None) -> bool:
        """Connect to a live stream (``HOST:PORT``); False with a banner when the address is invalid."""
        text = address if address is not None else self.live_address
        try:
            host, port = parse_address(text, connect=True)
            live = LiveConnection(host, port, capacity=self.live_capacity)
        except ValueError as exc:  # refused before anything changed: the old connection stays
            self.banners.append(Banner(str(exc), "error"))
            return False
        self.disconnect()
        self.live_address = f"{host}:{port}"
        self.live = live
        self.live.start()
        self.live_capture = None
        self.live_version = -1
        self.live_paused = False
        self.live_follow = True
        if self.mode == "replay":
            self.stop_replay()
        self.mode = "live"
        self.fit_frame_graph = True
        return True

    def disconnect(self) -> None:
        """Stop the live connection; what was captured stays shown until another source is chosen."""
        if self.live is not None:
            self.live.stop()

    def leave_live(self) -> None:
        """Back to the active file (the live connection keeps running unless disconnected)."""
        self.mode = "file"
        self._reset_selection()

    def save_live(self, path: str | os.PathLike[str]) -> int:
        """Save the live window to a trace file; returns ticks written (a banner says where)."""
        if self.live is None:
            self.banners.append(Banner("nothing to save: not connected to a live stream", "error"))
            return 0
        try:
            n = self.live.save(path)
        except (OSError, RuntimeError) as exc:
            self.banners.append(Banner(f"cannot save the live capture to {path}: {exc}", "error"))
            return 0
        self.banners.append(Banner(f"saved {n} live ticks to {path}", "info"))
        return n

    # -- replay ------------------------------------------------------------------------------------
    def start_replay(self, speed: float | None = None) -> bool:
        """Replay the active capture from its first tick (views show the ticks played so far)."""
        if not 0 <= self.active < len(self.captures) or len(self.captures[self.active]) == 0:
            return False
        if speed is not None:
            self.replay_speed = speed
        self.replay = ReplayClock(self.captures[self.active].data.tick_start, self.replay_speed)
        self.replay.play()
        self.mode = "replay"
        self.fit_frame_graph = True
        self.sel_lo, self.sel_hi = 0, 1
        return True

    def stop_replay(self) -> None:
        self.replay = None
        if self.mode == "replay":
            self.mode = "file"
        self.fit_frame_graph = True

    # -- per frame -----------------------------------------------------------------------------------
    def poll(self, dt: float) -> None:
        """Once per frame: finish loads, adopt live snapshots, advance replay."""
        self.frames += 1
        for job in list(self.jobs):
            if job.done:
                self.jobs.remove(job)
                self._finish_load(job)
            elif job.partial is not None and not getattr(job, "for_compare", False):
                self._show_partial(job)
        live = self.live
        if live is not None and self.mode == "live" and not self.live_paused and live.version != self.live_version:
            self.live_version = live.version
            self.live_capture = live.capture
            cap = self.live_capture
            if cap is not None and len(cap) and self.live_follow:
                self.sel_lo, self.sel_hi = len(cap) - 1, len(cap)
                self.fit_timeline = True
        if self.mode == "replay" and self.replay is not None:
            was = self.replay.position
            pos = self.replay.advance(dt)
            if pos != was:
                self.sel_lo, self.sel_hi = pos - 1, pos
                self.fit_timeline = True

    def memo(
        self, name: str, key: Any, compute: Callable[[], T], *, volatile: Any = None, min_interval: float = 0.0
    ) -> T:
        """Cache one value per ``name``, recomputed when ``key`` or ``volatile`` changes.

        A change of ``key`` (what is shown: capture, kind, bins) recomputes at once. A change of
        ``volatile`` alone (a live window or a replay moving on) recomputes at most every
        ``min_interval`` seconds and returns the previous value in between, so whole-range
        work runs a few times a second, not every frame.
        """
        entry = self._memo.get(name)
        now = time.monotonic()
        fresh = entry is not None and entry.key == key
        if fresh and entry is not None and (entry.volatile == volatile or now - entry.at < min_interval):
            return entry.value  # type: ignore[no-any-return]
        value = compute()
        self._memo[name] = _Memo(key, volatile, value, now)
        return value

    def memo_bg(
        self, name: str, key: Any, compute: Callable[[], T], *, volatile: Any = None, min_interval: float = 0.0
    ) -> T | None:
        """Like :meth:`memo`, but ``compute`` runs on a background thread: the GUI never waits.

        Returns the value for ``key`` once computed, and meanwhile the previous value for the
        same ``key`` (a live window or replay moving on) or None (the view then says it is
        computing). An exception in ``compute`` is raised here, in the view that asked.
        """
        entry = self._memo.get(name)
        now = time.monotonic()
        if entry is not None and entry.pending is not None and entry.pending.done():
            future, entry.pending = entry.pending, None
            entry.value = future.result()  # re-raises a failed computation in the view
        same = entry is not None and entry.key == key
        if (
            same
            and entry is not None
            and (entry.pending or entry.volatile == volatile or now - entry.at < min_interval)
        ):
            return entry.value  # type: ignore[no-any-return]
        if entry is not None and entry.pending is not None:
            return entry.value if entry.key == key else None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecs-profiler compute")
        value = entry.value if entry is not None and entry.key == key else None
        self._memo[name] = _Memo(key, volatile, value, now, self._pool.submit(compute))
        return value

    def computed(self, name: str) -> bool:
        """True when the background value ``name`` is ready and not being recomputed."""
        entry = self._memo.get(name)
        return entry is not None and entry.value is not None and (entry.pending is None or entry.pending.done())

    def close(self) -> None:
        """Stop background work (live thread, loads); called when the app exits."""
        self.disconnect()
        for job in self.jobs:
            job.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
