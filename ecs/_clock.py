"""Clocks: time is a parameter, never a global.

The scheduler asks its clock for the current time in integer nanoseconds to time groups and
systems and, when ``tick()`` is called without ``dt``, to measure the frame time. Production
code uses :class:`MonotonicClock`; tests use :class:`ManualClock` and move time by hand::

    clock = ecs.ManualClock()
    sched = ecs.SchedulerBuilder(world, clock=clock).build()
    clock.advance(0.016)
    sched.tick()            # dt == 0.016 exactly

Game logic should read ``ctx.dt`` (game time), never the clock: that keeps simulations
deterministic and lets a replay run faster than real time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, final, runtime_checkable

from ._checks import is_finite_real, is_int

__all__ = ["Clock", "ManualClock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now_ns()`` returning monotonic integer nanoseconds."""

    def now_ns(self) -> int: ...


@final
class MonotonicClock:
    """The real clock: ``time.perf_counter_ns`` (monotonic, highest resolution)."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.perf_counter_ns()


@final
class ManualClock:
    """A clock that moves only when told to. Safe to read from worker threads."""

    __slots__ = ("_lock", "_now")

    def __init__(self, start_ns: int = 0) -> None:
        self._now = _ns(start_ns, "start_ns")
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float = 0.0, *, ns: int = 0) -> int:
        """Move forward by ``seconds`` plus ``ns``; returns the new time."""
        if not is_finite_real(seconds) or seconds < 0:
            raise ValueError(f"ManualClock.advance: seconds must be a finite number >= 0, got {seconds!r}")
        step = round(seconds * 1e9) + _ns(ns, "ns")
        with self._lock:
            self._now += step
            return self._now

    def set(self, now_ns: int) -> None:
        """Jump to ``now_ns`` (not earlier than the current time)."""
        now_ns = _ns(now_ns, "now_ns")
        with self._lock:
            if now_ns < self._now:
                raise ValueError(f"ManualClock.set: a monotonic clock cannot go backwards ({now_ns} < {self._now})")
            self._now = now_ns


def _ns(value: object, name: str) -> int:
    """``value`` as int nanoseconds >= 0, or a ValueError naming ``name`` (a NaN would stop time)."""
    if not is_int(value) or value < 0:
        raise ValueError(f"ManualClock: {name} must be an int number of nanoseconds >= 0, got {value!r}")
    return int(value)
