"""ecs.testing: the doubles games use in their own tests."""

from __future__ import annotations

from typing import Any

import pytest

import ecs
from ecs.testing import ManualClock, RecordingObserver

from .components import Position, make_world


def test_recording_observer_keeps_results_per_group() -> None:
    @ecs.system(reads=(Position,))
    def look(ctx: ecs.ExecutionContext) -> None:
        for _ in ctx.query(Position):
            pass

    w = make_world()
    rec = RecordingObserver()
    b = ecs.SchedulerBuilder(w, clock=ManualClock())
    b.add_group("look", [look], interval=ecs.Interval(ticks=2))
    b.add_observer(rec)
    with b.build() as sched:
        sched.tick(0.1)
        w.spawn(Position())
        sched.tick(0.1)
        sched.tick(0.1)
        sched.mark("m", a=1)
    assert rec.results("look") == [
        ecs.GroupResult.SKIPPED_EMPTY,
        ecs.GroupResult.SKIPPED_INTERVAL,
        ecs.GroupResult.EXECUTED,
    ]
    assert rec.info is not None and rec.closed
    assert len(rec.ticks) == 3 and rec.marks[0][1] == "m"
    rec.clear()
    assert rec.groups == [] and rec.ticks == []


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(100)
    assert clock.advance(0.5) == 100 + 500_000_000
    assert clock.advance(ns=5) == 100 + 500_000_005
    clock.set(10**12)
    assert clock.now_ns() == 10**12
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0, got -1"):
        clock.advance(-1)
    with pytest.raises(ValueError, match=r"cannot go backwards \(0 < 1000000000000\)"):
        clock.set(0)
    assert clock.now_ns() == 10**12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ManualClock("x"), "start_ns must be an int number of nanoseconds >= 0, got 'x'"),  # type: ignore[arg-type]
        (lambda: ManualClock(float("nan")), "start_ns .* got nan"),  # type: ignore[arg-type]
        (lambda: ManualClock(-1), "start_ns .* got -1"),
        (lambda: ManualClock().advance("x"), "seconds must be a finite number >= 0, got 'x'"),  # type: ignore[arg-type]
        (lambda: ManualClock().advance(float("nan")), "seconds .* got nan"),
        (lambda: ManualClock().advance(ns=1.5), "ns must be an int .* got 1.5"),  # type: ignore[arg-type]
        (lambda: ManualClock().set(float("inf")), "now_ns must be an int .* got inf"),  # type: ignore[arg-type]
    ],
)
def test_a_manual_clock_refuses_what_would_stop_or_break_time(call: Any, message: str) -> None:
    # a NaN start or step used to be accepted and froze every duration at NaN
    with pytest.raises(ValueError, match=message):
        call()
