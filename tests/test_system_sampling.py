"""System sampling and lazy summaries: what observers see when systems are (not) timed."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

import ecs
from ecs.trace import TraceRecorder, group_stats, load_trace, system_stats

from ._factories import Fragile, Heat, Pos, timed_system

US = 1_000


class OnTickOnly(ecs.SchedulerObserver):
    """Listens to ticks only: the scheduler keeps compact records and expands them on demand."""

    def __init__(self) -> None:
        self.ticks: list[ecs.TickSummary] = []

    def on_tick(self, summary: ecs.TickSummary) -> None:
        self.ticks.append(summary)


class OnGroup(ecs.SchedulerObserver):
    """Listens to groups: the scheduler builds every GroupSummary as the group finishes."""

    def __init__(self) -> None:
        self.groups: list[ecs.GroupSummary] = []

    def on_group(self, summary: ecs.GroupSummary) -> None:
        self.groups.append(summary)


class OnPhase(ecs.SchedulerObserver):
    """Listens to phases: the scheduler builds every PhaseSummary as the phase ends."""

    def __init__(self) -> None:
        self.phases: list[ecs.PhaseSummary] = []

    def on_phase(self, summary: ecs.PhaseSummary) -> None:
        self.phases.append(summary)


def workload(
    clock: ecs.ManualClock, sampling: ecs.SystemSampling | None = None, fail_at: tuple[int, ...] = ()
) -> ecs.Scheduler:
    """``cheap``: two 1 us systems; ``heavy``: two 20 us systems; ``fragile`` (2 us) fails at ``fail_at``."""
    world = ecs.World(components=[Pos, Heat])
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1, system_sampling=sampling)
    b.add_group("cheap", [timed_system("c1", clock, 1 * US), timed_system("c2", clock, 1 * US)])
    b.add_group("heavy", [timed_system("h1", clock, 20 * US), timed_system("h2", clock, 20 * US)], priority=1)
    b.add_group("fragile", [timed_system("f0", clock, 2 * US), Fragile(frozenset(fail_at))], priority=2)
    return b.build()


def timed_ticks(ticks: list[ecs.TickSummary], group: str) -> list[int]:
    return [t.tick for t in ticks for g in t.groups if g.group == group and len(g.systems)]


def test_cheap_groups_are_timed_one_tick_in_every_and_heavy_ones_every_tick() -> None:
    obs = OnTickOnly()
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=4, above_us=5.0)) as sched:
        sched.add_observer(obs)
        sched.run(12, 0.1)
    assert timed_ticks(obs.ticks, "heavy") == list(range(12))
    # the first run, then the group's own tick of each period (staggered by group position)
    assert timed_ticks(obs.ticks, "cheap") == [0, 4, 8]
    assert timed_ticks(obs.ticks, "fragile") == [0, 2, 6, 10]
    # group start and end are reported on every tick either way
    assert all(len(t.groups) == 3 and t.groups[0].duration_ns == 2 * US for t in obs.ticks)


def test_every_one_times_every_system_of_every_tick() -> None:
    obs = OnTickOnly()
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=1)) as sched:
        sched.add_observer(obs)
        sched.run(5, 0.1)
    for name in ("cheap", "heavy", "fragile"):
        assert timed_ticks(obs.ticks, name) == [0, 1, 2, 3, 4]
    c1 = obs.ticks[3].groups[0].systems[0]
    assert (c1.name, c1.duration_ns, c1.result) == ("c1", 1 * US, "executed")


def test_the_policy_can_change_while_running_and_the_header_states_it() -> None:
    obs = OnTickOnly()
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=8)) as sched:
        sched.add_observer(obs)
        sched.run(3, 0.1)
        sched.system_sampling = ecs.SystemSampling(every=1)
        sched.run(3, 0.1)
        buf = io.BytesIO()
        sched.add_observer(TraceRecorder(buf, close_target=False))
    assert timed_ticks(obs.ticks, "cheap") == [0, 3, 4, 5]
    header = json.loads(buf.getvalue().splitlines()[0])
    assert header["system_sampling"] == {"every": 1, "above_ns": 5000}


def test_a_failure_in_an_untimed_run_is_reported_and_the_next_run_is_timed() -> None:
    obs = OnTickOnly()
    buf = io.BytesIO()
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=16), fail_at=(5,)) as sched:
        sched.add_observer(obs)
        sched.add_observer(TraceRecorder(buf, close_target=False))
        sched.run(8, 0.1)
    fragile = [g for t in obs.ticks for g in t.groups if g.group == "fragile"]
    failed = fragile[5]
    assert failed.result is ecs.GroupResult.ERRORED and len(failed.systems) == 0
    assert failed.error_system == "fragile" and failed.error is not None and "boom" in failed.error
    assert len(fragile[6].systems) == 2 and len(fragile[7].systems) == 0
    tick5 = json.loads(buf.getvalue().splitlines()[6])
    assert tick5["tick"] == 5
    # no system record for the untimed run, but the error names the system's position (1)
    assert [e[:2] for e in tick5["errors"]] == [[2, 1]] and all(s[0] != 2 for s in tick5["systems"])
    data = load_trace(io.BytesIO(buf.getvalue()))
    assert data.errors[0][1] == -1  # no system row to point at
    stats = {s.name: s for s in system_stats(data)}
    # timed runs only: the first, its own tick of the period (2), and the one after the failure
    assert stats["f0"].count == 3
    # ... but the failure counts for its system though the run was not timed
    assert data.error_systems == [data.system_names.index("fragile")]
    assert stats["fragile"].errors == 1 and stats["f0"].errors == 0
    assert {g.name: g.errors for g in group_stats(data)}["fragile"] == 1


def test_system_errors_of_timed_and_untimed_runs_add_up_to_their_groups_everywhere() -> None:
    """ecs-trace summary, a tail of the trace and the profiler count the same failures."""
    from profiler_app._data import concat_data, index_capture, system_statistics

    buf = io.BytesIO()
    fails = (1, 5, 9, 12, 13, 20)  # timed (first run, after a failure) and untimed ones
    with workload(ecs.ManualClock(), ecs.SystemSampling(every=16), fail_at=fails) as sched:
        sched.add_observer(TraceRecorder(buf, close_target=False))
        sched.run(24, 0.1)
    data = load_trace(io.BytesIO(buf.getvalue()))
    fragile = data.system_names.index("fragile")
    assert 0 < sum(s < 0 for _, s, _ in data.errors) < len(fails)  # some runs were timed, some not
    assert data.system_errors()[fragile] == len(fails)
    assert {s.name: s.errors for s in system_stats(data)}["fragile"] == len(fails)
    tail = load_trace(io.BytesIO(buf.getvalue()), max_ticks=10)  # ticks 14..23: the failure at 20
    assert tail.system_errors()[fragile] == 1 and tail.error_systems == [fragile]
    cap = index_capture(data, "run")
    rows = {r.name: r.errors for r in system_statistics(cap, 0, len(cap))}
    assert rows["fragile"] == len(fails)
    assert {r.name: r.errors for r in system_statistics(cap, 10, 16)}["fragile"] == 2  # ticks 12, 13
    joined = concat_data([tail, tail])
    assert joined.error_systems == [fragile, fragile]


def groups_seen(with_on_group: bool, sampling: ecs.SystemSampling) -> tuple[list[Any], list[bytes]]:
    """Run the same workload with and without an on_group listener; return summaries and trace."""
    clock = ecs.ManualClock(start_ns=7_000)
    buf = io.BytesIO()
    ticks = OnTickOnly()
    with workload(clock, sampling, fail_at=(2, 3)) as sched:
        sched.add_observer(ticks)
        if with_on_group:
            sched.add_observer(OnGroup())
        sched.add_observer(TraceRecorder(buf, close_target=False))
        sched.run(10, 0.1)
    lines = buf.getvalue().splitlines()
    return [t.groups for t in ticks.ticks], lines[1:]


def phases_seen(with_on_phase: bool) -> tuple[list[Any], list[Any], list[bytes]]:
    """A workload with hooks and commands, with and without an on_phase listener."""
    clock = ecs.ManualClock(start_ns=5_000)
    world = ecs.World(components=[Pos, Heat])
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1)

    @ecs.system(writes=(Pos,))
    def churn(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=300)
        ctx.commands.spawn(Pos((ctx.tick, 0.0)))
        for batch in ctx.query(Pos):
            ctx.commands.destroy(batch.entities[:1])  # the oldest entity dies
            break

    b.add_group("churn", [churn])
    b.add_hook("pre_tick", lambda s: clock.advance(ns=40))
    b.add_hook("maintenance", lambda s: clock.advance(ns=70))
    b.add_hook("post_tick", lambda s: clock.advance(ns=10))
    ticks, phases, buf = OnTickOnly(), OnPhase(), io.BytesIO()
    with b.build() as sched:
        sched.add_observer(ticks)
        if with_on_phase:
            sched.add_observer(phases)
        sched.add_observer(TraceRecorder(buf, close_target=False))
        sched.commands.spawn(Pos((1.0, 2.0)))  # host commands: the first apply phase has one
        sched.run(6, 0.1)
    return [t.phases for t in ticks.ticks], phases.phases, buf.getvalue().splitlines()[1:]


def test_expanded_phase_records_equal_the_summaries_built_for_on_phase_listeners() -> None:
    """Phases kept as records (no on_phase listener) expand to what listeners are given."""
    eager, streamed, eager_lines = phases_seen(True)
    lazy, _, lazy_lines = phases_seen(False)
    assert lazy == eager
    assert [p for tick in eager for p in tick] == streamed
    assert [p.phase for p in lazy[0]] == ["pre_tick", "apply", "flush", "maintenance", "post_tick"]
    assert (lazy[0][1].commands, lazy[0][1].spawned) == (1, 1)  # the host's spawn
    assert lazy[2][2].spawned == 1 and lazy[2][2].destroyed == 1  # the system's commands
    assert lazy[3][3].duration_ns == 70 and all(isinstance(p, ecs.PhaseSummary) for p in lazy[3])
    assert lazy_lines == eager_lines  # the same trace bytes, header aside


@pytest.mark.parametrize("every", [1, 3])
def test_expanded_records_equal_the_summaries_built_for_on_group_listeners(every: int) -> None:
    """The compact path (records expanded on demand, written as they are) loses nothing."""
    sampling = ecs.SystemSampling(every=every)
    eager, eager_lines = groups_seen(True, sampling)
    lazy, lazy_lines = groups_seen(False, sampling)
    assert lazy == eager
    assert lazy_lines == eager_lines  # the same trace bytes, header aside


def test_an_observer_that_overrides_nothing_still_gets_start_marks_and_close() -> None:
    class Quiet(ecs.SchedulerObserver):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_start(self, info: ecs.SchedulerInfo) -> None:
            self.seen.append(f"start {info.system_sampling}")

        def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
            self.seen.append(f"mark {name} {tick}")

        def on_close(self) -> None:
            self.seen.append("close")

    quiet = Quiet()
    with workload(ecs.ManualClock()) as sched:
        sched.add_observer(quiet)
        sched.run(2, 0.1)
        sched.mark("checkpoint")
    assert quiet.seen == ["start (16, 5000)", "mark checkpoint 2", "close"]


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"every": 0}, "every must be an int >= 1"),
        ({"every": 2.5}, "every must be an int >= 1"),
        ({"every": True}, "every must be an int >= 1"),
        ({"above_us": -1.0}, "above_us must be a number >= 0"),
        ({"above_us": float("nan")}, "above_us must be a number >= 0"),
    ],
)
def test_bad_sampling_settings_are_refused(kwargs: dict[str, Any], text: str) -> None:
    with pytest.raises(ecs.BuildError, match=text):
        ecs.SystemSampling(**kwargs)
    with workload(ecs.ManualClock()) as sched, pytest.raises(ecs.EcsError, match="must be an ecs.SystemSampling"):
        sched.system_sampling = 4  # type: ignore[assignment]


@pytest.mark.parametrize("with_on_group", [False, True])
def test_errored_groups_are_the_groups_whose_result_is_errored(with_on_group: bool) -> None:
    """Found from records without expanding the rest, or from summaries when they exist."""
    ticks = OnTickOnly()
    clock = ecs.ManualClock()
    with workload(clock, fail_at=(1, 2, 4)) as sched:
        sched.add_observer(ticks)
        if with_on_group:
            sched.add_observer(OnGroup())
        sched.run(6, 0.1)
    failed = [[g.group for g in t.errored_groups] for t in ticks.ticks]
    assert failed == [[], ["fragile"], ["fragile"], [], ["fragile"], []]
    for t in ticks.ticks:  # the same answer once the groups were expanded
        assert t.errored_groups == tuple(g for g in t.groups if g.result is ecs.GroupResult.ERRORED)


def test_errored_groups_include_failed_async_groups() -> None:
    @ecs.system(reads=(Heat,), async_allowed=True)
    def melt(ctx: ecs.ExecutionContext) -> None:
        if ctx.tick == 1:
            raise RuntimeError("molten")

    world = ecs.World(components=[Pos, Heat])
    b = ecs.SchedulerBuilder(world, workers=1)
    b.add_group("melt", [melt], mode=ecs.Mode.ASYNC, error_policy=ecs.ErrorPolicy.CONTINUE)
    ticks = OnTickOnly()
    b.add_observer(ticks)
    with b.build() as sched:
        for _ in range(3):
            sched.tick(0.1)
            assert sched.wait_idle()
    failed = [(g.tick, g.group, g.mode) for t in ticks.ticks for g in t.errored_groups]
    assert failed == [(1, "melt", "async")]
