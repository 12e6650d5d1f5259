"""Sample traces for the profiler tests, recorded from a real scheduler with TraceRecorder.

``sample_game`` builds a small game: synchronized groups (input, physics, combat with a retry
policy and a failing system, spawn, a streaming group that stalls now and then), and async
groups (analytics, pathing with a short timeout and a queue limit of 2, a heat map that writes
with ``allow_writes``). Its traces have everything the views show: hitches over the 16.6 ms
budget, errors, retries, late merges, dropped and still-running async runs, queue depths,
and async reads of components that synchronized groups write.

Fixtures are session-scoped files (recording takes about a second each) and read-only.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import ecs
from ecs.trace import TraceRecorder


@ecs.component
class Position:
    xy: ecs.f32x2


@ecs.component
class Velocity:
    xy: ecs.f32x2


@ecs.component
class Health:
    hp: ecs.f32


@ecs.component
class Heat:
    value: ecs.f32


@ecs.component
class Target:
    xy: ecs.f32x2


@ecs.system(reads=(Target,))
def read_input(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Target):
        float(b[Target].xy[:1].sum())


@ecs.system(reads=(Velocity,), writes=(Position,))
def integrate(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Position, Velocity):
        b[Position].xy += b[Velocity].xy * np.float32(ctx.dt)


@ecs.system(reads=(Position,), writes=(Velocity,))
def collide(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Position, Velocity):
        out = np.abs(b[Position].xy) > 10
        b[Velocity].xy[out] *= np.float32(-1)


class Damage:
    """Fails once on ticks divisible by 37 (retried), twice on ticks divisible by 97 (errored)."""

    def __init__(self) -> None:
        self.descriptor = ecs.SystemDescriptor("damage", reads=(Position,), writes=(Health,))
        self.attempts: dict[int, int] = {}

    def run(self, ctx: ecs.ExecutionContext) -> None:
        n = self.attempts.get(ctx.tick, 0)
        self.attempts[ctx.tick] = n + 1
        if ctx.tick and ctx.tick % 97 == 0:
            raise ValueError(f"negative health on tick {ctx.tick}")
        if ctx.tick and ctx.tick % 37 == 0 and n == 0:
            raise RuntimeError(f"transient failure on tick {ctx.tick}")
        for b in ctx.query(Health):
            b[Health].hp -= np.float32(0.01)


@ecs.system(reads=(Position,))
def spawner(ctx: ecs.ExecutionContext) -> None:
    if ctx.tick % 3 == 0:
        ctx.commands.spawn(
            Position(xy=(0.0, 0.0)), Velocity(xy=(1.0, 0.5)), Health(hp=1.0), Heat(value=0.0), Target(xy=(0.0, 0.0))
        )


class Streaming:
    """Stalls for ``stall_s`` every ``every`` ticks: the hitches of the frame graph."""

    def __init__(self, every: int, stall_s: float) -> None:
        self.descriptor = ecs.SystemDescriptor("stream_assets")
        self.every = every
        self.stall_s = stall_s

    def run(self, ctx: ecs.ExecutionContext) -> None:
        time.sleep(self.stall_s if ctx.tick and ctx.tick % self.every == 0 else 0.0002)


@ecs.system(reads=(Position, Health), async_allowed=True)
def analytics(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Position, Health):
        float(np.linalg.norm(b[Position].xy, axis=1).sum() + b[Health].hp.sum())


@ecs.system(reads=(Position, Velocity, Target), async_allowed=True)
def pathing(ctx: ecs.ExecutionContext) -> None:
    # A slow planner: sometimes longer than its group's timeout (late merges, still running).
    time.sleep(0.001 if ctx.tick % 5 else 0.012)


@ecs.system(reads=(Position,), writes=(Heat,), async_allowed=True)
def heatmap(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Heat):
        b[Heat].value += np.float32(0.1)


def sample_game(seed: int = 0, *, entities: int = 2_000, stall_every: int = 60, stall_s: float = 0.02) -> ecs.Scheduler:
    """Build the sample game described in the module docstring (workers=2, real clock)."""
    rng = np.random.default_rng(seed)
    world = ecs.World(components=[Position, Velocity, Health, Heat, Target])
    world.spawn_batch(
        entities,
        {
            Position: rng.random((entities, 2)) * 10,
            Velocity: rng.random((entities, 2)) - 0.5,
            Health: {"hp": 1.0},
            Heat: {"value": 0.0},
            Target: rng.random((entities, 2)),
        },
    )
    b = ecs.SchedulerBuilder(world, workers=2)
    b.add_group("input", [read_input], priority=0)
    b.add_group("physics", [integrate, collide], priority=1)
    b.add_group(
        "combat", [Damage()], priority=2, error_policy=ecs.ErrorPolicy.RETRY, retry_fallback=ecs.ErrorPolicy.CONTINUE
    )
    b.add_group("spawn", [spawner], priority=3)
    b.add_group("streaming", [Streaming(stall_every, stall_s)], priority=4)
    b.add_group("analytics", [analytics], mode=ecs.Mode.ASYNC, priority=5)
    b.add_group("pathing", [pathing], mode=ecs.Mode.ASYNC, priority=6, queue_limit=2, timeout=0.004)
    b.add_group(
        "heatmap", [heatmap], mode=ecs.Mode.ASYNC, priority=7, allow_writes=True, interval=ecs.Interval(ticks=3)
    )
    b.on_maintenance(lambda s: None)
    return b.build()


def record(path: Path, ticks: int, **options: object) -> Path:
    """Run ``sample_game(**options)`` for ``ticks`` ticks at dt 1/60 into a trace file."""
    recorder = TraceRecorder(path)
    sched = sample_game(**options)  # type: ignore[arg-type]
    with sched:
        sched.add_observer(recorder)
        sched.run(ticks, 1 / 60)
        sched.mark("level loaded", level=2)
        sched.run(20, 1 / 60)
        sched.remove_observer(recorder)
    return path


@pytest.fixture(scope="session")
def sample_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete gzip trace of 260 ticks of the sample game."""
    return record(tmp_path_factory.mktemp("traces") / "game.trace.jsonl.gz", 240)


@pytest.fixture(scope="session")
def sample_trace_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second capture for compare: 4x the entities, stalls every 45 ticks (plain NDJSON)."""
    return record(tmp_path_factory.mktemp("traces") / "game-big.trace.jsonl", 160, entities=8_000, stall_every=45)


@pytest.fixture(scope="session")
def damaged_trace(sample_trace_b: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second trace with a garbage line in the middle and its last 30% cut off mid-line."""
    lines = sample_trace_b.read_bytes().splitlines(keepends=True)
    keep = lines[: int(len(lines) * 0.7)]
    keep.insert(len(keep) // 2, b"{this is not json\n")
    body = b"".join(keep) + lines[int(len(lines) * 0.7)][:40]
    out = tmp_path_factory.mktemp("traces") / "damaged.trace.jsonl"
    out.write_bytes(body)
    return out
