"""Frozen summaries the scheduler publishes, and the observer interface that receives them.

Observers are registered on the builder (``builder.add_observer(obs)``) or on a running
scheduler (``sched.add_observer(obs)``). Subclass :class:`SchedulerObserver` and override
what you need; every method has a no-op default::

    class SlowGroups(ecs.SchedulerObserver):
        def on_group(self, s: ecs.GroupSummary) -> None:
            if s.duration_ns > 2_000_000:
                print(f"tick {s.tick}: {s.group} took {s.duration_ns / 1e6:.1f} ms")

When no observer is registered the scheduler does not build summaries at all, so
observation costs nothing when it is off. Observers run on the thread that calls ``tick()``
(async results are reported from there too), so they need no locking of their own; they
must be quick, since they run inside the tick. Timestamps are the scheduler clock's integer
nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .scheduler._types import GroupResult

__all__ = [
    "ComponentInfo",
    "GroupInfo",
    "GroupSummary",
    "PhaseSummary",
    "SchedulerInfo",
    "SchedulerObserver",
    "SystemInfo",
    "SystemTiming",
    "TickSummary",
]


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    name: str
    storage: str
    fields: tuple[tuple[str, str, tuple[int, ...]], ...]  # (name, dtype, shape)


@dataclass(frozen=True, slots=True)
class SystemInfo:
    name: str
    group: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    async_allowed: bool
    interval: str | None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    mode: str  # "sync" | "async"
    priority: int
    order: int  # position in the run order
    systems: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    interval: str | None
    error_policy: str
    queue_limit: int
    timeout_ns: int
    allow_writes: bool


@dataclass(frozen=True, slots=True)
class SchedulerInfo:
    """Everything static about a scheduler: the header of a trace."""

    world: str
    groups: tuple[GroupInfo, ...]
    systems: tuple[SystemInfo, ...]
    components: tuple[ComponentInfo, ...]
    resources: tuple[str, ...]
    workers: int
    clock: str
    start_ns: int


class SystemTiming(NamedTuple):
    """One system's run inside a group (a named tuple: built 100s of times per tick)."""

    name: str
    start_ns: int
    end_ns: int
    result: str  # "executed" | "errored" | "skipped_interval"
    error: str | None = None
    retried: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """What one work group did in one tick.

    For async groups, ``queue_wait_ns`` is the time between dispatch and a worker starting
    it, ``run_ns`` the time it ran, ``queue_depth`` the number of pool tasks ahead of it at
    dispatch, and ``worker`` the worker thread's number. ``late`` marks the summary of a run
    that overran its timeout and finished in a later tick (``tick`` is the tick it was
    dispatched in).
    """

    tick: int
    group: str
    mode: str
    start_ns: int
    end_ns: int
    result: GroupResult
    systems: tuple[SystemTiming, ...] = ()
    error: str | None = None
    error_system: str | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    entities: int = 0
    commands: int = 0
    retried: bool = False
    queue_wait_ns: int = 0
    run_ns: int = 0
    queue_depth: int = 0
    worker: int | None = None
    late: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class PhaseSummary:
    """A non-group step of the tick: apply, flush, maintenance, pre_tick or post_tick hooks."""

    tick: int
    phase: str
    start_ns: int
    end_ns: int
    commands: int = 0
    spawned: int = 0
    destroyed: int = 0
    stale: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class TickSummary:
    """One whole tick."""

    tick: int
    start_ns: int
    end_ns: int
    dt: float
    entities: int
    groups: tuple[GroupSummary, ...]
    phases: tuple[PhaseSummary, ...]
    queue_depths: dict[str, int] = field(default_factory=dict)
    in_flight: tuple[str, ...] = ()
    aborted: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


class SchedulerObserver:
    """Receives summaries; override the methods you need (all default to doing nothing)."""

    def on_start(self, info: SchedulerInfo) -> None:
        """Called once when the observer is attached (with the scheduler's static header)."""

    def on_group(self, summary: GroupSummary) -> None:
        """After each work group, each tick (including skipped ones)."""

    def on_phase(self, summary: PhaseSummary) -> None:
        """After each non-group phase of a tick."""

    def on_tick(self, summary: TickSummary) -> None:
        """After each tick."""

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        """A host-defined mark (``sched.mark("level loaded")``)."""

    def on_close(self) -> None:
        """The scheduler closed, or the observer was removed."""
