"""Work-group configuration and result vocabulary.

A :class:`WorkGroup` is a named, ordered list of systems plus how to run them:

* ``mode``: :attr:`Mode.SYNCHRONIZED` groups run one after another on the calling thread in
  priority order; :attr:`Mode.ASYNC` groups run on the worker pool beside them, on a frozen
  copy of the data they read, and their results merge in priority order.
* ``priority``: the sort key between groups, lower first; ties keep registration order. An
  int, usually; any finite number sorts.
* ``interval``: an :class:`~ecs.Interval`, to run every N ticks or every T seconds of game
  time, or None to run every tick.
* ``error_policy``: what a failing system does to the tick (:class:`ErrorPolicy`).
* ``queue_limit`` (an int >= 0) and ``timeout`` (finite seconds >= 0), async only: how many
  tasks may be waiting ahead of it in the pool before a run is dropped, and how long a tick
  waits for it.
* ``allow_writes``: True or False.

Anything else is refused with a :class:`~ecs.BuildError` naming the group and the option
(``SchedulerBuilder.build()`` constructs the groups), never at the first tick.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .._checks import is_finite_real, is_int
from .._errors import BuildError
from .._system import Interval, System

__all__ = ["DEFAULT_TIMEOUT", "ErrorPolicy", "GroupResult", "Mode", "SystemSampling", "Time", "WorkGroup"]

#: How long a tick waits for an async group by default, in seconds.
DEFAULT_TIMEOUT: Final = 0.25


@dataclass(frozen=True, slots=True)
class Time:
    """The resource the scheduler refreshes every tick (read it with ``ctx.resource(ecs.Time)``).

    ``dt`` is this tick's game time step, ``tick`` its number, ``elapsed`` the game time before it.
    """

    dt: float = 0.0
    tick: int = 0
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class SystemSampling:
    """When an observed scheduler times each system of a group.

    Group start and end times are read every tick whatever this says. Timing every system
    costs one clock read per system (about 0.1 us here), which is nothing beside a system
    that does real work and a lot beside one that does almost nothing. So by default a
    group's systems are timed on every tick when they average at least ``above_us`` each
    (their timing then costs under 2% of the group), and on one tick in ``every`` when they
    are cheaper (ticks are staggered between groups). A group whose untimed run failed is
    timed on its next run. ``SystemSampling(every=1)`` times every system of every tick::

        builder = ecs.SchedulerBuilder(world, system_sampling=ecs.SystemSampling(every=1))
        sched.system_sampling = ecs.SystemSampling(every=4)   # or change it while running

    Per-system statistics (profiler, ``ecs-trace summary``) count the timed runs; the trace
    header records the policy.
    """

    every: int = 16
    above_us: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise BuildError(f"SystemSampling.every must be an int >= 1, got {self.every!r}")
        if not isinstance(self.above_us, int | float) or not self.above_us >= 0:
            raise BuildError(f"SystemSampling.above_us must be a number >= 0, got {self.above_us!r}")


class Mode(enum.Enum):
    """How a work group runs."""

    SYNCHRONIZED = "sync"
    ASYNC = "async"


class ErrorPolicy(enum.Enum):
    """What happens when a system raises.

    * ``ABORT``: the tick raises :class:`~ecs.TickError` (group, system, original exception);
      the group's commands are dropped; groups that already finished keep theirs.
    * ``CONTINUE``: log it, drop that system's commands, report the group ``ERRORED``, go on.
    * ``RETRY``: rewind the system's commands and run it once more; if it fails again, apply
      the group's ``retry_fallback`` (ABORT or CONTINUE).
    """

    ABORT = "abort"
    CONTINUE = "continue"
    RETRY = "retry"


class GroupResult(enum.Enum):
    """What a work group did in one tick."""

    EXECUTED = "executed"
    SKIPPED_EMPTY = "skipped_empty"
    SKIPPED_INTERVAL = "skipped_interval"
    ERRORED = "errored"
    STILL_RUNNING = "still_running"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class WorkGroup:
    """The description of one work group (see the module docstring)."""

    name: str
    systems: tuple[System, ...]
    mode: Mode = Mode.SYNCHRONIZED
    priority: float = 0
    interval: Interval | None = None
    error_policy: ErrorPolicy = ErrorPolicy.CONTINUE
    retry_fallback: ErrorPolicy = ErrorPolicy.CONTINUE
    queue_limit: int = 4
    timeout: float = DEFAULT_TIMEOUT
    allow_writes: bool = False

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise BuildError(f"work group name must be a non-empty str, got {self.name!r}")
        if not isinstance(self.mode, Mode):
            raise BuildError(f"group {self.name!r}: mode must be a Mode, got {self.mode!r}")
        if not isinstance(self.error_policy, ErrorPolicy):
            raise BuildError(f"group {self.name!r}: error_policy must be an ErrorPolicy, got {self.error_policy!r}")
        if self.retry_fallback is ErrorPolicy.RETRY or not isinstance(self.retry_fallback, ErrorPolicy):
            raise BuildError(f"group {self.name!r}: retry_fallback must be ABORT or CONTINUE")
        # NaN sorts nowhere in particular (it compares false with everything), and an infinite
        # priority would be written to the trace header as Infinity, which is not JSON.
        if not is_finite_real(self.priority):
            raise BuildError(f"group {self.name!r}: priority must be a finite number, got {self.priority!r}")
        if self.interval is not None and not isinstance(self.interval, Interval):
            raise BuildError(
                f"group {self.name!r}: interval must be an ecs.Interval or None, got {self.interval!r} "
                "(write Interval(ticks=3) or Interval(seconds=0.5))"
            )
        if not is_int(self.queue_limit) or self.queue_limit < 0:
            raise BuildError(f"group {self.name!r}: queue_limit must be an int >= 0, got {self.queue_limit!r}")
        # An infinite timeout would overflow the wait and the trace header's nanoseconds.
        if not is_finite_real(self.timeout) or self.timeout < 0:
            raise BuildError(f"group {self.name!r}: timeout must be finite seconds >= 0, got {self.timeout!r}")
        if not isinstance(self.allow_writes, bool):
            raise BuildError(f"group {self.name!r}: allow_writes must be True or False, got {self.allow_writes!r}")
        # numpy scalars become plain numbers: these go into the JSON trace header as they are
        if type(self.priority) not in (int, float):
            object.__setattr__(self, "priority", int(self.priority) if is_int(self.priority) else float(self.priority))
        object.__setattr__(self, "queue_limit", int(self.queue_limit))
        if type(self.timeout) not in (int, float):
            object.__setattr__(self, "timeout", float(self.timeout))
