"""Boids: 10,000 flocking agents on a numpy spatial grid (the flagship demo).

Run it::

    python -m demos.boids                       # a window; P pauses, . steps, Esc quits
    python -m demos.boids --headless --ticks 600 --record out/boids.trace.jsonl.gz
    python -m demos.boids --count 20000 --stream 9000     # then: ecs-profiler --connect 127.0.0.1:9000

Two work groups:

* ``movement`` (synchronized): ``steer`` turns each agent toward the average heading and
  centre of its neighbours and away from crowding, then ``move`` integrates and wraps the
  positions around the screen.
* ``analysis`` (async, on a worker thread, reading a frozen copy of the positions): local
  density of every agent and the densest cells, published as the :class:`FlockStats`
  resource. The window colours agents by that density and circles the hot spots.

**The grid, without a per-agent loop.** The world is cut into square cells one perception
radius wide. Each agent's cell is computed at once for all agents, then ``np.bincount``
sums, per cell, the agent count, the velocities and the positions (relative to the cell's
corner). Summing the 3 x 3 block around every cell is nine ``np.roll`` of a small grid;
each agent then reads its block's sums by indexing with its cell number. That is
O(agents + cells) numpy work, a millisecond or two for 10k agents, against O(n^2) for
brute-force pairs. Neighbours are "the agents in the 3 x 3 cells around mine", the usual
grid approximation of a radius query. Positions relative to cell corners keep the sums
correct across the wrap-around edges.

Everything is deterministic: the starting flock comes from ``numpy.random.default_rng(seed)``
and each tick advances a fixed ``dt``. The analysis group never writes components, so its
timing cannot change the world's state hash.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

import ecs

from . import _common

if TYPE_CHECKING:
    import arcade

    from ecs.integrations.arcade import SchedulerDriver

__all__ = ["DEMO", "FlockParams", "FlockStats", "Position", "Velocity", "create_scheduler", "main"]

DEFAULT_COUNT: Final = 10_000


@ecs.component
class Position:
    """Where an agent is, and where it was one tick ago (for interpolated drawing)."""

    xy: ecs.f32x2
    prev: ecs.f32x2


@ecs.component
class Velocity:
    xy: ecs.f32x2


@dataclass(frozen=True)
class FlockParams:
    """The rules of the flock (a resource; read by both groups)."""

    width: float = 1280.0
    height: float = 720.0
    cell: float = 20.0
    min_speed: float = 50.0
    max_speed: float = 130.0
    align: float = 3.0  # 1/s: how fast headings match the neighbours'
    cohesion: float = 1.0  # 1/s^2: pull toward the neighbours' centre
    separation: float = 5.0  # 1/s^2 per cell-mate: push away from crowding

    @property
    def grid(self) -> tuple[int, int]:
        """(columns, rows) of the spatial grid."""
        return max(3, round(self.width / self.cell)), max(3, round(self.height / self.cell))


@dataclass(frozen=True)
class FlockStats:
    """What the async analysis found in the positions of tick ``tick`` (a resource)."""

    tick: int = -1
    ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    density: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    mean_neighbours: float = 0.0
    max_neighbours: int = 0
    occupied: float = 0.0
    hotspots: tuple[tuple[float, float, int], ...] = ()


# -- the grid ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Grid:
    cell: NDArray[np.intp]  # per agent: flat cell number
    local: NDArray[np.float32]  # per agent: position relative to its cell's corner
    count: NDArray[np.float64]  # per cell
    block_count: NDArray[np.float64]  # per cell: agents in the 3 x 3 block


def _bin(xy: NDArray[np.float32], params: FlockParams) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    gx, gy = params.grid
    cw, ch = params.width / gx, params.height / gy
    cx = np.clip((xy[:, 0] * (1.0 / cw)).astype(np.intp), 0, gx - 1)
    cy = np.clip((xy[:, 1] * (1.0 / ch)).astype(np.intp), 0, gy - 1)
    corner = np.stack([cx * cw, cy * ch], axis=1).astype(np.float32)
    return cy * gx + cx, xy - corner


def _block_sum(grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum over the 3 x 3 block around each cell of a (..., rows, cols) grid, wrapping at edges."""
    out = np.zeros_like(grid)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out += np.roll(grid, shift=(-dy, -dx), axis=(-2, -1))
    return out


def _block_offsets(count: NDArray[np.float64], cw: float, ch: float) -> NDArray[np.float64]:
    """Per cell, sum over its block of (neighbour count x the neighbour cell's corner offset)."""
    off = np.zeros((2, *count.shape))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx == 0 and dy == 0:
                continue
            rolled = np.roll(count, shift=(-dy, -dx), axis=(0, 1))
            off[0] += rolled * (dx * cw)
            off[1] += rolled * (dy * ch)
    return off


def build_grid(xy: NDArray[np.float32], params: FlockParams) -> _Grid:
    """Bin agents into cells and count the 3 x 3 neighbourhood of every cell."""
    gx, gy = params.grid
    cell, local = _bin(xy, params)
    count = np.bincount(cell, minlength=gx * gy).astype(np.float64)
    block = _block_sum(count.reshape(gy, gx)).ravel()
    return _Grid(cell, local, count, block)


def steer_flock(
    xy: NDArray[np.float32], vel: NDArray[np.float32], params: FlockParams, dt: float
) -> NDArray[np.float32]:
    """New velocities for every agent (alignment, cohesion, separation), all vectorised."""
    gx, gy = params.grid
    cw, ch = params.width / gx, params.height / gy
    g = build_grid(xy, params)
    n_cells = gx * gy
    sums = np.stack(
        [
            np.bincount(g.cell, weights=vel[:, 0], minlength=n_cells),
            np.bincount(g.cell, weights=vel[:, 1], minlength=n_cells),
            np.bincount(g.cell, weights=g.local[:, 0], minlength=n_cells),
            np.bincount(g.cell, weights=g.local[:, 1], minlength=n_cells),
        ]
    )
    block = _block_sum(sums.reshape(4, gy, gx))
    block[2:] += _block_offsets(g.count.reshape(gy, gx), cw, ch)
    block = block.reshape(4, n_cells)

    c = g.cell
    mates = (g.block_count[c] - 1.0).astype(np.float32)  # neighbours, excluding oneself
    has = mates > 0
    inv = np.where(has, 1.0 / np.maximum(mates, 1.0), 0.0).astype(np.float32)
    mean_v = (block[:2, c].T.astype(np.float32) - vel) * inv[:, None]
    mean_p = (block[2:, c].T.astype(np.float32) - g.local) * inv[:, None]
    align = np.where(has[:, None], mean_v - vel, 0.0)
    cohesion = np.where(has[:, None], mean_p - g.local, 0.0)

    # Separation: away from the centroid of the agents sharing my own cell, harder when crowded.
    own_n = (g.count[c] - 1.0).astype(np.float32)
    own_sum = np.stack([sums[2][c], sums[3][c]], axis=1).astype(np.float32) - g.local
    crowded = own_n > 0
    own_mean = own_sum / np.maximum(own_n, 1.0)[:, None]
    separation = np.where(crowded[:, None], (g.local - own_mean) * own_n[:, None], 0.0)

    acc = params.align * align + params.cohesion * cohesion + params.separation * separation
    new_v = (vel + acc.astype(np.float32) * np.float32(dt)).astype(np.float32)
    speed = np.sqrt((new_v * new_v).sum(axis=1))
    clamped = np.clip(speed, params.min_speed, params.max_speed)
    new_v *= (clamped / np.maximum(speed, 1e-6)).astype(np.float32)[:, None]
    return new_v


# -- systems ------------------------------------------------------------------------------------------
@ecs.system(reads=(Position, FlockParams), writes=(Velocity,))
def steer(ctx: ecs.ExecutionContext) -> None:
    """Alignment, cohesion and separation over the spatial grid."""
    params = ctx.resource(FlockParams)
    batches = list(ctx.query(Position, Velocity))
    if not batches:
        return
    xy = np.concatenate([b[Position].xy for b in batches]) if len(batches) > 1 else batches[0][Position].xy
    vel = np.concatenate([b[Velocity].xy for b in batches]) if len(batches) > 1 else batches[0][Velocity].xy
    new_v = steer_flock(xy, vel, params, ctx.dt)
    start = 0
    for b in batches:
        n = len(b)
        b[Velocity].xy[:] = new_v[start : start + n]
        start += n


@ecs.system(reads=(Velocity, FlockParams), writes=(Position,))
def move(ctx: ecs.ExecutionContext) -> None:
    """Integrate, and wrap around the edges (shifting ``prev`` too, so interpolation does not streak)."""
    params = ctx.resource(FlockParams)
    size = np.array([params.width, params.height], dtype=np.float32)
    dt = np.float32(ctx.dt)
    for b in ctx.query(Position, Velocity):
        pos = b[Position]
        pos.prev[:] = pos.xy
        moved = pos.xy + b[Velocity].xy * dt
        wrapped = np.mod(moved, size)
        pos.prev += wrapped - moved
        pos.xy[:] = wrapped


@ecs.system(reads=(Position, FlockParams), writes=(FlockStats,), async_allowed=True)
def analyse(ctx: ecs.ExecutionContext) -> None:
    """Local density of every agent and the densest cells (read-only over the agents)."""
    params = ctx.resource(FlockParams)
    batches = list(ctx.query(Position))
    if not batches:
        return
    xy = np.concatenate([b[Position].xy for b in batches])
    ids = np.concatenate([b.entities for b in batches])
    g = build_grid(xy, params)
    density = (g.block_count[g.cell] - 1.0).astype(np.float32)
    gx, gy = params.grid
    cw, ch = params.width / gx, params.height / gy
    # Hot spots: the five densest regions of a coarse grid (8 x 8 cells), so they do not overlap.
    coarse_x, coarse_y = (gx + 7) // 8, (gy + 7) // 8
    cx, cy = g.cell % gx // 8, g.cell // gx // 8
    coarse = np.bincount(cy * coarse_x + cx, minlength=coarse_x * coarse_y)
    top = np.argsort(coarse, kind="stable")[::-1][:5]
    hotspots = tuple(
        (float((i % coarse_x * 8 + 4) * cw), float((i // coarse_x * 8 + 4) * ch), int(coarse[i])) for i in top.tolist()
    )
    ctx.set_resource(
        FlockStats(
            tick=ctx.tick,
            ids=ids,
            density=density,
            mean_neighbours=float(density.mean()),
            max_neighbours=int(density.max()),
            occupied=float(np.count_nonzero(g.count) / len(g.count)),
            hotspots=hotspots,
        )
    )


# -- the factory --------------------------------------------------------------------------------------
def create_scheduler(
    seed: int = 0,
    *,
    count: int = DEFAULT_COUNT,
    width: float = 1280.0,
    height: float = 720.0,
    workers: int | None = None,
    clock: ecs.Clock | None = None,
    analysis_every: int = 1,
) -> ecs.Scheduler:
    """A fresh flock of ``count`` agents and its scheduler (no window)."""
    if count < 1:
        raise ValueError(f"boids: count must be >= 1, got {count}")
    params = FlockParams(width=float(width), height=float(height))
    world = ecs.World(components=[Position, Velocity], name="boids", seed=seed)
    world.add_resource(params)
    world.add_resource(FlockStats())
    rng = np.random.default_rng(seed)
    xy = rng.random((count, 2)) * np.array([params.width, params.height])
    angle = rng.random(count) * 2 * np.pi
    speed = params.min_speed + rng.random(count) * (params.max_speed - params.min_speed)
    vel = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    world.spawn_batch(count, {Position: {"xy": xy, "prev": xy}, Velocity: {"xy": vel}})
    builder = ecs.SchedulerBuilder(world, clock=clock, workers=workers)
    builder.add_group("movement", [steer, move])
    builder.add_group(
        "analysis",
        [analyse],
        mode=ecs.Mode.ASYNC,
        allow_writes=True,  # it publishes FlockStats; it never writes a component
        interval=ecs.Interval(ticks=analysis_every) if analysis_every > 1 else None,
        timeout=2.0,
    )
    return builder.build()


# -- the window ----------------------------------------------------------------------------------------
def _palette() -> NDArray[np.uint8]:
    """256 colours from calm blue (alone) through teal and gold to red (packed)."""
    stops = np.array([[70, 120, 255], [60, 220, 200], [250, 210, 80], [255, 70, 60]], dtype=np.float64)
    t = np.linspace(0, len(stops) - 1, 256)
    i = np.minimum(t.astype(int), len(stops) - 2)
    f = (t - i)[:, None]
    rgb = stops[i] * (1 - f) + stops[i + 1] * f
    return np.concatenate([rgb, np.full((256, 1), 255.0)], axis=1).astype(np.uint8)


class BoidsScene:
    """Draws the flock as heading triangles coloured by local density, plus the hot spots."""

    def __init__(self, sched: ecs.Scheduler, window: arcade.Window, driver: SchedulerDriver) -> None:
        from ecs.integrations.arcade import NumpySpriteRenderer

        self.sched = sched
        self.world = sched.world
        self.window = window
        self.renderer = NumpySpriteRenderer(window.ctx, shape="triangle", size=5.0, capacity=len(self.world))
        self.palette = _palette()
        self.show_hotspots = True

    def columns(self) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
        parts = list(self.world.query(Position, Velocity, readonly=(Position, Velocity)))
        xy = np.concatenate([b[Position].xy for b in parts])
        prev = np.concatenate([b[Position].prev for b in parts])
        vel = np.concatenate([b[Velocity].xy for b in parts])
        ids = np.concatenate([b.entities for b in parts])
        return xy, prev, vel, ids

    def draw(self, alpha: float) -> None:
        import arcade

        xy, prev, vel, ids = self.columns()
        angles = np.arctan2(vel[:, 1], vel[:, 0])
        stats = self.world.resource(FlockStats)
        colors = None
        if len(stats.ids) == len(ids) and np.array_equal(stats.ids, ids):
            level = np.clip(stats.density * (255.0 / (2.0 * max(stats.mean_neighbours, 1.0))), 0, 255).astype(np.intp)
            colors = self.palette[level]
        self.renderer.draw(xy, previous=prev, alpha=alpha, angles=angles, colors=colors)
        if self.show_hotspots:
            for x, y, _count in stats.hotspots:
                arcade.draw_circle_outline(x, y, 70, (255, 255, 255, 120), 2)

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        import arcade

        if symbol == arcade.key.H:
            self.show_hotspots = not self.show_hotspots

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        pass

    def hud_lines(self) -> list[str]:
        s = self.world.resource(FlockStats)
        line = (
            f"analysis (tick {s.tick}): mean neighbours {s.mean_neighbours:5.1f}  max {s.max_neighbours}  "
            f"cells occupied {s.occupied * 100:4.1f}%"
        )
        return [line]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count", type=_common.count_arg(1), default=DEFAULT_COUNT, help=f"agents (default {DEFAULT_COUNT})"
    )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"count": args.count}


DEMO: Final = _common.Demo(
    name="boids",
    title="ecs boids",
    create_scheduler=create_scheduler,
    make_scene=BoidsScene,
    add_arguments=_add_arguments,
    options=_options,
    keys=("H hot spots   P pause   . step   Esc quit",),
)


def main(argv: list[str] | None = None) -> int:
    return _common.main(DEMO, argv)


if __name__ == "__main__":
    raise SystemExit(main())
