"""Trace statistics: exact figures from a scripted manual clock."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecs
from ecs.trace import TraceRecorder, group_stats, load_trace, system_stats, tick_stats
from ecs.trace._stats import percentiles

from ._factories import create_scheduler, gated_scheduler, scripted_scheduler


def scripted(ticks: int, **kw: object) -> ecs.trace.TraceData:
    clock = ecs.ManualClock()
    buf = io.BytesIO()
    with scripted_scheduler(clock, **kw) as sched:  # type: ignore[arg-type]
        sched.add_observer(TraceRecorder(buf))
        sched.run(ticks, 0.1)
        sched.mark("m")
    return load_trace(io.BytesIO(buf.getvalue()))


def test_percentiles_of_a_sample_and_of_nothing() -> None:
    assert percentiles(np.array([], dtype=np.float64)) == (0.0, 0.0, 0.0, 0.0, 0.0)
    mean, p50, p95, p99, mx = percentiles(np.arange(1, 101, dtype=np.float64))
    assert (mean, p50, mx) == (50.5, 50.5, 100.0)
    assert p95 == pytest.approx(95.05) and p99 == pytest.approx(99.01)


def test_tick_stats() -> None:
    t = tick_stats(scripted(4))
    assert (t.ticks, t.first_tick, t.last_tick) == (4, 0, 3)
    assert t.span_ms == 18.0
    assert t.mean_ms == 4.5 and t.max_ms == 6.0 and t.p50_ms == 4.5
    assert (t.aborted, t.errors, t.marks, t.complete, t.warnings) == (0, 0, 1, True, 0)


def test_group_stats_count_runs_skips_and_durations() -> None:
    a, b = group_stats(scripted(4))
    assert (a.name, a.mode, a.count, a.skipped, a.errors) == ("a", "sync", 4, 0, 0)
    assert a.mean_ms == a.p50_ms == a.p99_ms == a.max_ms == 3.0 and a.total_ms == 12.0
    assert (b.name, b.count, b.skipped) == ("b", 2, 2), "interval 2 ticks: runs on ticks 0 and 2"
    assert b.mean_ms == 3.0 and b.results["skipped_interval"] == 2 and b.results["executed"] == 2
    assert a.late == 0 and a.mean_wait_ms == 0.0


def test_group_stats_count_errors() -> None:
    stats = {g.name: g for g in group_stats(scripted(5, fail_at=(1, 3)))}
    # c ran (and failed) on ticks 1 and 3; on the others its query matched nothing: skipped
    assert (stats["c"].errors, stats["c"].count, stats["c"].skipped, stats["c"].not_run) == (2, 2, 3, 0)
    assert tick_stats(scripted(5, fail_at=(1, 3))).errors == 2


def test_system_stats() -> None:
    a1, a2, b1 = system_stats(scripted(4))
    assert (a1.name, a1.group, a1.count, a1.mean_ms) == ("a1", "a", 4, 1.0)
    assert (a2.count, a2.max_ms, a2.total_ms) == (4, 2.0, 8.0)
    assert (b1.count, b1.skipped, b1.errors) == (2, 0, 0), "a skipped group reports no system runs"


def test_system_stats_count_interval_skips_and_errors() -> None:
    buf = io.BytesIO()
    with create_scheduler(with_async=False, fail_at=(2,)) as sched:
        sched.add_observer(TraceRecorder(buf))
        sched.run(6, 0.1)
    stats = {s.name: s for s in system_stats(load_trace(io.BytesIO(buf.getvalue())))}
    assert (stats["bounce"].count, stats["bounce"].skipped) == (3, 3)
    assert (stats["fragile"].count, stats["fragile"].errors) == (6, 1)


def test_async_groups_are_timed_by_run_and_count_late_merges() -> None:
    sched, gate = gated_scheduler()
    buf = io.BytesIO()
    with sched:
        sched.add_observer(TraceRecorder(buf))
        sched.tick(0.1)
        gate.release.set()
        assert sched.wait_idle(5.0)
        sched.tick(0.1)
    data = load_trace(io.BytesIO(buf.getvalue()))
    (slow,) = group_stats(data)
    assert slow.mode == "async" and slow.late == 1
    assert slow.results["still_running"] >= 1 and slow.not_run == slow.results["still_running"]
    assert slow.skipped == 0  # it was due every tick
    run = data.column("run")[data.column("result") == 0]
    assert slow.max_ms == pytest.approx(run.max() / 1e6)


def test_stats_of_an_empty_trace() -> None:
    buf = io.BytesIO()
    with create_scheduler(with_async=False) as sched:
        sched.add_observer(TraceRecorder(buf))
    data = load_trace(io.BytesIO(buf.getvalue()))
    t = tick_stats(data)
    assert (t.ticks, t.span_ms, t.p99_ms) == (0, 0.0, 0.0)
    assert all(g.count == 0 and g.mean_ms == 0.0 for g in group_stats(data))
    assert [g.name for g in group_stats(data)] == ["physics", "spawn", "fragile"]


@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1e3, allow_nan=False)), max_size=60),
)
def test_grouped_percentiles_match_a_per_key_computation(pairs: list[tuple[int, float]]) -> None:
    from ecs.trace import grouped_percentiles

    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    values = np.array([v for _, v in pairs], dtype=np.float64)
    got = grouped_percentiles(keys, values, 5)
    for k in range(5):
        mine = values[keys == k]
        if not len(mine):
            assert k not in got
            continue
        count, mean, p50, p95, p99, mx, total = got[k]
        assert count == len(mine)
        assert np.allclose(
            [mean, p50, p95, p99, mx, total], [mine.mean(), *np.percentile(mine, [50, 95, 99]), mine.max(), mine.sum()]
        )
