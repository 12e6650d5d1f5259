"""Frozen summaries the scheduler publishes, and the observer interface that receives them.

Observers are registered on the builder (``builder.add_observer(obs)``) or on a running
scheduler (``sched.add_observer(obs)``). Subclass :class:`SchedulerObserver` and override
what you need; every method has a no-op default::

    class SlowGroups(ecs.SchedulerObserver):
        def on_group(self, s: ecs.GroupSummary) -> None:
            if s.duration_ns > 2_000_000:
                print(f"tick {s.tick}: {s.group} took {s.duration_ns / 1e6:.1f} ms")

The scheduler calls only the methods an observer class overrides, and builds only what
they need: with no observer, or observers that override none of ``on_group``, ``on_phase``
and ``on_tick``, no summary is built at all; for ``on_tick`` alone each group run is kept as a
compact record (``GROUP_FIELDS``) that ``TickSummary.groups`` expands on first access. A
group's ``systems`` are timed as :class:`~ecs.SystemSampling` says (by default every tick for
systems of 5 us or more, one tick in 16 for cheaper ones). Observers run on the thread that
calls ``tick()``
(async results are reported from there too), so they need no locking of their own; they
must be quick, since they run inside the tick. Timestamps are the scheduler clock's integer
nanoseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple, final, overload

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
    priority: float
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
    #: (every, above_ns) of the scheduler's :class:`~ecs.SystemSampling`; (1, 0) = every tick
    system_sampling: tuple[int, int] = (1, 0)


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


#: Field order of a group record: how the scheduler keeps a group run when no observer asked
#: for per-group callbacks, and (the same array) the ``groups`` records of a trace's tick
#: lines. ``TickSummary.groups`` expands records into :class:`GroupSummary` objects on first
#: access, and the trace encoder writes them as they are: building a 19-field object per group
#: per tick would cost more than running ten trivial systems.
GROUP_FIELDS: Final = (
    "group",  # index into SchedulerInfo.groups (= header.groups)
    "tick",  # the tick it ran for (differs from the enclosing tick for late async merges)
    "start",
    "end",
    "result",  # GroupResult code: its position in the enum (= header.results)
    "entities",  # rows its queries matched
    "commands",  # commands it recorded
    "queue_wait",  # async: ns between dispatch and a worker starting it, else 0
    "run",  # ns it ran
    "queue_depth",  # async: pool tasks ahead of it at dispatch, else 0
    "worker",  # async: worker number, else -1
    "flags",  # bit 0 retried, bit 1 late (merged in a later tick)
)
GROUP_RETRIED: Final = 1
GROUP_LATE: Final = 2

#: Phases, in code order (a phase record's first field is the position here).
PHASES: Final = ("pre_tick", "apply", "flush", "maintenance", "post_tick")
#: Field order of a phase record: how the scheduler keeps a phase when no observer asked for
#: per-phase callbacks, and the ``phases`` records of a trace's tick lines (as for groups:
#: ``TickSummary.phases`` expands them on first access, the encoder writes them as they are).
PHASE_FIELDS: Final = ("phase", "start", "end", "commands", "spawned", "destroyed", "stale")


@final
class TickSummary:
    """One whole tick.

    ``groups`` is built on first access from compact records (see ``GROUP_FIELDS``), so an
    observer that never looks at the groups does not pay for their objects.
    """

    __slots__ = (
        "_extras",
        "_group_info",
        "_groups",
        "_items",
        "_phase_items",
        "_phases",
        "aborted",
        "dt",
        "end_ns",
        "entities",
        "in_flight",
        "queue_depths",
        "start_ns",
        "tick",
    )

    #: GroupResult members by record code (filled on first use)
    _results_by_code: ClassVar[tuple[GroupResult, ...]] = ()
    #: the record code of GroupResult.ERRORED (filled on first use)
    _errored: ClassVar[int] = -1

    def __init__(
        self,
        tick: int,
        start_ns: int,
        end_ns: int,
        dt: float,
        entities: int,
        groups: Sequence[GroupSummary | tuple[int, ...]],
        phases: Sequence[PhaseSummary | tuple[int, ...]],
        queue_depths: dict[str, int] | None = None,
        in_flight: tuple[str, ...] = (),
        aborted: bool = False,
        group_info: tuple[GroupInfo, ...] = (),
        extras: dict[int, tuple[SystemTimes | None, str | None, str | None]] | None = None,
    ) -> None:
        self.tick = tick
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.dt = dt
        self.entities = entities
        # PhaseSummary objects or PHASE_FIELDS records, expanded by the phases property
        self._phase_items = phases
        self._phases: tuple[PhaseSummary, ...] | None = None
        self.queue_depths = {} if queue_depths is None else queue_depths
        self.in_flight = in_flight
        self.aborted = aborted
        # Items are GroupSummary objects or GROUP_FIELDS records; a record's systems, error
        # and failing system, when it has any, are in _extras under its position.
        self._items = groups
        self._extras = extras if extras is not None else {}
        self._group_info = group_info
        self._groups: tuple[GroupSummary, ...] | None = None

    @property
    def groups(self) -> tuple[GroupSummary, ...]:
        """What each work group did this tick, in the order they were reported."""
        if self._groups is None:
            self._groups = tuple(
                item if isinstance(item, GroupSummary) else self._expand(pos, item)
                for pos, item in enumerate(self._items)
            )
        return self._groups

    @property
    def errored_groups(self) -> tuple[GroupSummary, ...]:
        """The groups whose result is ``ERRORED``, found without expanding the others.

        For observers that only care about failures (an error log, an alert): reading
        ``groups`` builds a summary per group, this builds one per failed group.
        """
        if self._groups is not None:
            return tuple(g for g in self._groups if g.result.value == "errored")
        code = self._errored_code()
        found: list[GroupSummary] = []
        for pos, item in enumerate(self._items):
            if isinstance(item, GroupSummary):
                if item.result.value == "errored":
                    found.append(item)
            elif item[4] == code:
                found.append(self._expand(pos, item))
        return tuple(found)

    @classmethod
    def _errored_code(cls) -> int:
        if cls._errored < 0:
            cls._errored = [r.value for r in cls._result_members()].index("errored")
        return cls._errored

    @classmethod
    def _result_members(cls) -> tuple[GroupResult, ...]:
        results = cls._results_by_code
        if not results:
            from .scheduler._types import GroupResult  # not at import time: scheduler imports us

            results = cls._results_by_code = tuple(GroupResult)
        return results

    @property
    def phases(self) -> tuple[PhaseSummary, ...]:
        """The tick's non-group phases (apply, flush, hooks), in the order they ran."""
        if self._phases is None:
            tick = self.tick
            self._phases = tuple(
                p if isinstance(p, PhaseSummary) else PhaseSummary(tick, PHASES[p[0]], *p[1:])
                for p in self._phase_items
            )
        return self._phases

    def _expand(self, pos: int, r: tuple[int, ...]) -> GroupSummary:
        results = TickSummary._results_by_code or TickSummary._result_members()
        info = self._group_info[r[0]]
        timings, error, error_system = self._extras.get(pos, (None, None, None))
        flags = r[11]
        return GroupSummary(
            r[1],
            info.name,
            info.mode,
            r[2],
            r[3],
            results[r[4]],
            timings if timings is not None else (),
            error,
            error_system,
            info.reads,
            info.writes,
            r[5],
            r[6],
            bool(flags & GROUP_RETRIED),
            r[7],
            r[8],
            r[9],
            None if r[10] < 0 else r[10],
            bool(flags & GROUP_LATE),
        )

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def __repr__(self) -> str:
        return (
            f"TickSummary(tick={self.tick}, start_ns={self.start_ns}, end_ns={self.end_ns}, dt={self.dt}, "
            f"entities={self.entities}, groups={self.groups!r}, phases={self.phases!r}, "
            f"queue_depths={self.queue_depths!r}, in_flight={self.in_flight!r}, aborted={self.aborted})"
        )


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


#: Every method the scheduler may call on an observer.
OBSERVER_METHODS: Final = (
    "on_start",
    "on_tick_start",
    "on_group",
    "on_phase",
    "on_tick",
    "on_mark",
    "on_close",
)


def observer_problem(observer: object) -> str | None:
    """Why ``observer`` cannot observe a scheduler, or None if it can.

    A :class:`SchedulerObserver` always can. Another object can if it has every method of
    the interface, since the scheduler calls all of them (``on_start`` when attached,
    ``on_close`` when removed, the rest when overridden); checking once here keeps a bad one
    from failing at the first tick, or on close.
    """
    if isinstance(observer, SchedulerObserver):
        return None
    missing = [m for m in OBSERVER_METHODS if not callable(getattr(observer, m, None))]
    if not missing:
        return None
    return (
        f"observer {observer!r} is not an ecs.SchedulerObserver and lacks {', '.join(missing)}; "
        "subclass ecs.SchedulerObserver and override what you need"
    )
