"""Declare, then build: the scheduler description and its validation.

:class:`SchedulerBuilder` collects work groups, systems, hooks, observers and plugins.
``build()`` validates everything at once and returns a :class:`~ecs.Scheduler` whose plan is
frozen (tuples of index-ordered groups; nothing can be added to it later). Every rejection
is a typed :class:`~ecs.BuildError` naming the group, the system and the component::

    builder = ecs.SchedulerBuilder(world)
    builder.add_group("physics", [movement, collisions])
    builder.add_group("ai", [steering], mode=ecs.Mode.ASYNC)
    builder.on_post_tick(send_snapshot)
    sched = builder.build()

Rules checked by ``build()``:

* a system appears once, and system names are unique;
* every declared type is a registered component or a resource the world holds;
* each writable component or resource has exactly one owning group (systems inside one
  synchronized group may share writes, because they run in order);
* a system in an async group has ``async_allowed=True``, and an async group declares no
  component writes unless it sets ``allow_writes=True`` (it may replace resources it owns:
  ``ctx.set_resource`` is a deferred command, merged in group order);
* every group option has its documented type (see :class:`~ecs.WorkGroup`), ``workers`` is
  an int >= 1, the clock has ``now_ns()``, and every observer is a
  :class:`~ecs.SchedulerObserver` (or has all of its methods).

A few mistakes cannot wait for ``build()`` and are refused where they are made: a
``systems`` argument that is not an iterable, and a hook that is not callable or is an
``async def`` or generator function (it would never run). A system class whose ``run`` is
``async def`` is refused by ``build()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._checks import is_int
from .._clock import Clock, MonotonicClock
from .._errors import (
    AsyncNotAllowedError,
    AsyncWriteError,
    BuildError,
    DuplicateSystemError,
    OwnershipError,
    PluginError,
    UnknownComponentError,
    UnknownResourceError,
)
from .._summary import SchedulerObserver, observer_problem
from .._system import Interval, System, SystemDescriptor, not_a_plain_function
from ._types import DEFAULT_TIMEOUT, ErrorPolicy, Mode, SystemSampling, Time, WorkGroup

if TYPE_CHECKING:
    from .._world import World
    from ._scheduler import Scheduler

__all__ = ["Hook", "Plan", "PlannedGroup", "PlannedSystem", "Plugin", "SchedulerBuilder"]

Hook = Callable[["Scheduler"], None]
HOOK_KINDS = ("pre_tick", "post_tick", "maintenance")


@runtime_checkable
class Plugin(Protocol):
    """A reusable bundle of components, storages, resources, systems and groups.

    ``register`` is called once, immediately, by ``builder.add_plugin(plugin)``. If it raises,
    the builder is left as it was before the call and a :class:`~ecs.PluginError` naming the
    plugin is raised; what it already did to the world (components registered, resources
    added, entities spawned) stays. A plugin is known by its ``name`` attribute (a string),
    else its class name, and is added once per builder.
    """

    def register(self, world: World, builder: SchedulerBuilder) -> None: ...


@dataclass(frozen=True, slots=True)
class PlannedSystem:
    system: System
    descriptor: SystemDescriptor
    index: int
    group: str


@dataclass(frozen=True, slots=True)
class PlannedGroup:
    spec: WorkGroup
    index: int
    systems: tuple[PlannedSystem, ...]
    components: frozenset[type]
    written_components: frozenset[type]
    resources: frozenset[type]
    written_resources: frozenset[type]
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_async(self) -> bool:
        return self.spec.mode is Mode.ASYNC


@dataclass(frozen=True, slots=True)
class Plan:
    """The frozen, validated run order."""

    groups: tuple[PlannedGroup, ...]
    owners: tuple[tuple[str, str], ...]  # (component or resource name, owning group)

    @property
    def sync_groups(self) -> tuple[PlannedGroup, ...]:
        return tuple(g for g in self.groups if not g.is_async)

    @property
    def async_groups(self) -> tuple[PlannedGroup, ...]:
        return tuple(g for g in self.groups if g.is_async)

    def group(self, name: str) -> PlannedGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)


def _name(t: type) -> str:
    return getattr(t, "__name__", repr(t))


class SchedulerBuilder:
    """Collects a scheduler description; :meth:`build` validates it (see module docstring)."""

    def __init__(
        self,
        world: World,
        *,
        clock: Clock | None = None,
        workers: int | None = None,
        system_sampling: SystemSampling | None = None,
    ) -> None:
        self.world = world
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        #: When observed runs time each system (see :class:`~ecs.SystemSampling`).
        self.system_sampling = system_sampling if system_sampling is not None else SystemSampling()
        self._groups: list[dict[str, Any]] = []
        self._hooks: dict[str, list[Hook]] = {k: [] for k in HOOK_KINDS}
        self._observers: list[SchedulerObserver] = []
        self._plugins: list[str] = []
        if not world.has_resource(Time):
            world.add_resource(Time(), Time)  # refreshed by the scheduler every tick

    # -- collecting ---------------------------------------------------------------------------
    def add_group(
        self,
        name: str,
        systems: Iterable[System] = (),
        *,
        mode: Mode = Mode.SYNCHRONIZED,
        priority: float = 0,
        interval: Interval | None = None,
        error_policy: ErrorPolicy = ErrorPolicy.CONTINUE,
        retry_fallback: ErrorPolicy = ErrorPolicy.CONTINUE,
        queue_limit: int = 4,
        timeout: float = DEFAULT_TIMEOUT,
        allow_writes: bool = False,
    ) -> None:
        """Declare a work group (see :class:`~ecs.WorkGroup` for the options).

        ``systems`` is any iterable of systems (a list, usually); more can be appended with
        :meth:`add_system`. The options are checked by :meth:`build`.
        """
        # Kept as a list (add_system appends to it), so a bad one is refused now, not at build.
        given: object = systems
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise BuildError(f"group {name!r}: systems must be a list of systems, got {systems!r}")
        self._groups.append(
            {
                "name": name,
                "systems": list(systems),
                "mode": mode,
                "priority": priority,
                "interval": interval,
                "error_policy": error_policy,
                "retry_fallback": retry_fallback,
                "queue_limit": queue_limit,
                "timeout": timeout,
                "allow_writes": allow_writes,
            }
        )

    def add_system(self, system: System, group: str) -> None:
        """Append a system to a group declared earlier."""
        for g in self._groups:
            if g["name"] == group:
                g["systems"].append(system)
                return
        raise BuildError(f"add_system({_sys_name(system)!r}): no group named {group!r} has been added")

    def add_hook(self, kind: str, fn: Hook) -> None:
        """Register a ``pre_tick``, ``post_tick`` or ``maintenance`` callback ``fn(scheduler)``."""
        if not isinstance(kind, str) or kind not in self._hooks:
            raise BuildError(f"unknown hook kind {kind!r}; expected one of {HOOK_KINDS}")
        if not callable(fn):
            raise BuildError(f"{kind} hook must be a callable fn(scheduler), got {fn!r}")
        problem = not_a_plain_function(fn)
        if problem is not None:
            raise BuildError(f"{kind} hook {getattr(fn, '__qualname__', fn)!r} {problem}; write a plain def")
        self._hooks[kind].append(fn)

    def on_pre_tick(self, fn: Hook) -> Hook:
        """Before the tick applies commands: read network input, queue host commands."""
        self.add_hook("pre_tick", fn)
        return fn

    def on_post_tick(self, fn: Hook) -> Hook:
        """After everything: send state, persist, record analytics."""
        self.add_hook("post_tick", fn)
        return fn

    def on_maintenance(self, fn: Hook) -> Hook:
        """After the flush, before post-tick hooks: cleanup and bookkeeping."""
        self.add_hook("maintenance", fn)
        return fn

    def add_observer(self, observer: SchedulerObserver) -> None:
        """Attach an observer to the scheduler :meth:`build` returns (checked there)."""
        self._observers.append(observer)

    def add_plugin(self, plugin: Plugin) -> None:
        """Run ``plugin.register(world, self)`` now; undo the builder's changes if it fails."""
        name = getattr(plugin, "name", None) or type(plugin).__qualname__
        if not isinstance(name, str):
            raise PluginError(f"plugin {type(plugin).__qualname__}: its name must be a string, got {name!r}")
        if not callable(getattr(plugin, "register", None)):
            raise PluginError(f"plugin {name!r} has no register(world, builder) method")
        if name in self._plugins:  # its groups and systems would be added twice
            raise PluginError(f"plugin {name!r} was already added to this builder")
        saved = (
            [dict(g, systems=list(g["systems"])) for g in self._groups],
            {k: list(v) for k, v in self._hooks.items()},
            list(self._observers),
            self.workers,
        )
        try:
            plugin.register(self.world, self)
        except Exception as exc:
            self._groups, self._hooks, self._observers, self.workers = saved
            raise PluginError(f"plugin {name!r} failed in register(): {type(exc).__name__}: {exc}") from exc
        self._plugins.append(name)

    @property
    def plugins(self) -> tuple[str, ...]:
        return tuple(self._plugins)

    # -- building -------------------------------------------------------------------------------
    def plan(self) -> Plan:
        """Validate and return the frozen plan (what :meth:`build` uses)."""
        world = self.world
        specs: list[WorkGroup] = []
        names: set[str] = set()
        for g in self._groups:
            # WorkGroup checks the name and options first, so an unhashable name is a BuildError
            spec = WorkGroup(**{**g, "systems": tuple(g["systems"])})
            if spec.name in names:
                raise BuildError(f"two work groups are named {spec.name!r}")
            names.add(spec.name)
            for s in spec.systems:
                if not isinstance(s, System) or not isinstance(getattr(s, "descriptor", None), SystemDescriptor):
                    raise BuildError(
                        f"group {spec.name!r}: {s!r} is not a system (needs a SystemDescriptor and run(ctx))"
                    )
                problem = not_a_plain_function(s.run)
                if problem is not None:
                    raise BuildError(f"group {spec.name!r}: system {s.descriptor.name!r}: run {problem}")
            specs.append(spec)
        order = sorted(range(len(specs)), key=lambda i: (specs[i].priority, i))

        seen_obj: dict[int, str] = {}
        seen_name: dict[str, str] = {}
        owners: dict[type, tuple[str, str]] = {}
        planned: list[PlannedGroup] = []
        index = 0
        for pos, gi in enumerate(order):
            spec = specs[gi]
            systems: list[PlannedSystem] = []
            comps: set[type] = set()
            wcomps: set[type] = set()
            res: set[type] = set()
            wres: set[type] = set()
            for s in spec.systems:
                d = s.descriptor
                if id(s) in seen_obj:
                    raise DuplicateSystemError(
                        f"system {d.name!r} is registered twice (groups {seen_obj[id(s)]!r} and {spec.name!r})"
                    )
                if d.name in seen_name:
                    raise DuplicateSystemError(
                        f"two systems are named {d.name!r} (groups {seen_name[d.name]!r} and {spec.name!r})"
                    )
                seen_obj[id(s)] = spec.name
                seen_name[d.name] = spec.name
                for t in (*d.reads, *d.writes):
                    if world.is_registered(t):
                        comps.add(t)
                    elif world.has_resource(t):
                        res.add(t)
                    elif hasattr(t, "__ecs_component__"):
                        raise UnknownComponentError(
                            f"system {d.name!r} in group {spec.name!r} declares component {_name(t)}, "
                            f"which world {world.name!r} has not registered"
                        )
                    else:
                        raise UnknownResourceError(
                            f"system {d.name!r} in group {spec.name!r} declares {_name(t)}, which is neither a "
                            f"registered component nor a resource of world {world.name!r}"
                        )
                for t in d.writes:
                    (wcomps if world.is_registered(t) else wres).add(t)
                    prev = owners.get(t)
                    if prev is not None and prev[0] != spec.name:
                        raise OwnershipError(
                            f"{_name(t)} is written by group {prev[0]!r} (system {prev[1]!r}) and by group "
                            f"{spec.name!r} (system {d.name!r}); each writable component or resource has one "
                            "owning group"
                        )
                    owners.setdefault(t, (spec.name, d.name))
                if spec.mode is Mode.ASYNC:
                    if not d.async_allowed:
                        raise AsyncNotAllowedError(
                            f"system {d.name!r} is in async group {spec.name!r} but its descriptor does not set "
                            "async_allowed=True"
                        )
                    # Replacing a resource is a deferred command merged in group order, so it is
                    # safe from an async group; writing component columns needs allow_writes.
                    comp_writes = [t for t in d.writes if world.is_registered(t)]
                    if comp_writes and not spec.allow_writes:
                        raise AsyncWriteError(
                            f"system {d.name!r} in async group {spec.name!r} writes "
                            f"{', '.join(_name(t) for t in comp_writes)}; async groups are read-only unless the "
                            "group sets allow_writes=True (replacing a resource with ctx.set_resource is allowed)"
                        )
                systems.append(PlannedSystem(s, d, index, spec.name))
                index += 1
            read_names = tuple(sorted(_name(t) for t in comps | res))
            write_names = tuple(sorted(_name(t) for t in wcomps | wres))
            planned.append(
                PlannedGroup(
                    spec=spec,
                    index=pos,
                    systems=tuple(systems),
                    components=frozenset(comps),
                    written_components=frozenset(wcomps),
                    resources=frozenset(res),
                    written_resources=frozenset(wres),
                    reads=read_names,
                    writes=write_names,
                )
            )
        return Plan(
            groups=tuple(planned),
            owners=tuple(sorted((_name(t), g) for t, (g, _) in owners.items())),
        )

    def build(self) -> Scheduler:
        """Validate the description and return a ready scheduler."""
        from ._scheduler import Scheduler

        # The options are public attributes (a plugin may change workers), so they are checked
        # here rather than in __init__.
        if not is_int(self.workers) or self.workers < 1:
            raise BuildError(f"workers must be an int >= 1, got {self.workers!r}")
        if not callable(getattr(self.clock, "now_ns", None)):
            raise BuildError(f"clock must have a now_ns() method (an ecs.Clock), got {self.clock!r}")
        if not isinstance(self.system_sampling, SystemSampling):
            raise BuildError(f"system_sampling must be an ecs.SystemSampling, got {self.system_sampling!r}")
        for obs in self._observers:
            problem = observer_problem(obs)
            if problem is not None:
                raise BuildError(problem)
        return Scheduler(
            self.world,
            self.plan(),
            clock=self.clock,
            workers=int(self.workers),
            hooks={k: tuple(v) for k, v in self._hooks.items()},
            observers=tuple(self._observers),
            system_sampling=self.system_sampling,
        )


def _sys_name(s: Any) -> str:
    d = getattr(s, "descriptor", None)
    return d.name if isinstance(d, SystemDescriptor) else repr(s)
