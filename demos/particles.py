"""Particles: 100,000 sparks with thousands born and dying every tick.

Run it::

    python -m demos.particles                          # a window
    python -m demos.particles --storage dense          # keep Life in a dense side array
    python -m demos.particles --headless --ticks 600 --hash

Five fountains wander over the screen and each tick emit about 1,100 sparks (batch commands:
one ``ctx.commands.spawn_batch`` per fountain); gravity, drag and a bouncy floor move them;
every spark whose life has run out is destroyed with one ``ctx.commands.destroy(ids)`` per
chunk. With a mean lifetime of 1.5 s the population stays near 100k. Work groups:

* ``emit``, ``physics``, ``reap`` (synchronized, in that order): birth, motion, death;
* ``census`` (async, read-only over the sparks): how many sparks each fountain has alive and
  how many are in the air, published as the :class:`ParticleStats` resource.

**Storage choice.** ``--storage archetype`` (the default) keeps the ``Life`` component in the
archetype tables next to ``Position`` and ``Velocity``: queries get zero-copy views. With
``--storage dense`` it lives in a dense array indexed by entity slot instead: queries gather
it into each batch and scatter writes back, which costs a copy but never moves a row when an
entity gains or loses the component. The simulation is identical either way: same seed,
same state hash.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

import ecs

from . import _common

if TYPE_CHECKING:
    import arcade

    from ecs.integrations.arcade import SchedulerDriver

__all__ = [
    "DEMO",
    "Emitters",
    "Life",
    "ParticleStats",
    "Position",
    "Velocity",
    "create_scheduler",
    "main",
]

DEFAULT_COUNT: Final = 100_000
STORAGES: Final = ("archetype", "dense")
GRAVITY: Final = np.float32(-260.0)
DRAG: Final = np.float32(0.35)  # fraction of speed lost per second
BOUNCE: Final = np.float32(0.55)


@ecs.component
class Position:
    xy: ecs.f32x2
    prev: ecs.f32x2


@ecs.component
class Velocity:
    xy: ecs.f32x2


@ecs.component
class Life:
    """Age and lifetime in seconds, and which fountain made the spark (its colour)."""

    age: ecs.f32
    ttl: ecs.f32
    source: ecs.u8


@dataclass(frozen=True)
class Emitters:
    """The fountains (a resource): where they wander and how fast they emit."""

    count: int = 5
    rate: float = 66_000.0  # sparks per second, all fountains together
    mean_ttl: float = 1.5
    width: float = 1280.0
    height: float = 720.0

    def positions(self, t: float) -> NDArray[np.float32]:
        """Fountain positions at game time ``t`` (slow Lissajous paths, no randomness)."""
        k = np.arange(self.count, dtype=np.float64)
        x = self.width * (0.5 + 0.38 * np.sin(0.31 * t * (1 + 0.17 * k) + 1.7 * k))
        y = self.height * (0.18 + 0.1 * np.sin(0.47 * t + 2.1 * k))
        return np.stack([x, y], axis=1).astype(np.float32)


@dataclass(frozen=True)
class ParticleStats:
    """The async census of tick ``tick`` (a resource)."""

    tick: int = -1
    per_source: tuple[int, ...] = ()
    airborne: int = 0
    mean_age: float = 0.0


def _spark_values(
    rng: np.random.Generator, emitters: Emitters, source: int, n: int, at: NDArray[np.float32]
) -> dict[type, dict[str, Any]]:
    angle = np.pi / 2 + rng.normal(0.0, 0.32, n)
    speed = rng.uniform(220.0, 520.0, n)
    vel = np.stack([np.cos(angle) * speed, np.sin(angle) * speed], axis=1)
    xy = at + rng.normal(0.0, 3.0, (n, 2))
    ttl = rng.uniform(0.5, 2.0 * emitters.mean_ttl - 0.5, n)
    return {
        Position: {"xy": xy, "prev": xy},
        Velocity: {"xy": vel},
        Life: {"age": np.zeros(n), "ttl": ttl, "source": np.full(n, source, dtype=np.uint8)},
    }


# -- systems ------------------------------------------------------------------------------------------
@ecs.system(reads=(Emitters,), writes=(np.random.Generator,))
def emit(ctx: ecs.ExecutionContext) -> None:
    """Each fountain spawns its share of this tick's sparks in one batch command."""
    emitters = ctx.resource(Emitters)
    rng = ctx.resource(np.random.Generator)
    per_source = round(emitters.rate * ctx.dt / emitters.count)
    where = emitters.positions(ctx.elapsed)
    for k in range(emitters.count):
        ctx.commands.spawn_batch(per_source, _spark_values(rng, emitters, k, per_source, where[k]))


@ecs.system(writes=(Position, Velocity))
def integrate(ctx: ecs.ExecutionContext) -> None:
    """Gravity, drag, motion, and a floor that bounces."""
    dt = np.float32(ctx.dt)
    keep = np.float32(1.0) - DRAG * dt
    for b in ctx.query(Position, Velocity):
        pos, vel = b[Position], b[Velocity].xy
        vel[:, 1] += GRAVITY * dt
        vel *= keep
        pos.prev[:] = pos.xy
        pos.xy += vel * dt
        below = pos.xy[:, 1] < 0
        if below.any():
            pos.xy[below, 1] *= -1
            vel[below, 1] *= -BOUNCE


@ecs.system(writes=(Life,))
def age(ctx: ecs.ExecutionContext) -> None:
    dt = np.float32(ctx.dt)
    for b in ctx.query(Life):
        b[Life].age += dt


@ecs.system(reads=(Life,))
def reap(ctx: ecs.ExecutionContext) -> None:
    """Destroy every spark whose life is over: one vectorised command per chunk."""
    for b in ctx.query(Life):
        life = b[Life]
        dead = life.age >= life.ttl
        if dead.any():
            ctx.commands.destroy(b.entities[dead])


@ecs.system(reads=(Life, Position, Emitters), writes=(ParticleStats,), async_allowed=True)
def census(ctx: ecs.ExecutionContext) -> None:
    """Sparks alive per fountain and in the air (read-only; runs beside the tick)."""
    emitters = ctx.resource(Emitters)
    per = np.zeros(emitters.count, dtype=np.int64)
    airborne = 0
    age_sum = 0.0
    n = 0
    for b in ctx.query(Life, Position):
        life = b[Life]
        per += np.bincount(life.source, minlength=emitters.count)[: emitters.count]
        airborne += int(np.count_nonzero(b[Position].xy[:, 1] > 2.0))
        age_sum += float(life.age.sum(dtype=np.float64))
        n += len(b)
    ctx.set_resource(
        ParticleStats(tick=ctx.tick, per_source=tuple(per.tolist()), airborne=airborne, mean_age=age_sum / max(n, 1))
    )


# -- the factory --------------------------------------------------------------------------------------
def create_scheduler(
    seed: int = 0,
    *,
    count: int = DEFAULT_COUNT,
    storage: str = "archetype",
    emitters: int = 5,
    width: float = 1280.0,
    height: float = 720.0,
    workers: int | None = None,
    clock: ecs.Clock | None = None,
) -> ecs.Scheduler:
    """About ``count`` sparks in steady state (emission rate = count / mean lifetime)."""
    if storage not in STORAGES:
        raise ValueError(f"particles: storage must be one of {STORAGES}, got {storage!r}")
    if count < 1 or emitters < 1:
        raise ValueError(f"particles: count and emitters must be >= 1, got {count} and {emitters}")
    em = Emitters(count=emitters, rate=count / 1.5, mean_ttl=1.5, width=float(width), height=float(height))
    world = ecs.World(name="particles", seed=seed, capacity=count + count // 2)
    world.register_component(Position)
    world.register_component(Velocity)
    world.register_component(Life, storage=storage)
    world.add_resource(em)
    world.add_resource(ParticleStats())
    # Start in steady state: sparks of every age, already on their way.
    rng = world.resource(np.random.Generator)
    where = em.positions(0.0)
    per = count // emitters
    for k in range(emitters):
        vals = _spark_values(rng, em, k, per, where[k])
        ttl = vals[Life]["ttl"]
        t = (rng.random(per) * ttl).astype(np.float32)
        vel = vals[Velocity]["xy"]
        xy = vals[Position]["xy"] + vel * t[:, None] + 0.5 * np.array([0.0, GRAVITY]) * (t * t)[:, None]
        xy[:, 1] = np.abs(xy[:, 1])
        vel = vel + np.array([0.0, GRAVITY]) * t[:, None]
        vals[Position] = {"xy": xy, "prev": xy}
        vals[Velocity] = {"xy": vel}
        vals[Life]["age"] = t
        world.spawn_batch(per, vals)
    builder = ecs.SchedulerBuilder(world, clock=clock, workers=workers)
    builder.add_group("emit", [emit], priority=0)
    builder.add_group("physics", [integrate, age], priority=1)
    builder.add_group("reap", [reap], priority=2)
    builder.add_group("census", [census], mode=ecs.Mode.ASYNC, allow_writes=True, timeout=2.0)
    return builder.build()


# -- the window ----------------------------------------------------------------------------------------
_COLOURS: Final = np.array(
    [[255, 120, 40], [80, 180, 255], [255, 230, 90], [200, 90, 255], [90, 255, 140], [255, 80, 140]],
    dtype=np.float32,
)


class ParticlesScene:
    """Draws every spark as a 2-pixel point, fading with age (one vertex each: the cheapest draw)."""

    def __init__(self, sched: ecs.Scheduler, window: arcade.Window, driver: SchedulerDriver) -> None:
        from ecs.integrations.arcade import NumpySpriteRenderer

        self.world = sched.world
        self.renderer = NumpySpriteRenderer(window.ctx, shape="points", size=2.0, capacity=len(self.world))
        self.storage = self.world.storage_kind(Life)

    def columns(self) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.uint8]]:
        parts = [
            (b[Position].xy, b[Position].prev, b[Life].age / b[Life].ttl, b[Life].source)
            for b in self.world.query(Position, Life, readonly=(Position, Life))
        ]
        if not parts:
            empty = np.zeros((0, 2), np.float32)
            return empty, empty, np.zeros((0, 4), np.uint8)
        xy = np.concatenate([p[0] for p in parts])
        prev = np.concatenate([p[1] for p in parts])
        frac = np.concatenate([p[2] for p in parts])
        source = np.concatenate([p[3] for p in parts])
        fade = np.clip(1.0 - frac, 0.0, 1.0).astype(np.float32)
        rgba = np.empty((len(xy), 4), dtype=np.uint8)
        rgba[:, :3] = _COLOURS[source % len(_COLOURS)] * (0.35 + 0.65 * fade)[:, None]
        rgba[:, 3] = (255 * fade).astype(np.uint8)
        return xy, prev, rgba

    def draw(self, alpha: float) -> None:
        xy, prev, rgba = self.columns()
        self.renderer.draw(xy, previous=prev, alpha=alpha, colors=rgba)

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        pass

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        pass

    def hud_lines(self) -> list[str]:
        s = self.world.resource(ParticleStats)
        census = (
            f"census (tick {s.tick}): per fountain {list(s.per_source)}  airborne {s.airborne}  "
            f"mean age {s.mean_age:.2f} s"
        )
        return [f"storage of Life: {self.storage}", census]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count", type=_common.count_arg(1), default=DEFAULT_COUNT, help=f"sparks in steady state ({DEFAULT_COUNT})"
    )
    parser.add_argument("--storage", choices=STORAGES, default="archetype", help="storage of the Life component")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"count": args.count, "storage": args.storage}


DEMO: Final = _common.Demo(
    name="particles",
    title="ecs particles",
    create_scheduler=create_scheduler,
    make_scene=ParticlesScene,
    add_arguments=_add_arguments,
    options=_options,
    keys=("P pause   . step   Esc quit",),
)


def main(argv: list[str] | None = None) -> int:
    return _common.main(DEMO, argv)


if __name__ == "__main__":
    raise SystemExit(main())
