"""The tick: a fixed sequence of phases over a frozen plan.

One call to :meth:`Scheduler.tick` runs::

    pre_tick hooks
    apply      host commands (sched.commands), then async results that finished late
    dispatch   async groups due this tick: copy their inputs, queue them on the pool
    sync       synchronized groups, one after another, in priority order
    await      wait for this tick's async groups, each up to its timeout
    flush      commands of sync groups (in order), then async results (in order)
    maintenance hooks
    post_tick hooks

Async groups are dispatched *before* the synchronized groups so they run beside them on
another core; they read a copy of the world taken at dispatch (see ``_frozen.py``), so what
they see does not depend on how far the synchronized groups have got. Their commands merge
in group order, never completion order: with no timeout overrun, the world after every tick
is the same whatever the thread timing. A group that overruns is reported STILL_RUNNING,
is not dispatched again while in flight, and merges at the apply phase of the first tick
after it finishes.

Timeouts are real time (the tick really waits); every timestamp reported to observers comes
from the injected clock.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

import numpy as np

from .._checks import is_finite_real, is_int
from .._clock import MonotonicClock
from .._commands import ApplyStats, CommandBuffer
from .._errors import EcsError, TickArgumentError, TickError
from .._summary import (
    GROUP_RETRIED,
    PHASES,
    ComponentInfo,
    GroupInfo,
    GroupSummary,
    PhaseSummary,
    SchedulerInfo,
    SchedulerObserver,
    SystemInfo,
    SystemTimes,
    TickSummary,
    observer_problem,
)
from .._system import ExecutionContext, FunctionSystem, Interval, TickState
from ._frozen import FrozenView
from ._pool import Task, WorkerPool
from ._types import ErrorPolicy, GroupResult, SystemSampling, Time

if TYPE_CHECKING:
    from .._clock import Clock
    from .._world import World
    from ._builder import Hook, Plan, PlannedGroup

__all__ = ["GroupStats", "Scheduler"]

log = logging.getLogger("ecs.scheduler")

_EXECUTED: Final = GroupResult.EXECUTED
_OK: Final = 0
_ERR: Final = 1
_SKIPPED: Final = 2
_RESULT_NAMES: Final = {r: r.value for r in GroupResult}
#: GroupResult -> its code in group records (position in the enum; the trace's results table)
_CODE: Final = {r: i for i, r in enumerate(GroupResult)}
#: phase name -> its code in a phase record (PHASE_FIELDS)
_PHASE_CODE: Final = {name: i for i, name in enumerate(PHASES)}


@dataclass(slots=True)
class GroupStats:
    """Running totals for one group (``sched.stats[name]``)."""

    runs: int = 0
    errors: int = 0
    retries: int = 0
    skipped_interval: int = 0
    skipped_empty: int = 0
    still_running: int = 0
    dropped: int = 0
    in_flight_skips: int = 0
    late_merges: int = 0
    commands: int = 0
    total_ns: int = 0


def _checked_dt(dt: object, where: str) -> float | None:
    """``dt`` as a float, or None to measure it; TickArgumentError naming it otherwise.

    Called once per tick, before any work: a NaN would poison ``elapsed`` for good, and a
    string used to run the whole tick (applying its commands) before failing at the end.
    """
    if dt is None:
        return None
    if type(dt) is float and 0.0 <= dt < math.inf:  # the usual case, checked first
        return dt
    if not is_finite_real(dt) or dt < 0:
        raise TickArgumentError(f"{where}: dt must be a finite number of seconds >= 0 (or None), got {dt!r}")
    return float(dt)  # Time.dt is a float, whatever number type the host passed


def _checked_ticks(ticks: object, where: str) -> int:
    if not is_int(ticks) or ticks < 0:
        raise TickArgumentError(f"{where}: ticks must be an int >= 0, got {ticks!r}")
    return int(ticks)


def _interval_text(iv: Interval | None) -> str | None:
    if iv is None:
        return None
    return f"{iv.ticks} ticks" if iv.ticks is not None else f"{iv.seconds} s"


def _attempt(run: Callable[[ExecutionContext], None], ctx: ExecutionContext) -> Exception | None:
    """Run a system once; return the exception it raised, if any."""
    try:
        run(ctx)
    except Exception as exc:  # noqa: BLE001 - the error policy decides what a failure means
        return exc
    return None


def _due(iv: Interval | None, last_tick: int, next_due: float, tick: int, elapsed: float) -> bool:
    if iv is None or last_tick < 0:
        return True
    if iv.ticks is not None:
        return tick - last_tick >= iv.ticks
    return elapsed >= next_due - 1e-9


def _next_due(iv: Interval | None, next_due: float, elapsed: float, first: bool) -> float:
    """When a seconds-interval is next due after running at ``elapsed``.

    Due times advance by exactly the interval, so 0.25 s at dt = 0.1 runs at 0, 0.3, 0.5,
    0.8, 1.0 ... (4 times a second on average, no drift). After a long stall it does not
    run in a burst to catch up: missed runs are skipped.
    """
    if iv is None or iv.seconds is None:
        return 0.0
    nxt = (elapsed if first else next_due) + iv.seconds
    return nxt if nxt > elapsed + 1e-9 else elapsed + iv.seconds


@dataclass(slots=True)
class _Outcome:
    """What running a group's systems produced (on the main thread or a worker)."""

    timings: SystemTimes | None = None
    error: str | None = None
    error_system: str | None = None
    exception: BaseException | None = None
    abort: bool = False
    errored: bool = False
    retried: bool = False
    matched: int = 0
    queried: bool = False
    start_ns: int = 0
    end_ns: int = 0


class _Runtime:
    """Mutable per-group state of a running scheduler."""

    __slots__ = (
        "buffer",
        "contexts",
        "deadline",
        "dispatch_ns",
        "dispatch_tick",
        "entries",
        "force_timed",
        "heavy_ns",
        "index",
        "last_ns",
        "last_tick",
        "last_time",
        "mode",
        "names",
        "outcome",
        "phase",
        "plan",
        "queue_depth",
        "spent_view",
        "state",
        "system_last",
        "task",
        "view",
    )

    def __init__(self, plan: PlannedGroup, world: World, shared: TickState) -> None:
        self.plan = plan
        self.buffer = CommandBuffer(world)
        # Async groups get their own tick state: the main thread moves on while they run.
        self.state = TickState() if plan.is_async else shared
        components = frozenset(world.components)
        self.contexts = [
            ExecutionContext(ps.descriptor, plan.name, self.state, self.buffer, components, {}) for ps in plan.systems
        ]
        self.names = tuple(ps.descriptor.name for ps in plan.systems)
        self.mode = plan.spec.mode.value
        # (callable, context, interval) per system: the hot loop's only lookups. A decorated
        # function is called directly, skipping FunctionSystem.run's extra frame.
        self.entries = [
            (ps.system.fn if isinstance(ps.system, FunctionSystem) else ps.system.run, ctx, ps.descriptor.interval)
            for ps, ctx in zip(plan.systems, self.contexts, strict=True)
        ]
        self.last_tick = -1
        self.last_time = 0.0
        self.system_last: list[tuple[int, float]] = [(-1, 0.0)] * len(plan.systems)
        self.task: Task | None = None
        self.view: FrozenView | None = None
        self.spent_view: FrozenView | None = None  # merged: its arrays are reused by the next dispatch
        self.outcome: _Outcome | None = None
        self.dispatch_tick = -1
        self.dispatch_ns = 0
        self.deadline = 0.0
        self.queue_depth = 0
        self.index = plan.index  # position in SchedulerInfo.groups
        # system sampling (see Scheduler.system_sampling): last run's duration, the duration
        # from which every run is timed, this group's tick in each sampling period, and
        # whether the next run must be timed (the first run, or the last one failed untimed)
        self.last_ns = 0
        self.heavy_ns = 0
        self.phase = 0
        self.force_timed = True


class Scheduler:
    """Runs a frozen plan of work groups over a world, tick after tick.

    Build one with :class:`~ecs.SchedulerBuilder`. Drive it with :meth:`tick` (one tick),
    :meth:`run` (many), or :meth:`steps` (one phase at a time, for tools and debuggers).
    Close it (or use it as a context manager) to stop the worker pool.
    """

    def __init__(
        self,
        world: World,
        plan: Plan,
        *,
        clock: Clock,
        workers: int,
        hooks: Mapping[str, tuple[Hook, ...]],
        observers: tuple[SchedulerObserver, ...] = (),
        system_sampling: SystemSampling | None = None,
    ) -> None:
        self.world = world
        self.plan = plan
        self.clock = clock
        # The real clock is read through perf_counter_ns directly: one call frame less per system.
        self._now: Callable[[], int] = time.perf_counter_ns if isinstance(clock, MonotonicClock) else clock.now_ns
        self.workers = workers
        self._hooks = hooks
        self._observers: list[SchedulerObserver] = []
        # Bound methods of the observers that override each callback: an observer pays only
        # for what it listens to (see _subscribe).
        self._tick_start_obs: list[Callable[[int, int], None]] = []
        self._group_obs: list[Callable[[GroupSummary], None]] = []
        self._phase_obs: list[Callable[[PhaseSummary], None]] = []
        self._tick_obs: list[Callable[[TickSummary], None]] = []
        self._observing = False
        #: exceptions observers raised (each logged on "ecs.scheduler"; the game went on)
        self.observer_errors = 0
        self._observer_failures: set[tuple[int, str]] = set()
        self._state = TickState()
        self._runtimes = [_Runtime(g, world, self._state) for g in plan.groups]
        self._sync = [r for r in self._runtimes if not r.plan.is_async]
        self._async = [r for r in self._runtimes if r.plan.is_async]
        for rt in self._sync:
            for ctx in rt.contexts:
                ctx._source = world
                ctx._resources = world._resources
        self._pool: WorkerPool | None = WorkerPool(workers, clock) if self._async else None
        #: Commands queued by the host between ticks; applied at the next tick's apply phase.
        self.commands = CommandBuffer(world)
        self.stats: dict[str, GroupStats] = {g.name: GroupStats() for g in plan.groups}
        self.tick_count = 0
        self.elapsed = 0.0
        self._last_tick_ns: int | None = None
        self._closed = False
        self._start_ns = self._now()
        self._info: SchedulerInfo | None = None
        world.add_resource(Time(), Time)
        self._every = 1
        self.system_sampling = system_sampling if system_sampling is not None else SystemSampling()
        for obs in observers:
            self.add_observer(obs)

    @property
    def system_sampling(self) -> SystemSampling:
        """When observed runs time each system (see :class:`~ecs.SystemSampling`); settable."""
        return self._sampling

    @system_sampling.setter
    def system_sampling(self, sampling: SystemSampling) -> None:
        if not isinstance(sampling, SystemSampling):
            raise EcsError(f"system_sampling must be an ecs.SystemSampling, got {sampling!r}")
        self._sampling = sampling
        self._every = sampling.every
        above_ns = round(sampling.above_us * 1000)
        for rt in self._runtimes:
            rt.heavy_ns = above_ns * max(1, len(rt.entries))
            rt.phase = rt.index % sampling.every
        self._info = None  # the header states the policy

    def _timed(self, rt: _Runtime, tick: int) -> bool:
        """Whether this run of ``rt`` times each system (observed runs; inlined in _steps)."""
        every = self._every
        return every == 1 or rt.last_ns >= rt.heavy_ns or tick % every == rt.phase or rt.force_timed

    def set_time(self, tick: int, elapsed: float) -> None:
        """Move the scheduler's tick counter and game time, for rollback and replays.

        A world snapshot holds the world, not the scheduler: after ``world.restore(snap)``,
        call ``sched.set_time(snap_tick, snap_elapsed)`` so systems that read ``ctx.tick`` or
        ``ctx.elapsed`` (and tick or seconds intervals) continue exactly as they did. Interval
        bookkeeping restarts: every group and system with an interval runs on the next tick.
        Refused while an async group is in flight. ``tick`` must be an int >= 0 and
        ``elapsed`` a finite number >= 0 (:class:`~ecs.TickArgumentError` otherwise).
        """
        if not is_int(tick) or tick < 0:
            raise TickArgumentError(f"set_time: tick must be >= 0 and a whole number, got {tick!r}")
        if not is_finite_real(elapsed) or elapsed < 0:
            raise TickArgumentError(f"set_time: elapsed must be >= 0 and finite (seconds), got {elapsed!r}")
        if self.in_flight:
            raise EcsError(f"set_time: async groups still in flight: {', '.join(self.in_flight)}")
        self.tick_count = int(tick)
        self.elapsed = float(elapsed)
        self._last_tick_ns = None
        for rt in self._runtimes:
            rt.last_tick = -1
            rt.last_time = 0.0
            rt.system_last = [(-1, 0.0)] * len(rt.plan.systems)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran; a closed scheduler refuses to tick."""
        return self._closed

    # -- context management ----------------------------------------------------------------------
    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 1.0) -> bool:
        """Stop workers and notify observers. Returns False if a worker was stuck and left behind."""
        if self._closed:
            return True
        self._closed = True
        ok = self._pool.close(timeout) if self._pool is not None else True
        for obs in self._observers:
            try:
                obs.on_close()
            except Exception as exc:  # noqa: BLE001 - one observer failing to close must not keep the others open
                self._observer_failed(obs.on_close, exc)
        return ok

    # -- observers -----------------------------------------------------------------------------
    def add_observer(self, observer: SchedulerObserver) -> None:
        """Attach an observer; it receives the header (``on_start``) immediately.

        ``observer`` is a :class:`~ecs.SchedulerObserver` (or has all of its methods);
        anything else raises :class:`~ecs.EcsError` and leaves the observers as they were.
        """
        problem = observer_problem(observer)
        if problem is not None:
            raise EcsError(f"add_observer: {problem}")
        self._observers.append(observer)
        self._subscribe()
        try:
            observer.on_start(self.info)
        except BaseException:  # not attached: a failed start is the caller's to see and fix
            self._observers.remove(observer)
            self._subscribe()
            raise

    def remove_observer(self, observer: SchedulerObserver) -> None:
        self._observers.remove(observer)
        self._subscribe()
        observer.on_close()

    def _subscribe(self) -> None:
        def overriding(name: str) -> list[Any]:
            base = getattr(SchedulerObserver, name)
            return [getattr(o, name) for o in self._observers if getattr(type(o), name, None) is not base]

        self._tick_start_obs = overriding("on_tick_start")
        self._group_obs = overriding("on_group")
        self._phase_obs = overriding("on_phase")
        self._tick_obs = overriding("on_tick")
        # on_start, on_mark and on_close alone need no summaries
        self._observing = bool(self._group_obs or self._phase_obs or self._tick_obs)

    @property
    def observers(self) -> tuple[SchedulerObserver, ...]:
        return tuple(self._observers)

    def mark(self, name: str, **data: Any) -> None:
        """Publish a named mark (level loaded, player joined) to observers and traces."""
        if not isinstance(name, str):
            raise EcsError(f"mark: the name must be a string, got {name!r}")
        now = self._now()
        for obs in self._observers:
            try:
                obs.on_mark(self.tick_count, name, now, data)
            except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                self._observer_failed(obs.on_mark, exc)

    def _observer_failed(self, callback: Callable[..., Any], exc: Exception) -> None:
        """An observer raised: count it, log it (with the traceback the first time), go on.

        Observers watch the game; a bug in one (or a full disk under a trace file) must not
        stop the tick that already changed the world, nor starve the observers after it.
        """
        self.observer_errors += 1
        owner = getattr(callback, "__self__", callback)
        name = f"{type(owner).__name__}.{getattr(callback, '__name__', '?')}"
        key = (id(owner), name)
        if key in self._observer_failures:
            log.debug("observer %s raised again: %r", name, exc)
            return
        self._observer_failures.add(key)
        log.error(
            "observer %s raised %s; the tick went on (scheduler.observer_errors counts them; "
            "later errors of this observer are logged at DEBUG)",
            name,
            type(exc).__name__,
            exc_info=exc,
        )

    @property
    def info(self) -> SchedulerInfo:
        """Static description of this scheduler (the trace header)."""
        if self._info is None:
            w = self.world
            comps = tuple(
                ComponentInfo(
                    w.spec(c).name,
                    w.storage_kind(c),
                    tuple((f.name, str(f.dtype), f.shape) for f in w.spec(c).fields),
                )
                for c in w.components
            )
            groups = tuple(
                GroupInfo(
                    name=g.name,
                    mode=g.spec.mode.value,
                    priority=g.spec.priority,
                    order=g.index,
                    systems=tuple(ps.descriptor.name for ps in g.systems),
                    reads=g.reads,
                    writes=g.writes,
                    interval=_interval_text(g.spec.interval),
                    error_policy=g.spec.error_policy.value,
                    queue_limit=g.spec.queue_limit,
                    timeout_ns=round(g.spec.timeout * 1e9),
                    allow_writes=g.spec.allow_writes,
                )
                for g in self.plan.groups
            )
            systems = tuple(
                SystemInfo(
                    name=ps.descriptor.name,
                    group=g.name,
                    reads=tuple(sorted(getattr(t, "__name__", str(t)) for t in ps.descriptor.reads)),
                    writes=tuple(sorted(getattr(t, "__name__", str(t)) for t in ps.descriptor.writes)),
                    async_allowed=ps.descriptor.async_allowed,
                    interval=_interval_text(ps.descriptor.interval),
                )
                for g in self.plan.groups
                for ps in g.systems
            )
            self._info = SchedulerInfo(
                world=w.name,
                groups=groups,
                systems=systems,
                components=comps,
                resources=tuple(sorted(getattr(t, "__name__", str(t)) for t in w.resources)),
                workers=self.workers,
                clock=type(self.clock).__name__,
                start_ns=self._start_ns,
                system_sampling=(self._sampling.every, round(self._sampling.above_us * 1000)),
            )
        return self._info

    # -- driving --------------------------------------------------------------------------------------
    def tick(self, dt: float | None = None) -> dict[str, GroupResult]:
        """Run one tick and return each group's result, by group name.

        Every group has an entry, in the order the results were decided: async groups that
        were not dispatched (interval, still running, dropped), the synchronized groups in
        plan order, then the async groups that ran.

        ``dt`` is the game time this tick advances, in seconds; when omitted it is the clock
        time since the previous tick (0 on the first). A ``dt`` that is not a finite number
        >= 0 (a string, a bool, NaN, infinity, a negative step) raises
        :class:`~ecs.TickArgumentError` before anything runs.
        """
        dt = _checked_dt(dt, "tick")
        results: dict[str, GroupResult] = {}
        for _ in self._steps(dt, results):
            pass
        return results

    def run(self, ticks: int, dt: float | None = None, *, until: Callable[[Scheduler], bool] | None = None) -> int:
        """Run ``ticks`` ticks (or until ``until(self)`` is true); returns how many ran.

        ``ticks`` is an int >= 0 and ``dt`` as for :meth:`tick`; both are checked before the
        first tick (:class:`~ecs.TickArgumentError`), so a bad call runs nothing.
        """
        ticks, dt = self._checked_run(ticks, dt, until, "run")
        done = 0
        while done < ticks:
            if until is not None and until(self):
                break
            self.tick(dt)
            done += 1
        return done

    def run_with_trace(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        ticks: int,
        dt: float | None = None,
        *,
        until: Callable[[Scheduler], bool] | None = None,
    ) -> int:
        """Run like :meth:`run` while recording every tick to a trace file or binary stream.

        A path ending in ``.gz`` is gzip-compressed. The recorder is detached (and the file
        closed, with its end record) when the run finishes, even if a tick raises.
        """
        from ..trace import TraceRecorder

        # Checked before the recorder opens the file: a bad call leaves no empty trace behind.
        self._checked_run(ticks, dt, until, "run_with_trace")
        recorder = TraceRecorder(target)
        self.add_observer(recorder)
        try:
            return self.run(ticks, dt, until=until)
        finally:
            self.remove_observer(recorder)

    def steps(self, dt: float | None = None) -> Iterator[str]:
        """Run one tick one step at a time, yielding each step's name after it ran.

        Steps are ``pre_tick``, ``apply``, ``dispatch``, each synchronized group's name,
        ``await``, ``flush``, ``maintenance`` and ``post_tick``. Abandoning the iterator
        mid-tick leaves the tick unfinished; finish it before calling ``tick`` again.
        ``dt`` is checked now, as for :meth:`tick`, not at the first step.
        """
        return self._steps(_checked_dt(dt, "steps"), {})

    @staticmethod
    def _checked_run(ticks: object, dt: object, until: object, where: str) -> tuple[int, float | None]:
        if until is not None and not callable(until):
            raise TickArgumentError(f"{where}: until must be a callable until(scheduler) or None, got {until!r}")
        return _checked_ticks(ticks, where), _checked_dt(dt, where)

    # -- the tick ----------------------------------------------------------------------------------------
    def _steps(self, dt: float | None, results: dict[str, GroupResult]) -> Iterator[str]:
        if self._closed:
            raise EcsError("this scheduler is closed")
        observing = self._observing
        t0 = self._now()
        if dt is None:
            # max(): a custom clock that steps back must not run game time backwards
            dt = 0.0 if self._last_tick_ns is None else max(0, t0 - self._last_tick_ns) / 1e9
        self._last_tick_ns = t0
        tick = self.tick_count
        st = self._state
        st.dt = dt
        st.tick = tick
        st.elapsed = self.elapsed
        world = self.world
        world._resources[Time] = Time(dt, tick, self.elapsed)
        groups: list[Any] = []  # GroupSummary objects or GROUP_FIELDS records
        extras: dict[int, Any] = {}  # a record's (systems, error, error_system), by position
        phases: list[Any] = []  # PhaseSummary objects or PHASE_FIELDS records
        every = self._every
        per_group = bool(self._group_obs)  # someone wants GroupSummary objects right away

        for on_tick_start in self._tick_start_obs:
            try:
                on_tick_start(tick, t0)
            except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                self._observer_failed(on_tick_start, exc)
        self._hook("pre_tick", tick, phases, observing)
        yield "pre_tick"

        # apply: host commands, then async results that finished after their tick
        p0 = self._now()
        stats = world.apply(self.commands) if self.commands else ApplyStats()
        for rt in self._async:
            if rt.task is not None and rt.dispatch_tick < tick and rt.task.done.is_set():
                self._merge_async(rt, stats, groups if observing else None, late=True)
        self._phase("apply", tick, p0, stats, phases, observing)
        yield "apply"

        # dispatch async groups (before the sync groups, so they overlap)
        dispatched: list[_Runtime] = []
        for rt in self._async:
            res = self._dispatch(rt, tick)
            if res is None:
                dispatched.append(rt)
            else:
                results[rt.plan.name] = res
                if observing:
                    groups.append(self._skip_summary(rt, tick, res, self._now()))
        yield "dispatch"

        # synchronized groups
        for rt in self._sync:
            g = rt.plan
            if not _due(g.spec.interval, rt.last_tick, rt.last_time, tick, self.elapsed):
                results[g.name] = GroupResult.SKIPPED_INTERVAL
                self.stats[g.name].skipped_interval += 1
                if observing:
                    groups.append(self._skip_summary(rt, tick, GroupResult.SKIPPED_INTERVAL, self._now()))
                yield g.name
                continue
            rt.last_time = _next_due(g.spec.interval, rt.last_time, self.elapsed, rt.last_tick < 0)
            rt.last_tick = tick
            mark = (len(rt.buffer._cmds), rt.buffer._last_size)
            world.lock(g.name)
            st.running = g.name  # contexts of this group may be used (see ExecutionContext)
            # Observed runs time each system per the sampling policy (see SystemSampling).
            timed = observing and (
                every == 1 or rt.last_ns >= rt.heavy_ns or tick % every == rt.phase or rt.force_timed
            )
            try:
                out = self._run_systems(rt, tick, self.elapsed, timed)
            finally:
                world.lock(None)
                st.running = None
            result = self._result_of(rt, out)
            results[g.name] = result
            if observing:
                if per_group:
                    groups.append(self._group_summary(rt, tick, out, result, len(rt.buffer)))
                else:  # a GROUP_FIELDS record, expanded only if someone asks for it
                    s0, e0 = out.start_ns, out.end_ns
                    # (identity tests first: hashing an Enum member runs Python code)
                    groups.append(
                        (rt.index, tick, s0, e0, 0 if result is _EXECUTED else _CODE[result], out.matched,
                         len(rt.buffer) if rt.buffer._cmds and not out.abort else 0,
                         0, e0 - s0, 0, -1, GROUP_RETRIED if out.retried else 0)
                    )  # fmt: skip
                    if out.timings is not None or out.error is not None:
                        extras[len(groups) - 1] = (out.timings, out.error, out.error_system)
            if out.abort:
                # Drop this group's commands, keep the finished groups' ones, then raise.
                rt.buffer._truncate(*mark)
                self._flush_sync(tick, phases, observing)
                self._finish(tick, t0, dt, groups, phases, aborted=True, extras=extras)
                assert out.exception is not None
                raise TickError(g.name, out.error_system or "?", out.exception, tick) from out.exception
            yield g.name

        # await async groups, each up to its own deadline (real time)
        for rt in dispatched:
            assert rt.task is not None
            remaining = rt.deadline - time.monotonic()
            if remaining > 0:
                rt.task.done.wait(remaining)
        yield "await"

        # flush: sync commands in order, then async results in order
        p0 = self._now()
        stats = self._apply_sync_buffers()
        abort: TickError | None = None
        for rt in dispatched:
            name = rt.plan.name
            assert rt.task is not None
            if rt.task.done.is_set():
                late_out = rt.outcome
                summary_list = groups if observing else None
                result = self._merge_async(rt, stats, summary_list, late=False)
                results[name] = result
                if late_out is not None and late_out.abort and abort is None:
                    assert late_out.exception is not None
                    abort = TickError(name, late_out.error_system or "?", late_out.exception, tick)
            else:
                results[name] = GroupResult.STILL_RUNNING
                self.stats[name].still_running += 1
                if observing:
                    groups.append(self._skip_summary(rt, tick, GroupResult.STILL_RUNNING, rt.dispatch_ns))
        self._phase("flush", tick, p0, stats, phases, observing)
        yield "flush"
        if abort is not None:
            self._finish(tick, t0, dt, groups, phases, aborted=True, extras=extras)
            raise abort from abort.original

        self._hook("maintenance", tick, phases, observing)
        yield "maintenance"
        self._hook("post_tick", tick, phases, observing)
        self._finish(tick, t0, dt, groups, phases, aborted=False, extras=extras)
        yield "post_tick"

    def _finish(
        self,
        tick: int,
        t0: int,
        dt: float,
        groups: list[GroupSummary],
        phases: list[Any],
        aborted: bool,
        extras: dict[int, Any] | None = None,
    ) -> None:
        self.tick_count = tick + 1
        self.elapsed += dt
        if self._tick_obs:
            if self._async:
                in_flight = tuple(rt.plan.name for rt in self._async if rt.task is not None)
                depths = {rt.plan.name: rt.queue_depth for rt in self._async}
            else:
                in_flight, depths = (), {}
            summary = TickSummary(
                tick,
                t0,
                self._now(),
                dt,
                self.world.registry._count,
                groups,
                phases,
                depths,
                in_flight,
                aborted,
                self.info.groups,
                extras,
            )
            for on_tick in self._tick_obs:
                try:
                    on_tick(summary)
                except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                    self._observer_failed(on_tick, exc)

    def _hook(self, kind: str, tick: int, phases: list[Any], observing: bool) -> None:
        hooks = self._hooks.get(kind, ())
        if not hooks:
            return
        p0 = self._now()
        for fn in hooks:
            try:
                fn(self)
            except Exception as exc:
                name = getattr(fn, "__qualname__", repr(fn))
                raise TickError(f"<{kind} hook>", name, exc, tick) from exc
        if observing:
            if self._phase_obs:
                s = PhaseSummary(tick, kind, p0, self._now())
                phases.append(s)
                for on_phase in self._phase_obs:
                    try:
                        on_phase(s)
                    except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                        self._observer_failed(on_phase, exc)
            else:  # a PHASE_FIELDS record, expanded only if someone asks for it
                phases.append((_PHASE_CODE[kind], p0, self._now(), 0, 0, 0, 0))

    def _phase(self, name: str, tick: int, p0: int, stats: ApplyStats, phases: list[Any], observing: bool) -> None:
        if not observing:
            return
        if self._phase_obs:
            s = PhaseSummary(tick, name, p0, self._now(), stats.commands, stats.spawned, stats.destroyed, stats.stale)
            phases.append(s)
            for on_phase in self._phase_obs:
                try:
                    on_phase(s)
                except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                    self._observer_failed(on_phase, exc)
        else:  # a PHASE_FIELDS record, expanded only if someone asks for it
            phases.append(
                (_PHASE_CODE[name], p0, self._now(), stats.commands, stats.spawned, stats.destroyed, stats.stale)
            )

    def _flush_sync(self, tick: int, phases: list[Any], observing: bool) -> None:
        p0 = self._now()
        self._phase("flush", tick, p0, self._apply_sync_buffers(), phases, observing)

    def _apply_sync_buffers(self) -> ApplyStats:
        stats = ApplyStats()
        for rt in self._sync:
            if rt.buffer._cmds:
                n = len(rt.buffer)
                stats.merge(self.world.apply(rt.buffer))
                self.stats[rt.plan.name].commands += n
        return stats

    # -- running a group's systems (main thread or worker) -----------------------------------------------
    def _run_systems(self, rt: _Runtime, tick: int, elapsed: float, timed: bool) -> _Outcome:
        """Run the group's systems in order under its error policy; never raises.

        With ``timed`` (an observed run that the sampling policy picked) the clock is read once
        per system boundary and results are kept as codes (see :class:`~ecs.SystemTimes`): the
        cheapest record that still gives every system's start, end and result. This loop is the scheduler's hot
        path: everything it needs per system is prepared once in ``rt.entries``.
        """
        g = rt.plan
        now = self._now
        out = _Outcome(start_ns=now())
        times = [out.start_ns] if timed else None
        codes: list[int] = []
        errors: dict[int, str] | None = None
        retried_at: set[int] | None = None
        buf = rt.buffer
        cmds = buf._cmds
        for i, (run, ctx, iv) in enumerate(rt.entries):
            if iv is not None:
                lt, ltime = rt.system_last[i]
                if not _due(iv, lt, ltime, tick, elapsed):
                    if times is not None:
                        times.append(times[-1])
                        codes.append(_SKIPPED)
                    continue
                rt.system_last[i] = (tick, _next_due(iv, ltime, elapsed, lt < 0))
            ctx._matched = 0
            ctx._queried = False
            n_cmds, last_size = len(cmds), buf._last_size
            try:
                run(ctx)
            except Exception as first:  # noqa: BLE001 - the error policy decides what a failure means
                exc: Exception = first
            else:
                out.matched += ctx._matched
                out.queried |= ctx._queried
                if times is not None:
                    times.append(now())
                    codes.append(_OK)
                continue
            buf._truncate(n_cmds, last_size)
            policy: ErrorPolicy | None = g.spec.error_policy
            retried = policy is ErrorPolicy.RETRY
            if retried:
                out.retried = True
                if retried_at is None:
                    retried_at = set()
                retried_at.add(len(codes))
                ctx._matched = 0
                again = _attempt(run, ctx)
                if again is None:
                    policy = None  # the retry succeeded
                else:
                    buf._truncate(n_cmds, last_size)
                    exc = again
                    policy = g.spec.retry_fallback
            if policy is None:
                out.matched += ctx._matched
                out.queried |= ctx._queried
                if times is not None:
                    times.append(now())
                    codes.append(_OK)
                continue
            name = rt.names[i]
            text = f"{type(exc).__name__}: {exc}"
            out.errored = True
            if out.error is None or policy is ErrorPolicy.ABORT:
                out.error = text
                out.error_system = name
                out.exception = exc
            if times is not None:
                if errors is None:
                    errors = {}
                errors[len(codes)] = text
                times.append(now())
                codes.append(_ERR)
            if policy is ErrorPolicy.ABORT:
                out.abort = True
                break
            if log.isEnabledFor(logging.WARNING):
                log.warning(
                    "system %s in group %s failed (tick %d), its commands were dropped: %s\n%s",
                    name,
                    g.name,
                    tick,
                    text,
                    "".join(traceback.format_exception(exc)).rstrip(),
                    extra={"tick": tick, "group": g.name, "system": name, "error": text},
                )
        out.end_ns = times[-1] if times is not None else now()
        if times is not None:
            out.timings = SystemTimes(rt.names, times, codes, errors, retried_at)
        return out

    def _result_of(self, rt: _Runtime, out: _Outcome) -> GroupResult:
        st = self.stats[rt.plan.name]
        st.runs += 1
        rt.last_ns = out.end_ns - out.start_ns
        st.total_ns += rt.last_ns
        rt.force_timed = out.errored and out.timings is None
        if out.retried:
            st.retries += 1
        if out.errored:
            st.errors += 1
            return GroupResult.ERRORED
        if out.queried and out.matched == 0 and not rt.buffer._cmds:
            st.skipped_empty += 1
            return GroupResult.SKIPPED_EMPTY
        return _EXECUTED

    # -- async ---------------------------------------------------------------------------------------------
    def _dispatch(self, rt: _Runtime, tick: int) -> GroupResult | None:
        """Queue an async group; returns None when dispatched, else the reason it was not."""
        g = rt.plan
        st = self.stats[g.name]
        if rt.task is not None:
            st.in_flight_skips += 1
            return GroupResult.STILL_RUNNING
        if not _due(g.spec.interval, rt.last_tick, rt.last_time, tick, self.elapsed):
            st.skipped_interval += 1
            return GroupResult.SKIPPED_INTERVAL
        assert self._pool is not None
        depth = self._pool.queued
        rt.queue_depth = depth
        if depth >= g.spec.queue_limit and depth > 0:
            st.dropped += 1
            return GroupResult.DROPPED
        rt.last_time = _next_due(g.spec.interval, rt.last_time, self.elapsed, rt.last_tick < 0)
        rt.last_tick = tick
        world = self.world
        # the previous view's run has merged: its arrays take this copy (see FrozenView)
        view = FrozenView(
            world, g.components, g.written_components if g.spec.allow_writes else frozenset(), rt.spent_view
        )
        rt.spent_view = None
        resources: dict[type, Any] = {}
        for key in g.resources:
            value = world._resources.get(key)
            resources[key] = value.copy() if isinstance(value, np.ndarray) else value
        resources[Time] = world._resources[Time]
        rt.view = view
        rt.state.dt = self._state.dt
        rt.state.tick = tick
        rt.state.elapsed = self.elapsed
        for ctx in rt.contexts:
            ctx._source = view
            ctx._resources = resources
        rt.outcome = None
        rt.dispatch_tick = tick
        rt.dispatch_ns = self._now()
        rt.deadline = time.monotonic() + g.spec.timeout
        timed = self._observing and self._timed(rt, tick)

        rt.state.running = g.name

        def body(task: Task) -> None:
            try:
                rt.outcome = self._run_systems(rt, tick, rt.state.elapsed, timed)
            finally:
                rt.state.running = None

        rt.task = self._pool.submit(g.name, body)
        return None

    def _merge_async(
        self, rt: _Runtime, stats: ApplyStats, summaries: list[GroupSummary] | None, late: bool
    ) -> GroupResult:
        """Apply a finished async group's results (write-backs, then commands)."""
        g = rt.plan
        task = rt.task
        assert task is not None
        out = rt.outcome
        st = self.stats[g.name]
        if out is None:  # the task itself failed outside any system (should not happen)
            out = _Outcome(start_ns=task.start_ns, end_ns=task.end_ns, errored=True)
            out.error = f"worker failure: {task.error!r}"
            out.error_system = "<worker>"
            out.exception = task.error if isinstance(task.error, Exception) else RuntimeError(out.error)
        if late:
            st.late_merges += 1
        result = self._result_of(rt, out)
        n_cmds = 0 if out.abort else len(rt.buffer)
        if out.abort:
            rt.buffer.clear()
        else:
            if rt.view is not None and g.spec.allow_writes:
                for ctype, ids, cols in rt.view.written_columns():
                    self.world._overwrite(ids, ctype, cols)
            if rt.buffer._cmds:
                st.commands += len(rt.buffer)
                stats.merge(self.world.apply(rt.buffer))
        if summaries is not None:
            summary = self._group_summary(rt, rt.dispatch_tick, out, result, n_cmds, task=task, late=late)
            summaries.append(summary)
        rt.task = None
        rt.spent_view, rt.view = rt.view, None
        return result

    # -- summaries ----------------------------------------------------------------------------------------
    def _group_summary(
        self,
        rt: _Runtime,
        tick: int,
        out: _Outcome,
        result: GroupResult,
        commands: int,
        task: Task | None = None,
        late: bool = False,
    ) -> GroupSummary:
        g = rt.plan
        if task is None:  # synchronized: no queue, ran on the ticking thread
            start, end, wait, run, depth, worker = out.start_ns, out.end_ns, 0, out.end_ns - out.start_ns, 0, None
        else:
            start, end = task.enqueue_ns, task.end_ns
            wait, run = task.start_ns - task.enqueue_ns, task.end_ns - task.start_ns
            depth, worker = rt.queue_depth, task.worker
        # Positional, in field order: this runs once per group per observed tick.
        s = GroupSummary(
            tick,
            g.name,
            rt.mode,
            start,
            end,
            result,
            out.timings if out.timings is not None else (),
            out.error,
            out.error_system,
            g.reads,
            g.writes,
            out.matched,
            0 if out.abort else commands,
            out.retried,
            wait,
            run,
            depth,
            worker,
            late,
        )
        for on_group in self._group_obs:
            try:
                on_group(s)
            except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                self._observer_failed(on_group, exc)
        return s

    def _skip_summary(self, rt: _Runtime, tick: int, result: GroupResult, start: int) -> GroupSummary:
        now = self._now()
        g = rt.plan
        s = GroupSummary(
            tick=tick,
            group=g.name,
            mode=g.spec.mode.value,
            start_ns=start,
            end_ns=now,
            result=result,
            reads=g.reads,
            writes=g.writes,
            queue_depth=rt.queue_depth if g.is_async else 0,
        )
        for on_group in self._group_obs:
            try:
                on_group(s)
            except Exception as exc:  # noqa: BLE001 - an observer never stops the game
                self._observer_failed(on_group, exc)
        return s

    # -- inspection ------------------------------------------------------------------------------------------
    @property
    def in_flight(self) -> tuple[str, ...]:
        """Async groups whose last run has not finished."""
        return tuple(rt.plan.name for rt in self._async if rt.task is not None)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no async group is in flight (for tests and clean shutdowns)."""
        deadline = time.monotonic() + timeout
        for rt in self._async:
            if rt.task is not None and not rt.task.done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True
