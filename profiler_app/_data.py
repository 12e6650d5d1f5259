"""The data behind the views: plain functions over trace columns, no GUI.

Every view of the profiler draws what one of these functions prepared, so the numbers can be
tested without a window and the draw code stays thin. They work on a :class:`Capture` (a
:class:`~ecs.trace.TraceData` plus a few indexes built once when a trace is opened) and a tick
range ``[lo, hi)`` of tick *rows* (positions in the capture, not tick numbers), so replay and
live mode can show a prefix or a window of the same capture without copying it.

Cost rule: anything a view calls every frame is bounded by what is visible (pixels, lanes,
selected ticks), never by the length of the trace. Whole-trace work (pyramids, statistics) is
done once per capture or once per change of range, and cached by the caller.

::

    cap = index_capture(load_trace("run.trace.jsonl.gz"), "run")
    xs, lo, hi = frame_graph_series(cap.pyramid, 0, len(cap), max_points=1600)
    rows = sort_stats(group_statistics(cap, 0, len(cap)), "p95", descending=True)
"""

from __future__ import annotations

import gzip
import math
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from ecs.trace import (
    GROUP_FIELDS,
    NOT_RUN_RESULTS,
    PHASE_FIELDS,
    PHASES,
    RAN_RESULTS,
    RESULTS,
    SKIPPED_RESULTS,
    SYSTEM_FIELDS,
    SYSTEM_RESULTS,
    TraceBuilder,
    TraceData,
    data_tail,
    grouped_percentiles,
)

__all__ = [
    "ACCESS_LABELS",
    "AccessMatrix",
    "Capture",
    "CompareRow",
    "ContentionSeries",
    "MinMaxPyramid",
    "QueueSeries",
    "RollingWindow",
    "StatRow",
    "Timeline",
    "access_matrix",
    "bin_edges",
    "bin_sum",
    "compare_captures",
    "concat_data",
    "contention_series",
    "cull_spans",
    "describe_span",
    "durations_of",
    "frame_graph_series",
    "group_statistics",
    "histogram",
    "hitches",
    "index_capture",
    "percentiles",
    "pick_row",
    "queue_depths",
    "rasterize_spans",
    "sampling_note",
    "sort_stats",
    "span_at",
    "span_colors",
    "system_statistics",
    "timeline_layout",
    "truncate_label",
    "write_trace",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Column positions in the compact records (looked up once from the schema, never hard-coded).
G_GROUP: Final = GROUP_FIELDS.index("group")
G_TICK: Final = GROUP_FIELDS.index("tick")
G_START: Final = GROUP_FIELDS.index("start")
G_END: Final = GROUP_FIELDS.index("end")
G_RESULT: Final = GROUP_FIELDS.index("result")
G_ENTITIES: Final = GROUP_FIELDS.index("entities")
G_COMMANDS: Final = GROUP_FIELDS.index("commands")
G_WAIT: Final = GROUP_FIELDS.index("queue_wait")
G_RUN: Final = GROUP_FIELDS.index("run")
G_DEPTH: Final = GROUP_FIELDS.index("queue_depth")
G_WORKER: Final = GROUP_FIELDS.index("worker")
G_FLAGS: Final = GROUP_FIELDS.index("flags")
S_GROUP_ROW: Final = SYSTEM_FIELDS.index("group_row")
S_SYSTEM: Final = SYSTEM_FIELDS.index("system")
S_START: Final = SYSTEM_FIELDS.index("start")
S_END: Final = SYSTEM_FIELDS.index("end")
S_RESULT: Final = SYSTEM_FIELDS.index("result")
S_FLAGS: Final = SYSTEM_FIELDS.index("flags")
P_PHASE: Final = PHASE_FIELDS.index("phase")
P_START: Final = PHASE_FIELDS.index("start")
P_END: Final = PHASE_FIELDS.index("end")

R_EXECUTED: Final = RESULTS.index("executed")
R_SKIPPED_EMPTY: Final = RESULTS.index("skipped_empty")
R_SKIPPED_INTERVAL: Final = RESULTS.index("skipped_interval")
R_ERRORED: Final = RESULTS.index("errored")
R_STILL_RUNNING: Final = RESULTS.index("still_running")
R_DROPPED: Final = RESULTS.index("dropped")
SR_EXECUTED: Final = SYSTEM_RESULTS.index("executed")
SR_ERRORED: Final = SYSTEM_RESULTS.index("errored")
SR_SKIPPED: Final = SYSTEM_RESULTS.index("skipped_interval")
FLAG_RETRIED: Final = 1
FLAG_LATE: Final = 2

NS_PER_MS: Final = 1e6


# ------------------------------------------------------------------------------------------------
# Capture: a trace plus its indexes
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MinMaxPyramid:
    """Min/max of a series at levels of ``factor``-fold reduction, for drawing it at any zoom.

    ``levels[0]`` is the series itself (min == max); ``levels[k]`` holds the min and max of
    consecutive blocks of ``factor**k`` values. Drawing the visible range at the coarsest level
    that still gives about one bucket per pixel costs the same whatever the trace length, and no
    spike disappears (a bucket's max is the max of everything in it).
    """

    factor: int
    levels: tuple[tuple[F64, F64], ...]

    def __len__(self) -> int:
        return len(self.levels[0][0])


def build_pyramid(values: F64, factor: int = 4) -> MinMaxPyramid:
    """The :class:`MinMaxPyramid` of ``values`` (float64); ``factor`` >= 2."""
    if factor < 2:
        raise ValueError(f"pyramid factor must be at least 2, got {factor}")
    base = np.ascontiguousarray(values, dtype=np.float64)
    levels: list[tuple[F64, F64]] = [(base, base)]
    mins, maxs = base, base
    while len(mins) > 1:
        n = len(mins)
        pad = (-n) % factor
        if pad:  # repeat the last value: it cannot change a block's min or max
            mins = np.concatenate([mins, np.full(pad, mins[-1])])
            maxs = np.concatenate([maxs, np.full(pad, maxs[-1])])
        mins = mins.reshape(-1, factor).min(axis=1)
        maxs = maxs.reshape(-1, factor).max(axis=1)
        levels.append((mins, maxs))
    return MinMaxPyramid(factor, tuple(levels))


def frame_graph_series(pyramid: MinMaxPyramid, lo: int, hi: int, max_points: int) -> tuple[F64, F64, F64]:
    """Bucketed (x, min, max) of the values in rows ``[lo, hi)``: at most ``max_points + 2`` buckets.

    ``x`` is the first row of each bucket (so a plot's x axis stays in tick rows at any zoom).
    Every value in ``[lo, hi)`` lies within its bucket's [min, max], and no value outside the
    range is counted.
    """
    n = len(pyramid)
    lo, hi = max(0, lo), min(n, hi)
    if hi <= lo:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty, empty
    max_points = max(1, max_points)
    level = 0
    while level + 1 < len(pyramid.levels) and (hi - lo) / pyramid.factor**level > max_points:
        level += 1
    size = pyramid.factor**level
    b0, b1 = lo // size, -(-hi // size)
    mins, maxs = pyramid.levels[level]
    xs = np.arange(b0, b1, dtype=np.float64) * size
    ymin, ymax = mins[b0:b1].copy(), maxs[b0:b1].copy()
    if size > 1:
        # The end buckets may reach outside [lo, hi) (a replay must not show ticks ahead of
        # its position): recompute them from the raw values, O(bucket size).
        base = pyramid.levels[0][0]
        for k, (a, b) in {0: (lo, min(hi, (b0 + 1) * size)), len(xs) - 1: (max(lo, (b1 - 1) * size), hi)}.items():
            ymin[k], ymax[k] = base[a:b].min(), base[a:b].max()
        xs[0] = lo
    return xs, ymin, ymax


def truncate_label(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters ending in ".." (axis labels that must not overlap).

    ASCII dots, not an ellipsis character: the default ImGui font has no glyph for it.
    """
    if max_chars <= 0:
        return ""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 2] + ".." if max_chars > 2 else text[:max_chars]


def pick_row(tick_ms: F64, lo: int, hi: int) -> int | None:
    """The slowest tick row in ``[lo, hi)`` (a click on a zoomed-out frame graph picks the worst tick under it)."""
    lo, hi = max(0, lo), min(len(tick_ms), hi)
    if hi <= lo:
        return None
    return lo + int(np.argmax(tick_ms[lo:hi]))


def hitches(tick_ms: F64, budget_ms: float, lo: int, hi: int, limit: int = 200) -> I64:
    """Rows in ``[lo, hi)`` whose tick took longer than ``budget_ms``: the ``limit`` worst, in row order."""
    lo, hi = max(0, lo), min(len(tick_ms), hi)
    if hi <= lo:
        return np.zeros(0, dtype=np.int64)
    over = np.flatnonzero(tick_ms[lo:hi] > budget_ms)
    if len(over) > limit:
        worst = np.argpartition(tick_ms[lo:hi][over], -limit)[-limit:]
        over = np.sort(over[worst])
    return (over + lo).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Capture:
    """A trace ready to draw: the columns plus offsets that make any tick range O(log n) to find."""

    data: TraceData
    name: str
    tick_ms: F64  # duration of each tick
    group_offsets: I64  # groups rows of tick row i: [group_offsets[i], group_offsets[i + 1])
    phase_offsets: I64
    system_offsets: I64  # systems rows of group row r: [system_offsets[r], system_offsets[r + 1])
    pyramid: MinMaxPyramid
    group_names: tuple[str, ...]
    system_names: tuple[str, ...]
    group_async: NDArray[np.bool_]  # per header group
    queue_limits: I64  # per header group
    errors_by_group: dict[int, str] = field(default_factory=dict)
    errors_by_system: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def warnings(self) -> list[str]:
        return self.data.warnings

    def group_rows(self, lo: int, hi: int) -> slice:
        return slice(int(self.group_offsets[max(0, lo)]), int(self.group_offsets[min(len(self), hi)]))

    def phase_rows(self, lo: int, hi: int) -> slice:
        return slice(int(self.phase_offsets[max(0, lo)]), int(self.phase_offsets[min(len(self), hi)]))

    def system_rows(self, groups: slice) -> slice:
        return slice(int(self.system_offsets[groups.start]), int(self.system_offsets[groups.stop]))

    def untimed_runs(self, lo: int, hi: int) -> int:
        """Group runs in ticks ``[lo, hi)`` whose systems ran but were not timed (sampled out).

        A run counts when its group has systems and it executed, errored or found nothing to
        do (its systems ran in all three cases) yet the trace holds no system rows for it.
        """
        rows = self.group_rows(lo, hi)
        if rows.stop <= rows.start:
            return 0
        g = self.data.groups[rows]
        timed = np.diff(self.system_offsets[rows.start : rows.stop + 1]) > 0
        sized = np.array([bool(h.get("systems")) for h in self.data.header.get("groups") or []], dtype=bool)
        gi = g[:, G_GROUP]
        known = (gi >= 0) & (gi < len(sized))
        has_systems = np.zeros(len(g), dtype=bool)
        has_systems[known] = sized[gi[known]]
        ran = np.isin(g[:, G_RESULT], (R_EXECUTED, R_ERRORED, R_SKIPPED_EMPTY))
        return int(np.count_nonzero(ran & has_systems & ~timed))


def index_capture(data: TraceData, name: str) -> Capture:
    """Build the indexes of :class:`Capture` (linear time; done once, off the GUI thread)."""
    n = len(data)
    rows = np.arange(n + 1, dtype=np.int64)
    header_groups = data.header.get("groups") or []
    group_names = tuple(data.group_names)
    system_names = tuple(data.system_names)
    tick_ms = np.asarray(data.tick_durations_ms(), dtype=np.float64)
    sys_group = data.systems[:, S_GROUP_ROW] if len(data.systems) else np.zeros(0, dtype=np.int64)
    errors_by_group: dict[int, str] = {}
    errors_by_system: dict[int, str] = {}
    for g_row, s_row, text in data.errors:
        errors_by_group.setdefault(g_row, text)
        if s_row >= 0:
            errors_by_system[s_row] = text
    return Capture(
        data=data,
        name=name,
        tick_ms=tick_ms,
        group_offsets=np.searchsorted(data.group_tick_row, rows).astype(np.int64),
        phase_offsets=np.searchsorted(data.phase_tick_row, rows).astype(np.int64),
        system_offsets=_run_offsets(sys_group, len(data.groups)),
        pyramid=build_pyramid(tick_ms),
        group_names=group_names,
        system_names=system_names,
        group_async=np.array([g.get("mode") == "async" for g in header_groups], dtype=np.bool_),
        queue_limits=np.array([int(g.get("queue_limit") or 0) for g in header_groups], dtype=np.int64),
        errors_by_group=errors_by_group,
        errors_by_system=errors_by_system,
    )


def _run_offsets(keys: I64, n: int) -> I64:
    """``searchsorted(keys, arange(n + 1))``: where the rows of each key 0..n begin in ``keys``.

    For sorted keys in range (what loading gives) counting them is one pass, several times
    faster than n binary searches over a column of millions.
    """
    if len(keys) and keys[0] >= 0 and keys[-1] < n and bool((keys[1:] >= keys[:-1]).all()):
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n), out=offsets[1:])
        return offsets
    return np.searchsorted(keys, np.arange(n + 1)).astype(np.int64)


def concat_data(parts: Sequence[TraceData]) -> TraceData:
    """Join consecutive pieces of one trace (same header) into one :class:`TraceData`.

    Row references (systems -> group rows, tick rows, error rows, counter rows) are re-based,
    so the result is what loading all the pieces' events at once would give.
    """
    if not parts:
        raise ValueError("concat_data needs at least one part")
    if len(parts) == 1:
        return parts[0]
    tick_base = np.cumsum([0] + [len(p) for p in parts[:-1]])
    group_base = np.cumsum([0] + [len(p.groups) for p in parts[:-1]])
    system_base = np.cumsum([0] + [len(p.systems) for p in parts[:-1]])
    systems = []
    errors: list[tuple[int, int, str]] = []
    error_systems: list[int] = []
    counter_rows: dict[str, list[I64]] = {}
    counter_vals: dict[str, list[F64]] = {}
    for p, tb, gb, sb in zip(parts, tick_base, group_base, system_base, strict=True):
        s = p.systems.copy()
        if len(s):
            s[:, S_GROUP_ROW] += gb
        systems.append(s)
        errors.extend((g + int(gb), s_row + int(sb) if s_row >= 0 else -1, t) for g, s_row, t in p.errors)
        error_systems.extend(p.error_systems[: len(p.errors)] + [-1] * (len(p.errors) - len(p.error_systems)))
        for k, (r, v) in p.counters.items():
            counter_rows.setdefault(k, []).append(r + tb)
            counter_vals.setdefault(k, []).append(v)
    last = parts[-1]
    warnings: list[str] = []
    for p in parts:
        warnings.extend(w for w in p.warnings if w not in warnings)
    return TraceData(
        header=parts[0].header,
        tick=np.concatenate([p.tick for p in parts]),
        tick_start=np.concatenate([p.tick_start for p in parts]),
        tick_end=np.concatenate([p.tick_end for p in parts]),
        tick_dt=np.concatenate([p.tick_dt for p in parts]),
        tick_entities=np.concatenate([p.tick_entities for p in parts]),
        tick_flags=np.concatenate([p.tick_flags for p in parts]),
        groups=np.concatenate([p.groups for p in parts]),
        group_tick_row=np.concatenate([p.group_tick_row + tb for p, tb in zip(parts, tick_base, strict=True)]),
        systems=np.concatenate(systems),
        phases=np.concatenate([p.phases for p in parts]),
        phase_tick_row=np.concatenate([p.phase_tick_row + tb for p, tb in zip(parts, tick_base, strict=True)]),
        errors=errors,
        error_systems=error_systems,
        counters={k: (np.concatenate(counter_rows[k]), np.concatenate(counter_vals[k])) for k in counter_rows},
        marks=[m for p in parts for m in p.marks],
        warnings=warnings,
        complete=last.complete,
    )


# ------------------------------------------------------------------------------------------------
# Binning
# ------------------------------------------------------------------------------------------------
def bin_edges(lo: int, hi: int, bins: int) -> I64:
    """Edges (tick rows) of at most ``bins`` equal bins over ``[lo, hi)``; each bin holds >= 1 row."""
    span = max(0, hi - lo)
    n = max(1, min(bins, span))
    return np.unique(np.linspace(lo, lo + span, n + 1).round().astype(np.int64))


def bin_sum(rows: I64, values: F64, edges: I64) -> F64:
    """Sum ``values`` into the bins of ``edges`` by their tick ``rows`` (rows outside are ignored)."""
    nb = max(0, len(edges) - 1)
    if nb == 0 or len(rows) == 0:
        return np.zeros(nb, dtype=np.float64)
    idx = np.searchsorted(edges, rows, side="right") - 1
    keep = (idx >= 0) & (idx < nb) & (rows < edges[-1])
    return np.bincount(idx[keep], weights=np.asarray(values, dtype=np.float64)[keep], minlength=nb).astype(np.float64)


def histogram(values: F64, bins: int = 40) -> tuple[F64, F64]:
    """(edges, counts) of ``values`` over their own range; an empty input gives empty arrays."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-3, 1e-6)
    counts, edges = np.histogram(v, bins=max(1, bins), range=(lo, hi))
    return edges.astype(np.float64), counts.astype(np.float64)


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatRow:
    """Statistics of one group or system over a tick range (durations in ms)."""

    kind: str  # "group" | "system"
    index: int  # into the header's groups or systems
    name: str
    group: str  # the group itself, or the system's group
    count: int  # runs that executed (including errored runs)
    mean: float
    p50: float
    p95: float
    p99: float
    max: float
    skipped: int
    errors: int
    not_run: int  # async: due but not run (dropped: queue full; or still running from before)


STAT_COLUMNS: Final = ("name", "group", "count", "mean", "p50", "p95", "p99", "max", "skipped", "errors", "not_run")


def percentiles(values: F64, qs: Sequence[float]) -> list[float]:
    """Percentiles (0-100) of ``values``, NaN for an empty input (linear interpolation, as numpy)."""
    if len(values) == 0:
        return [math.nan for _ in qs]
    return [float(x) for x in np.percentile(values, list(qs))]


def _grouped_stats(keys: I64, durations: F64, n_keys: int) -> dict[int, tuple[int, float, float, float, float, float]]:
    """Per key: (count, mean, p50, p95, p99, max), through ecs.trace's one-sort implementation."""
    return {k: v[:6] for k, v in grouped_percentiles(keys, durations, n_keys).items()}


def group_statistics(cap: Capture, lo: int, hi: int) -> list[StatRow]:
    """One :class:`StatRow` per header group over ticks ``[lo, hi)`` (duration = the ``run`` field)."""
    g = cap.data.groups[cap.group_rows(lo, hi)]
    n = len(cap.group_names)
    result = g[:, G_RESULT]
    # ran / skipped / not run: the definitions of ecs.trace.group_stats (and ecs-trace summary)
    ran = np.isin(result, RAN_RESULTS)
    stats = _grouped_stats(g[ran, G_GROUP], g[ran, G_RUN] / NS_PER_MS, n)
    skipped = np.bincount(g[np.isin(result, SKIPPED_RESULTS), G_GROUP], minlength=n)
    errors = np.bincount(g[result == R_ERRORED, G_GROUP], minlength=n)
    not_run = np.bincount(g[np.isin(result, NOT_RUN_RESULTS), G_GROUP], minlength=n)
    rows = []
    for i, name in enumerate(cap.group_names):
        count, mean, p50, p95, p99, mx = stats.get(i, (0, math.nan, math.nan, math.nan, math.nan, math.nan))
        rows.append(
            StatRow(
                "group", i, name, name, count, mean, p50, p95, p99, mx, int(skipped[i]), int(errors[i]), int(not_run[i])
            )
        )
    return rows


def system_statistics(cap: Capture, lo: int, hi: int) -> list[StatRow]:
    """One :class:`StatRow` per header system over ticks ``[lo, hi)`` (duration = end - start)."""
    group_rows = cap.group_rows(lo, hi)
    s = cap.data.systems[cap.system_rows(group_rows)]
    n = len(cap.system_names)
    result = s[:, S_RESULT]
    ran = (result == SR_EXECUTED) | (result == SR_ERRORED)
    stats = _grouped_stats(s[ran, S_SYSTEM], (s[ran, S_END] - s[ran, S_START]) / NS_PER_MS, n)
    skipped = np.bincount(s[result == SR_SKIPPED, S_SYSTEM], minlength=n)
    errors = cap.data.system_errors(group_rows)  # with the failures of untimed runs
    header_systems = cap.data.header.get("systems") or []
    rows = []
    for i, name in enumerate(cap.system_names):
        group = str(header_systems[i].get("group", "")) if i < len(header_systems) else ""
        count, mean, p50, p95, p99, mx = stats.get(i, (0, math.nan, math.nan, math.nan, math.nan, math.nan))
        rows.append(
            StatRow("system", i, name, group, count, mean, p50, p95, p99, mx, int(skipped[i]), int(errors[i]), 0)
        )
    return rows


def sort_stats(rows: Iterable[StatRow], column: str, descending: bool = False) -> list[StatRow]:
    """Rows sorted by ``column`` (one of ``STAT_COLUMNS``); NaN (never ran) always sorts last."""
    if column not in STAT_COLUMNS:
        raise ValueError(f"unknown statistics column {column!r}; expected one of {', '.join(STAT_COLUMNS)}")
    items = list(rows)
    if column in ("name", "group"):
        return sorted(items, key=lambda r: (str(getattr(r, column)).lower(), r.index), reverse=descending)
    present = [r for r in items if not math.isnan(float(getattr(r, column)))]
    missing = [r for r in items if math.isnan(float(getattr(r, column)))]
    present.sort(key=lambda r: (float(getattr(r, column)), r.index), reverse=descending)
    return present + missing


def durations_of(cap: Capture, kind: str, index: int, lo: int, hi: int) -> F64:
    """Run durations (ms) of one group or system over ``[lo, hi)``, for the histogram."""
    groups = cap.group_rows(lo, hi)
    if kind == "group":
        g = cap.data.groups[groups]
        ok = (g[:, G_GROUP] == index) & ((g[:, G_RESULT] == R_EXECUTED) | (g[:, G_RESULT] == R_ERRORED))
        return np.asarray(g[ok, G_RUN] / NS_PER_MS, dtype=np.float64)
    if kind == "system":
        s = cap.data.systems[cap.system_rows(groups)]
        ok = (s[:, S_SYSTEM] == index) & (s[:, S_RESULT] != SR_SKIPPED)
        return np.asarray((s[ok, S_END] - s[ok, S_START]) / NS_PER_MS, dtype=np.float64)
    raise ValueError(f"kind must be 'group' or 'system', got {kind!r}")


# ------------------------------------------------------------------------------------------------
# Compare
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompareRow:
    """One group (or the whole tick) in two captures; ``delta`` = b - a of the mean, in ms."""

    name: str
    count_a: int
    count_b: int
    mean_a: float
    mean_b: float
    p95_a: float
    p95_b: float

    @property
    def delta(self) -> float:
        return self.mean_b - self.mean_a

    @property
    def delta_pct(self) -> float:
        if not self.mean_a or math.isnan(self.mean_a) or math.isnan(self.mean_b):
            return math.nan
        return 100.0 * (self.mean_b - self.mean_a) / self.mean_a


def compare_captures(a: Capture, b: Capture) -> list[CompareRow]:
    """The whole tick first, then every group of either capture matched by name (order of ``a``, then ``b``)."""
    ta, tb = a.tick_ms, b.tick_ms
    rows = [
        CompareRow(
            "(tick)",
            len(ta),
            len(tb),
            float(ta.mean()) if len(ta) else math.nan,
            float(tb.mean()) if len(tb) else math.nan,
            percentiles(ta, [95])[0],
            percentiles(tb, [95])[0],
        )
    ]
    sa = {r.name: r for r in group_statistics(a, 0, len(a))}
    sb = {r.name: r for r in group_statistics(b, 0, len(b))}
    names = list(sa) + [n for n in sb if n not in sa]
    for name in names:
        ra, rb = sa.get(name), sb.get(name)
        rows.append(
            CompareRow(
                name,
                ra.count if ra else 0,
                rb.count if rb else 0,
                ra.mean if ra else math.nan,
                rb.mean if rb else math.nan,
                ra.p95 if ra else math.nan,
                rb.p95 if rb else math.nan,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------------
# Queue depths
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSeries:
    """The queue depth an async group saw at each dispatch, per tick row, and its limit.

    ``depth`` is dense (one value per tick row, NaN where the group was not dispatched) and
    ``pyramid`` its min/max pyramid, so a view draws any range with :func:`frame_graph_series`
    at a cost bounded by the plot width.
    """

    group: str
    depth: F64
    pyramid: MinMaxPyramid
    limit: int
    drops: I64  # tick rows of the runs dropped because the queue was at its limit


def queue_depths(cap: Capture) -> list[QueueSeries]:
    """One :class:`QueueSeries` per async group of the capture (linear time; cache it per capture).

    Depths come from the tick's ``queue_depth/<group>`` counters when present, else from the
    group records' ``queue_depth`` field (the max when a tick holds several records).
    """
    out: list[QueueSeries] = []
    n = len(cap)
    g = cap.data.groups
    for gi, name in enumerate(cap.group_names):
        if gi >= len(cap.group_async) or not cap.group_async[gi]:
            continue
        depth = np.full(n, np.nan)
        counter = cap.data.counters.get(f"queue_depth/{name}")
        if counter is not None:
            rows, vals = counter
            ok = (rows >= 0) & (rows < n)
            depth[rows[ok]] = vals[ok]
        else:
            mine = g[:, G_GROUP] == gi
            np.fmax.at(depth, cap.data.group_tick_row[mine], g[mine, G_DEPTH].astype(np.float64))
        mine = (g[:, G_GROUP] == gi) & (g[:, G_RESULT] == R_DROPPED)
        drops = np.unique(cap.data.group_tick_row[mine]).astype(np.int64)
        # The pyramid ignores ticks without a dispatch (NaN) by treating them as 0 deep.
        pyramid = build_pyramid(np.nan_to_num(depth, nan=0.0))
        out.append(QueueSeries(name, depth, pyramid, int(cap.queue_limits[gi]), drops))
    return out


# ------------------------------------------------------------------------------------------------
# Contention
# ------------------------------------------------------------------------------------------------
ACCESS_NONE: Final = 0
ACCESS_READ: Final = 1
ACCESS_CONTENDED: Final = 2  # an async group reads it while a synchronized group writes it
ACCESS_WRITE: Final = 3  # the group writes it: it is the component's owner
ACCESS_LABELS: Final = ("none", "read", "async read of a sync write", "write (owner)")


@dataclass(frozen=True)
class AccessMatrix:
    """Who touches what: ``values[c, g]`` is an ``ACCESS_*`` code for component c and group g."""

    components: tuple[str, ...]
    groups: tuple[str, ...]
    values: NDArray[np.int8]
    owners: dict[str, str]  # component -> owning (writing) group


def access_matrix(header: dict[str, Any]) -> AccessMatrix:
    """The components x groups access matrix of a trace header (components and resources alike)."""
    groups = [g for g in header.get("groups") or [] if isinstance(g, dict)]
    names: list[str] = [str(c.get("name")) for c in header.get("components") or [] if isinstance(c, dict)]
    for g in groups:
        for c in [*(g.get("reads") or []), *(g.get("writes") or [])]:
            if str(c) not in names:
                names.append(str(c))
    col = {c: i for i, c in enumerate(names)}
    values = np.zeros((len(names), len(groups)), dtype=np.int8)
    owners: dict[str, str] = {}
    sync_written: set[str] = set()
    for g in groups:
        for c in g.get("writes") or []:
            owners.setdefault(str(c), str(g.get("name")))
            if g.get("mode") != "async":
                sync_written.add(str(c))
    for gi, g in enumerate(groups):
        is_async = g.get("mode") == "async"
        for c in g.get("reads") or []:
            values[col[str(c)], gi] = ACCESS_CONTENDED if is_async and str(c) in sync_written else ACCESS_READ
        for c in g.get("writes") or []:
            values[col[str(c)], gi] = ACCESS_WRITE
    return AccessMatrix(tuple(names), tuple(str(g.get("name")) for g in groups), values, owners)


@dataclass(frozen=True)
class ContentionSeries:
    """Contention over time: each matrix is ``[rows, bins]`` over the bins of ``edges`` (tick rows).

    * ``overlap_ms``: per (async reader, sync writer) pair sharing components, how long the async
      group ran while the sync group was running (summed per bin): it read a frozen copy of what
      was being written.
    * ``wait_ms``: per async group, mean queue wait of its runs in the bin.
    * ``events``: per group with any, retries and timeouts (still running, dropped, late merges).
    """

    edges: I64
    pair_labels: tuple[str, ...]
    overlap_ms: F64
    wait_labels: tuple[str, ...]
    wait_ms: F64
    event_labels: tuple[str, ...]
    events: F64


def _covered_ms(starts: I64, ends: I64, t: I64) -> F64:
    """For sorted disjoint intervals, the total length covered before each time in ``t`` (ns -> ms)."""
    if len(starts) == 0:
        return np.zeros(len(t), dtype=np.float64)
    dur = (ends - starts).astype(np.float64)
    before = np.concatenate([[0.0], np.cumsum(dur)])
    k = np.searchsorted(starts, t, side="right") - 1
    kc = np.clip(k, 0, len(starts) - 1)
    partial = np.clip((t - starts[kc]).astype(np.float64), 0.0, dur[kc])
    return np.where(k >= 0, before[kc] + partial, 0.0) / NS_PER_MS


def contention_series(cap: Capture, lo: int, hi: int, bins: int = 60) -> ContentionSeries:
    """Compute :class:`ContentionSeries` for ticks ``[lo, hi)`` in ``bins`` bins (vectorised)."""
    edges = bin_edges(lo, hi, bins)
    gs = cap.group_rows(lo, hi)
    g = cap.data.groups[gs]
    tick_rows = cap.data.group_tick_row[gs]
    matrix = access_matrix(cap.data.header)
    comp_col = {c: i for i, c in enumerate(matrix.components)}
    header_groups = cap.data.header.get("groups") or []
    ran = (g[:, G_RESULT] == R_EXECUTED) | (g[:, G_RESULT] == R_ERRORED)

    def intervals(gi: int) -> tuple[I64, I64, I64]:
        mine = ran & (g[:, G_GROUP] == gi)
        ends = g[mine, G_END]
        starts = ends - g[mine, G_RUN]  # async records start at dispatch; run time ends at `end`
        order = np.argsort(starts, kind="stable")
        return starts[order], ends[order], tick_rows[mine][order]

    pair_labels: list[str] = []
    overlaps: list[F64] = []
    for ai, ag in enumerate(header_groups):
        if not cap.group_async[ai]:
            continue
        a_reads = {str(c) for c in ag.get("reads") or []}
        a_start, a_end, a_rows = intervals(ai)
        for si, sg in enumerate(header_groups):
            if cap.group_async[si]:
                continue
            shared = sorted(a_reads & {str(c) for c in sg.get("writes") or []}, key=lambda c: comp_col.get(c, 0))
            if not shared:
                continue
            s_start, s_end, _ = intervals(si)
            per_run = _covered_ms(s_start, s_end, a_end) - _covered_ms(s_start, s_end, a_start)
            pair_labels.append(f"{ag.get('name')} reads / {sg.get('name')} writes: {', '.join(shared)}")
            overlaps.append(bin_sum(a_rows, per_run, edges))
    wait_labels: list[str] = []
    waits: list[F64] = []
    event_labels: list[str] = []
    events: list[F64] = []
    for gi, name in enumerate(cap.group_names):
        mine = g[:, G_GROUP] == gi
        rows = tick_rows[mine]
        if cap.group_async[gi]:
            runs = mine & ran
            total = bin_sum(tick_rows[runs], g[runs, G_WAIT] / NS_PER_MS, edges)
            count = bin_sum(tick_rows[runs], np.ones(int(runs.sum())), edges)
            wait_labels.append(name)
            waits.append(np.divide(total, count, out=np.zeros_like(total), where=count > 0))
        result = g[mine, G_RESULT]
        flags = g[mine, G_FLAGS]
        retried = (flags & FLAG_RETRIED) != 0
        timeouts = (result == R_STILL_RUNNING) | (result == R_DROPPED) | ((flags & FLAG_LATE) != 0)
        if retried.any():
            event_labels.append(f"{name}: retries")
            events.append(bin_sum(rows[retried], np.ones(int(retried.sum())), edges))
        if timeouts.any():
            event_labels.append(f"{name}: timeouts/drops")
            events.append(bin_sum(rows[timeouts], np.ones(int(timeouts.sum())), edges))
    nb = max(0, len(edges) - 1)

    def stack(rows: list[F64]) -> F64:
        return np.vstack(rows) if rows else np.zeros((0, nb), dtype=np.float64)

    return ContentionSeries(
        edges, tuple(pair_labels), stack(overlaps), tuple(wait_labels), stack(waits), tuple(event_labels), stack(events)
    )


# ------------------------------------------------------------------------------------------------
# Timeline
# ------------------------------------------------------------------------------------------------
KIND_GROUP: Final = 0
KIND_SYSTEM: Final = 1
KIND_PHASE: Final = 2
KIND_WAIT: Final = 3  # an async group waiting in the pool queue
KIND_MARKER: Final = 4  # an async group that did not run (dropped, still running, skipped)

PHASE_LANES: Final = {
    "apply": "apply",
    "flush": "flush",
    "maintenance": "maintenance",
    "pre_tick": "hooks",
    "post_tick": "hooks",
}


@dataclass(frozen=True)
class Timeline:
    """Spans of the ticks ``[lo, hi)`` laid out in lanes; times in ms from the first tick's start.

    Span arrays are parallel and sorted by start. ``level`` 0 spans fill the top of their lane,
    level 1 spans (systems) are nested in the bottom part of their group's span.
    """

    lo: int
    hi: int
    origin_ns: int
    lanes: tuple[str, ...]
    lane: I64
    level: I64
    kind: I64
    start: F64
    end: F64
    ref: I64  # a groups, systems or phases row of the capture
    label: I64  # index into the header's groups/systems, or into PHASES
    result: I64  # results code (groups: RESULTS, systems: SYSTEM_RESULTS), -1 for phases
    flags: I64
    tick_starts: F64  # ms, one per tick in the range
    ticks: I64  # tick numbers

    def __len__(self) -> int:
        return len(self.start)


def timeline_layout(cap: Capture, lo: int, hi: int) -> Timeline:
    """Lay out ticks ``[lo, hi)``: a lane per synchronized group, per async worker, per phase kind.

    Async runs go to the lane of the worker that ran them (their queue wait drawn before the run);
    async records that did not run (dropped, still running, skipped) become markers on an
    ``async: not run`` lane. Systems nest inside their group's span.
    """
    lo, hi = max(0, lo), min(len(cap), hi)
    data = cap.data
    origin = int(data.tick_start[lo]) if hi > lo else 0
    gs = cap.group_rows(lo, hi)
    ss = cap.system_rows(gs)
    ps = cap.phase_rows(lo, hi)
    g = data.groups[gs]
    s = data.systems[ss]
    p = data.phases[ps]
    g_rows = np.arange(gs.start, gs.stop, dtype=np.int64)
    s_rows = np.arange(ss.start, ss.stop, dtype=np.int64)
    p_rows = np.arange(ps.start, ps.stop, dtype=np.int64)

    lanes: list[str] = []
    lane_of_sync: dict[int, int] = {}
    for gi, name in enumerate(cap.group_names):
        if not cap.group_async[gi] and (g[:, G_GROUP] == gi).any():
            lane_of_sync[gi] = len(lanes)
            lanes.append(name)
    is_async = cap.group_async[g[:, G_GROUP]] if len(g) else np.zeros(0, dtype=np.bool_)
    ran = (g[:, G_RESULT] == R_EXECUTED) | (g[:, G_RESULT] == R_ERRORED)
    async_ran = is_async & ran & (g[:, G_WORKER] >= 0)
    workers = np.unique(g[async_ran, G_WORKER])
    lane_of_worker = {int(w): len(lanes) + i for i, w in enumerate(workers)}
    lanes.extend(f"worker {int(w)}" for w in workers)
    not_run = is_async & ~async_ran
    not_run_lane = -1
    if not_run.any():
        not_run_lane = len(lanes)
        lanes.append("async: not run")
    phase_names = [PHASE_LANES.get(PHASES[c], "hooks") if 0 <= c < len(PHASES) else "hooks" for c in p[:, P_PHASE]]
    phase_lane: dict[str, int] = {}
    for name in ("apply", "flush", "maintenance", "hooks"):
        if name in phase_names:
            phase_lane[name] = len(lanes)
            lanes.append(name)

    # Group lanes: sync by group, async by worker, not-run async on their own lane.
    g_lane = np.full(len(g), -1, dtype=np.int64)
    for gi, ln in lane_of_sync.items():
        g_lane[(g[:, G_GROUP] == gi) & ~is_async] = ln
    for w, ln in lane_of_worker.items():
        g_lane[async_ran & (g[:, G_WORKER] == w)] = ln
    g_lane[not_run] = not_run_lane
    run_start = np.where(async_ran, g[:, G_END] - g[:, G_RUN], g[:, G_START])
    g_kind = np.where(not_run, KIND_MARKER, KIND_GROUP)

    # Queue waits of async runs: [dispatch, run start] on the worker's lane.
    waited = async_ran & (g[:, G_WAIT] > 0)
    w_idx = np.flatnonzero(waited)

    s_lane = g_lane[s[:, S_GROUP_ROW] - gs.start] if len(s) else np.zeros(0, dtype=np.int64)
    p_lane = np.array([phase_lane[n] for n in phase_names], dtype=np.int64)

    def ms(ns: I64) -> F64:
        return (ns - origin) / NS_PER_MS

    parts = [
        # (lane, level, kind, start, end, ref, label, result, flags)
        (
            g_lane,
            np.zeros(len(g), np.int64),
            g_kind,
            ms(run_start),
            ms(g[:, G_END]),
            g_rows,
            g[:, G_GROUP],
            g[:, G_RESULT],
            g[:, G_FLAGS],
        ),
        (
            g_lane[w_idx],
            np.zeros(len(w_idx), np.int64),
            np.full(len(w_idx), KIND_WAIT, np.int64),
            ms(g[w_idx, G_START]),
            ms(run_start[w_idx]),
            g_rows[w_idx],
            g[w_idx, G_GROUP],
            g[w_idx, G_RESULT],
            g[w_idx, G_FLAGS],
        ),
        (
            s_lane,
            np.ones(len(s), np.int64),
            np.full(len(s), KIND_SYSTEM, np.int64),
            ms(s[:, S_START]),
            ms(s[:, S_END]),
            s_rows,
            s[:, S_SYSTEM],
            s[:, S_RESULT],
            s[:, S_FLAGS],
        ),
        (
            p_lane,
            np.zeros(len(p), np.int64),
            np.full(len(p), KIND_PHASE, np.int64),
            ms(p[:, P_START]),
            ms(p[:, P_END]),
            p_rows,
            p[:, P_PHASE],
            np.full(len(p), -1, np.int64),
            np.zeros(len(p), np.int64),
        ),
    ]
    cols = [np.concatenate([np.asarray(part[i]) for part in parts]) for i in range(9)]
    keep = cols[0] >= 0
    cols = [c[keep] for c in cols]
    order = np.argsort(cols[3], kind="stable")
    lane, level, kind, start, end, ref, label, result, flags = (c[order] for c in cols)
    return Timeline(
        lo=lo,
        hi=hi,
        origin_ns=origin,
        lanes=tuple(lanes),
        lane=lane.astype(np.int64),
        level=level.astype(np.int64),
        kind=kind.astype(np.int64),
        start=start.astype(np.float64),
        end=np.maximum(end, start).astype(np.float64),
        ref=ref.astype(np.int64),
        label=label.astype(np.int64),
        result=result.astype(np.int64),
        flags=flags.astype(np.int64),
        tick_starts=ms(data.tick_start[lo:hi]).astype(np.float64),
        ticks=data.tick[lo:hi].astype(np.int64),
    )


def cull_spans(
    tl: Timeline,
    x0: float,
    x1: float,
    width_px: float,
    min_px: float = 2.0,
    max_wide: int = 1500,
    max_markers: int = 300,
) -> tuple[I64, I64]:
    """What to draw of ``tl`` between ``x0`` and ``x1`` ms on ``width_px`` pixels: ``(wide, thin)``.

    ``wide`` are the visible spans at least ``min_px`` wide (drawn one by one, with labels and
    outlines) and the visible markers; ``thin`` the other visible spans, to be painted into a
    raster by :func:`rasterize_spans`. When more than ``max_wide`` spans are wide (a long
    selection zoomed out), or more than ``max_markers`` markers are visible, they go to the
    raster too, so the number of draw calls per frame stays bounded whatever the number of
    spans in view.
    """
    if len(tl) == 0 or x1 <= x0 or width_px <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    visible = (tl.end >= x0) & (tl.start <= x1)
    ms_per_px = (x1 - x0) / width_px
    marker = tl.kind == KIND_MARKER
    wide_mask = visible & ((tl.end - tl.start) >= min_px * ms_per_px) & ~marker
    if int(wide_mask.sum()) > max_wide:
        wide_mask[:] = False
    # Markers (async runs that did not happen) are points: drawn whatever their width.
    if int((visible & marker).sum()) <= max_markers:
        wide_mask |= visible & marker
    thin = np.flatnonzero(visible & ~wide_mask)
    return np.flatnonzero(wide_mask).astype(np.int64), thin.astype(np.int64)


#: Raster colour codes (see :func:`span_colors`): 0 is empty (transparent).
def span_colors(cap: Capture, tl: Timeline, palette: int) -> I64:
    """A colour code per span for the raster: groups ``1 + g % palette``, systems (lighter)
    ``1 + palette + their group % palette``, then phases ``2 * palette + 1``, queue waits
    ``+ 2``, markers ``+ 3``. The view maps codes to colours with a qualitative colormap.
    """
    header_systems = cap.data.header.get("systems") or []
    group_index = {name: i for i, name in enumerate(cap.group_names)}
    sys_group = np.array(
        [group_index.get(str(s.get("group")), 0) if isinstance(s, dict) else 0 for s in header_systems] or [0],
        dtype=np.int64,
    )
    label = tl.label
    out = np.full(len(tl), 2 * palette + 1, dtype=np.int64)
    group = tl.kind == KIND_GROUP
    out[group] = 1 + label[group] % palette
    system = tl.kind == KIND_SYSTEM
    out[system] = 1 + palette + sys_group[np.clip(label[system], 0, len(sys_group) - 1)] % palette
    out[tl.kind == KIND_WAIT] = 2 * palette + 2
    out[tl.kind == KIND_MARKER] = 2 * palette + 3
    return out


def rasterize_spans(tl: Timeline, idx: I64, colors: I64, x0: float, x1: float, cols: int) -> F64:
    """Paint spans ``idx`` into a grid of ``2 * lanes`` rows (top/bottom half of each lane) x ``cols``.

    Row ``2 * lane`` is the top half (groups, and phases, waits and markers over both halves),
    ``2 * lane + 1`` the bottom half (systems). Each span covers at least the column of its
    start; later spans (in start order) paint over earlier ones. Cells hold ``colors[span]``,
    0 where nothing ran. Vectorised: cost is the number of painted cells.
    """
    rows_n = 2 * len(tl.lanes)
    grid = np.zeros((rows_n, max(1, cols)), dtype=np.float64)
    if len(idx) == 0 or x1 <= x0 or rows_n == 0:
        return grid
    scale = cols / (x1 - x0)
    c0 = np.clip(np.floor((tl.start[idx] - x0) * scale), 0, cols - 1).astype(np.int64)
    c1 = np.clip(np.ceil((tl.end[idx] - x0) * scale) - 1, 0, cols - 1).astype(np.int64)
    c1 = np.maximum(c1, c0)
    both = (tl.kind[idx] != KIND_GROUP) & (tl.level[idx] == 0)
    # One painted run per (span, row): groups the top row, systems the bottom, the rest both.
    run_row = np.concatenate([2 * tl.lane[idx] + tl.level[idx], 2 * tl.lane[idx[both]] + 1])
    run_c0 = np.concatenate([c0, c0[both]])
    run_c1 = np.concatenate([c1, c1[both]])
    run_val = np.concatenate([colors[idx], colors[idx[both]]]).astype(np.float64)
    order = np.argsort(np.concatenate([tl.start[idx], tl.start[idx[both]]]), kind="stable")
    run_row, run_c0, run_c1, run_val = run_row[order], run_c0[order], run_c1[order], run_val[order]
    lengths = run_c1 - run_c0 + 1
    rep = np.repeat(np.arange(len(lengths)), lengths)
    offs = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cells = (run_row[rep] * grid.shape[1] + run_c0[rep] + offs)[::-1]
    # Painter's order: the last run (latest start) covering a cell wins. Fancy assignment does
    # not promise which of repeated writes lands, so pick the last one explicitly.
    unique_cells, first_in_reversed = np.unique(cells, return_index=True)
    grid.flat[unique_cells] = run_val[rep][::-1][first_in_reversed]
    return grid


def span_at(tl: Timeline, x_ms: float, y: float) -> int | None:
    """The span under plot point (``x_ms``, ``y``), lanes at y in ``[lane, lane + 1)``, systems in the bottom half.

    A system wins over its group when the point is in the lower half of the lane.
    """
    if len(tl) == 0 or y < 0:
        return None
    lane = math.floor(y)
    lower = (y - lane) >= 0.45
    hit = np.flatnonzero((tl.lane == lane) & (tl.start <= x_ms) & (tl.end >= x_ms))
    if len(hit) == 0:
        return None
    if lower:
        nested = hit[tl.level[hit] == 1]
        if len(nested):
            return int(nested[-1])
    top = hit[tl.level[hit] == 0]
    return int(top[-1]) if len(top) else int(hit[-1])


def sampling_note(header: dict[str, Any]) -> str:
    """What the trace's ``system_sampling`` means for the timeline, or "" when every system of
    every tick was timed (or the trace predates sampling)."""
    policy = header.get("system_sampling")
    if not isinstance(policy, dict):
        return ""
    every, above = policy.get("every"), policy.get("above_ns")
    if not isinstance(every, int) or isinstance(every, bool) or every <= 1:
        return ""
    above_us = f"{above / 1000:g} us" if isinstance(above, int | float) and not isinstance(above, bool) else "?"
    return (
        f"Systems were timed on every tick in groups whose systems averaged at least {above_us},\n"
        f"and on one tick in {every} in cheaper groups (a clock read per system would cost more\n"
        "than such systems do). On the other ticks those groups show without their systems;\n"
        "per-system statistics count the timed runs. ecs.SystemSampling(every=1) times them all."
    )


def describe_span(cap: Capture, tl: Timeline, i: int) -> list[str]:
    """Tooltip lines for span ``i``: name, duration, result, access sets, async details, error text."""
    kind = int(tl.kind[i])
    dur = float(tl.end[i] - tl.start[i])
    ref = int(tl.ref[i])
    header = cap.data.header
    lines: list[str] = []
    if kind == KIND_PHASE:
        name = PHASES[int(tl.label[i])] if 0 <= int(tl.label[i]) < len(PHASES) else "phase"
        row = cap.data.phases[ref]
        lines.append(f"phase {name}: {dur:.3f} ms")
        extra = dict(zip(PHASE_FIELDS, (int(v) for v in row), strict=False))
        counts = (f"{k} {extra.get(k, 0)}" for k in ("commands", "spawned", "destroyed"))
        lines.append(", ".join(counts))
        return lines
    if kind == KIND_SYSTEM:
        si = int(tl.label[i])
        name = cap.system_names[si] if 0 <= si < len(cap.system_names) else f"system {si}"
        res = SYSTEM_RESULTS[int(tl.result[i])] if 0 <= int(tl.result[i]) < len(SYSTEM_RESULTS) else "?"
        info = (header.get("systems") or [{}])[si] if 0 <= si < len(header.get("systems") or []) else {}
        lines.append(f"system {name}: {dur:.3f} ms")
        lines.append(f"result: {res}" + (" (retried)" if int(tl.flags[i]) & FLAG_RETRIED else ""))
        lines.append(f"reads: {', '.join(info.get('reads') or []) or '-'}")
        lines.append(f"writes: {', '.join(info.get('writes') or []) or '-'}")
        if ref in cap.errors_by_system:
            lines.append(f"error: {cap.errors_by_system[ref]}")
        return lines
    gi = int(tl.label[i])
    name = cap.group_names[gi] if 0 <= gi < len(cap.group_names) else f"group {gi}"
    info = (header.get("groups") or [{}])[gi] if 0 <= gi < len(header.get("groups") or []) else {}
    row = cap.data.groups[ref]
    res = RESULTS[int(row[G_RESULT])] if 0 <= int(row[G_RESULT]) < len(RESULTS) else "?"
    flags = int(row[G_FLAGS])
    notes = [t for bit, t in ((FLAG_RETRIED, "retried"), (FLAG_LATE, "late merge")) if flags & bit]
    if kind == KIND_WAIT:
        lines.append(f"{name} waiting in the pool queue: {dur:.3f} ms")
    else:
        lines.append(f"group {name} ({info.get('mode', '?')}): {int(row[G_RUN]) / NS_PER_MS:.3f} ms")
    lines.append(f"result: {res}" + (f" ({', '.join(notes)})" if notes else ""))
    entities, commands = int(row[G_ENTITIES]), int(row[G_COMMANDS])
    lines.append(f"tick {int(row[G_TICK])}, entities {entities}, commands {commands}")
    if cap.group_async[gi] if 0 <= gi < len(cap.group_async) else False:
        worker = int(row[G_WORKER])
        lines.append(
            f"queue wait {int(row[G_WAIT]) / NS_PER_MS:.3f} ms, depth {int(row[G_DEPTH])}"
            + (f", worker {worker}" if worker >= 0 else "")
        )
    lines.append(f"reads: {', '.join(info.get('reads') or []) or '-'}")
    lines.append(f"writes: {', '.join(info.get('writes') or []) or '-'}")
    if ref in cap.errors_by_group:
        lines.append(f"error: {cap.errors_by_group[ref]}")
    return lines


# ------------------------------------------------------------------------------------------------
# Live: a rolling window with bounded memory
# ------------------------------------------------------------------------------------------------
class RollingWindow:
    """The last ``capacity`` ticks of a stream, as columns, in bounded memory.

    Events go into a :class:`~ecs.trace.TraceBuilder` chunk of ``chunk`` ticks; full chunks are
    frozen into :class:`~ecs.trace.TraceData` and the oldest dropped once the newer ones hold
    ``capacity`` ticks, so memory is at most ``capacity + 2 * chunk`` ticks whatever the stream
    length. The raw lines are kept too (same bound) so the window can be saved as a trace file.
    Not thread-safe: one owner (the live thread) feeds it; snapshots are new objects.
    """

    def __init__(self, header: dict[str, Any], capacity: int = 10_000, chunk: int = 256) -> None:
        if capacity < 1 or chunk < 1:
            raise ValueError(f"capacity and chunk must be positive, got {capacity} and {chunk}")
        self.header = header
        self.capacity = capacity
        self.chunk = chunk
        self.ticks_seen = 0
        self._chunks: deque[TraceData] = deque()
        self._in_chunks = 0
        self._builder = TraceBuilder(header)
        self._lines: deque[bytes] = deque(maxlen=capacity)
        self.marks: deque[dict[str, Any]] = deque(maxlen=1000)
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return min(self.capacity, self._in_chunks + len(self._builder))

    def add(self, event: dict[str, Any], line: bytes | None = None) -> bool:
        """Take one decoded event (and optionally its raw line); True when it added a tick."""
        if event.get("type") == "mark":
            self.marks.append(event)
        if not self._builder.add(event):
            for w in self._builder.warnings:
                if w not in self.warnings and len(self.warnings) < 100:
                    self.warnings.append(w)
            return False
        self.ticks_seen += 1
        self._lines.append(line if line is not None else orjson.dumps(event))
        if len(self._builder) >= self.chunk:
            self._chunks.append(self._builder.build([]))
            self._in_chunks += self.chunk
            self._builder = TraceBuilder(self.header)
            while self._chunks and self._in_chunks - len(self._chunks[0]) >= self.capacity:
                self._in_chunks -= len(self._chunks.popleft())
        return True

    def snapshot(self) -> TraceData | None:
        """The retained ticks (at most ``capacity``) as one :class:`TraceData`; None before any tick."""
        parts = list(self._chunks)
        if len(self._builder):
            parts.append(self._builder.build([]))
        if not parts:
            return None
        data = concat_data(parts)
        if len(data) > self.capacity:
            data = data_tail(data, self.capacity)
        data.warnings = list(self.warnings)
        return data

    def lines(self) -> list[bytes]:
        """The raw tick lines of the retained ticks, oldest first."""
        return list(self._lines)


def write_trace(
    path: str | os.PathLike[str], header: dict[str, Any], lines: Iterable[bytes], marks: Iterable[dict[str, Any]] = ()
) -> int:
    """Write a trace file (gzip when the name ends in ``.gz``): header, tick lines, marks, end.

    Returns the number of tick lines written.
    """
    target = os.fspath(path)
    opener: Any = gzip.open if target.endswith(".gz") else open
    n = 0
    with opener(target, "wb") as f:
        f.write(orjson.dumps(header) + b"\n")
        for line in lines:
            f.write(line.rstrip(b"\n") + b"\n")
            n += 1
        for m in marks:
            f.write(orjson.dumps(m) + b"\n")
        f.write(orjson.dumps({"type": "end", "ticks": n, "dropped": 0}) + b"\n")
    return n
