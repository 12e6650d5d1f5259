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

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, final, overload

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
    "SystemTimes",
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
    """One system's run inside a group."""

    name: str
    start_ns: int
    end_ns: int
    result: str  # "executed" | "errored" | "skipped_interval"
    error: str | None = None
    retried: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


#: Result names of :class:`SystemTiming`, by the codes :class:`SystemTimes` stores.
SYSTEM_RESULT_NAMES = ("executed", "errored", "skipped_interval")


@final
class SystemTimes(Sequence[SystemTiming]):
    """The systems of one group run, stored raw and expanded to :class:`SystemTiming` on access.

    The scheduler reads the clock once per system boundary (system ``k`` ran from
    ``times[k]`` to ``times[k + 1]``, scheduler bookkeeping between systems included) and
    keeps result codes in a list, because building 100 objects per tick would cost more than
    the systems themselves. Iterate it like a tuple of :class:`SystemTiming`; the trace
    encoder reads the raw lists directly.
    """

    __slots__ = ("codes", "errors", "names", "retried", "times")

    def __init__(
        self,
        names: tuple[str, ...],
        times: list[int],
        codes: list[int],
        errors: dict[int, str] | None = None,
        retried: set[int] | None = None,
    ) -> None:
        self.names = names
        self.times = times
        self.codes = codes
        self.errors = errors
        self.retried = retried

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, i: int) -> SystemTiming: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[SystemTiming, ...]: ...
    def __getitem__(self, i: int | slice) -> SystemTiming | tuple[SystemTiming, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self.codes):
            raise IndexError(i)
        return SystemTiming(
            self.names[i],
            self.times[i],
            self.times[i + 1],
            SYSTEM_RESULT_NAMES[self.codes[i]],
            self.errors.get(i) if self.errors else None,
            bool(self.retried and i in self.retried),
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SystemTimes({list(self)!r})"


class GroupSummary(NamedTuple):
    """What one work group did in one tick.

    For async groups, ``queue_wait_ns`` is the time between dispatch and a worker starting
    it, ``run_ns`` the time it ran, ``queue_depth`` the number of pool tasks ahead of it at
    dispatch, and ``worker`` the worker thread's number. ``late`` marks the summary of a run
    that overran its timeout and finished in a later tick (``tick`` is the tick it was
    dispatched in). ``systems`` iterates :class:`SystemTiming` records.

    A named tuple, because the scheduler builds one per group per tick when observed.
    """

    tick: int
    group: str
    mode: str
    start_ns: int
    end_ns: int
    result: GroupResult
    systems: Sequence[SystemTiming] = ()
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


class PhaseSummary(NamedTuple):
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

    def on_tick_start(self, tick: int, start_ns: int) -> None:
        """At the very start of a tick, before its pre-tick hooks."""

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
