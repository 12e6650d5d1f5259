"""Small workloads for the trace tests, and a factory for ``ecs-trace run tests._factories``.

``create_scheduler(seed=0, **options)`` follows the demo factory convention: it builds a fresh
world and scheduler, with no window. ``scripted_scheduler`` uses a manual clock that the
systems advance by fixed amounts, so every duration in its trace is known exactly.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

import ecs


@ecs.component
class Pos:
    xy: ecs.f32x2


@ecs.component
class Vel:
    xy: ecs.f32x2


@ecs.component
class Heat:
    value: ecs.f32


@ecs.system(reads=(Vel,), writes=(Pos,))
def move(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Pos, Vel):
        b[Pos].xy += b[Vel].xy * np.float32(ctx.dt)


@ecs.system(writes=(Vel,), interval=ecs.Interval(ticks=2))
def bounce(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Vel):
        b[Vel].xy *= np.float32(-1.0)


@ecs.system(reads=(Pos,))
def spawner(ctx: ecs.ExecutionContext) -> None:
    ctx.commands.spawn(Pos(xy=(0.0, 0.0)), Vel(xy=(1.0, 1.0)))


@ecs.system(reads=(Pos,), async_allowed=True)
def analyse(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Pos):
        float(np.abs(b[Pos].xy).sum())


class Fragile:
    """Raises on the ticks it is told to (a system with state, as a small class)."""

    def __init__(self, fail_at: frozenset[int]) -> None:
        self.descriptor = ecs.SystemDescriptor("fragile", writes=(Heat,))
        self.fail_at = fail_at

    def run(self, ctx: ecs.ExecutionContext) -> None:
        if ctx.tick in self.fail_at:
            raise RuntimeError(f"boom at tick {ctx.tick}")
        for b in ctx.query(Heat):
            b[Heat].value += 1


def make_world(seed: int, entities: int) -> ecs.World:
    rng = np.random.default_rng(seed)
    world = ecs.World(components=[Pos, Vel, Heat])
    world.spawn_batch(
        entities,
        {Pos: rng.random((entities, 2)), Vel: rng.random((entities, 2)) - 0.5, Heat: {"value": 0.0}},
    )
    return world


def create_scheduler(
    seed: int = 0,
    *,
    entities: int = 100,
    workers: int = 2,
    with_async: bool = True,
    fail_at: tuple[int, ...] | list[int] = (),
    abort: bool = False,
    hold_at: int | None = None,
    clock: ecs.Clock | None = None,
) -> ecs.Scheduler:
    """A small mixed workload: sync groups with an interval system, a spawner, an async reader.

    ``fail_at`` lists ticks on which the ``fragile`` system (group ``fragile``) raises; the
    group's policy is CONTINUE, or ABORT with ``abort=True``. A maintenance hook makes the
    ``maintenance`` phase appear in traces. ``hold_at`` adds a group whose system blocks at
    that tick until ``HOLD`` is set (a test can then look at a run in progress).
    """
    world = make_world(seed, entities)
    # every system of every tick timed: tests read per-system records (sampling is tested apart)
    b = ecs.SchedulerBuilder(world, clock=clock, workers=workers, system_sampling=ecs.SystemSampling(every=1))
    b.add_group("physics", [move, bounce])
    b.add_group("spawn", [spawner], priority=5)
    policy = ecs.ErrorPolicy.ABORT if abort else ecs.ErrorPolicy.CONTINUE
    b.add_group("fragile", [Fragile(frozenset(fail_at))], priority=7, error_policy=policy)
    if with_async:
        b.add_group("analysis", [analyse], mode=ecs.Mode.ASYNC)
    if hold_at is not None:
        b.add_group("hold", [Hold(hold_at)], priority=9)
    b.on_maintenance(lambda s: None)
    return b.build()


def not_a_factory(seed: int = 0) -> Any:
    """Returns something that is not a scheduler (for the CLI's error path)."""
    return {"seed": seed}


def broken_factory(seed: int = 0) -> ecs.Scheduler:
    raise RuntimeError("the factory failed on purpose")


# -- a scripted workload with exact timings -------------------------------------------------------------
def timed_system(name: str, clock: ecs.ManualClock, ns: int, **kw: Any) -> ecs.System:
    """A system that advances the manual clock by ``ns``: its duration in the trace is exactly that."""

    @ecs.system(name=name, **kw)
    def run(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=ns)

    return run


def scripted_scheduler(clock: ecs.ManualClock, *, fail_at: tuple[int, ...] = ()) -> ecs.Scheduler:
    """Group ``a`` takes 1 ms + 2 ms (systems a1, a2), group ``b`` 3 ms every second tick."""
    world = ecs.World(components=[Pos, Heat])
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1)
    b.add_group("a", [timed_system("a1", clock, 1_000_000), timed_system("a2", clock, 2_000_000)])
    b.add_group("b", [timed_system("b1", clock, 3_000_000)], interval=ecs.Interval(ticks=2), priority=1)
    if fail_at:
        b.add_group("c", [Fragile(frozenset(fail_at))], priority=2)
    return b.build()


HOLD = threading.Event()


class Hold:
    """Blocks the tick ``at`` until ``HOLD`` is set (at most 30 s)."""

    def __init__(self, at: int) -> None:
        self.descriptor = ecs.SystemDescriptor("hold")
        self.at = at

    def run(self, ctx: ecs.ExecutionContext) -> None:
        if ctx.tick == self.at:
            HOLD.wait(30.0)


class Gate:
    """An async system that blocks until released: makes a group overrun its timeout on purpose."""

    def __init__(self, reads: type = Pos) -> None:
        self.release = threading.Event()
        self.descriptor = ecs.SystemDescriptor("gated", reads=(reads,), async_allowed=True)

    def run(self, ctx: ecs.ExecutionContext) -> None:
        self.release.wait(5.0)


def gated_scheduler() -> tuple[ecs.Scheduler, Gate]:
    """One entity and one async group ``slow`` whose only system waits for ``gate.release``
    (timeout 10 ms): its first run is still running at the end of its tick and merges late."""
    world = ecs.World(components=[Pos])
    world.spawn(Pos(xy=(1.0, 2.0)))
    gate = Gate()
    b = ecs.SchedulerBuilder(world, workers=1)
    b.add_group("slow", [gate], mode=ecs.Mode.ASYNC, timeout=0.01)
    return b.build(), gate
