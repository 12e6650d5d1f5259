"""Driving a scheduler without a window: a plain loop for tests and tools, a pyglet clock for servers.

:func:`run_fixed` is the simplest driver: tick N times with a fixed ``dt``, as fast as the
machine goes (a replay, a test, a benchmark), or paced to real time::

    run_fixed(sched, ticks=600, rate_hz=60)                    # as fast as possible
    run_fixed(sched, ticks=600, rate_hz=60, realtime=True)     # takes about 10 s

Pacing reads the scheduler's own clock and sleeps through ``sleep``; give a scheduler
built on a :class:`~ecs.ManualClock` ``sleep=clock.advance`` and a "real-time" run is
instant and exact.

:class:`PygletClockDriver` runs the scheduler from a ``pyglet.clock.Clock`` of its own (never
pyglet's global default clock), through the same :class:`FixedTimestep` the arcade driver
uses: a game server gets fixed ticks, a catch-up cap and dropped-time reports, and can
schedule its own callbacks (network polls, autosaves) on ``driver.clock``::

    driver = PygletClockDriver(sched, rate_hz=30)
    driver.clock.schedule_interval(poll_network, 0.05)
    driver.run(duration=60.0)          # or driver.run(ticks=1800), or start() + poll() yourself

Neither needs arcade; pyglet is imported only when a :class:`PygletClockDriver` is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

from .._checks import is_finite_real, is_int
from ._fixed import FixedTimestep, advance_scheduler, check_rate

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["PygletClockDriver", "run_fixed"]


def run_fixed(
    scheduler: Scheduler,
    ticks: int,
    rate_hz: float = 60.0,
    *,
    realtime: bool = False,
    sleep: Callable[[float], Any] = time.sleep,
    until: Callable[[Scheduler], bool] | None = None,
) -> int:
    """Run ``ticks`` ticks of ``1 / rate_hz`` game seconds each; returns how many ran.

    With ``realtime``, tick ``k`` does not start before ``k / rate_hz`` seconds after the
    first, measured on the scheduler's clock (a slow tick is not made up by skipping; the
    run just finishes late). ``until(scheduler)`` is checked before each tick and stops the
    run when true.

    Every argument is checked before the first tick: ``ticks`` must be an int >= 0 (not
    2.5, which would silently run 3) and ``rate_hz`` a number in the range
    :class:`~ecs.integrations.FixedTimestep` accepts (ValueError naming the argument);
    ``scheduler``, ``sleep`` and ``until`` must be what they say (TypeError).
    """
    _check_scheduler("run_fixed", scheduler)
    if not is_int(ticks) or ticks < 0:
        raise ValueError(f"run_fixed: ticks must be an int >= 0, got {ticks!r}")
    rate_hz = check_rate("run_fixed", rate_hz)
    _check_callable("run_fixed", "sleep", sleep)
    if until is not None:
        _check_callable("run_fixed", "until", until)
    dt = 1.0 / rate_hz
    period_ns = round(1e9 / rate_hz)
    clock = scheduler.clock
    start_ns = clock.now_ns()
    done = 0
    while done < ticks:
        if until is not None and until(scheduler):
            break
        if realtime:
            wait_ns = start_ns + done * period_ns - clock.now_ns()
            if wait_ns > 0:
                sleep(wait_ns / 1e9)
        scheduler.tick(dt)
        done += 1
    return done


def _check_scheduler(where: str, scheduler: Any) -> None:
    if not callable(getattr(scheduler, "tick", None)) or not hasattr(scheduler, "clock"):
        raise TypeError(f"{where}: scheduler must be an ecs.Scheduler, got {type(scheduler).__name__}")


def _check_callable(where: str, name: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(f"{where}: {name} must be callable, got {type(value).__name__}")


@final
class PygletClockDriver:
    """Ticks a scheduler at a fixed rate from its own ``pyglet.clock.Clock``.

    ``time_function`` is the clock's time source in seconds (``time.perf_counter`` by
    default; a test passes a manual one together with a matching ``sleep``). ``rate_hz``
    and ``max_catch_up`` are checked as :class:`~ecs.integrations.FixedTimestep` checks them.
    """

    __slots__ = (
        "_last_time",
        "_running",
        "_sleep",
        "_tick_limit",
        "clock",
        "frames",
        "scheduler",
        "ticks",
        "timestep",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        rate_hz: float = 60.0,
        *,
        max_catch_up: int = 5,
        time_function: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        _check_scheduler("PygletClockDriver", scheduler)
        _check_callable("PygletClockDriver", "time_function", time_function)
        _check_callable("PygletClockDriver", "sleep", sleep)
        import pyglet.clock  # imported here: the plain loop above needs no pyglet

        self.scheduler = scheduler
        self.timestep = FixedTimestep(rate_hz, max_catch_up)
        #: The driver's own clock: schedule extra callbacks on it; pyglet's global clock is untouched.
        self.clock = pyglet.clock.Clock(time_function=time_function)
        self._sleep = sleep
        self._running = False
        self._tick_limit: int | None = None
        self._last_time = 0.0
        #: Ticks run since creation.
        self.ticks = 0
        #: Clock callbacks received since creation (each may run 0..max_catch_up ticks).
        self.frames = 0

    def __repr__(self) -> str:
        return f"PygletClockDriver({self.timestep!r}, ticks={self.ticks}, running={self._running})"

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Schedule the tick callback on the driver's clock (idempotent)."""
        if self._running:
            return
        self._last_time = self.clock.time()
        self.clock.schedule_interval(self._on_interval, self.timestep.dt)
        self._running = True

    def stop(self) -> None:
        """Unschedule the tick callback; other callbacks on ``clock`` stay scheduled."""
        if self._running:
            self.clock.unschedule(self._on_interval)
            self._running = False

    def poll(self) -> int:
        """Let the clock call whatever is due (ticks included) without sleeping; returns ticks run."""
        before = self.ticks
        self.clock.tick(poll=True)
        return self.ticks - before

    def run(
        self,
        ticks: int | None = None,
        *,
        duration: float | None = None,
        until: Callable[[Scheduler], bool] | None = None,
    ) -> int:
        """Run until ``ticks`` ticks ran, ``duration`` clock seconds passed, or ``until`` is true.

        At least one stop condition is required (a server that runs forever calls
        ``start()`` and ``poll()`` from its own loop). Sleeps between callbacks through
        ``sleep``. Returns the ticks run by this call.

        ``ticks`` must be an int >= 0 and ``duration`` a finite number of seconds >= 0 (a NaN
        duration would never be reached): anything else raises ValueError before the driver
        starts; a non-callable ``until`` raises TypeError.
        """
        if ticks is None and duration is None and until is None:
            raise ValueError("PygletClockDriver.run: give ticks=, duration= or until= (or use start() and poll())")
        if ticks is not None and (not is_int(ticks) or ticks < 0):
            raise ValueError(f"PygletClockDriver.run: ticks must be an int >= 0, got {ticks!r}")
        if duration is not None and (not is_finite_real(duration) or duration < 0):
            raise ValueError(
                f"PygletClockDriver.run: duration must be a finite number of seconds >= 0, got {duration!r}"
            )
        if until is not None:
            _check_callable("PygletClockDriver.run", "until", until)
        start_ticks = self.ticks
        end_time = None if duration is None else self.clock.time() + duration
        self._tick_limit = None if ticks is None else start_ticks + ticks
        self.start()
        try:
            while True:
                if ticks is not None and self.ticks - start_ticks >= ticks:
                    break
                if until is not None and until(self.scheduler):
                    break
                now = self.clock.time()
                if end_time is not None and now >= end_time:
                    break
                wait = self.clock.get_sleep_time(True)
                if wait is None:  # nothing scheduled: cannot happen while started, but never spin
                    break
                if end_time is not None:
                    wait = min(wait, end_time - now)
                if wait > 0:
                    self._sleep(wait)
                self.poll()
        finally:
            self._tick_limit = None
            self.stop()
        return self.ticks - start_ticks

    def _on_interval(self, _pyglet_dt: float) -> None:
        # Real time is measured here, not taken from pyglet's argument: after a long stall
        # pyglet re-schedules "softly" and under-reports the gap, and the fixed timestep must
        # see all of it to count what the catch-up cap drops.
        now = self.clock.time()
        real_dt = max(0.0, now - self._last_time)
        self._last_time = now
        self.frames += 1
        limit = None if self._tick_limit is None else self._tick_limit - self.ticks
        self.ticks += advance_scheduler(self.scheduler, self.timestep, real_dt, limit=limit)
