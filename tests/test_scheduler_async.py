"""Async groups: frozen inputs, ordered merges, timeouts, in-flight and queue limits, hangs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import ecs

from .components import Health, Position, Velocity, make_world
from .test_scheduler_tick import Recorder


def test_async_groups_see_the_world_as_of_the_start_of_the_tick() -> None:
    seen: list[float] = []
    release = threading.Event()

    @ecs.system(reads=(Position,), async_allowed=True)
    def observe(ctx: ecs.ExecutionContext) -> None:
        release.wait(2)  # make sure the sync group has already moved everything
        seen.append(float(sum(b[Position].xy.sum() for b in ctx.query(Position))))

    @ecs.system(reads=(Velocity,), writes=(Position,))
    def move(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position, Velocity):
            b[Position].xy += b[Velocity].xy
        release.set()

    w = make_world()
    w.spawn_batch(100, {Position: None, Velocity: (1.0, 0.0)})
    b = ecs.SchedulerBuilder(w, workers=2)
    b.add_group("move", [move])
    b.add_group("observe", [observe], mode=ecs.Mode.ASYNC, timeout=5)
    with b.build() as sched:
        sched.tick(1.0)
        release.clear()
        sched.tick(1.0)
    assert seen == [0.0, 100.0]  # each tick's copy predates that tick's movement


def test_async_reads_are_read_only_and_writes_merge_back_with_allow_writes() -> None:
    errors: list[str] = []

    @ecs.system(reads=(Position,), writes=(Health,), async_allowed=True)
    def heal(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position, Health):
            try:
                b[Position].xy += 1
            except ValueError as exc:
                errors.append(str(exc))
            b[Health].hp += 10

    @ecs.system(reads=(Health,))
    def reaper(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Health):
            ctx.commands.destroy(b.entities[:1])  # one entity dies while 'heal' runs

    w = make_world()
    ids = w.spawn_batch(4, {Position: None, Health: np.arange(4)})
    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("reap", [reaper], interval=ecs.Interval(ticks=100))
    b.add_group("heal", [heal], mode=ecs.Mode.ASYNC, allow_writes=True, timeout=5)
    with b.build() as sched:
        sched.tick(0.1)
        sched.tick(0.1)
    assert errors and all("read-only" in e for e in errors)
    assert not w.is_alive(int(ids[0]))  # not resurrected by the write-back
    assert [w.get(int(e), Health).hp for e in ids[1:]] == [21, 22, 23]
    assert (w.column(Position, "xy")[1] == 0).all()


def test_an_overrunning_group_is_still_running_then_merges_late() -> None:
    gate = threading.Event()

    @ecs.system(async_allowed=True)
    def slow(ctx: ecs.ExecutionContext) -> None:
        gate.wait(5)
        ctx.commands.spawn(Health(ctx.tick))

    w = make_world()
    rec = Recorder()
    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("slow", [slow], mode=ecs.Mode.ASYNC, timeout=0.01)
    b.add_observer(rec)
    with b.build() as sched:
        assert sched.tick(0.1)["slow"] is ecs.GroupResult.STILL_RUNNING
        assert sched.tick(0.1)["slow"] is ecs.GroupResult.STILL_RUNNING  # in flight: not dispatched again
        assert sched.in_flight == ("slow",)
        gate.set()
        assert sched.wait_idle(5)
        sched.tick(0.1)  # merges the late result in its apply phase, then dispatches again
        sched.wait_idle(5)
    assert w.column(Health, "hp")[1].tolist()[0] == 0  # the run dispatched at tick 0
    assert sched.stats["slow"].in_flight_skips == 1
    assert sched.stats["slow"].late_merges == 1
    late = [g for g in rec.groups if g.late]
    assert len(late) == 1 and late[0].tick == 0 and late[0].result is ecs.GroupResult.EXECUTED
    assert late[0].worker == 0 and late[0].run_ns >= 0


def test_queue_limit_drops_runs_that_would_wait_behind_too_many_tasks() -> None:
    gate = threading.Event()

    def blocker(name: str) -> ecs.System:
        @ecs.system(name=name, async_allowed=True)
        def run(ctx: ecs.ExecutionContext) -> None:
            gate.wait(5)

        return run

    rec = Recorder()
    b = ecs.SchedulerBuilder(make_world(), workers=1)
    b.add_group("a", [blocker("a")], mode=ecs.Mode.ASYNC, timeout=0.0)
    b.add_group("b", [blocker("b")], mode=ecs.Mode.ASYNC, timeout=0.0, priority=1)
    b.add_group("c", [blocker("c")], mode=ecs.Mode.ASYNC, timeout=0.0, priority=2, queue_limit=1)
    b.add_observer(rec)
    with b.build() as sched:
        time.sleep(0.05)
        first = sched.tick(0.1)
        gate.set()
        sched.wait_idle(5)
    # 'a' runs on the only worker, 'b' waits in the queue, so 'c' (limit 1) is dropped
    assert first["c"] is ecs.GroupResult.DROPPED
    assert sched.stats["c"].dropped == 1
    dropped = [g for g in rec.groups if g.result is ecs.GroupResult.DROPPED]
    assert dropped[0].queue_depth >= 1


HANG = textwrap.dedent(
    """
    import threading, time, ecs
    never = threading.Event()

    @ecs.system(async_allowed=True)
    def hang(ctx):
        never.wait()   # never returns

    @ecs.system
    def tick_counter(ctx):
        pass

    w = ecs.World()
    b = ecs.SchedulerBuilder(w, workers=2)
    b.add_group("main", [tick_counter])
    b.add_group("hang", [hang], mode=ecs.Mode.ASYNC, timeout=0.02)
    sched = b.build()
    t0 = time.monotonic()
    results = [sched.tick(1 / 60)["hang"].value for _ in range(30)]
    took = time.monotonic() - t0
    print(results[0], results[-1], sched.stats["hang"].in_flight_skips, round(took, 2))
    print("closed cleanly:", sched.close(timeout=0.2))
    """
)


def test_a_hung_async_system_does_not_stop_ticks_or_process_exit() -> None:
    proc = subprocess.run([sys.executable, "-c", HANG], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, last, skips, took = proc.stdout.splitlines()[0].split()
    assert first == "still_running" and last == "still_running"
    assert int(skips) == 29  # dispatched once, never again while in flight
    assert float(took) < 10  # ticks went on (only the first waited for its timeout)
    assert proc.stdout.splitlines()[1] == "closed cleanly: False"  # the stuck worker was left behind


def test_async_group_results_are_reported_with_worker_and_queue_wait() -> None:
    @ecs.system(reads=(Position,), async_allowed=True)
    def scan(ctx: ecs.ExecutionContext) -> None:
        for _ in ctx.query(Position):
            pass

    w = make_world()
    w.spawn_batch(10, {Position: None})
    rec = Recorder()
    b = ecs.SchedulerBuilder(w, workers=2)
    b.add_group("scan", [scan], mode=ecs.Mode.ASYNC, timeout=5)
    b.add_observer(rec)
    with b.build() as sched:
        sched.run(3, 0.1)
    assert [g.result for g in rec.groups] == [ecs.GroupResult.EXECUTED] * 3
    g = rec.groups[0]
    assert g.mode == "async" and g.worker in (0, 1) and g.entities == 10
    assert g.queue_wait_ns >= 0 and g.end_ns >= g.start_ns
    assert rec.ticks[0].queue_depths == {"scan": 0}


@pytest.mark.parametrize("kind", ["get", "has", "alive"])
def test_per_entity_reads_in_async_groups_use_the_frozen_copy(kind: str) -> None:
    out: list[object] = []
    w = make_world()
    e = w.spawn(Position(xy=(3, 4)), Health(1))

    @ecs.system(reads=(Position,), async_allowed=True)
    def peek(ctx: ecs.ExecutionContext) -> None:
        if kind == "get":
            out.append(ctx.get(e, Position).xy.tolist())
        elif kind == "has":
            out.append(ctx.has(e, Health))
        else:
            out.append((ctx.is_alive(e), ctx.is_alive(e + 1)))

    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("peek", [peek], mode=ecs.Mode.ASYNC, timeout=5)
    with b.build() as sched:
        sched.tick(0.1)
    assert out == [{"get": [3.0, 4.0], "has": True, "alive": (True, False)}[kind]]  # presence is not data access


def test_frozen_copies_keep_the_chunk_structure_and_write_back_every_chunk() -> None:
    sizes: list[int] = []

    @ecs.system(reads=(Position,), writes=(Health,), async_allowed=True)
    def grow(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position, Health):
            sizes.append(len(b))
            b[Health].hp += b.entities.astype(np.int64) % 7

    w = ecs.World(components=[Position, Health], chunk_rows=16)
    ids = w.spawn_batch(40, {Position: None, Health: 0})
    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("grow", [grow], mode=ecs.Mode.ASYNC, allow_writes=True, timeout=5)
    with b.build() as sched:
        sched.tick(0.1)
        assert ctx_get(sched, int(ids[33])) == 33 % 7
    assert sizes == [16, 16, 8]
    assert [w.get(int(e), Health).hp for e in ids] == [int(e) % 7 for e in ids]


def ctx_get(sched: ecs.Scheduler, eid: int) -> int:
    """Read one value through an async context's frozen copy (per-entity path across chunks)."""
    out: list[int] = []

    @ecs.system(reads=(Health,), async_allowed=True)
    def peek(ctx: ecs.ExecutionContext) -> None:
        out.append(int(ctx.get(eid, Health).hp))

    b = ecs.SchedulerBuilder(sched.world, workers=1)
    b.add_group("peek", [peek], mode=ecs.Mode.ASYNC, timeout=5)
    with b.build() as other:
        other.tick(0.1)
    return out[0]


def test_read_only_async_groups_may_publish_a_resource() -> None:
    @ecs.system(reads=(Position,), writes=(dict,), async_allowed=True)
    def census(ctx: ecs.ExecutionContext) -> None:
        ctx.set_resource({"count": sum(len(b) for b in ctx.query(Position))}, dict)

    w = make_world()
    w.add_resource({"count": 0}, dict)
    w.spawn_batch(12, {Position: None})
    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("census", [census], mode=ecs.Mode.ASYNC, timeout=5)  # no allow_writes needed
    with b.build() as sched:
        sched.tick(0.1)
    assert w.resource(dict) == {"count": 12}


def test_each_dispatch_copies_into_the_previous_views_arrays_and_sees_the_current_world() -> None:
    """The frozen copy reuses the last run's arrays when shapes match; values are always fresh."""
    seen: list[tuple[int, list[float], int]] = []

    @ecs.system(reads=(Position,), async_allowed=True)
    def census(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position):
            xy = b[Position].xy
            seen.append((len(xy), xy[:, 0].tolist(), xy.__array_interface__["data"][0]))

    @ecs.system(writes=(Position,))
    def shift(ctx: ecs.ExecutionContext) -> None:
        for b in ctx.query(Position):
            b[Position].xy += 1

    w = make_world()
    w.spawn_batch(3, {Position: {"xy": np.zeros((3, 2))}})
    b = ecs.SchedulerBuilder(w, workers=1)
    b.add_group("census", [census], mode=ecs.Mode.ASYNC)
    b.add_group("shift", [shift], priority=1)
    with b.build() as sched:
        for tick in range(4):
            if tick == 2:
                sched.commands.spawn(Position(xy=(10, 10)))  # a new shape for ticks 2 and 3
            sched.tick(0.1)
            sched.wait_idle()
    # every run saw the world as of its dispatch (shift ran after the copy was taken)
    assert [(n, xs) for n, xs, _ in seen] == [
        (3, [0.0, 0.0, 0.0]),
        (3, [1.0, 1.0, 1.0]),
        (4, [2.0, 2.0, 2.0, 10.0]),
        (4, [3.0, 3.0, 3.0, 11.0]),
    ]
    addresses = [a for _, _, a in seen]
    assert addresses[1] == addresses[0] and addresses[3] == addresses[2]  # same shape: reused
    assert addresses[2] != addresses[1]  # new shape: new arrays
