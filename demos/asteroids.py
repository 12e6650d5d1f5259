"""Asteroids: a small playable game made only of components, systems and work groups.

Run it::

    python -m demos.asteroids              # arrows or WASD fly, Space fires, Enter restarts,
                                           # R rewinds 3 s, T toggles the autopilot, P pauses
    python -m demos.asteroids --headless --ticks 1200 --hash   # the autopilot plays

Work groups, in tick order:

* ``ship`` (sync): ``pilot`` reads the keyboard (the :class:`Controls` resource the window
  sets between ticks) or asks the autopilot, then turns, thrusts and fires;
* ``physics`` (sync): ``integrate`` moves everything and wraps it around the screen;
  ``expire`` ages bullets and sparks and destroys the spent ones;
* ``rules`` (sync, ``ErrorPolicy.RETRY``): ``collide`` finds every bullet-rock and
  ship-rock hit at once (numpy distance matrices, no per-pair loop), splits rocks, scores
  and kills the ship; ``respawn`` brings the ship back or ends the game; ``waves`` sends the
  next wave. ``collide`` fails now and then on purpose (a seeded, simulated transient
  fault): the group's RETRY policy rewinds its commands and runs it again, and the profiler
  and the HUD count the retries;
* ``threat`` (async, read-only): distance and closing speed of the nearest rock, for the HUD.

The score, lives and wave live in a :class:`Game` component on a singleton entity, so they
are part of the world's state hash and of its snapshots. The rewind key restores a
``world.snapshot()`` taken about three seconds of game time earlier.

Deterministic: the seed drives ``numpy`` generators only, faults are a pure function of
(seed, tick, attempt), and every tick advances a fixed ``dt``.
"""

from __future__ import annotations

import argparse
import collections
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

import ecs
from ecs._checks import is_finite_real

from . import _common

if TYPE_CHECKING:
    import arcade

    from ecs.integrations.arcade import SchedulerDriver

__all__ = [
    "DEMO",
    "Arena",
    "Body",
    "Bullet",
    "Controls",
    "FaultPlan",
    "Game",
    "Motion",
    "Rewinder",
    "Rock",
    "Ship",
    "Spark",
    "Threat",
    "TransientGlitch",
    "autopilot",
    "create_scheduler",
    "main",
]

ROCK_RADIUS: Final = {3: 46.0, 2: 26.0, 1: 14.0}
ROCK_POINTS: Final = {3: 20, 2: 50, 1: 100}
SHIP_RADIUS: Final = 12.0
TURN_RATE: Final = 4.2  # rad/s
THRUST: Final = 260.0  # px/s^2
SHIP_DRAG: Final = 0.45  # fraction of speed lost per second
MAX_SHIP_SPEED: Final = 380.0
BULLET_SPEED: Final = 520.0
BULLET_TTL: Final = 1.1
FIRE_COOLDOWN: Final = 0.18
RESPAWN_DELAY: Final = 1.5
INVULNERABLE: Final = 2.5
LIVES: Final = 3
AUTO_RESTART: Final = 3.0  # seconds the autopilot waits on the game-over screen
REWIND_SECONDS: Final = 3.0


# -- components ----------------------------------------------------------------------------------------
@ecs.component
class Body:
    """Where a thing is (and was one tick ago), which way it faces, and how big it is."""

    xy: ecs.f32x2
    prev: ecs.f32x2
    angle: ecs.f32
    radius: ecs.f32


@ecs.component
class Motion:
    vel: ecs.f32x2
    spin: ecs.f32


@ecs.component
class Ship:
    cooldown: ecs.f32
    invulnerable: ecs.f32
    thrusting: ecs.boolean


@ecs.component
class Rock:
    size: ecs.i32  # 3 big, 2 medium, 1 small
    shape: ecs.i32  # which jagged outline to draw


@ecs.component
class Bullet:
    ttl: ecs.f32


@ecs.component
class Spark:
    ttl: ecs.f32


@ecs.component
class Game:
    """The score board (one entity holds it)."""

    score: ecs.i64
    lives: ecs.i32
    wave: ecs.i32
    respawn: ecs.f32  # seconds until the ship comes back (when it is dead)
    over: ecs.boolean
    over_time: ecs.f32  # seconds since the game ended


# -- resources -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Controls:
    """What the player is pressing (set by the window between ticks, never by a system)."""

    thrust: bool = False
    left: bool = False
    right: bool = False
    fire: bool = False
    restart: bool = False
    autopilot: bool = False


@dataclass(frozen=True)
class Arena:
    width: float = 1280.0
    height: float = 720.0


@dataclass(frozen=True)
class FaultPlan:
    """How often ``collide`` fails on purpose: a pure function of (seed, tick, attempt).

    A retry fails at a tenth of ``rate``, so most faults are absorbed by the RETRY policy
    and a few (about one tick in 10,000 at the default rate) fall back to CONTINUE: the
    group is reported ERRORED, that tick's collisions are skipped, and a warning is logged.
    """

    seed: int = 0
    rate: float = 0.03

    def fails(self, tick: int, attempt: int) -> bool:
        rate = self.rate if attempt == 0 else self.rate / 10
        if rate <= 0:
            return False
        return bool(np.random.default_rng([self.seed, tick, attempt, 0xA57E]).random() < rate)


@dataclass(frozen=True)
class Threat:
    """The async ``threat`` group's view of the nearest rock (a resource)."""

    tick: int = -1
    distance: float = -1.0  # negative: no ship or no rock (JSON has no infinity, snapshots are JSON)
    closing_speed: float = 0.0


class TransientGlitch(RuntimeError):
    """The simulated fault ``collide`` raises now and then (see :class:`FaultPlan`)."""


# -- helpers --------------------------------------------------------------------------------------------
def _wrap_delta(d: NDArray[np.float32], size: NDArray[np.float32]) -> NDArray[np.float32]:
    """Shortest displacement on a torus of ``size``."""
    return (d + size / 2) % size - size / 2


def _size(arena: Arena) -> NDArray[np.float32]:
    return np.array([arena.width, arena.height], dtype=np.float32)


def _rocks(
    rng: np.random.Generator, n: int, size: int, at: NDArray[np.float64], base_vel: NDArray[np.float64], spread: float
) -> dict[type, dict[str, Any]]:
    """Component values for ``n`` new rocks of ``size`` around ``at``."""
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(30, 70, n) * (4 - size) ** 0.5 * spread
    vel = base_vel + np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    xy = np.broadcast_to(at, (n, 2)).copy()
    return {
        Body: {"xy": xy, "prev": xy, "angle": rng.uniform(0, 2 * np.pi, n), "radius": ROCK_RADIUS[size]},
        Motion: {"vel": vel, "spin": rng.uniform(-1.2, 1.2, n)},
        Rock: {"size": size, "shape": rng.integers(0, 64, n).astype(np.int32)},
    }


def _sparks(rng: np.random.Generator, n: int, at: NDArray[np.float64]) -> dict[type, dict[str, Any]]:
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(40, 220, n)
    vel = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
    xy = np.broadcast_to(at, (n, 2)).copy()
    return {
        Body: {"xy": xy, "prev": xy, "angle": 0.0, "radius": 1.5},
        Motion: {"vel": vel, "spin": 0.0},
        Spark: {"ttl": rng.uniform(0.3, 0.9, n)},
    }


def autopilot(
    ship_xy: NDArray[np.float32],
    ship_angle: float,
    ship_vel: NDArray[np.float32],
    rocks_xy: NDArray[np.float32],
    rocks_vel: NDArray[np.float32],
    rocks_r: NDArray[np.float32],
    size: NDArray[np.float32],
) -> Controls:
    """A simple pilot: aim ahead of the nearest rock, shoot when lined up, keep moving gently.

    Vectorised over the rocks; a pure function, so the game stays deterministic.
    """
    if len(rocks_xy) == 0:
        return Controls(autopilot=True)
    rel = _wrap_delta(rocks_xy - ship_xy, size)
    dist = np.sqrt((rel * rel).sum(axis=1)) - rocks_r
    i = int(np.argmin(dist))
    lead = dist[i] / BULLET_SPEED
    aim = rel[i] + (rocks_vel[i] - ship_vel) * lead
    want = float(np.arctan2(aim[1], aim[0]))
    diff = (want - ship_angle + np.pi) % (2 * np.pi) - np.pi
    speed = float(np.hypot(ship_vel[0], ship_vel[1]))
    return Controls(
        left=diff > 0.06,
        right=diff < -0.06,
        fire=abs(diff) < 0.2 and dist[i] < 520,
        thrust=dist[i] > 260 and speed < 110 and abs(diff) < 0.5,
        autopilot=True,
    )


# -- systems ---------------------------------------------------------------------------------------------
@ecs.system(reads=(Body, Rock, Controls, Arena), writes=(Ship, Motion))
def pilot(ctx: ecs.ExecutionContext) -> None:
    """Turn, thrust and fire from the keyboard or the autopilot."""
    controls = ctx.resource(Controls)
    arena = ctx.resource(Arena)
    dt = np.float32(ctx.dt)
    ships = list(ctx.query(Body, Motion, Ship))
    if not ships or not len(ships[0]):
        return
    b = ships[0]
    body, motion, ship = b[Body], b[Motion], b[Ship]
    if controls.autopilot:
        parts = list(ctx.query(Body, Motion, with_=(Rock,)))
        rocks_xy = np.concatenate([p[Body].xy for p in parts]) if parts else np.zeros((0, 2), np.float32)
        rocks_v = np.concatenate([p[Motion].vel for p in parts]) if parts else np.zeros((0, 2), np.float32)
        rocks_r = np.concatenate([p[Body].radius for p in parts]) if parts else np.zeros(0, np.float32)
        controls = autopilot(body.xy[0], float(body.angle[0]), motion.vel[0], rocks_xy, rocks_v, rocks_r, _size(arena))
    turn = float(controls.left) - float(controls.right)
    motion.spin[0] = turn * TURN_RATE
    heading = np.array([np.cos(body.angle[0]), np.sin(body.angle[0])], dtype=np.float32)
    if controls.thrust:
        motion.vel[0] += heading * np.float32(THRUST) * dt
    motion.vel[0] *= np.float32(1.0) - np.float32(SHIP_DRAG) * dt
    speed = float(np.hypot(*motion.vel[0]))
    if speed > MAX_SHIP_SPEED:
        motion.vel[0] *= np.float32(MAX_SHIP_SPEED / speed)
    ship.thrusting[0] = controls.thrust
    ship.cooldown[0] = max(0.0, float(ship.cooldown[0]) - ctx.dt)
    ship.invulnerable[0] = max(0.0, float(ship.invulnerable[0]) - ctx.dt)
    if controls.fire and ship.cooldown[0] <= 0:
        ship.cooldown[0] = FIRE_COOLDOWN
        at = body.xy[0] + heading * np.float32(SHIP_RADIUS + 2)
        ctx.commands.spawn(
            Body(xy=at, prev=at, angle=0.0, radius=2.0),
            Motion(vel=motion.vel[0] + heading * np.float32(BULLET_SPEED), spin=0.0),
            Bullet(ttl=BULLET_TTL),
        )


@ecs.system(reads=(Motion, Arena), writes=(Body,))
def integrate(ctx: ecs.ExecutionContext) -> None:
    """Move and spin everything; wrap around the edges (``prev`` shifts too, for smooth drawing)."""
    size = _size(ctx.resource(Arena))
    dt = np.float32(ctx.dt)
    for b in ctx.query(Body, Motion):
        body, motion = b[Body], b[Motion]
        body.prev[:] = body.xy
        moved = body.xy + motion.vel * dt
        wrapped = np.mod(moved, size)
        body.prev += wrapped - moved
        body.xy[:] = wrapped
        body.angle += motion.spin * dt


@ecs.system(writes=(Bullet, Spark))
def expire(ctx: ecs.ExecutionContext) -> None:
    """Age bullets and sparks; destroy the spent ones (one command per batch)."""
    dt = np.float32(ctx.dt)
    for b in ctx.query(Bullet):
        b[Bullet].ttl -= dt
        ctx.commands.destroy(b.entities[b[Bullet].ttl <= 0])
    for b in ctx.query(Spark):
        b[Spark].ttl -= dt
        ctx.commands.destroy(b.entities[b[Spark].ttl <= 0])


class Collide:
    """Bullets against rocks and the ship against rocks, all pairs at once; fails now and then.

    A class-based system: it remembers the tick of its last failure, so the RETRY policy's
    second attempt draws a fresh (still seeded) fault decision.
    """

    descriptor = ecs.SystemDescriptor(
        "collide",
        reads=(Body, Motion, Rock, Bullet, Ship, FaultPlan, Arena),
        writes=(Game, np.random.Generator),
    )

    def __init__(self) -> None:
        self.failed_at = -1

    def run(self, ctx: ecs.ExecutionContext) -> None:
        attempt = 1 if self.failed_at == ctx.tick else 0
        if ctx.resource(FaultPlan).fails(ctx.tick, attempt):
            self.failed_at = ctx.tick
            # Before any write: a retried system must leave nothing half-done.
            raise TransientGlitch(f"simulated transient fault at tick {ctx.tick} (attempt {attempt + 1})")
        rng = ctx.resource(np.random.Generator)
        size = _size(ctx.resource(Arena))
        rocks = [
            (p.entities, p[Body].xy, p[Body].radius, p[Motion].vel, p[Rock].size) for p in ctx.query(Body, Motion, Rock)
        ]
        if not rocks:
            return
        r_ids = np.concatenate([r[0] for r in rocks])
        r_xy = np.concatenate([r[1] for r in rocks])
        r_rad = np.concatenate([r[2] for r in rocks])
        r_vel = np.concatenate([r[3] for r in rocks])
        r_size = np.concatenate([r[4] for r in rocks])
        hit_rock = np.zeros(len(r_ids), dtype=bool)

        bullets = [(p.entities, p[Body].xy) for p in ctx.query(Body, Bullet)]
        if bullets:
            b_ids = np.concatenate([b[0] for b in bullets])
            b_xy = np.concatenate([b[1] for b in bullets])
            d = _wrap_delta(b_xy[:, None, :] - r_xy[None, :, :], size)
            touching = (d * d).sum(axis=2) < (r_rad * r_rad)[None, :]
            hits = touching.any(axis=1)
            if hits.any():
                first = np.argmax(touching, axis=1)  # each bullet breaks at most one rock
                hit_rock[first[hits]] = True
                ctx.commands.destroy(b_ids[hits])

        game_batches = list(ctx.query(Game))
        game = game_batches[0][Game] if game_batches and len(game_batches[0]) else None
        for p in ctx.query(Body, Ship):
            if not len(p) or p[Ship].invulnerable[0] > 0 or game is None:
                continue
            d = _wrap_delta(r_xy - p[Body].xy[0], size)
            crash = (d * d).sum(axis=1) < (r_rad + SHIP_RADIUS) ** 2
            if crash.any():
                hit_rock |= crash
                ctx.commands.destroy(p.entities[:1])
                ctx.commands.spawn_batch(40, _sparks(rng, 40, p[Body].xy[0].astype(np.float64)))
                game.lives[0] -= 1
                game.respawn[0] = RESPAWN_DELAY

        if not hit_rock.any():
            return
        broken = np.flatnonzero(hit_rock)
        ctx.commands.destroy(r_ids[broken])
        if game is not None:
            points = np.array([0, ROCK_POINTS[1], ROCK_POINTS[2], ROCK_POINTS[3]])
            game.score[0] += int(points[r_size[broken]].sum())
        for i in broken.tolist():
            at = r_xy[i].astype(np.float64)
            ctx.commands.spawn_batch(12, _sparks(rng, 12, at))
            if r_size[i] > 1:
                ctx.commands.spawn_batch(2, _rocks(rng, 2, int(r_size[i]) - 1, at, r_vel[i].astype(np.float64), 1.3))


@ecs.system(reads=(Ship, Bullet, Rock, Controls, Arena), writes=(Game, np.random.Generator))
def respawn(ctx: ecs.ExecutionContext) -> None:
    """Bring the ship back after a delay, end the game at zero lives, restart on request."""
    controls = ctx.resource(Controls)
    arena = ctx.resource(Arena)
    batches = list(ctx.query(Game))
    if not batches or not len(batches[0]):
        return
    game = batches[0][Game]
    ship_alive = sum(len(b) for b in ctx.query(Ship)) > 0
    if game.over[0]:
        game.over_time[0] += np.float32(ctx.dt)
        if controls.restart or (controls.autopilot and game.over_time[0] >= AUTO_RESTART):
            for kind in (Rock, Bullet, Ship):
                for b in ctx.query(kind):
                    ctx.commands.destroy(b.entities)
            game.score[0], game.lives[0], game.wave[0] = 0, LIVES, 0
            game.over[0], game.over_time[0], game.respawn[0] = False, 0.0, 0.0
            _spawn_ship(ctx, arena)
        return
    if ship_alive:
        return
    if game.lives[0] <= 0:
        game.over[0] = True
        game.over_time[0] = 0.0
        return
    game.respawn[0] -= np.float32(ctx.dt)
    if game.respawn[0] <= 0:
        _spawn_ship(ctx, arena)


def _spawn_ship(ctx: ecs.ExecutionContext, arena: Arena) -> None:
    at = np.array([arena.width / 2, arena.height / 2], dtype=np.float32)
    ctx.commands.spawn(
        Body(xy=at, prev=at, angle=np.pi / 2, radius=SHIP_RADIUS),
        Motion(vel=(0.0, 0.0), spin=0.0),
        Ship(cooldown=0.0, invulnerable=INVULNERABLE, thrusting=False),
    )


@ecs.system(reads=(Rock, Body, Arena), writes=(Game, np.random.Generator))
def waves(ctx: ecs.ExecutionContext) -> None:
    """When the sky is clear, send the next, bigger wave from the edges."""
    if sum(len(b) for b in ctx.query(Rock)) > 0:
        return
    batches = list(ctx.query(Game))
    if not batches or not len(batches[0]) or batches[0][Game].over[0]:
        return
    game = batches[0][Game]
    game.wave[0] += 1
    rng = ctx.resource(np.random.Generator)
    arena = ctx.resource(Arena)
    n = 3 + int(game.wave[0])
    # Start on the left or bottom edge (which wrap to the right and top): never on the ship.
    t = rng.random(n)
    on_left = rng.random(n) < 0.5
    xy = np.where(
        on_left[:, None], np.stack([np.zeros(n), t * arena.height], 1), np.stack([t * arena.width, np.zeros(n)], 1)
    )
    for i in range(n):
        ctx.commands.spawn_batch(1, _rocks(rng, 1, 3, xy[i], np.zeros(2), 1.0))


@ecs.system(reads=(Body, Motion, Rock, Ship, Arena), writes=(Threat,), async_allowed=True)
def threat(ctx: ecs.ExecutionContext) -> None:
    """How close, and how fast closing, the nearest rock is (read-only; runs on a worker)."""
    size = _size(ctx.resource(Arena))
    ship = [(p[Body].xy[0], p[Motion].vel[0]) for p in ctx.query(Body, Motion, with_=(Ship,)) if len(p)]
    parts = [(p[Body].xy, p[Motion].vel, p[Body].radius) for p in ctx.query(Body, Motion, with_=(Rock,))]
    if not ship or not parts:
        ctx.set_resource(Threat(tick=ctx.tick))
        return
    xy, vel = ship[0]
    r_xy = np.concatenate([p[0] for p in parts])
    r_vel = np.concatenate([p[1] for p in parts])
    r_rad = np.concatenate([p[2] for p in parts])
    rel = _wrap_delta(r_xy - xy, size)
    dist = np.sqrt((rel * rel).sum(axis=1))
    i = int(np.argmin(dist - r_rad))
    closing = -float(np.dot(rel[i], r_vel[i] - vel) / max(float(dist[i]), 1e-6))
    gap = max(0.0, float(dist[i] - r_rad[i]))
    ctx.set_resource(Threat(tick=ctx.tick, distance=gap, closing_speed=closing))


# -- the factory -------------------------------------------------------------------------------------------
def create_scheduler(
    seed: int = 0,
    *,
    fault_rate: float = 0.03,
    autopilot: bool = False,
    width: float = 1280.0,
    height: float = 720.0,
    workers: int | None = None,
    clock: ecs.Clock | None = None,
) -> ecs.Scheduler:
    """A new game (wave 1 starts on the first tick). ``autopilot`` lets the computer play.

    ``fault_rate`` is the chance per tick that the collide system fails on purpose (0 to 1).
    """
    if not is_finite_real(fault_rate) or not 0.0 <= fault_rate <= 1.0:
        raise ValueError(f"asteroids: fault_rate must be a number from 0 to 1, got {fault_rate!r}")
    world = ecs.World(components=[Body, Motion, Ship, Rock, Bullet, Spark, Game], name="asteroids", seed=seed)
    arena = Arena(float(width), float(height))
    world.add_resource(arena)
    world.add_resource(Controls(autopilot=autopilot))
    world.add_resource(FaultPlan(seed=seed, rate=fault_rate))
    world.add_resource(Threat())
    world.spawn(Game(score=0, lives=LIVES, wave=0, respawn=0.0, over=False, over_time=0.0))
    at = np.array([arena.width / 2, arena.height / 2], dtype=np.float32)
    world.spawn(
        Body(xy=at, prev=at, angle=np.pi / 2, radius=SHIP_RADIUS),
        Motion(vel=(0.0, 0.0), spin=0.0),
        Ship(cooldown=0.0, invulnerable=INVULNERABLE, thrusting=False),
    )
    builder = ecs.SchedulerBuilder(world, clock=clock, workers=workers)
    builder.add_group("ship", [pilot], priority=0)
    builder.add_group("physics", [integrate, expire], priority=1)
    builder.add_group("rules", [Collide(), respawn, waves], priority=2, error_policy=ecs.ErrorPolicy.RETRY)
    builder.add_group("threat", [threat], mode=ecs.Mode.ASYNC, allow_writes=True, timeout=2.0)
    return builder.build()


def _prepare_headless(sched: ecs.Scheduler) -> None:
    sched.world.add_resource(replace(sched.world.resource(Controls), autopilot=True))


# -- rewind --------------------------------------------------------------------------------------------------
class Rewinder:
    """Keeps world snapshots every ``every`` ticks for ``keep`` seconds; ``rewind`` goes back ``seconds``.

    Snapshots are taken between ticks (after ``wait_idle``, so no async group is in flight).
    """

    def __init__(self, sched: ecs.Scheduler, *, every: int = 15, keep: float = 10.0) -> None:
        self.sched = sched
        self.every = every
        self.history: collections.deque[tuple[int, float, ecs.WorldSnapshot]] = collections.deque()
        self.keep = keep
        self.last_tick = -1
        self.rewinds = 0

    def capture(self) -> None:
        """Take a snapshot if ``every`` ticks passed since the last one."""
        tick = self.sched.tick_count
        if self.last_tick >= 0 and tick - self.last_tick < self.every:
            return
        self.sched.wait_idle()
        self.last_tick = tick
        self.history.append((tick, self.sched.elapsed, self.sched.world.snapshot()))
        while self.history and self.sched.elapsed - self.history[0][1] > self.keep:
            self.history.popleft()

    def rewind(self, seconds: float = REWIND_SECONDS) -> int | None:
        """Restore the newest snapshot at least ``seconds`` old (or the oldest kept); its tick, or None."""
        if not self.history:
            return None
        target = self.sched.elapsed - seconds
        chosen = 0
        for i, (_, elapsed, _) in enumerate(self.history):
            if elapsed <= target + 1e-6:  # game time is a float sum of dt: allow its rounding
                chosen = i
        tick, _, snap = self.history[chosen]
        self.sched.wait_idle()
        controls = self.sched.world.resource(Controls)
        self.sched.world.restore(snap)
        self.sched.world.add_resource(controls)  # the keys held now, not those held back then
        while len(self.history) > chosen + 1:
            self.history.pop()
        self.last_tick = self.sched.tick_count
        self.rewinds += 1
        return tick


# -- the window ----------------------------------------------------------------------------------------------
def _outline(shape: int, radius: float) -> NDArray[np.float32]:
    """A jagged rock outline (unit-independent): 11 points at seeded radii."""
    rng = np.random.default_rng(shape)
    a = np.linspace(0, 2 * np.pi, 11, endpoint=False) + rng.uniform(-0.15, 0.15, 11)
    r = radius * rng.uniform(0.72, 1.12, 11)
    return np.stack([np.cos(a) * r, np.sin(a) * r], axis=1).astype(np.float32)


_SHIP_OUTLINE: Final = np.array([[16, 0], [-11, 9], [-6, 0], [-11, -9]], dtype=np.float32)
_FLAME: Final = np.array([[-8, 4], [-19, 0], [-8, -4]], dtype=np.float32)


def _placed(points: NDArray[np.float32], xy: NDArray[np.float32], angle: float) -> list[tuple[float, float]]:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]], dtype=np.float32)
    return [(float(x), float(y)) for x, y in points @ rot.T + xy]


class AsteroidsScene:
    """Vector-style drawing, keyboard input, and the rewind key."""

    def __init__(self, sched: ecs.Scheduler, window: arcade.Window, driver: SchedulerDriver) -> None:
        import arcade

        from ecs.integrations.arcade import NumpySpriteRenderer

        self.arcade = arcade
        self.sched = sched
        self.world = sched.world
        self.window = window
        self.driver = driver
        self.keys: set[int] = set()
        self.bullets = NumpySpriteRenderer(window.ctx, shape="circle", size=2.5, color=(255, 255, 200), segments=8)
        self.sparks = NumpySpriteRenderer(window.ctx, shape="square", size=1.5, color=(255, 190, 90))
        self.rewinder = Rewinder(sched)
        self._outlines: dict[tuple[int, int], NDArray[np.float32]] = {}
        self.big = arcade.Text("", window.width / 2, window.height / 2, arcade.color.WHITE, 28, anchor_x="center")
        self.score = arcade.Text("", window.width - 20, window.height - 34, arcade.color.WHITE, 20, anchor_x="right")
        self.autopilot = self.world.resource(Controls).autopilot

    # input ----------------------------------------------------------------------------------------------
    def _controls(self) -> Controls:
        k = self.arcade.key
        held = self.keys
        return Controls(
            thrust=bool(held & {k.UP, k.W}),
            left=bool(held & {k.LEFT, k.A}),
            right=bool(held & {k.RIGHT, k.D}),
            fire=k.SPACE in held,
            restart=bool(held & {k.ENTER, k.RETURN}),
            autopilot=self.autopilot,
        )

    def _send(self) -> None:
        # Input reaches the world as a host command, applied at the start of the next tick.
        self.sched.commands.set_resource(self._controls())

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        k = self.arcade.key
        if symbol == k.R:
            self.rewinder.rewind()
            return
        if symbol == k.T:
            self.autopilot = not self.autopilot
        self.keys.add(symbol)
        self._send()

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        self.keys.discard(symbol)
        self._send()

    # drawing --------------------------------------------------------------------------------------------
    def _outline_for(self, shape: int, size: int) -> NDArray[np.float32]:
        key = (shape, size)
        pts = self._outlines.get(key)
        if pts is None:
            pts = self._outlines[key] = _outline(shape, ROCK_RADIUS[size])
        return pts

    def draw(self, alpha: float) -> None:
        arcade = self.arcade
        self.rewinder.capture()
        a = np.float32(alpha)
        for b in self.world.query(Body, Rock, readonly=(Body, Rock)):
            xy = b[Body].prev + (b[Body].xy - b[Body].prev) * a
            for i in range(len(b)):
                pts = self._outline_for(int(b[Rock].shape[i]), int(b[Rock].size[i]))
                arcade.draw_polygon_outline(_placed(pts, xy[i], float(b[Body].angle[i])), (200, 200, 210), 2)
        for b in self.world.query(Body, Ship, readonly=(Body, Ship)):
            for i in range(len(b)):
                xy = b[Body].prev[i] + (b[Body].xy[i] - b[Body].prev[i]) * a
                ang = float(b[Body].angle[i])
                blink = b[Ship].invulnerable[i] > 0 and int(self.sched.tick_count / 6) % 2 == 0
                color = (120, 200, 255) if not blink else (60, 90, 120)
                arcade.draw_polygon_outline(_placed(_SHIP_OUTLINE, xy, ang), color, 2)
                if b[Ship].thrusting[i]:
                    arcade.draw_polygon_filled(_placed(_FLAME, xy, ang), (255, 150, 40))
        for kind, renderer in ((Bullet, self.bullets), (Spark, self.sparks)):
            parts = [(b[Body].xy, b[Body].prev) for b in self.world.query(Body, with_=(kind,), readonly=(Body,))]
            if parts:
                renderer.draw(
                    np.concatenate([p[0] for p in parts]), previous=np.concatenate([p[1] for p in parts]), alpha=alpha
                )
        self._draw_board()

    def _draw_board(self) -> None:
        found = self.world.single(Game, default=None)
        if found is None:
            return
        game = found[1]
        self.score.text = f"{int(game.score):>6}   lives {int(game.lives)}   wave {int(game.wave)}"
        self.score.draw()
        if game.over:
            self.big.text = "GAME OVER  -  Enter to play again"
            self.big.draw()

    def hud_lines(self) -> list[str]:
        t = self.world.resource(Threat)
        near = "none" if t.distance < 0 else f"{t.distance:6.0f} px, closing {t.closing_speed:5.0f} px/s"
        pilot_state = "ON" if self.autopilot else "off (T)"
        return [
            f"nearest rock: {near}",
            f"autopilot {pilot_state}   rewinds {self.rewinder.rewinds}   snapshots {len(self.rewinder.history)}",
        ]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault-rate",
        type=_common.fraction_arg,
        default=0.03,
        help="chance per tick that collide fails, 0 to 1 (0.03)",
    )
    parser.add_argument("--autopilot", action="store_true", help="let the computer fly (always on with --headless)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"fault_rate": args.fault_rate, "autopilot": args.autopilot}


DEMO: Final = _common.Demo(
    name="asteroids",
    title="ecs asteroids",
    create_scheduler=create_scheduler,
    make_scene=AsteroidsScene,
    add_arguments=_add_arguments,
    options=_options,
    prepare_headless=_prepare_headless,
    keys=("arrows/WASD fly  Space fire  Enter restart  R rewind 3 s  T autopilot  P pause  . step  Esc quit",),
)


def main(argv: list[str] | None = None) -> int:
    return _common.main(DEMO, argv)


if __name__ == "__main__":
    raise SystemExit(main())
