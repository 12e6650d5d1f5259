"""Systems: small typed callables that declare what they touch.

A system is anything with a ``descriptor`` (:class:`SystemDescriptor`) and a
``run(ctx)`` method. Two ways to write one::

    @ecs.system(reads=(Velocity,), writes=(Position,))
    def movement(ctx: ecs.ExecutionContext) -> None:
        for batch in ctx.query(Position, Velocity):
            batch[Position].xy += batch[Velocity].xy * ctx.dt

    class Spawner:
        descriptor = ecs.SystemDescriptor("spawner", reads=(SpawnTimer,), interval=ecs.Interval(seconds=0.5))

        def run(self, ctx: ecs.ExecutionContext) -> None:
            ctx.commands.spawn(Position(xy=(0, 0)), Velocity(xy=(1, 0)))

The declaration is enforced by the data: ``ctx.query`` refuses components outside
``reads | writes`` (:class:`AccessError` naming system and component), and columns of
components only *read* arrive as numpy arrays with ``writeable=False``. Structural changes
(spawn, destroy, add, remove) go through ``ctx.commands``; they are applied at fixed points
of the tick in a fixed order, so they need no write declaration.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload, runtime_checkable

from ._checks import is_finite_real, is_int
from ._errors import AccessError, BuildError, EcsError, UnregisteredComponentError

if TYPE_CHECKING:
    from ._commands import CommandBuffer
    from ._query import Batch

__all__ = [
    "ExecutionContext",
    "Interval",
    "System",
    "SystemDescriptor",
    "system",
]


def not_a_plain_function(fn: object) -> str | None:
    """Why ``fn`` cannot be called as ``fn(arg)`` by the scheduler, or None when it can.

    The scheduler calls systems and hooks and ignores what they return, so a coroutine
    function (``async def``) would never run its body (Python only warns "never awaited"),
    and a generator function would stop at its first ``yield`` before running anything.
    """
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return "is an async def function; the scheduler calls it without awaiting, so its body would never run"
    if inspect.isgeneratorfunction(fn):
        return "is a generator function (it yields); calling it would run none of its body"
    return None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Interval:
    """Run every ``ticks`` ticks, or every ``seconds`` of game time (sum of ``dt``).

    Exactly one of the two must be given: ``ticks`` a whole number >= 1 (``Interval(ticks=3)``),
    or ``seconds`` a finite number > 0 (``Interval(seconds=0.5)``). Anything else (a string,
    a bool, ``ticks=1.5``, NaN or infinite seconds) raises :class:`~ecs.BuildError` here, when
    the interval is written, rather than at the first tick that checks it.

    A group or system with an interval runs on the first tick, then whenever the interval
    has elapsed; other ticks report ``SKIPPED_INTERVAL``. Seconds are game time, so a replay
    at 10x speed keeps the pattern.
    """

    ticks: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.ticks is None) == (self.seconds is None):
            raise BuildError("Interval: give exactly one of ticks= or seconds=")
        if self.ticks is not None:
            if not is_int(self.ticks) or self.ticks < 1:
                raise BuildError(f"Interval: ticks must be >= 1 and a whole number, got {self.ticks!r}")
            # numpy integers become ints: the hot loop does arithmetic on them every tick
            object.__setattr__(self, "ticks", int(self.ticks))
        if self.seconds is not None:
            # inf would make a "run once" interval, and an infinite value breaks the trace header
            if not is_finite_real(self.seconds) or self.seconds <= 0:
                raise BuildError(f"Interval: seconds must be > 0 and finite, got {self.seconds!r}")
            if type(self.seconds) not in (int, float):  # numpy scalars, Fractions
                object.__setattr__(self, "seconds", float(self.seconds))


@dataclass(frozen=True, slots=True)
class SystemDescriptor:
    """What a system is called and what it touches.

    ``reads`` and ``writes`` list component types and resource types alike; the scheduler
    tells them apart by what the world has registered. A type in ``writes`` may also be
    read. ``async_allowed`` marks the system safe to run in an async group (it must then
    only read, unless its group sets ``allow_writes``).

    ``reads`` and ``writes`` take any iterable of types (stored as tuples); ``interval`` is an
    :class:`Interval` or None. A bad value raises :class:`~ecs.BuildError` naming the system,
    including the easy slip ``reads=Position`` for ``reads=(Position,)``.
    """

    name: str
    reads: tuple[type, ...] = ()
    writes: tuple[type, ...] = ()
    interval: Interval | None = None
    async_allowed: bool = False
    doc: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise BuildError(f"SystemDescriptor: name must be a non-empty str, got {self.name!r}")
        object.__setattr__(self, "reads", _types(self.name, "reads", self.reads))
        object.__setattr__(self, "writes", _types(self.name, "writes", self.writes))
        if self.interval is not None and not isinstance(self.interval, Interval):
            raise BuildError(
                f"system {self.name!r}: interval must be an ecs.Interval or None, got {self.interval!r} "
                "(write Interval(ticks=3) or Interval(seconds=0.5))"
            )
        if not isinstance(self.async_allowed, bool):
            raise BuildError(f"system {self.name!r}: async_allowed must be True or False, got {self.async_allowed!r}")

    @property
    def access(self) -> frozenset[type]:
        """Everything the system may touch."""
        return frozenset(self.reads) | frozenset(self.writes)


def _types(system: str, arg: str, value: object) -> tuple[type, ...]:
    """``value`` as a tuple of types, or a BuildError naming the system and the argument."""
    # A lone class is iterable when it is an Enum (or has a metaclass __iter__), so test it
    # before iterating: ``reads=Position`` must not silently become the class's members.
    if isinstance(value, type | str | bytes):
        raise BuildError(f"system {system!r}: {arg} must be a tuple of types, got {value!r}; write {arg}=(X,) for one")
    try:
        types = tuple(cast(Iterable[Any], value))
    except TypeError:
        raise BuildError(f"system {system!r}: {arg} must be a tuple of types, got {value!r}") from None
    for t in types:
        if not isinstance(t, type):
            raise BuildError(
                f"system {system!r}: {arg} must hold component or resource types, got {t!r} in {arg}={value!r}"
            )
    return types


@runtime_checkable
class System(Protocol):
    """A descriptor plus ``run(ctx)``."""

    @property
    def descriptor(self) -> SystemDescriptor: ...

    def run(self, ctx: ExecutionContext) -> None: ...


class FunctionSystem:
    """A plain function wrapped by :func:`system`; calling it calls the function."""

    __slots__ = ("__name__", "descriptor", "fn")

    def __init__(self, fn: Callable[[ExecutionContext], None], descriptor: SystemDescriptor) -> None:
        self.fn = fn
        self.descriptor = descriptor
        self.__name__ = descriptor.name

    def run(self, ctx: ExecutionContext) -> None:
        self.fn(ctx)

    def __call__(self, ctx: ExecutionContext) -> None:
        self.fn(ctx)

    def __repr__(self) -> str:
        return f"<system {self.descriptor.name}>"


@overload
def system(fn: Callable[[ExecutionContext], None], /) -> FunctionSystem: ...
@overload
def system(
    *,
    name: str | None = None,
    reads: Iterable[type] = (),
    writes: Iterable[type] = (),
    interval: Interval | None = None,
    async_allowed: bool = False,
) -> Callable[[Callable[[ExecutionContext], None]], FunctionSystem]: ...
def system(
    fn: Callable[[ExecutionContext], None] | None = None,
    /,
    *,
    name: str | None = None,
    reads: Iterable[type] = (),
    writes: Iterable[type] = (),
    interval: Interval | None = None,
    async_allowed: bool = False,
) -> FunctionSystem | Callable[[Callable[[ExecutionContext], None]], FunctionSystem]:
    """Decorate ``def f(ctx) -> None`` as a system; the name defaults to the function's.

    Use it bare (``@ecs.system``) or with keyword options (``@ecs.system(reads=(Velocity,))``).
    The options are checked when the function is decorated (see :class:`SystemDescriptor`);
    a bad one raises :class:`~ecs.BuildError` naming the system. So does an ``async def`` or
    generator function: the scheduler calls a system and does not await or iterate it, so
    its body would silently never run.
    """
    if fn is not None and not callable(fn):
        # ecs.system(5) or ecs.system((Position,)): options are keyword-only
        raise BuildError(f"ecs.system: expected a function to decorate, got {fn!r}; pass options by keyword")

    def wrap(f: Callable[[ExecutionContext], None]) -> FunctionSystem:
        if not callable(f):
            raise BuildError(f"ecs.system(...): can only decorate a function f(ctx), got {f!r}")
        problem = not_a_plain_function(f)
        if problem is not None:
            raise BuildError(f"system {name or getattr(f, '__qualname__', f)!r} {problem}; write a plain def f(ctx)")
        desc = SystemDescriptor(
            name or cast(str, getattr(f, "__name__", "")),
            reads=reads,  # type: ignore[arg-type]  # SystemDescriptor checks and stores a tuple
            writes=writes,  # type: ignore[arg-type]
            interval=interval,
            async_allowed=async_allowed,
            doc=f.__doc__ or "",
        )
        return FunctionSystem(f, desc)

    if fn is not None:
        return wrap(fn)
    return wrap


class _Source(Protocol):
    """What a context reads from: the live world, or an async group's frozen copy."""

    def _query_for(
        self, comps: tuple[type, ...], inc: frozenset[type], exc: frozenset[type], ro: frozenset[type]
    ) -> tuple[int, Iterator[Batch]]: ...

    def get(self, eid: int, ctype: type[T]) -> T: ...

    def has(self, eid: int, ctype: type) -> bool: ...

    def is_alive(self, eid: int) -> bool: ...


_NO_TYPES: frozenset[type] = frozenset()


@dataclass(slots=True)
class TickState:
    """Per-tick values shared by every context (set once per tick, not once per system)."""

    dt: float = 0.0
    tick: int = 0
    elapsed: float = 0.0
    #: the group whose systems are running now, else None: a context refuses use outside its run
    running: str | None = None


class ExecutionContext:
    """What a running system sees: time, its queries, its commands, resources and a logger.

    One context exists per system and is reused every tick. Everything it hands out is
    limited to the system's declared access, and only while its group runs: a context kept
    by a system and used after it returned (between ticks, or from another thread) raises
    :class:`~ecs.EcsError` naming the system instead of reading or changing a world that has
    moved on.
    """

    __slots__ = (
        "_allowed",
        "_components",
        "_group",
        "_matched",
        "_queried",
        "_readable_res",
        "_resources",
        "_source",
        "_state",
        "_writable",
        "_writable_res",
        "commands",
        "descriptor",
        "logger",
    )

    def __init__(
        self,
        descriptor: SystemDescriptor,
        group: str,
        state: TickState,
        commands: CommandBuffer,
        components: frozenset[type],
        resources: dict[type, Any],
    ) -> None:
        self.descriptor = descriptor
        self._group = group
        self._state = state
        self.commands = commands
        self._components = components
        self._allowed = descriptor.access & components
        self._writable = frozenset(descriptor.writes) & components
        self._readable_res = descriptor.access - components
        self._writable_res = frozenset(descriptor.writes) - components
        self._resources = resources
        self._source: _Source | None = None
        self._matched = 0
        self._queried = False
        self.logger = logging.getLogger(f"ecs.system.{descriptor.name}")

    def __repr__(self) -> str:
        return f"<ExecutionContext {self.descriptor.name} in {self._group} tick {self._state.tick}>"

    # -- time ------------------------------------------------------------------------------------
    @property
    def dt(self) -> float:
        """Seconds of game time this tick advances."""
        return self._state.dt

    @property
    def tick(self) -> int:
        """The tick number, starting at 0."""
        return self._state.tick

    @property
    def elapsed(self) -> float:
        """Game time before this tick (sum of earlier ``dt``)."""
        return self._state.elapsed

    @property
    def group(self) -> str:
        return self._group

    # -- data ------------------------------------------------------------------------------------
    def _denied(self, what: Any, verb: str) -> AccessError:
        name = getattr(what, "__qualname__", repr(what))
        return AccessError(
            f"system {self.descriptor.name!r} (group {self._group!r}) {verb} {name}, "
            f"which it did not declare; add it to reads= or writes="
        )

    def _outside(self) -> EcsError:
        return EcsError(
            f"the context of system {self.descriptor.name!r} (group {self._group!r}) was used outside the "
            "system's run; use ctx only inside the call that received it"
        )

    def _allows(self, what: object, allowed: frozenset[type]) -> bool:
        try:
            return what in allowed
        except TypeError:  # unhashable: a list of types where one type was meant
            return False

    def _filter(self, given: Any, arg: str) -> frozenset[type]:
        """A ``without=``/``with_=`` argument as registered component types, or a typed error."""
        if isinstance(given, type | str | bytes) or not isinstance(given, Iterable):
            raise UnregisteredComponentError(
                f"system {self.descriptor.name!r}: query {arg}= takes an iterable of component types, got {given!r}"
            )
        types = tuple(given)
        for c in types:
            if not self._allows(c, self._components):
                raise UnregisteredComponentError(
                    f"system {self.descriptor.name!r}: query {arg}= lists {c!r}, which is not a registered component"
                )
        return frozenset(types)

    def query(self, *components: type, without: Iterable[type] = (), with_: Iterable[type] = ()) -> Iterator[Batch]:
        """Batches over entities with all ``components``; see :meth:`World.query`.

        ``without`` and ``with_`` filter on presence only and need no declaration; they take
        iterables of registered component types (anything else raises
        :class:`~ecs.UnregisteredComponentError` naming the system).
        """
        if self._state.running is not self._group:
            raise self._outside()
        allowed = self._allowed
        for c in components:
            try:
                if c in allowed:
                    continue
            except TypeError:  # unhashable
                pass
            raise self._denied(c, "queried")
        comps = tuple(components)
        exc = _NO_TYPES if type(without) is tuple and not without else self._filter(without, "without")
        inc = frozenset(comps)
        if not (type(with_) is tuple and not with_):
            inc |= self._filter(with_, "with_")
        assert self._source is not None
        ro = frozenset(comps) - self._writable
        rows, it = self._source._query_for(comps, inc, exc, ro)
        self._matched += rows
        self._queried = True
        return it

    def get(self, eid: int, ctype: type[T]) -> T:
        """A copy of one entity's component (slow path; declared access required)."""
        if self._state.running is not self._group:
            raise self._outside()
        if not self._allows(ctype, self._allowed):
            raise self._denied(ctype, "read")
        assert self._source is not None
        return self._source.get(eid, ctype)

    def has(self, eid: int, ctype: type) -> bool:
        """Whether a live entity has ``ctype`` (a registered component; no declaration needed)."""
        if self._state.running is not self._group:
            raise self._outside()
        if not self._allows(ctype, self._components):
            raise UnregisteredComponentError(
                f"system {self.descriptor.name!r}: has() takes a registered component type, got {ctype!r}"
            )
        assert self._source is not None
        return self._source.has(eid, ctype)

    def is_alive(self, eid: int) -> bool:
        if self._state.running is not self._group:
            raise self._outside()
        assert self._source is not None
        return self._source.is_alive(eid)

    def resource(self, key: type[T]) -> T:
        """A declared resource. Mutate it in place only if you declared it in ``writes``."""
        if self._state.running is not self._group:
            raise self._outside()
        if not self._allows(key, self._readable_res):
            raise self._denied(key, "read resource")
        try:
            return cast(T, self._resources[key])
        except KeyError:
            raise AccessError(f"system {self.descriptor.name!r}: resource {key.__qualname__} is not present") from None

    def set_resource(self, value: Any, key: type | None = None) -> None:
        """Replace a resource (deferred, like every command); needs a write declaration."""
        if self._state.running is not self._group:
            raise self._outside()
        rtype = key if key is not None else type(value)
        if not self._allows(rtype, self._writable_res):
            raise self._denied(rtype, "set resource")
        self.commands.set_resource(value, key)
