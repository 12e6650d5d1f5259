"""Shared pieces of the benchmarks: timing, result rows, the machine description, esper worlds.

Timing rules (every module follows them): warm up first, disable the garbage collector while
timing, take the best of several runs with :func:`time.perf_counter` (the best run is the one
least disturbed by the other processes of a shared machine), and measure our library, esper
and raw numpy in the same process, one after another, so their ratios compare like with like.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as _dt
import gc
import os
import platform
import pstats
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import ecs

__all__ = [
    "Position",
    "Velocity",
    "best_of",
    "esper_world",
    "hotspots",
    "machine",
    "make_row",
    "no_gc",
]


@ecs.component
class Position:
    xy: ecs.f32x2


@ecs.component
class Velocity:
    xy: ecs.f32x2


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (timings without GC pauses)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def best_of(
    fn: Callable[[], Any],
    *,
    repeat: int = 5,
    number: int = 1,
    warmup: int = 1,
    setup: Callable[[], Any] | None = None,
) -> float:
    """Best time in seconds of one call of ``fn`` (averaged over ``number`` calls per run).

    ``setup`` runs before every timed run, outside the timing (for example to build a
    fresh world for a spawn benchmark).
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        with no_gc():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = (time.perf_counter() - t0) / number
        best = min(best, elapsed)
    return best


def make_row(
    area: str,
    scenario: str,
    ours: float,
    *,
    unit: str,
    esper: float | None = None,
    numpy: float | None = None,
    target: str = "",
    met: bool | None = None,
    note: str = "",
    diagnosis: str = "",
    higher_is_better: bool = False,
    score: float | None = None,
) -> dict[str, Any]:
    """One result row in the shape ``benchmarks/run.py`` expects.

    ``diagnosis`` (optional) says, for a missed target, where the time goes and what would
    close the gap; the report prints it under the table. ``higher_is_better`` marks rows
    such as speed-ups, so the runner turns their ratios around. ``score`` is the share of the
    target's budget used (measured / allowed, or allowed / measured for "at least" targets;
    the worst part for two-part targets): at most 1 means met; the plot draws it.
    """
    row: dict[str, Any] = {
        "area": area,
        "scenario": scenario,
        "ours": float(ours),
        "esper": None if esper is None else float(esper),
        "numpy": None if numpy is None else float(numpy),
        "unit": unit,
        "target": target,
        "met": met,
        "note": note,
    }
    if diagnosis:
        row["diagnosis"] = diagnosis
    if higher_is_better:
        row["higher_is_better"] = True
    if score is not None:
        row["score"] = float(score)
    return row


def hotspots(fn: Callable[[], Any], number: int = 1, top: int = 5) -> str:
    """Where ``fn`` spends its time, by cProfile's own time per function (for diagnoses)."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(number):
        fn()
    profile.disable()
    stats = pstats.Stats(profile)
    entries = sorted(((tt, key) for key, (_cc, _nc, tt, _ct, _callers) in stats.stats.items()), reverse=True)  # type: ignore[attr-defined]
    total = sum(tt for tt, _ in entries) or 1.0
    parts = []
    for tt, (file, line, name) in entries[:top]:
        where = name if file == "~" else f"{_short(file)}:{line} {name}"
        parts.append(f"{where} {tt / total:.0%}")
    return "cProfile, own time: " + "; ".join(parts)


def _short(file: str) -> str:
    path = Path(file)
    for anchor in ("ecs", "benchmarks", "numpy"):
        if anchor in path.parts:
            return "/".join(path.parts[len(path.parts) - path.parts[::-1].index(anchor) - 1 :])
    return path.name


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        import esper

        esper_version = str(getattr(esper, "version", "?"))
    except ImportError:
        esper_version = "not installed"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "esper": esper_version,
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Other processes on a shared machine change timings; the load average shows how busy it was.
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "argv": " ".join(sys.argv[1:]),
    }


@contextlib.contextmanager
def esper_world() -> Iterator[Any]:
    """A fresh, private esper world (esper keeps its worlds in module globals), deleted after."""
    import esper

    name = f"bench-{uuid.uuid4().hex}"
    previous = esper.current_world
    esper.switch_world(name)
    try:
        yield esper
    finally:
        esper.switch_world(previous)
        esper.delete_world(name)
        gc.collect()


class EPos:
    """esper-style components: small slotted objects, the idiomatic way to use esper."""

    __slots__ = ("x", "y")

    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self.x = x
        self.y = y


class EVel:
    __slots__ = ("x", "y")

    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self.x = x
        self.y = y


class EMass:
    __slots__ = ("m",)

    def __init__(self, m: float = 1.0) -> None:
        self.m = m


class EFrozen:
    __slots__ = ()
