"""Profiler benchmarks: how fast a big trace opens, and whether frame time depends on trace length.

The trace is synthetic (100k ticks x 20 work groups, 2 systems each, a few hitches, async groups
on two workers) and written through the real :class:`ecs.trace.Encoder`, so the profiler reads
exactly what a recorder would write; running a real scheduler for 100k ticks would take minutes.

Rows:

* ``open 100k x 20``: from path to an indexed capture ready to draw (the profiler's background
  loader: :func:`ecs.trace.TraceReader` + :class:`ecs.trace.TraceBuilder` + indexing). Target 3 s.
* ``frame zoomed out`` / ``frame zoomed in``: one real rendered frame of the profiler (all views
  docked as tabs, the measured view in front) with the whole capture visible vs 200 ticks visible,
  run under a real window (Xvfb). The target is that zoomed out costs about what zoomed in costs
  and both stay interactive; the ``frame 10k ticks`` row shows the same view on a trace 10x
  shorter, which should cost about the same.

Run ``python benchmarks/bench_profiler.py`` (needs a display: ``xvfb-run -a python ...``).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

import ecs
from ecs.trace import Encoder

TICK_NS = 16_666_667
N_GROUPS = 20
N_ASYNC = 6
COMPONENTS = ("Position", "Velocity", "Health", "Heat", "Sprite", "AI", "Path", "Collider", "Score", "Team")


def synthetic_info(n_groups: int = N_GROUPS, n_async: int = N_ASYNC) -> ecs.SchedulerInfo:
    """A scheduler header with ``n_groups`` groups (the last ``n_async`` async), 2 systems each."""
    groups = []
    systems = []
    for g in range(n_groups):
        is_async = g >= n_groups - n_async
        name = f"group{g:02d}"
        sys_names = (f"{name}.a", f"{name}.b")
        writes: tuple[str, ...] = () if is_async else (COMPONENTS[g % len(COMPONENTS)],) if g < len(COMPONENTS) else ()
        reads = tuple(sorted({COMPONENTS[(g + 1) % len(COMPONENTS)], COMPONENTS[(g * 3) % len(COMPONENTS)], *writes}))
        groups.append(
            ecs.GroupInfo(
                name=name,
                mode="async" if is_async else "sync",
                priority=g,
                order=g,
                systems=sys_names,
                reads=reads,
                writes=writes,
                interval=None,
                error_policy="continue",
                queue_limit=4,
                timeout_ns=250_000_000,
                allow_writes=False,
            )
        )
        for s in sys_names:
            systems.append(
                ecs.SystemInfo(name=s, group=name, reads=reads, writes=writes, async_allowed=is_async, interval=None)
            )
    comps = tuple(ecs.ComponentInfo(name=c, storage="archetype", fields=(("v", "float32", ()),)) for c in COMPONENTS)
    return ecs.SchedulerInfo(
        world="synthetic",
        groups=tuple(groups),
        systems=tuple(systems),
        components=comps,
        resources=(),
        workers=2,
        clock="ManualClock",
        start_ns=0,
    )


def synthetic_ticks(info: ecs.SchedulerInfo, ticks: int, seed: int = 0) -> Any:
    """Yield ``ticks`` plausible :class:`ecs.TickSummary` objects for ``info`` (deterministic)."""
    rng = random.Random(seed)
    executed = ecs.GroupResult.EXECUTED
    for t in range(ticks):
        start = t * TICK_NS
        now = start + 50_000
        hitch = 1.0 if rng.random() > 0.002 else rng.uniform(4.0, 12.0)
        groups = []
        depths: dict[str, int] = {}
        for gi, g in enumerate(info.groups):
            if g.mode == "async":
                depth = rng.randint(0, 3)
                depths[g.name] = depth
                enqueue = start + 20_000 + gi * 10_000
                wait = rng.randint(5_000, 400_000)
                run = int(rng.uniform(200_000, 900_000) * hitch)
                s0 = enqueue + wait
                mid = s0 + run // 2
                result = executed if rng.random() > 0.01 else ecs.GroupResult.DROPPED
                groups.append(
                    ecs.GroupSummary(
                        tick=t,
                        group=g.name,
                        mode="async",
                        start_ns=enqueue,
                        end_ns=s0 + run,
                        result=result,
                        systems=(
                            ecs.SystemTiming(g.systems[0], s0, mid, "executed"),
                            ecs.SystemTiming(g.systems[1], mid, s0 + run, "executed"),
                        ),
                        entities=10_000,
                        queue_wait_ns=wait,
                        run_ns=run,
                        queue_depth=depth,
                        worker=gi % 2,
                    )
                )
                continue
            run = int(rng.uniform(100_000, 600_000) * hitch)
            mid = now + run // 2
            err = rng.random() < 0.001
            groups.append(
                ecs.GroupSummary(
                    tick=t,
                    group=g.name,
                    mode="sync",
                    start_ns=now,
                    end_ns=now + run,
                    result=ecs.GroupResult.ERRORED if err else executed,
                    systems=(
                        ecs.SystemTiming(g.systems[0], now, mid, "executed"),
                        ecs.SystemTiming(
                            g.systems[1],
                            mid,
                            now + run,
                            "errored" if err else "executed",
                            "ValueError: boom" if err else None,
                        ),
                    ),
                    entities=10_000,
                    run_ns=run,
                )
            )
            now += run + 5_000
        phases = (
            ecs.PhaseSummary(t, "apply", now, now + 80_000, commands=3),
            ecs.PhaseSummary(t, "flush", now + 80_000, now + 120_000),
        )
        end = max(now + 120_000, *(g.end_ns for g in groups))
        yield ecs.TickSummary(
            tick=t,
            start_ns=start,
            end_ns=end,
            dt=1 / 60,
            entities=10_000,
            groups=tuple(groups),
            phases=phases,
            queue_depths=depths,
        )


def write_synthetic_trace(path: str | os.PathLike[str], ticks: int, n_groups: int = N_GROUPS, seed: int = 0) -> Path:
    """Write a synthetic trace of ``ticks`` ticks through :class:`~ecs.trace.Encoder` (plain NDJSON)."""
    info = synthetic_info(n_groups, min(N_ASYNC, n_groups // 3))
    enc = Encoder(info)
    out = Path(path)
    with open(out, "wb") as f:
        f.write(orjson.dumps(enc.header()) + b"\n")
        for summary in synthetic_ticks(info, ticks, seed):
            f.write(orjson.dumps(enc.tick(summary)) + b"\n")
        f.write(orjson.dumps(Encoder.end(ticks)) + b"\n")
    return out


def _cached_trace(ticks: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"ecs-profiler-bench-{ticks}x{N_GROUPS}.trace.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write_synthetic_trace(tmp, ticks)
        tmp.replace(path)
    return path


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Benchmark rows (see the module docstring); ``quick`` uses a 20k-tick trace."""
    raise NotImplementedError


if __name__ == "__main__":
    t0 = time.perf_counter()
    p = _cached_trace(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    print(p, p.stat().st_size / 1e6, "MB", time.perf_counter() - t0, "s")
