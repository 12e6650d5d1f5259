"""Scheduler benchmarks: overhead per system, and the async speed-up on 2 cores.

* ``overhead``: an empty tick of 10 synchronized groups x 10 trivial systems, against calling
  the same 100 functions in a plain Python loop; the difference divided by 100 is what the
  scheduler costs per system (target 2 us). esper's column is its ``process()`` with 100
  trivial processors, per processor.
* ``async``: two groups each running a GIL-releasing numpy kernel (``sqrt``/``exp``/``sin``
  over a 1M-row float32 x 2 component): both synchronized, vs one of them async on the
  worker pool beside the other. The numpy column is the same two kernels on two raw threads
  (``concurrent.futures``), the speed-up the hardware allows. Target: at least 1.4x on 2 cores.

Run it alone with ``python -m benchmarks.bench_scheduler [--quick]``.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

import ecs
from ecs.scheduler._frozen import FrozenView

from ._common import Position, Velocity, best_of, esper_world, make_row

AREA = "scheduler"
DT = 1 / 60
GROUPS = 10
PER_GROUP = 10


def trivial_systems() -> list[list[ecs.System]]:
    """10 groups of 10 systems that do nothing (each its own function object)."""
    groups = []
    for g in range(GROUPS):
        systems = []
        for i in range(PER_GROUP):

            def body(ctx: ecs.ExecutionContext) -> None:
                return None

            systems.append(ecs.system(name=f"g{g}s{i}")(body))
        groups.append(systems)
    return groups


def overhead_scheduler(observers: tuple[ecs.SchedulerObserver, ...] = ()) -> ecs.Scheduler:
    world = ecs.World(components=[Position, Velocity])
    world.spawn_batch(10, {Position: (0, 0), Velocity: (1, 1)})
    builder = ecs.SchedulerBuilder(world, workers=1)
    for g, systems in enumerate(trivial_systems()):
        builder.add_group(f"group{g}", systems)
    for obs in observers:
        builder.add_observer(obs)
    return builder.build()


def time_tick(sched: ecs.Scheduler, quick: bool) -> float:
    return best_of(lambda: sched.tick(DT), repeat=7, number=200 if quick else 1000, warmup=50)


def plain_loop_time(quick: bool) -> float:
    """The same 100 trivial functions called in a plain loop with a context-like argument."""
    fns = [s.run for group in trivial_systems() for s in group]  # type: ignore[attr-defined]
    ctx = object()

    def loop() -> None:
        for fn in fns:
            fn(ctx)

    return best_of(loop, repeat=7, number=200 if quick else 1000, warmup=50)


def bench_overhead(quick: bool) -> list[dict[str, Any]]:
    with overhead_scheduler() as sched:
        t_tick = time_tick(sched, quick)
    t_loop = plain_loop_time(quick)
    with esper_world() as esper:

        class Noop(esper.Processor):  # type: ignore[misc, name-defined]
            def process(self, dt: float) -> None:
                return None

        for _ in range(GROUPS * PER_GROUP):
            esper.add_processor(Noop())
        t_esper = best_of(lambda: esper.process(DT), repeat=7, number=200 if quick else 1000, warmup=50)
    n = GROUPS * PER_GROUP
    per_system = (t_tick - t_loop) / n
    return [
        make_row(
            AREA,
            "empty tick, 10 groups x 10 systems",
            t_tick * 1e6,
            esper=t_esper * 1e6,
            numpy=t_loop * 1e6,
            unit="us",
            note="numpy column: the same 100 functions called in a plain loop; esper: process() with 100 processors",
        ),
        make_row(
            AREA,
            "scheduler overhead per system",
            per_system * 1e6,
            esper=(t_esper - t_loop) / n * 1e6,
            unit="us",
            target="<= 2 us/system",
            met=per_system * 1e6 <= 2,
            score=per_system * 1e6 / 2,
            note="(tick - plain loop) / 100",
        ),
    ]


# -- async ------------------------------------------------------------------------------------------
@ecs.component
class Heat:
    value: ecs.f32x2


def kernel(x: np.ndarray) -> float:
    """GIL-releasing ufuncs over a batch (numpy drops the GIL inside each call).

    About 8 ms per 1M float32 x 2 rows on this class of machine: a "large numpy kernel".
    """
    total = 0.0
    for _ in range(2):
        y = np.sqrt(np.abs(x) + 1.0)
        y = np.exp(-y)
        y = np.sin(y) * np.cos(y)
        total += float(y.sum())
    return total


@ecs.system(reads=(Position,), async_allowed=True)
def analyse(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Position):
        kernel(b[Position].xy)


@ecs.system(reads=(Velocity,), writes=(Heat,))
def simulate(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Velocity, Heat):
        b[Heat].value += kernel(b[Velocity].xy) * 1e-9


def async_scheduler(n: int, asynchronous: bool) -> ecs.Scheduler:
    world = ecs.World(components=[Position, Velocity, Heat])
    rng = np.random.default_rng(2)
    world.spawn_batch(n, {Position: rng.random((n, 2), dtype=np.float32), Velocity: (0.5, 0.5), Heat: (0, 0)})
    builder = ecs.SchedulerBuilder(world, workers=2)
    mode = ecs.Mode.ASYNC if asynchronous else ecs.Mode.SYNCHRONIZED
    builder.add_group("analysis", [analyse], mode=mode, timeout=5.0)
    builder.add_group("simulation", [simulate], priority=1)
    return builder.build()


def bench_async(quick: bool) -> list[dict[str, Any]]:
    n = 1_000_000
    ticks = 3 if quick else 5
    rounds = 5 if quick else 10
    a = np.random.default_rng(3).random((n, 2), dtype=np.float32)
    b = np.full((n, 2), 0.5, dtype=np.float32)
    chunks = 16  # the same 64K-row batches the query hands out

    def serial() -> None:
        for part in np.array_split(a, chunks):
            kernel(part)
        for part in np.array_split(b, chunks):
            kernel(part)

    # The four configurations are measured in alternation, round after round, and each keeps
    # its best round: a busy moment on the shared machine then hits all of them alike.
    best = dict.fromkeys(("sync", "async", "serial", "threaded"), float("inf"))
    with (
        async_scheduler(n, False) as sync_sched,
        async_scheduler(n, True) as async_sched,
        ThreadPoolExecutor(2) as pool,
    ):

        def threaded() -> None:
            fut = pool.submit(lambda: [kernel(p) for p in np.array_split(a, chunks)])
            for part in np.array_split(b, chunks):
                kernel(part)
            fut.result()

        contenders = {
            "sync": lambda: sync_sched.tick(DT),
            "async": lambda: async_sched.tick(DT),
            "serial": serial,
            "threaded": threaded,
        }
        for fn in contenders.values():
            fn()  # warm up (and start the worker threads)
        for _ in range(rounds):
            for key, fn in contenders.items():
                best[key] = min(best[key], best_of(fn, repeat=1, number=ticks, warmup=0))
    t_sync, t_async = best["sync"], best["async"]
    speedup = t_sync / t_async
    raw_speedup = best["serial"] / best["threaded"]
    cores = os.cpu_count() or 1
    diagnosis = ""
    if speedup < 1.4:
        with async_scheduler(n, True) as sched:
            view = FrozenView(sched.world, frozenset({Position}), frozenset())
            only = frozenset({Position})
            frozen_batches = sum(1 for _ in view._query_for((Position,), only, frozenset(), frozenset())[1])
            live_batches = sum(1 for _ in sched.world.query(Position))
            frozen = best_of(
                lambda: FrozenView(sched.world, frozenset({Position}), frozenset()), repeat=5, number=1, warmup=1
            )
        if raw_speedup < 1.4:
            diagnosis = (
                f"Raw threads running the same kernels reached only {raw_speedup:.2f}x in the same rounds: the "
                "machine did not offer two free cores during this run (other processes share it), so this run "
                "cannot judge the target. "
            )
        diagnosis += (
            f"Costs only the async configuration pays: the FrozenView copy, {frozen * 1e3:.2f} ms per dispatch on "
            "the main thread, which the other core cannot overlap; and, most likely, GIL hand-offs between the "
            "worker and the main thread around every numpy call (each group makes about 19 per batch), which "
            "cost more when both threads share one core."
        )
        if frozen_batches < live_batches:
            one_batch = best_of(lambda: kernel(a), repeat=5)
            in_chunks = best_of(lambda: [kernel(p) for p in np.array_split(a, chunks)], repeat=5)
            diagnosis += (
                f" The async systems see {frozen_batches} batch(es) where the live world gives {live_batches}: this "
                f"kernel takes {one_batch * 1e3:.1f} ms over one 1M-row batch vs {in_chunks * 1e3:.1f} ms over 16 "
                "chunks (temporaries out of cache); keep the source's chunking in the FrozenView."
            )
        diagnosis += (
            " What would close the rest: copy only declared columns and skip the ids unless asked, or "
            "double-buffer columns read by async groups so that dispatch is a swap, not a copy."
        )
    return [
        make_row(
            AREA,
            "async speed-up, 2 numpy groups over 1M rows",
            speedup,
            numpy=raw_speedup,
            unit="x",
            target=">= 1.4x on 2 cores",
            met=speedup >= 1.4 if cores >= 2 else None,
            score=1.4 / speedup,
            note=(
                f"both synchronized {t_sync * 1e3:.1f} ms/tick, one async {t_async * 1e3:.1f} ms/tick "
                f"({cores} cores); numpy column: the same kernels on 2 raw threads"
            ),
            diagnosis=diagnosis,
            higher_is_better=True,
        )
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    return bench_overhead(quick) + bench_async(quick)


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
