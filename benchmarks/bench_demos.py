"""Demo benchmarks: simulation tick times headless, and frames drawn per second in a real window.

Rows:

* ``boids 10k tick`` / ``particles 100k tick`` (archetype and dense storage) / ``asteroids
  tick``: the mean time of one scheduler tick, headless, after a warm-up (best of several
  runs of 30 ticks each). Target: under 16 ms (one 60 Hz frame). The ``numpy`` column is the
  same simulation written as plain numpy over bare arrays, with no ECS and no scheduler
  (boids: the demo's own kernel; particles: boolean compaction plus concatenation for the
  births and deaths), so the ratio is what the ECS costs on top.
* ``... fps``: frames drawn per second by the demo's real window (HUD included, simulation at
  a fixed 60 Hz inside it, catch-up capped at 5 ticks per frame), over about 3 s, with the
  update and draw rates uncapped. ``render bridge 50k`` draws 50,000 triangles moved by numpy
  every frame through :class:`ecs.integrations.arcade.NumpySpriteRenderer`, with no ECS at
  all. Under Xvfb (or EGL without a display) these run on Mesa's software rasteriser
  (llvmpipe), sharing the machine's cores with the simulation: a GPU draws far faster. There
  is no target; the figures are recorded.

Run ``python -m benchmarks.bench_demos [--quick]`` (a window is needed for the fps rows; with
no ``DISPLAY`` arcade's headless EGL mode is used).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from demos import _common, asteroids, boids, particles
from ecs.integrations.headless import run_fixed

from ._common import best_of, make_row

AREA = "demos"
TICK_BUDGET_MS = 16.0
DT = 1 / 60


# -- simulation ticks --------------------------------------------------------------------------------
def tick_ms(make: Callable[[], Any], *, warmup: int, ticks: int, repeat: int) -> tuple[float, float]:
    """(best mean tick in ms over ``repeat`` runs of ``ticks`` ticks, the slowest single tick in ms)."""
    sched = make()
    try:
        run_fixed(sched, warmup)
        slowest = 0.0

        def run() -> None:
            nonlocal slowest
            for _ in range(ticks):
                t0 = time.perf_counter()
                sched.tick(DT)
                slowest = max(slowest, time.perf_counter() - t0)

        best = best_of(run, repeat=repeat, warmup=0)
        return best / ticks * 1e3, slowest * 1e3
    finally:
        sched.close()


def boids_numpy_ms(count: int, ticks: int, repeat: int) -> float:
    """The boids kernel on bare arrays: steer (spatial grid) and move, no ECS."""
    params = boids.FlockParams()
    rng = np.random.default_rng(0)
    xy = (rng.random((count, 2)) * [params.width, params.height]).astype(np.float32)
    angle = rng.random(count) * 2 * np.pi
    vel = (np.stack([np.cos(angle), np.sin(angle)], 1) * 90).astype(np.float32)
    size = np.array([params.width, params.height], dtype=np.float32)
    prev = xy.copy()

    def run() -> None:
        nonlocal vel, xy
        for _ in range(ticks):
            vel = boids.steer_flock(xy, vel, params, DT)
            prev[:] = xy
            moved = xy + vel * np.float32(DT)
            xy = np.mod(moved, size)
            prev[:] += xy - moved

    return best_of(run, repeat=repeat, warmup=1) / ticks * 1e3


def particles_numpy_ms(count: int, ticks: int, repeat: int) -> float:
    """Particles on bare arrays: births appended, deaths compacted away with a mask, every tick."""
    rng = np.random.default_rng(0)
    emitters = particles.Emitters(rate=count / 1.5)
    xy = (rng.random((count, 2)) * [1280, 720]).astype(np.float32)
    vel = rng.normal(0, 100, (count, 2)).astype(np.float32)
    age = (rng.random(count) * 1.5).astype(np.float32)
    ttl = rng.uniform(0.5, 2.5, count).astype(np.float32)
    src = rng.integers(0, 5, count).astype(np.uint8)
    per = round(emitters.rate * DT / emitters.count)
    elapsed = 0.0

    def run() -> None:
        nonlocal xy, vel, age, ttl, src, elapsed
        for _ in range(ticks):
            where = emitters.positions(elapsed)
            births = [particles._spark_values(rng, emitters, k, per, where[k]) for k in range(emitters.count)]
            vel[:, 1] += particles.GRAVITY * np.float32(DT)
            vel *= np.float32(1.0) - particles.DRAG * np.float32(DT)
            xy += vel * np.float32(DT)
            below = xy[:, 1] < 0
            xy[below, 1] *= -1
            vel[below, 1] *= -particles.BOUNCE
            age += np.float32(DT)
            keep = age < ttl
            xy = np.concatenate([xy[keep], *[b[particles.Position]["xy"].astype(np.float32) for b in births]])
            vel = np.concatenate([vel[keep], *[b[particles.Velocity]["xy"].astype(np.float32) for b in births]])
            age = np.concatenate([age[keep], *[b[particles.Life]["age"].astype(np.float32) for b in births]])
            ttl = np.concatenate([ttl[keep], *[b[particles.Life]["ttl"].astype(np.float32) for b in births]])
            src = np.concatenate([src[keep], *[b[particles.Life]["source"] for b in births]])
            elapsed += DT

    return best_of(run, repeat=repeat, warmup=1) / ticks * 1e3


def tick_rows(quick: bool) -> list[dict[str, Any]]:
    ticks, repeat, warmup = (15, 3, 10) if quick else (30, 5, 30)
    rows = []
    ours, worst = tick_ms(lambda: boids.create_scheduler(count=10_000), warmup=warmup, ticks=ticks, repeat=repeat)
    raw = boids_numpy_ms(10_000, ticks, repeat)
    rows.append(
        make_row(
            AREA,
            "boids 10k tick (headless)",
            ours,
            unit="ms",
            numpy=raw,
            target=f"< {TICK_BUDGET_MS:g} ms",
            met=ours < TICK_BUDGET_MS,
            score=ours / TICK_BUDGET_MS,
            note=f"sync movement group + async analysis group on a worker; slowest tick {worst:.1f} ms",
        )
    )
    raw_particles = particles_numpy_ms(100_000, ticks, repeat)
    for storage in particles.STORAGES:
        ours, worst = tick_ms(
            lambda storage=storage: particles.create_scheduler(count=100_000, storage=storage),
            warmup=warmup,
            ticks=ticks,
            repeat=repeat,
        )
        rows.append(
            make_row(
                AREA,
                f"particles 100k tick, {storage} Life",
                ours,
                unit="ms",
                numpy=raw_particles,
                target=f"< {TICK_BUDGET_MS:g} ms",
                met=ours < TICK_BUDGET_MS,
                score=ours / TICK_BUDGET_MS,
                note=f"~1.1k spawned + ~1.1k destroyed per tick; slowest tick {worst:.1f} ms",
            )
        )
    ours, worst = tick_ms(
        lambda: asteroids.create_scheduler(autopilot=True), warmup=warmup, ticks=ticks * 4, repeat=repeat
    )
    rows.append(
        make_row(
            AREA,
            "asteroids tick (autopilot)",
            ours,
            unit="ms",
            target=f"< {TICK_BUDGET_MS:g} ms",
            met=ours < TICK_BUDGET_MS,
            score=ours / TICK_BUDGET_MS,
            note=f"4 groups, RETRY faults at 3%; slowest tick {worst:.1f} ms",
        )
    )
    return rows


# -- frames per second -----------------------------------------------------------------------------------
def _ensure_display() -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("ARCADE_HEADLESS", "1")


def demo_fps(module: Any, seconds: float, **options: Any) -> tuple[float, int, str]:
    """(frames per second, ticks run, GL renderer) of a demo's real window over ``seconds``."""
    _ensure_display()
    from ecs.integrations.arcade import run_window

    demo: _common.Demo = module.DEMO
    args = _common.build_parser(demo).parse_args([])
    sched = demo.create_scheduler(seed=0, **options)
    win = _common.open_window(demo, sched, args)
    try:
        win.window.set_update_rate(1 / 1000)
        win.window.set_draw_rate(1 / 1000)
        renderer = str(win.window.ctx.info.RENDERER)
        for _ in range(3):  # warm up: shader compilation, first buffer uploads
            win.window.dispatch_event("on_update", DT)
            win.window.dispatch_event("on_draw")
            win.window.dispatch_events()
        frames0 = win.frames
        t0 = time.perf_counter()
        run_window(win.window, until=lambda: time.perf_counter() - t0 >= seconds)
        elapsed = time.perf_counter() - t0
        return (win.frames - frames0) / elapsed, win.driver.ticks, renderer
    finally:
        win.close()
        sched.close()


def bridge_fps(count: int, seconds: float) -> float:
    """Frames per second drawing ``count`` triangles that numpy moves every frame (no ECS)."""
    _ensure_display()
    import arcade

    from ecs.integrations.arcade import NumpySpriteRenderer, run_window

    window = arcade.Window(*_common.WINDOW_SIZE, "render bridge benchmark", update_rate=1 / 1000, draw_rate=1 / 1000)
    rng = np.random.default_rng(0)
    size = np.array(_common.WINDOW_SIZE, dtype=np.float32)
    xy = (rng.random((count, 2)) * size).astype(np.float32)
    heading = (rng.random(count) * 2 * np.pi).astype(np.float32)
    renderer = NumpySpriteRenderer(window.ctx, shape="triangle", size=4.0, color=(120, 220, 255), capacity=count)
    frames = 0

    def on_draw() -> None:
        nonlocal xy, frames
        heading[:] += rng.normal(0, 0.1, count).astype(np.float32)
        xy = np.mod(xy + np.stack([np.cos(heading), np.sin(heading)], 1), size)
        window.clear()
        renderer.draw(xy, angles=heading)
        frames += 1

    window.push_handlers(on_draw=on_draw)
    try:
        on_draw()
        frames = 0
        t0 = time.perf_counter()
        run_window(window, until=lambda: time.perf_counter() - t0 >= seconds)
        return frames / (time.perf_counter() - t0)
    finally:
        window.close()


def fps_rows(quick: bool) -> list[dict[str, Any]]:
    seconds = 1.5 if quick else 3.0
    rows = []
    renderer = "?"
    for name, module, options in (
        ("boids 10k", boids, {"count": 10_000}),
        ("particles 100k", particles, {"count": 100_000}),
        ("asteroids", asteroids, {"autopilot": True}),
    ):
        fps, ticks, renderer = demo_fps(module, seconds, **options)
        rows.append(
            make_row(
                AREA,
                f"{name} window fps",
                fps,
                unit="fps",
                target="recorded",
                higher_is_better=True,
                note=f"{renderer}; {ticks} ticks in {seconds:g} s (60 Hz fixed, catch-up cap 5)",
            )
        )
    fps = bridge_fps(50_000, seconds)
    rows.append(
        make_row(
            AREA,
            "render bridge 50k triangles fps",
            fps,
            unit="fps",
            target="recorded",
            higher_is_better=True,
            note=f"{renderer}; one instanced draw call, numpy moves all 50k every frame",
        )
    )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    return tick_rows(quick) + fps_rows(quick)


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        ratio = f"  (numpy {row['numpy']:.2f})" if row["numpy"] is not None else ""
        print(f"{row['scenario']:<36} {row['ours']:9.2f} {row['unit']:<4}{ratio}  {row['note']}")
