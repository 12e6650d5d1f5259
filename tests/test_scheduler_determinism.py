"""Determinism: the same seed gives the same world hash, whatever the thread timing.

A mixed scenario (synchronized movement and cleanup, two async groups that spawn, destroy
and write back) runs 50 times with random sleeps inside every system and the interpreter
switching threads every microsecond. Every run must end with the same world hash.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

import ecs

from .components import Enemy, Health, Mana, Position, Velocity


@pytest.fixture
def tight_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def jitter() -> None:
    time.sleep(random.random() * 0.002)  # timing noise, not security


@ecs.system(reads=(Velocity,), writes=(Position,))
def move(ctx: ecs.ExecutionContext) -> None:
    jitter()
    for b in ctx.query(Position, Velocity):
        b[Position].xy += b[Velocity].xy * np.float32(ctx.dt)


@ecs.system(reads=(Position,))
def cleanup(ctx: ecs.ExecutionContext) -> None:
    jitter()
    for b in ctx.query(Position):
        out = np.abs(b[Position].xy).max(axis=1) > 50
        ctx.commands.destroy(b.entities[out])


@ecs.system(reads=(Position, Health), async_allowed=True)
def ai(ctx: ecs.ExecutionContext) -> None:
    jitter()
    for b in ctx.query(Position, Health):
        near = b[Position].xy[:, 0] > 10
        ctx.commands.add(b.entities[near], Enemy())
        for x in b[Position].xy[near][:3]:
            ctx.commands.spawn(Position(xy=-x), Velocity(xy=(1, -1)), Health(1))


@ecs.system(reads=(Position,), writes=(Mana,), async_allowed=True)
def census(ctx: ecs.ExecutionContext) -> None:
    jitter()
    for b in ctx.query(Position, Mana):
        b[Mana].mp += np.float32(1) + b[Position].xy[:, 1] * 0
    # spawns too, so the merge order of 'ai' and 'census' decides entity ids
    ctx.commands.spawn(Health(99), Position())


def run_once(seed: int) -> str:
    rng = np.random.default_rng(seed)
    w = ecs.World(components=[Position, Velocity, Health, Mana, Enemy])
    n = 300
    w.spawn_batch(
        n,
        {
            Position: {"xy": rng.uniform(-20, 20, (n, 2))},
            Velocity: {"xy": rng.uniform(-30, 30, (n, 2))},
            Health: rng.integers(1, 5, n),
            Mana: 0.0,
        },
    )
    b = ecs.SchedulerBuilder(w, workers=2)
    b.add_group("physics", [move])
    b.add_group("cleanup", [cleanup], priority=1)
    b.add_group("ai", [ai], mode=ecs.Mode.ASYNC, timeout=10)
    b.add_group("census", [census], mode=ecs.Mode.ASYNC, timeout=10, allow_writes=True, priority=1)
    with b.build() as sched:
        sched.run(20, 0.05)
    return w.state_hash()


def test_fifty_runs_give_the_same_world_hash(tight_switching: None) -> None:
    hashes = {run_once(seed=7) for _ in range(50)}
    assert len(hashes) == 1


def test_another_seed_gives_another_world() -> None:
    assert run_once(seed=7) != run_once(seed=8)
