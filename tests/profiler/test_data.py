"""The data behind the views: level of detail, binning, statistics, contention, queue depths,
compare, timeline layout and the live rolling window. Each test reads as a sentence."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ecs.trace import TraceBuilder, TraceReader, load_trace
from profiler_app._data import (
    ACCESS_CONTENDED,
    ACCESS_NONE,
    ACCESS_READ,
    ACCESS_WRITE,
    KIND_GROUP,
    KIND_MARKER,
    KIND_PHASE,
    KIND_SYSTEM,
    KIND_WAIT,
    STAT_COLUMNS,
    RollingWindow,
    StatRow,
    _covered_ms,
    _run_offsets,
    access_matrix,
    bin_edges,
    bin_sum,
    build_pyramid,
    compare_captures,
    concat_data,
    contention_series,
    cull_spans,
    describe_span,
    durations_of,
    frame_graph_series,
    group_statistics,
    histogram,
    hitches,
    index_capture,
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
    write_trace,
)

from .._examples import examples
from . import _traces as T

finite = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)


# ------------------------------------------------------------------------------------------------
# An exact trace: every duration is known
# ------------------------------------------------------------------------------------------------
def exact_events(ticks: int = 10) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    head = T.header(
        [
            {"name": "physics", "writes": ["P"], "reads": ["P", "V"], "systems": ["move", "collide"]},
            {"name": "ai", "mode": "async", "reads": ["P", "V"], "queue_limit": 2},
            {"name": "render", "reads": ["P", "H"]},
            {"name": "combat", "writes": ["H"], "reads": ["H"]},
        ]
    )
    events = []
    for i in range(ticks):
        t0 = i * 20.0
        groups = [T.group(0, i, t0 + 1, t0 + 4)]
        systems = [[0, 0, round((t0 + 1) * T.MS), round((t0 + 2) * T.MS), round((t0 + 4) * T.MS)]]
        if i == 7:
            groups.append(T.group(1, i, t0 + 1, t0 + 1, result="dropped", run=0, queue_depth=2))
        elif i == 8:
            groups.append(T.group(1, i, t0 + 1, t0 + 1, result="still_running", run=0))
        else:
            groups.append(
                T.group(
                    1,
                    i,
                    t0 + 1,
                    t0 + 6,
                    queue_wait=1.0,
                    run=4.0,
                    queue_depth=i % 3,
                    worker=i % 2,
                    flags=2 if i == 9 else 0,
                )
            )
            systems.append([1, 2, round((t0 + 2) * T.MS), round((t0 + 6) * T.MS)])
        if i % 2 == 0:
            groups.append(T.group(2, i, t0 + 5, t0 + 7))
        else:
            groups.append(T.group(2, i, t0 + 5, t0 + 5, result="skipped_interval", run=0))
        groups.append(
            T.group(3, i, t0 + 8, t0 + 9, result="errored" if i == 4 else "executed", flags=1 if i == 5 else 0)
        )
        errors = [[len(groups) - 1, -1, "ValueError: boom"]] if i == 4 else []
        events.append(
            T.tick(
                i,
                t0,
                t0 + 12 + (10 if i == 3 else 0),
                groups,
                systems,
                [T.phase("apply", t0 + 10, t0 + 11)],
                errors=errors,
                counters={"queue_depth/ai": i % 3},
            )
        )
    return head, events


@pytest.fixture
def exact() -> Any:
    head, events = exact_events()
    return index_capture(T.build(head, events), "exact")


@pytest.fixture(scope="module")
def game(sample_trace: Path) -> Any:
    return index_capture(load_trace(sample_trace), "game")


# ------------------------------------------------------------------------------------------------
# Level of detail
# ------------------------------------------------------------------------------------------------
@settings(max_examples=examples(150), deadline=None)
@given(
    values=arrays(np.float64, st.integers(1, 3000), elements=finite),
    data=st.data(),
    factor=st.integers(2, 8),
    points=st.integers(1, 400),
)
def test_frame_graph_buckets_hold_every_value_of_the_range_and_nothing_else(
    values: np.ndarray, data: st.DataObject, factor: int, points: int
) -> None:
    n = len(values)
    lo = data.draw(st.integers(0, n - 1))
    hi = data.draw(st.integers(lo + 1, n))
    xs, ymin, ymax = frame_graph_series(build_pyramid(values, factor), lo, hi, points)
    assert xs[0] == lo
    assert len(xs) <= points + 2
    assert np.all(np.diff(xs) > 0)
    bucket = np.searchsorted(xs, np.arange(lo, hi), side="right") - 1
    assert np.all(values[lo:hi] >= ymin[bucket])
    assert np.all(values[lo:hi] <= ymax[bucket])
    # No value outside [lo, hi) leaks in: the extremes are exactly those of the range.
    assert ymax.max() == values[lo:hi].max()
    assert ymin.min() == values[lo:hi].min()


def test_frame_graph_of_an_empty_range_is_empty() -> None:
    xs, ymin, ymax = frame_graph_series(build_pyramid(np.arange(10.0)), 5, 5, 100)
    assert len(xs) == len(ymin) == len(ymax) == 0


def test_a_pyramid_needs_a_factor_of_at_least_two() -> None:
    with pytest.raises(ValueError, match="factor"):
        build_pyramid(np.arange(4.0), 1)


def test_a_zoomed_in_frame_graph_shows_raw_ticks() -> None:
    values = np.arange(100.0)
    xs, ymin, ymax = frame_graph_series(build_pyramid(values), 10, 20, 1000)
    assert list(xs) == list(range(10, 20))
    assert list(ymin) == list(ymax) == list(values[10:20])


@given(st.text(max_size=40), st.integers(-2, 50))
def test_truncated_labels_fit_and_keep_their_start(text: str, n: int) -> None:
    cut = truncate_label(text, n)
    assert len(cut) <= max(0, n)
    if len(text) <= n:
        assert cut == text
    elif n > 2:
        assert cut.endswith("..")
        assert text.startswith(cut[:-2])


def test_a_click_picks_the_slowest_tick_under_the_mouse() -> None:
    ms = np.array([1.0, 5.0, 2.0, 9.0, 3.0])
    assert pick_row(ms, 0, 3) == 1
    assert pick_row(ms, 2, 5) == 3
    assert pick_row(ms, 3, 3) is None


def test_hitches_are_the_ticks_over_budget_and_the_worst_when_limited() -> None:
    ms = np.array([1.0, 20.0, 2.0, 30.0, 17.0, 50.0])
    assert list(hitches(ms, 16.6, 0, 6)) == [1, 3, 4, 5]
    assert list(hitches(ms, 16.6, 2, 5)) == [3, 4]
    assert list(hitches(ms, 16.6, 0, 6, limit=2)) == [3, 5]
    assert len(hitches(ms, 16.6, 4, 2)) == 0


# ------------------------------------------------------------------------------------------------
# Capture indexes and joining pieces
# ------------------------------------------------------------------------------------------------
def test_capture_offsets_find_each_ticks_records(game: Any) -> None:
    data = game.data
    for row in (0, 1, len(game) // 2, len(game) - 1):
        rows = game.group_rows(row, row + 1)
        assert np.all(data.group_tick_row[rows] == row)
        assert rows.stop - rows.start == int((data.group_tick_row == row).sum())
        systems = data.systems[game.system_rows(rows)]
        assert np.all((systems[:, 0] >= rows.start) & (systems[:, 0] < rows.stop))
        assert np.all(data.phase_tick_row[game.phase_rows(row, row + 1)] == row)


@given(st.lists(st.integers(-2, 12), max_size=40), st.integers(0, 10), st.booleans())
def test_system_offsets_are_those_of_a_binary_search_sorted_or_not(keys: list[int], n: int, sort: bool) -> None:
    column = np.array(sorted(keys) if sort else keys, dtype=np.int64)
    expected = np.searchsorted(column, np.arange(n + 1))
    assert np.array_equal(_run_offsets(column, n), expected)


@pytest.fixture(scope="module")
def game_events(sample_trace: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with TraceReader(sample_trace) as reader:
        return reader.header, list(reader)


@settings(max_examples=examples(25), deadline=None)
@given(cuts=st.lists(st.integers(1, 250), max_size=5, unique=True))
def test_concatenated_pieces_equal_the_whole(game_events: Any, cuts: list[int]) -> None:
    head, events = game_events
    bounds = [0, *sorted(cuts), len(events)]
    parts = []
    for a, b in itertools.pairwise(bounds):
        builder = TraceBuilder(head)
        for ev in events[a:b]:
            builder.add(ev)
        parts.append(builder.build())
    whole = TraceBuilder(head)
    for ev in events:
        whole.add(ev)
    expected = whole.build()
    joined = concat_data([p for p in parts if len(p) or p.marks] or parts[:1])
    for name in ("tick", "tick_start", "tick_end", "groups", "group_tick_row", "systems", "phases", "phase_tick_row"):
        assert np.array_equal(getattr(joined, name), getattr(expected, name)), name
    assert joined.errors == expected.errors
    assert joined.counters.keys() == expected.counters.keys()
    for k in expected.counters:
        assert np.array_equal(joined.counters[k][0], expected.counters[k][0])
        assert np.array_equal(joined.counters[k][1], expected.counters[k][1])
    assert len(joined.marks) == len(expected.marks)


def test_concat_needs_a_part() -> None:
    with pytest.raises(ValueError, match="at least one"):
        concat_data([])


# ------------------------------------------------------------------------------------------------
# Binning and histograms
# ------------------------------------------------------------------------------------------------
@given(lo=st.integers(0, 1000), span=st.integers(1, 5000), bins=st.integers(1, 300))
def test_bin_edges_cover_the_range_in_at_most_n_nonempty_bins(lo: int, span: int, bins: int) -> None:
    edges = bin_edges(lo, lo + span, bins)
    assert edges[0] == lo
    assert edges[-1] == lo + span
    assert np.all(np.diff(edges) >= 1)
    assert len(edges) - 1 <= bins


@given(
    rows=arrays(np.int64, st.integers(0, 200), elements=st.integers(-5, 120)),
    bins=st.integers(1, 30),
)
def test_binned_sums_keep_every_value_inside_the_range(rows: np.ndarray, bins: int) -> None:
    values = np.arange(len(rows), dtype=np.float64) + 1
    edges = bin_edges(0, 100, bins)
    sums = bin_sum(rows, values, edges)
    inside = (rows >= 0) & (rows < 100)
    assert len(sums) == len(edges) - 1
    assert math.isclose(sums.sum(), values[inside].sum())


def test_histogram_counts_every_finite_value() -> None:
    values = np.array([1.0, 2.0, 2.0, 3.0, np.nan, np.inf])
    edges, counts = histogram(values, bins=4)
    assert counts.sum() == 4
    assert edges[0] == 1.0
    assert edges[-1] == 3.0


def test_histogram_of_equal_or_no_values() -> None:
    edges, counts = histogram(np.array([2.0, 2.0]), bins=3)
    assert counts.sum() == 2
    assert edges[-1] > edges[0]
    edges, counts = histogram(np.array([]), bins=3)
    assert len(edges) == len(counts) == 0


@given(arrays(np.float64, st.integers(0, 50), elements=finite))
def test_percentiles_follow_numpy_and_are_nan_for_nothing(values: np.ndarray) -> None:
    got = percentiles(values, [50, 95, 99])
    if len(values) == 0:
        assert all(math.isnan(v) for v in got)
    else:
        assert got == pytest.approx(list(np.percentile(values, [50, 95, 99])))


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------
def test_group_statistics_count_runs_skips_errors_and_async_runs_that_did_not_happen(exact: Any) -> None:
    rows = {r.name: r for r in group_statistics(exact, 0, len(exact))}
    physics, ai, render, combat = rows["physics"], rows["ai"], rows["render"], rows["combat"]
    assert (physics.count, physics.mean, physics.p50, physics.p99, physics.max) == (10, 3.0, 3.0, 3.0, 3.0)
    assert (ai.count, ai.mean, ai.not_run) == (8, 4.0, 2)
    assert (render.count, render.skipped, render.mean) == (5, 5, 2.0)
    assert (combat.count, combat.errors, combat.mean) == (10, 1, 1.0)


def test_group_statistics_follow_the_range(exact: Any) -> None:
    rows = {r.name: r for r in group_statistics(exact, 6, 9)}
    assert rows["ai"].count == 1
    assert rows["ai"].not_run == 2
    assert rows["render"].count == 2


def test_system_statistics_use_each_systems_own_time(exact: Any) -> None:
    rows = {r.name: r for r in system_statistics(exact, 0, len(exact))}
    assert (rows["move"].count, rows["move"].mean, rows["move"].group) == (10, 1.0, "physics")
    assert rows["collide"].mean == 2.0
    assert rows["ai.s"].count == 8
    assert rows["render.s"].count == 0
    assert math.isnan(rows["render.s"].mean)


def test_system_results_and_errors_come_from_a_real_trace(game: Any) -> None:
    rows = {r.name: r for r in system_statistics(game, 0, len(game))}
    assert rows["damage"].errors == 2  # ticks 97 and 194 fail twice (the retry fails too)
    groups = {r.name: r for r in group_statistics(game, 0, len(game))}
    assert groups["combat"].errors == 2
    assert groups["heatmap"].skipped > 0
    assert groups["pathing"].not_run > 0


@settings(max_examples=examples(60))
@given(
    st.lists(st.one_of(st.floats(0, 100, allow_nan=False), st.just(math.nan)), min_size=0, max_size=20),
    st.sampled_from(STAT_COLUMNS),
    st.booleans(),
)
def test_statistics_sort_by_any_column_with_empty_rows_last(values: list[float], column: str, desc: bool) -> None:
    rows = [StatRow("group", i, f"g{i:02d}", "x", i, v, v, v, v, v, i % 3, i % 2, 0) for i, v in enumerate(values)]
    out = sort_stats(rows, column, desc)
    assert sorted(r.index for r in out) == list(range(len(rows)))
    if column in ("mean", "p50", "p95", "p99", "max"):
        keys = [getattr(r, column) for r in out]
        present = [k for k in keys if not math.isnan(k)]
        assert keys[: len(present)] == present  # NaN (never ran) after every real value
        assert present == sorted(present, reverse=desc)


def test_sorting_by_an_unknown_column_names_it() -> None:
    with pytest.raises(ValueError, match="'speed'"):
        sort_stats([], "speed")


def test_durations_of_a_group_or_system_feed_the_histogram(exact: Any) -> None:
    assert list(durations_of(exact, "group", 0, 0, 3)) == [3.0, 3.0, 3.0]
    assert list(durations_of(exact, "system", 1, 0, 2)) == [2.0, 2.0]
    assert len(durations_of(exact, "group", 1, 7, 9)) == 0
    with pytest.raises(ValueError, match="kind"):
        durations_of(exact, "tick", 0, 0, 1)


# ------------------------------------------------------------------------------------------------
# Compare
# ------------------------------------------------------------------------------------------------
def test_compare_matches_groups_by_name_and_reports_deltas(exact: Any) -> None:
    head, events = exact_events()
    for ev in events:  # B: physics takes 4.5 ms instead of 3, and a group A does not have
        ev["groups"][0] = T.group(0, ev["tick"], ev["start"] / T.MS + 1, ev["start"] / T.MS + 5.5)
    head["groups"].append({"name": "audio", "mode": "sync", "systems": []})
    for ev in events:
        ev["groups"].append(T.group(4, ev["tick"], ev["start"] / T.MS + 11, ev["start"] / T.MS + 11.5))
    b = index_capture(T.build(head, events), "b")
    rows = {r.name: r for r in compare_captures(exact, b)}
    assert next(iter(rows)) == "(tick)"
    assert rows["physics"].delta == pytest.approx(1.5)
    assert rows["physics"].delta_pct == pytest.approx(50.0)
    assert rows["render"].delta == 0
    assert math.isnan(rows["audio"].mean_a)
    assert math.isnan(rows["audio"].delta_pct)
    assert rows["audio"].mean_b == pytest.approx(0.5)
    assert rows["(tick)"].count_a == rows["(tick)"].count_b == 10


# ------------------------------------------------------------------------------------------------
# Queue depths
# ------------------------------------------------------------------------------------------------
def test_queue_depths_come_from_the_counters_with_the_limit_and_drops(exact: Any) -> None:
    (series,) = queue_depths(exact)
    assert series.group == "ai"
    assert series.limit == 2
    assert list(series.depth) == [i % 3 for i in range(10)]
    assert list(series.drops) == [7]
    assert series.pyramid.levels[-1][1][0] == 2


def test_queue_depths_fall_back_to_group_records_without_counters(exact: Any) -> None:
    bare = index_capture(dataclasses.replace(exact.data, counters={}), "bare")
    (series,) = queue_depths(bare)
    expected = [i % 3 for i in range(10)]
    expected[7] = 2  # the dropped record carries the depth that made it drop
    expected[8] = 0
    assert list(series.depth) == expected


def test_a_capture_without_async_groups_has_no_queue_depths(exact: Any) -> None:
    head, events = exact_events()
    head["groups"][1]["mode"] = "sync"
    assert queue_depths(index_capture(T.build(head, events), "sync only")) == []


# ------------------------------------------------------------------------------------------------
# Contention
# ------------------------------------------------------------------------------------------------
def test_access_matrix_marks_reads_writes_and_async_reads_of_sync_writes() -> None:
    head = T.header(
        [
            {"name": "physics", "writes": ["P"], "reads": ["P", "V"]},
            {"name": "ai", "mode": "async", "reads": ["P", "V", "Clock"]},
            {"name": "heat", "mode": "async", "reads": ["H"], "writes": ["H"]},
        ]
    )
    m = access_matrix(head)
    assert m.components == ("P", "V", "H", "Clock")  # header components first, then resources
    assert m.groups == ("physics", "ai", "heat")
    assert m.values[0].tolist() == [ACCESS_WRITE, ACCESS_CONTENDED, ACCESS_NONE]
    assert m.values[1].tolist() == [ACCESS_READ, ACCESS_READ, ACCESS_NONE]
    assert m.values[2].tolist() == [ACCESS_NONE, ACCESS_NONE, ACCESS_WRITE]  # async writes: not contended
    assert m.values[3].tolist() == [ACCESS_NONE, ACCESS_READ, ACCESS_NONE]
    assert m.owners == {"P": "physics", "H": "heat"}


def test_contention_over_time_measures_overlap_waits_retries_and_timeouts(exact: Any) -> None:
    series = contention_series(exact, 0, 10, bins=5)
    assert list(series.edges) == [0, 2, 4, 6, 8, 10]
    # ai runs [2, 6] ms of each tick, physics (which writes P) [1, 4]: 2 ms of overlap per run.
    assert series.pair_labels == ("ai reads / physics writes: P",)
    assert series.overlap_ms[0].tolist() == pytest.approx([4.0, 4.0, 4.0, 2.0, 2.0])
    assert series.wait_labels == ("ai",)
    assert series.wait_ms[0].tolist() == pytest.approx([1.0] * 5)
    labels = dict(zip(series.event_labels, series.events.tolist(), strict=True))
    assert labels["combat: retries"] == [0, 0, 1, 0, 0]
    assert labels["ai: timeouts/drops"] == [0, 0, 0, 1, 2]  # dropped (7), still running (8), late (9)


def test_contention_of_a_capture_without_async_reads_is_empty(exact: Any) -> None:
    head, events = exact_events()
    head["groups"][1]["reads"] = ["H2"]
    series = contention_series(index_capture(T.build(head, events), "x"), 0, 10, 4)
    assert series.pair_labels == ()
    assert series.overlap_ms.shape == (0, 4)


@settings(max_examples=examples(100))
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), max_size=15),
    st.lists(st.integers(-10, 1200), min_size=1, max_size=20),
)
def test_covered_time_matches_counting_by_hand(gaps: list[tuple[int, int]], times: list[int]) -> None:
    starts, ends, t = [], [], 0
    for gap, length in gaps:
        t += gap
        starts.append(t)
        t += length
        ends.append(t)
    got = _covered_ms(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), np.array(times))
    for value, x in zip(got, times, strict=True):
        by_hand = sum(max(0, min(e, x) - s) for s, e in zip(starts, ends, strict=True))
        assert value * 1e6 == pytest.approx(by_hand)


# ------------------------------------------------------------------------------------------------
# Timeline
# ------------------------------------------------------------------------------------------------
def test_timeline_lanes_are_sync_groups_then_workers_then_async_misses_then_phases(exact: Any) -> None:
    tl = timeline_layout(exact, 6, 10)
    assert tl.lanes == ("physics", "render", "combat", "worker 0", "worker 1", "async: not run", "apply")
    assert tl.origin_ns == 6 * 20 * T.MS
    assert list(tl.ticks) == [6, 7, 8, 9]
    assert list(tl.tick_starts) == [0.0, 20.0, 40.0, 60.0]
    assert np.all(np.diff(tl.start) >= 0)


def test_timeline_nests_systems_and_shows_async_waits_before_runs(exact: Any) -> None:
    tl = timeline_layout(exact, 0, 1)
    lane = {name: i for i, name in enumerate(tl.lanes)}
    physics_systems = (tl.kind == KIND_SYSTEM) & (tl.lane == lane["physics"])
    assert tl.level[physics_systems].tolist() == [1, 1]
    assert tl.start[physics_systems].tolist() == [1.0, 2.0]
    assert tl.end[physics_systems].tolist() == [2.0, 4.0]
    worker = tl.lane == lane["worker 0"]
    wait = worker & (tl.kind == KIND_WAIT)
    run = worker & (tl.kind == KIND_GROUP)
    assert (tl.start[wait].tolist(), tl.end[wait].tolist()) == ([1.0], [2.0])  # dispatched at 1, started at 2
    assert (tl.start[run].tolist(), tl.end[run].tolist()) == ([2.0], [6.0])
    assert (tl.kind[tl.lane == lane["apply"]] == KIND_PHASE).all()


def test_async_runs_that_did_not_happen_become_markers(exact: Any) -> None:
    tl = timeline_layout(exact, 7, 9)
    markers = tl.kind == KIND_MARKER
    assert markers.sum() == 2
    assert {tl.lanes[i] for i in tl.lane[markers]} == {"async: not run"}


def test_an_empty_range_lays_out_nothing(exact: Any) -> None:
    tl = timeline_layout(exact, 5, 5)
    assert len(tl) == 0
    assert cull_spans(tl, 0, 10, 100)[0].size == 0


def test_spans_split_into_drawn_ones_and_painted_ones_by_width(exact: Any) -> None:
    tl = timeline_layout(exact, 0, 10)
    wide, thin = cull_spans(tl, 0.0, 200.0, 100.0, min_px=2.0)  # 2 ms per pixel
    visible = np.flatnonzero((tl.end >= 0) & (tl.start <= 200))
    assert sorted([*wide, *thin]) == visible.tolist()
    assert np.all((tl.end[wide] - tl.start[wide] >= 4.0) | (tl.kind[wide] == KIND_MARKER))
    assert np.all(tl.end[thin] - tl.start[thin] < 4.0)
    few, rest = cull_spans(tl, 0.0, 200.0, 100.0, min_px=2.0, max_wide=3, max_markers=0)
    assert len(few) == 0  # too many to draw one by one: everything is painted
    assert len(rest) == len(visible)
    none, _ = cull_spans(tl, 500.0, 600.0, 100.0)
    assert len(none) == 0


def test_painted_spans_cover_their_columns_and_later_ones_win(exact: Any) -> None:
    tl = timeline_layout(exact, 0, 2)
    colors = span_colors(exact, tl, 10)
    idx = np.arange(len(tl))
    grid = rasterize_spans(tl, idx, colors, 0.0, 40.0, 40)  # 1 ms per column
    assert grid.shape == (2 * len(tl.lanes), 40)
    for i in idx:
        row = 2 * tl.lane[i] + tl.level[i]
        assert grid[row, int(tl.start[i])] > 0
    lane = tl.lanes.index("physics")
    group_code = colors[(tl.kind == KIND_GROUP) & (tl.lane == lane)][0]
    assert grid[2 * lane, 2] == group_code  # groups paint the top half
    assert grid[2 * lane + 1, 3] == colors[(tl.kind == KIND_SYSTEM) & (tl.lane == lane)][1]  # collide, painted last
    assert grid[2 * lane, 15] == 0  # nothing ran there
    assert not rasterize_spans(tl, idx[:0], colors, 0.0, 40.0, 40).any()


def test_span_colors_separate_groups_systems_phases_waits_and_markers(exact: Any) -> None:
    tl = timeline_layout(exact, 6, 10)
    colors = span_colors(exact, tl, 10)
    assert set(colors[tl.kind == KIND_GROUP]) <= set(range(1, 11))
    assert set(colors[tl.kind == KIND_SYSTEM]) <= set(range(11, 21))
    assert set(colors[tl.kind == KIND_PHASE]) == {21}
    assert set(colors[tl.kind == KIND_WAIT]) == {22}
    assert set(colors[tl.kind == KIND_MARKER]) == {23}


def test_the_span_under_the_mouse_prefers_a_system_in_the_lower_half(exact: Any) -> None:
    tl = timeline_layout(exact, 0, 1)
    lane = tl.lanes.index("physics")
    top = span_at(tl, 1.5, lane + 0.2)
    bottom = span_at(tl, 3.0, lane + 0.8)
    assert top is not None and tl.kind[top] == KIND_GROUP
    assert bottom is not None and tl.kind[bottom] == KIND_SYSTEM
    assert exact.system_names[tl.label[bottom]] == "collide"
    assert span_at(tl, 15.0, lane + 0.5) is None
    assert span_at(tl, 1.5, -1.0) is None


def test_tooltips_say_what_ran_how_long_what_it_touched_and_why_it_failed(exact: Any) -> None:
    tl = timeline_layout(exact, 4, 5)
    lane = {name: i for i, name in enumerate(tl.lanes)}
    combat = int(np.flatnonzero((tl.lane == lane["combat"]) & (tl.kind == KIND_GROUP))[0])
    text = "\n".join(describe_span(exact, tl, combat))
    assert "group combat (sync): 1.000 ms" in text
    assert "result: errored" in text
    assert "writes: H" in text
    assert "error: ValueError: boom" in text
    system = int(np.flatnonzero((tl.lane == lane["physics"]) & (tl.kind == KIND_SYSTEM))[0])
    assert describe_span(exact, tl, system)[:2] == ["system move: 1.000 ms", "result: executed"]
    worker = next(n for n in tl.lanes if n.startswith("worker"))
    wait = int(np.flatnonzero((tl.lane == lane[worker]) & (tl.kind == KIND_WAIT))[0])
    lines = describe_span(exact, tl, wait)
    assert lines[0] == "ai waiting in the pool queue: 1.000 ms"
    assert any(line.startswith("queue wait 1.000 ms, depth 1, worker 0") for line in lines)
    apply = int(np.flatnonzero(tl.kind == KIND_PHASE)[0])
    assert describe_span(exact, tl, apply)[0] == "phase apply: 1.000 ms"


def test_retried_and_late_groups_say_so(exact: Any) -> None:
    tl = timeline_layout(exact, 5, 10)
    texts = ["\n".join(describe_span(exact, tl, i)) for i in range(len(tl)) if tl.kind[i] == KIND_GROUP]
    assert any("result: executed (retried)" in t for t in texts)
    assert any("(late merge)" in t for t in texts)


# ------------------------------------------------------------------------------------------------
# Live: the rolling window
# ------------------------------------------------------------------------------------------------
@settings(max_examples=examples(40), deadline=None)
@given(n=st.integers(0, 300), capacity=st.integers(1, 120), chunk=st.integers(1, 50))
def test_the_rolling_window_keeps_exactly_the_last_ticks_in_bounded_memory(n: int, capacity: int, chunk: int) -> None:
    head, _ = exact_events(1)
    window = RollingWindow(head, capacity=capacity, chunk=chunk)
    _, events = exact_events(n)
    most_chunks = 0
    for ev in events:
        assert window.add(ev)
        most_chunks = max(most_chunks, len(window._chunks))
    assert len(window) == min(n, capacity)
    assert most_chunks <= capacity // chunk + 2
    assert window.ticks_seen == n
    snap = window.snapshot()
    if n == 0:
        assert snap is None
        return
    assert snap is not None
    assert list(snap.tick) == list(range(max(0, n - capacity), n))
    assert len(window.lines()) == min(n, capacity)
    # The window's columns are what loading those ticks directly gives.
    direct = T.build(head, events[-capacity:])
    assert np.array_equal(snap.groups, direct.groups)
    assert np.array_equal(snap.systems, direct.systems)


def test_the_rolling_window_keeps_marks_and_skips_other_events() -> None:
    head, _ = exact_events(3)
    window = RollingWindow(head, capacity=10)
    assert not window.add({"type": "mark", "tick": 1, "t": 0, "name": "x", "data": {}})
    assert not window.add({"type": "stream", "dropped": 3})
    assert not window.add({"type": "tick", "tick": "bad"})
    assert window.warnings
    assert len(window.marks) == 1


def test_the_rolling_window_refuses_a_zero_capacity() -> None:
    with pytest.raises(ValueError, match="positive"):
        RollingWindow({}, capacity=0)


@pytest.mark.parametrize("name", ["saved.trace.jsonl", "saved.trace.jsonl.gz"])
def test_a_saved_window_loads_back_as_the_same_ticks(tmp_path: Path, name: str) -> None:
    head, events = exact_events(12)
    window = RollingWindow(head, capacity=5, chunk=2)
    for ev in events:
        window.add(ev)
    window.add({"type": "mark", "tick": 11, "t": 0, "name": "here", "data": {}})
    path = tmp_path / name
    assert write_trace(path, head, window.lines(), window.marks) == 5
    loaded = load_trace(path)
    assert loaded.complete
    assert not loaded.warnings
    assert list(loaded.tick) == [7, 8, 9, 10, 11]
    assert np.array_equal(loaded.groups, window.snapshot().groups)  # type: ignore[union-attr]
    assert loaded.marks[0]["name"] == "here"


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ({"every": 16, "above_ns": 5000}, "one tick in 16"),
        ({"every": 4, "above_ns": 2500}, "at least 2.5 us"),
        ({"every": 1, "above_ns": 5000}, ""),
        (None, ""),
        ({"every": "16"}, ""),
        ({"every": True}, ""),
        ({"every": 8, "above_ns": "x"}, "at least ?"),
        ("garbage", ""),
    ],
)
def test_the_sampling_note_explains_missing_systems_only_when_they_were_sampled(policy: Any, says: str) -> None:
    header: dict[str, Any] = {} if policy is None else {"system_sampling": policy}
    note = sampling_note(header)
    assert (says in note) if says else note == ""


@pytest.mark.parametrize(("every", "untimed"), [(4, 9 + 8), (1, 0)])
def test_untimed_runs_count_group_runs_whose_systems_were_sampled_out(every: int, untimed: int) -> None:
    """The timeline's "(sampled)" note shows only when a run in view lacks its systems."""
    import io

    import ecs
    from ecs.trace import TraceRecorder
    from tests.test_system_sampling import workload

    buf = io.BytesIO()
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=every, above_us=5.0), fail_at=(5,)) as sched:
        sched.add_observer(TraceRecorder(buf, close_target=False))
        sched.run(12, 0.1)
    cap = index_capture(load_trace(io.BytesIO(buf.getvalue())), "sampled")
    # cheap: timed on ticks 0, 4, 8 (9 untimed); heavy: every tick; fragile: 0, 2, 6 (after
    # the untimed failure at 5) and 10 (8 untimed, the failed run among them)
    assert cap.untimed_runs(0, 12) == untimed
    assert cap.untimed_runs(0, 1) == 0  # every group's first run is timed
    assert cap.untimed_runs(5, 5) == 0
    if every > 1:
        assert cap.untimed_runs(1, 2) == 2  # tick 1: cheap and fragile untimed
