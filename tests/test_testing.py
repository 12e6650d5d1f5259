"""ecs.testing: the doubles games use in their own tests."""

from __future__ import annotations

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
    for bad in (lambda: clock.advance(-1), lambda: clock.set(0)):
        try:
            bad()
        except ValueError as exc:
            assert "backwards" in str(exc)
        else:
            raise AssertionError("a manual clock must refuse to go back")
