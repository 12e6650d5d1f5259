"""The tick lifecycle: order of phases and groups, intervals, results, access, observers."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

import ecs

from .components import Enemy, Health, Position, Velocity, make_world


class Recorder(ecs.SchedulerObserver):
    def __init__(self) -> None:
        self.info: ecs.SchedulerInfo | None = None
        self.groups: list[ecs.GroupSummary] = []
        self.phases: list[ecs.PhaseSummary] = []
        self.ticks: list[ecs.TickSummary] = []
        self.marks: list[tuple[int, str, dict[str, Any]]] = []
        self.starts: list[int] = []
        self.closed = False

    def on_tick_start(self, tick: int, start_ns: int) -> None:
        self.starts.append(tick)

    def on_start(self, info: ecs.SchedulerInfo) -> None:
        self.info = info

    def on_group(self, s: ecs.GroupSummary) -> None:
        self.groups.append(s)

    def on_phase(self, s: ecs.PhaseSummary) -> None:
        self.phases.append(s)

    def on_tick(self, s: ecs.TickSummary) -> None:
        self.ticks.append(s)

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        self.marks.append((tick, name, data))

    def on_close(self) -> None:
        self.closed = True


def logging_system(name: str, log: list[str], **kw: Any) -> ecs.System:
    @ecs.system(name=name, **kw)
    def run(ctx: ecs.ExecutionContext) -> None:
        log.append(name)

    return run


def test_steps_follow_the_documented_sequence() -> None:
    log: list[str] = []
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("late", [logging_system("l", log)], priority=10)
    b.add_group("early", [logging_system("e1", log), logging_system("e2", log)], priority=-10)
    b.on_pre_tick(lambda s: log.append("pre"))
    b.on_maintenance(lambda s: log.append("maint"))
    b.on_post_tick(lambda s: log.append("post"))
    with b.build() as sched:
        steps = list(sched.steps(0.1))
    assert steps == ["pre_tick", "apply", "dispatch", "early", "late", "await", "flush", "maintenance", "post_tick"]
    assert log == ["pre", "e1", "e2", "l", "maint", "post"]


@pytest.mark.parametrize(
    ("interval", "ran_on"),
    [
        (ecs.Interval(ticks=1), [0, 1, 2, 3, 4, 5, 6]),
        (ecs.Interval(ticks=3), [0, 3, 6]),
        (ecs.Interval(seconds=0.25), [0, 3, 5]),  # dt = 0.1: elapsed 0, 0.3, 0.5
    ],
)
def test_group_intervals_skip_ticks_and_report_it(interval: ecs.Interval, ran_on: list[int]) -> None:
    ticks: list[int] = []

    @ecs.system
    def record(ctx: ecs.ExecutionContext) -> None:
        ticks.append(ctx.tick)

    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [record], interval=interval)
    with b.build() as sched:
        results = [sched.tick(0.1)["g"] for _ in range(7)]
    assert ticks == ran_on
    assert [i for i, r in enumerate(results) if r is ecs.GroupResult.EXECUTED] == ran_on
    assert all(r is ecs.GroupResult.SKIPPED_INTERVAL for i, r in enumerate(results) if i not in ran_on)
    assert sched.stats["g"].skipped_interval == 7 - len(ran_on)


def test_system_intervals_inside_a_group() -> None:
    log: list[str] = []
    b = ecs.SchedulerBuilder(make_world(), system_sampling=ecs.SystemSampling(every=1))
    b.add_group("g", [logging_system("every", log), logging_system("third", log, interval=ecs.Interval(ticks=3))])
    rec = Recorder()
    b.add_observer(rec)
    with b.build() as sched:
        sched.run(4, 0.1)
    assert log.count("every") == 4 and log.count("third") == 2
    skipped = [s for g in rec.groups for s in g.systems if s.result == "skipped_interval"]
    assert [s.name for s in skipped] == ["third", "third"]


def test_a_group_whose_queries_match_nothing_is_skipped_empty() -> None:
    @ecs.system(reads=(Enemy,))
    def hunt(ctx: ecs.ExecutionContext) -> None:
        for _ in ctx.query(Enemy):
            pass

    w = make_world()
    b = ecs.SchedulerBuilder(w)
    b.add_group("hunt", [hunt])
    with b.build() as sched:
        assert sched.tick(0.1)["hunt"] is ecs.GroupResult.SKIPPED_EMPTY
        w.spawn(Enemy)
        assert sched.tick(0.1)["hunt"] is ecs.GroupResult.EXECUTED


def test_commands_apply_at_flush_so_later_groups_see_them_next_tick() -> None:
    seen: list[int] = []

    @ecs.system(reads=(Position,))
    def spawner(ctx: ecs.ExecutionContext) -> None:
        ctx.commands.spawn(Position())

    @ecs.system(reads=(Position,))
    def counter(ctx: ecs.ExecutionContext) -> None:
        seen.append(sum(len(b) for b in ctx.query(Position)))

    w = make_world()
    b = ecs.SchedulerBuilder(w)
    b.add_group("spawn", [spawner])
    b.add_group("count", [counter], priority=1)
    with b.build() as sched:
        sched.commands.spawn(Position())  # a host command, applied at the next apply phase
        sched.run(3, 0.1)
    assert seen == [1, 2, 3]
    assert len(w) == 4


def test_dt_defaults_to_clock_time_and_time_is_a_resource() -> None:
    clock = ecs.ManualClock()
    seen: list[tuple[float, int, float]] = []

    @ecs.system(reads=(ecs.Time,))
    def timed(ctx: ecs.ExecutionContext) -> None:
        t = ctx.resource(ecs.Time)
        assert (t.dt, t.tick, t.elapsed) == (ctx.dt, ctx.tick, ctx.elapsed)
        seen.append((ctx.dt, ctx.tick, ctx.elapsed))

    b = ecs.SchedulerBuilder(make_world(), clock=clock)
    b.add_group("g", [timed])
    with b.build() as sched:
        sched.tick()
        clock.advance(0.5)
        sched.tick()
        clock.advance(0.25)
        sched.tick()
    assert seen == [(0.0, 0, 0.0), (0.5, 1, 0.0), (0.25, 2, 0.5)]
    assert sched.tick_count == 3 and sched.elapsed == pytest.approx(0.75)


def test_a_clock_that_steps_back_never_runs_game_time_backwards() -> None:
    class Wobbly:
        """A custom clock (say, wall time adjusted by NTP) that steps back once."""

        def __init__(self) -> None:
            self.times = iter([1_000_000_000, 1_500_000_000, 1_200_000_000, 1_700_000_000])
            self.now = 0

        def now_ns(self) -> int:
            return self.now

    clock = Wobbly()
    b = ecs.SchedulerBuilder(make_world(), clock=clock)
    b.add_group("g", [logging_system("s", [])])
    dts = []
    with b.build() as sched:
        for t in clock.times:
            clock.now = t
            sched.tick()
            dts.append(sched.world.resource(ecs.Time).dt)
    assert dts == [0.0, 0.5, 0.0, 0.5]


def test_queries_are_limited_to_declared_access() -> None:
    errors: list[str] = []

    @ecs.system(reads=(Velocity,), writes=(Position,))
    def mover(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position, Velocity):
            b[Position].xy += b[Velocity].xy
            try:
                b[Velocity].xy += 1
            except ValueError as exc:
                errors.append(str(exc))
        try:
            ctx.query(Health)
        except ecs.AccessError as exc:
            errors.append(str(exc))
        try:
            ctx.resource(float)
        except ecs.AccessError as exc:
            errors.append(str(exc))
        try:
            ctx.set_resource(2.0)
        except ecs.AccessError as exc:
            errors.append(str(exc))

    w = make_world()
    w.add_resource(1.0, float)
    e = w.spawn(Position(), Velocity(xy=(1, 1)))
    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [mover])
    with b.build() as sched:
        sched.tick(0.1)
    assert w.get(e, Position).xy.tolist() == [1, 1]
    assert "read-only" in errors[0]
    assert errors[1].startswith("system 'mover' (group 'g') queried Health, which it did not declare")
    assert "read resource float" in errors[2]
    assert "set resource float" in errors[3]


def test_direct_structural_changes_inside_a_group_are_refused() -> None:
    w = make_world()

    @ecs.system
    def rogue(ctx: ecs.ExecutionContext) -> None:
        w.spawn(Position())

    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [rogue], error_policy=ecs.ErrorPolicy.ABORT)
    with b.build() as sched, pytest.raises(ecs.TickError) as info:
        sched.tick(0.1)
    assert isinstance(info.value.original, ecs.StructuralChangeError)
    assert "while g runs" in str(info.value.original)


def test_resources_are_read_and_replaced_through_declared_access() -> None:
    @ecs.system(writes=(dict,))
    def config(ctx: ecs.ExecutionContext) -> None:
        cfg = ctx.resource(dict)
        ctx.set_resource({"n": cfg["n"] + 1}, dict)

    w = make_world()
    w.add_resource({"n": 0}, dict)
    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [config])
    with b.build() as sched:
        sched.run(5, 0.1)
    assert w.resource(dict) == {"n": 5}


def test_observers_receive_header_summaries_phases_marks_and_close() -> None:
    @ecs.system(reads=(Velocity,), writes=(Position,))
    def mover(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position, Velocity):
            b[Position].xy += b[Velocity].xy
        ctx.commands.spawn(Position())

    clock = ecs.ManualClock()
    w = make_world()
    w.spawn_batch(10, {Position: None, Velocity: None})
    rec = Recorder()
    b = ecs.SchedulerBuilder(w, clock=clock)
    b.add_group("physics", [mover])
    b.add_observer(rec)
    sched = b.build()
    assert rec.info is not None
    assert [g.name for g in rec.info.groups] == ["physics"]
    assert rec.info.groups[0].writes == ("Position",) and rec.info.groups[0].reads == ("Position", "Velocity")
    assert {c.name for c in rec.info.components} >= {"Position", "Velocity", "Health"}
    sched.tick(0.1)
    sched.mark("level", n=2)
    sched.tick(0.1)
    sched.close()
    assert rec.closed
    assert sched.closed
    assert rec.starts == [0, 1]
    assert [t.tick for t in rec.ticks] == [0, 1]
    g = rec.groups[0]
    assert (g.group, g.mode, g.result, g.entities, g.commands) == ("physics", "sync", ecs.GroupResult.EXECUTED, 10, 1)
    assert [s.name for s in g.systems] == ["mover"]
    assert [p.phase for p in rec.phases if p.tick == 0] == ["apply", "flush"]
    flush = next(p for p in rec.phases if p.phase == "flush")
    assert flush.spawned == 1 and flush.commands == 1
    assert rec.ticks[1].entities == 12
    assert rec.marks == [(1, "level", {"n": 2})]
    with pytest.raises(ecs.EcsError, match="closed"):
        sched.tick(0.1)


def test_removing_an_observer_stops_its_summaries() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [logging_system("s", [])])
    rec = Recorder()
    with b.build() as sched:
        sched.add_observer(rec)
        sched.tick(0.1)
        sched.remove_observer(rec)
        sched.tick(0.1)
    assert len(rec.ticks) == 1 and rec.closed
    assert sched.observers == ()


class Broken(ecs.SchedulerObserver):
    """Raises from every callback but on_start."""

    def on_tick_start(self, tick: int, start_ns: int) -> None:
        raise RuntimeError("tick start bug")

    def on_group(self, s: ecs.GroupSummary) -> None:
        raise RuntimeError("group bug")

    def on_phase(self, s: ecs.PhaseSummary) -> None:
        raise RuntimeError("phase bug")

    def on_tick(self, s: ecs.TickSummary) -> None:
        raise RuntimeError("tick bug")

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        raise RuntimeError("mark bug")

    def on_close(self) -> None:
        raise RuntimeError("close bug")


def test_an_observer_that_raises_breaks_neither_the_tick_nor_the_observers_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = make_world()
    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [logging_system("s", [])])
    b.add_observer(Broken())
    rec = Recorder()
    b.add_observer(rec)
    with caplog.at_level(logging.DEBUG, logger="ecs.scheduler"), b.build() as sched:
        sched.run(3, 0.1)  # raised from the first tick once
        sched.mark("level")
    assert sched.tick_count == 3 and rec.closed
    assert [t.tick for t in rec.ticks] == [0, 1, 2] and rec.starts == [0, 1, 2] and len(rec.groups) == 3
    assert rec.marks == [(3, "level", {})]
    # per tick: tick start, group, two phases, tick; then a mark and close
    assert sched.observer_errors == 3 * 5 + 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert sorted(r.getMessage().split(" raised")[0] for r in errors) == sorted(
        f"observer Broken.{m}" for m in ("on_tick_start", "on_group", "on_phase", "on_tick", "on_mark", "on_close")
    )  # each failing callback logged once at ERROR, with its traceback
    assert all(r.exc_info is not None for r in errors)
    assert sum(r.levelno == logging.DEBUG and "raised again" in r.getMessage() for r in caplog.records) == 11


def test_an_observer_whose_start_fails_is_not_attached() -> None:
    class NoStart(Recorder):
        def on_start(self, info: ecs.SchedulerInfo) -> None:
            raise OSError("cannot open the trace file")

    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [logging_system("s", [])])
    with b.build() as sched:
        obs = NoStart()
        with pytest.raises(OSError, match="cannot open"):
            sched.add_observer(obs)
        assert sched.observers == ()
        sched.tick(0.1)
    assert obs.ticks == []


def test_run_stops_early_with_until() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [logging_system("s", [])])
    with b.build() as sched:
        ran = sched.run(100, 0.1, until=lambda s: s.tick_count >= 7)
    assert ran == 7


def test_a_failing_hook_raises_a_tick_error_naming_it() -> None:
    def broken_hook(sched: ecs.Scheduler) -> None:
        raise OSError("disk full")

    b = ecs.SchedulerBuilder(make_world())
    b.on_post_tick(broken_hook)
    with b.build() as sched, pytest.raises(ecs.TickError, match="broken_hook.*disk full"):
        sched.tick(0.1)


def test_gathered_writes_through_dense_components_persist_across_ticks() -> None:
    from .components import Mana

    @ecs.system(writes=(Mana,))
    def regen(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Mana):
            b[Mana].mp += np.float32(1)

    w = make_world()
    ids = w.spawn_batch(5, {Mana: 0.0})
    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [regen])
    with b.build() as sched:
        sched.run(3, 0.1)
    assert [w.get(int(e), Mana).mp for e in ids] == [3.0] * 5


def test_set_time_moves_tick_and_elapsed_and_restarts_intervals() -> None:
    seen: list[tuple[int, float]] = []

    @ecs.system(interval=ecs.Interval(ticks=3))
    def every_third(ctx: ecs.ExecutionContext) -> None:
        seen.append((ctx.tick, round(ctx.elapsed, 3)))

    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [every_third])
    with b.build() as sched:
        sched.run(2, 0.5)
        sched.set_time(100, 50.0)
        sched.run(4, 0.5)
        with pytest.raises(ecs.EcsError, match="tick must be >= 0"):
            sched.set_time(-1, 0.0)
    assert seen == [(0, 0.0), (100, 50.0), (103, 51.5)]
    assert sched.tick_count == 104
