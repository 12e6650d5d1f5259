"""Deferred structural changes: the command buffer.

Systems never change the shape of the world directly while queries run; they record
commands, which the scheduler applies at the documented stages of the tick::

    @ecs.system(writes=(Position,))
    def spawner(ctx):
        bullet = ctx.commands.spawn(Position(xy=(0, 0)), Velocity(xy=(0, 9)))
        ctx.commands.add(bullet, Lifetime(ticks=60))     # a pending entity works here too
        ctx.commands.destroy(old_ids)                    # one id or an array of ids

Rules:

* **Values are checked when recorded.** A wrong dtype, shape, unknown component or a
  component given twice raises at the call that recorded it, naming the component, and
  the buffer is left as it was. Applying a buffer therefore cannot fail on bad input.
* **Order is kept.** Commands apply in the order they were recorded; consecutive single
  spawns with the same components and consecutive destroys are coalesced into one batch so
  applying them is vectorised.
* **Stale targets are skipped, not fatal.** A command whose target is not alive when it is
  applied (two systems destroyed the same asteroid in one tick) is skipped and counted in
  ``World.stats.stale_commands``. Direct world calls, by contrast, raise.
* **Adding a component the entity already has overwrites its values; removing one it lacks
  does nothing.**
* **Mark and rewind.** ``m = buf.mark()`` then ``buf.rewind(m)`` forgets everything recorded
  after the mark, which is how a retried system leaves no partial writes.

Ids are assigned when a buffer is applied, in buffer order, so they do not depend on which
worker thread recorded a command first. ``spawn`` returns a :class:`PendingEntity` whose
``entity`` attribute is filled in when the buffer is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, final

import numpy as np
from numpy.typing import NDArray

from ._checks import fits_int64, is_int
from ._entity import INDEX_BITS
from ._errors import CommandError, DuplicateComponentError, FieldValueError, ResourceError

if TYPE_CHECKING:
    from ._component import ComponentSpec
    from ._world import World

__all__ = ["ApplyStats", "CommandBuffer", "Mark", "PendingBatch", "PendingEntity"]

SPAWN: Final = 0
SPAWN_BATCH: Final = 1
DESTROY: Final = 2
ADD: Final = 3
REMOVE: Final = 4
SET_RESOURCE: Final = 5

KIND_NAMES: Final = ("spawn", "spawn_batch", "destroy", "add", "remove", "set_resource")


@final
class PendingEntity:
    """An entity that a buffer will spawn. ``entity`` is its id once the buffer is applied."""

    __slots__ = ("_buffer", "entity")

    def __init__(self, buffer: CommandBuffer) -> None:
        self._buffer: CommandBuffer | None = buffer
        self.entity: int | None = None

    def __repr__(self) -> str:
        return f"PendingEntity({self.entity if self.entity is not None else 'not applied'})"


@final
class PendingBatch:
    """Entities a ``spawn_batch`` will create; ``entities`` is filled in when applied."""

    __slots__ = ("_buffer", "count", "entities")

    def __init__(self, buffer: CommandBuffer, count: int) -> None:
        self._buffer: CommandBuffer | None = buffer
        self.count = count
        self.entities: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in a buffer to :meth:`CommandBuffer.rewind` to."""

    commands: int
    last_size: int
    serial: int
    #: the buffer that gave the mark (a mark of another buffer is refused)
    buffer: CommandBuffer | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ApplyStats:
    """What applying one or more buffers did."""

    commands: int = 0
    spawned: int = 0
    destroyed: int = 0
    added: int = 0
    removed: int = 0
    resources: int = 0
    stale: int = 0

    def merge(self, other: ApplyStats) -> None:
        self.commands += other.commands
        self.spawned += other.spawned
        self.destroyed += other.destroyed
        self.added += other.added
        self.removed += other.removed
        self.resources += other.resources
        self.stale += other.stale


Target = Any  # int | np.integer | PendingEntity | PendingBatch | array-like of ints


class CommandBuffer:
    """An ordered list of structural changes for one world, applied later in one go.

    Create one with ``world.commands()``; inside a system use ``ctx.commands``.
    """

    __slots__ = ("_cmds", "_last_size", "_serial", "world")

    def __init__(self, world: World) -> None:
        self.world = world
        self._cmds: list[list[Any]] = []
        #: items in the last command when it is a coalescing run (spawn or destroy)
        self._last_size = 0
        #: bumped on clear/rewind so marks taken earlier can be checked
        self._serial = 0

    def __len__(self) -> int:
        """Number of recorded commands (a coalesced run counts each item)."""
        total = 0
        for cmd in self._cmds:
            total += len(cmd[2]) if cmd[0] in (SPAWN, DESTROY) else 1
        return total

    def __bool__(self) -> bool:
        return bool(self._cmds)

    @property
    def kinds(self) -> list[str]:
        """The kind of each recorded command, for debugging and tests."""
        return [KIND_NAMES[c[0]] for c in self._cmds]

    # -- recording --------------------------------------------------------------------------
    def spawn(self, *components: Any) -> PendingEntity:
        """Record the creation of one entity holding these component instances."""
        specs, values = self._check_instances(components, "spawn")
        token = PendingEntity(self)
        types = tuple(s.type for s in specs)
        last = self._cmds[-1] if self._cmds else None
        if last is not None and last[0] == SPAWN and last[1] == types:
            last[2].append(values)
            last[3].append(token)
            self._last_size = len(last[2])
        else:
            self._cmds.append([SPAWN, types, [values], [token]])
            self._last_size = 1
        return token

    def spawn_batch(self, count: int, components: Mapping[type, Any]) -> PendingBatch:
        """Record the creation of ``count`` entities at once.

        ``components`` maps each component type to its values: a mapping of field name to an
        array of ``count`` rows (or one value to broadcast), a component instance to copy to
        every entity, a bare array for a one-field component, or ``None`` for a tag. Missing
        fields are zero.
        """
        count = check_batch(count, components)
        values: dict[type, dict[str, NDArray[Any]]] = {}
        for ctype, given in components.items():
            spec = self.world._spec(ctype)
            values[ctype] = _batch_values(spec, given, count)
        token = PendingBatch(self, count)
        self._cmds.append([SPAWN_BATCH, tuple(values), count, values, token])
        self._last_size = 0
        return token

    def destroy(self, target: Target) -> None:
        """Record the destruction of one entity or an array of them."""
        ids = self._targets(target, "destroy")
        last = self._cmds[-1] if self._cmds else None
        if last is not None and last[0] == DESTROY:
            last[2].extend(ids)
            self._last_size = len(last[2])
        else:
            self._cmds.append([DESTROY, None, ids])
            self._last_size = len(ids)

    def add(self, target: Target, component: Any, values: Any = None) -> None:
        """Record adding a component to one or many entities.

        Pass an instance (``add(e, Health(hp=3))``), or the type and per-entity values
        (``add(ids, Health, {"hp": hps})``). An entity that already has the component gets
        the new values.
        """
        ids = self._targets(target, "add")
        if isinstance(component, type):
            spec = self.world._spec(component)
            vals = _batch_values(spec, values, _count(ids))
        else:
            if values is not None:
                raise CommandError("add: give either a component instance or a type with values, not both")
            spec = self.world._spec(type(component))
            one = _instance_values(spec, component)
            vals = {k: _broadcast_one(v, _count(ids)) for k, v in one.items()}
        self._cmds.append([ADD, spec.type, ids, vals])
        self._last_size = 0

    def remove(self, target: Target, component: type) -> None:
        """Record removing a component from one or many entities (absent: nothing happens)."""
        ids = self._targets(target, "remove")
        spec = self.world._spec(component)
        self._cmds.append([REMOVE, spec.type, ids])
        self._last_size = 0

    def set_resource(self, value: Any, key: type | None = None) -> None:
        """Record replacing a resource (keyed by ``key`` or by ``type(value)``)."""
        rtype = resource_key(value, key, "set_resource")
        self._cmds.append([SET_RESOURCE, rtype, value])
        self._last_size = 0

    # -- mark / rewind ----------------------------------------------------------------------
    def mark(self) -> Mark:
        """A position to rewind to; cheap (no copy)."""
        return Mark(len(self._cmds), self._last_size, self._serial, self)

    def rewind(self, mark: Mark) -> None:
        """Forget every command recorded after ``mark`` (a mark this buffer gave)."""
        if not isinstance(mark, Mark):
            raise CommandError(f"rewind: expected a Mark from this buffer's mark(), got {mark!r}")
        if mark.buffer is not self:
            raise CommandError("rewind: this mark was not taken from this buffer (mark() of another buffer?)")
        if mark.serial != self._serial or mark.commands > len(self._cmds):
            raise CommandError("rewind: this mark belongs to an earlier state of the buffer")
        self._truncate(mark.commands, mark.last_size)

    def _truncate(self, n: int, last_size: int) -> None:
        # The scheduler's unchecked fast path for mark/rewind around every system run.
        del self._cmds[n:]
        if n and self._cmds[-1][0] in (SPAWN, DESTROY):
            last = self._cmds[-1]
            if last[0] == SPAWN:
                for token in last[3][last_size:]:
                    token._buffer = None
                del last[3][last_size:]
            del last[2][last_size:]
        self._last_size = last_size if n else 0

    def clear(self) -> None:
        """Forget everything (after the buffer was applied, or to discard it)."""
        self._cmds.clear()
        self._last_size = 0
        self._serial += 1

    def extend(self, other: CommandBuffer) -> None:
        """Append another buffer's commands after this one's (used to merge, in group order)."""
        if not isinstance(other, CommandBuffer):
            raise CommandError(f"extend: expected a CommandBuffer, got {type(other).__name__}")
        if other.world is not self.world:
            raise CommandError("extend: buffers belong to different worlds")
        for cmd in other._cmds:
            # Copy the run lists so later coalescing here cannot change ``other``.
            self._cmds.append([c.copy() if isinstance(c, list) else c for c in cmd])
        self._last_size = 0

    # -- validation helpers -------------------------------------------------------------------
    def _check_instances(
        self, components: Iterable[Any], what: str
    ) -> tuple[list[ComponentSpec], dict[type, dict[str, Any]]]:
        specs: list[ComponentSpec] = []
        values: dict[type, dict[str, Any]] = {}
        for inst in components:
            if isinstance(inst, type):
                spec = self.world._spec(inst)
                if not spec.is_tag:
                    raise CommandError(
                        f"{what}: pass an instance of {spec.name}, not the class (only tags may be a class)"
                    )
                inst = spec.type()
            spec = self.world._spec(type(inst))
            if spec.type in values:
                raise DuplicateComponentError(f"{what}: component {spec.name} given twice")
            values[spec.type] = _instance_values(spec, inst)
            specs.append(spec)
        return specs, values

    def _targets(self, target: Target, what: str) -> list[Any]:
        """Normalise a target to a list of parts: int64 arrays and pending tokens."""
        if isinstance(target, PendingEntity):
            self._check_token(target._buffer, target.entity, what)
            return [target if target.entity is None else np.array([target.entity], dtype=np.int64)]
        if isinstance(target, PendingBatch):
            self._check_token(target._buffer, target.entities, what)
            return [target if target.entities is None else target.entities.copy()]
        if is_int(target):
            if not fits_int64(int(target)):
                raise CommandError(f"{what}: {int(target)} is not an entity id (out of the 64-bit range)")
            return [np.array([int(target)], dtype=np.int64)]
        try:
            arr = np.asarray(target)
        except (TypeError, ValueError):
            arr = np.asarray([], dtype=object)
        if arr.ndim == 1 and (arr.size == 0 or arr.dtype.kind in "iu"):
            return [arr.astype(np.int64, copy=True)]
        if arr.ndim == 1 and arr.dtype == object:
            out: list[Any] = []
            for item in arr.tolist():
                out.extend(self._targets(item, what))
            return out
        raise CommandError(f"{what}: expected an entity id, a pending entity or an array of ids, got {target!r}")

    def _check_token(self, owner: CommandBuffer | None, resolved: Any, what: str) -> None:
        if resolved is None and owner is not self:
            raise CommandError(
                f"{what}: this pending entity belongs to another buffer that has not been applied yet"
                if owner is not None
                else f"{what}: this pending entity was rewound and will never exist"
            )


def resource_key(value: Any, key: Any, what: str) -> type:
    """The type a resource is stored under: ``key`` (checked against ``value``) or ``type(value)``."""
    if key is None:
        return type(value)
    if not isinstance(key, type):
        raise ResourceError(f"{what}: the key must be a type, got {key!r}")
    if not isinstance(value, key):
        raise ResourceError(f"{what}: value of type {type(value).__name__} is not a {key.__qualname__}")
    return key


def check_resource_key(key: Any, what: str) -> type:
    """``key`` when it can name a resource (a type), else a :class:`ResourceError`."""
    if not isinstance(key, type):
        raise ResourceError(f"{what}: resources are keyed by type, got {key!r}")
    return key


#: more entities than a world has slots for cannot be spawned (32 bits of slot index)
MAX_BATCH: Final = 1 << INDEX_BITS


def check_batch(count: Any, components: Any) -> int:
    """``count`` as an int once it is a possible number of entities and ``components`` a mapping.

    Checked when a batch is recorded, so applying the buffer later cannot fail on it halfway.
    """
    if not is_int(count) or not 0 <= count <= MAX_BATCH:
        raise CommandError(f"spawn_batch: count must be an int from 0 to {MAX_BATCH}, got {count!r}")
    if not isinstance(components, Mapping):
        raise CommandError(
            f"spawn_batch: components must map component types to values, got {type(components).__name__}"
        )
    return int(count)


def _count(parts: list[Any]) -> int:
    return sum(len(p) if not isinstance(p, PendingEntity) else 1 for p in parts)


def _instance_values(spec: ComponentSpec, inst: Any) -> dict[str, Any]:
    return spec.values_of(inst)


def _broadcast_one(value: Any, count: int) -> NDArray[Any]:
    if isinstance(value, np.ndarray):
        return np.broadcast_to(value, (count, *value.shape))
    if isinstance(value, np.generic):
        return np.full(count, value, dtype=value.dtype)
    out = np.empty(count, dtype=object)
    out.fill(value)  # fill, not slice assignment: a list value must stay one object
    return out


def _batch_values(spec: ComponentSpec, given: Any, count: int, copy: bool = True) -> dict[str, NDArray[Any]]:
    """Normalise the many accepted spellings of batch values to {field: (count, ...) array}."""
    if given is None or (isinstance(given, type) and given is spec.type):
        if not spec.is_tag and given is not None:
            raise CommandError(f"component {spec.name}: pass values, not the class")
        given = {}
    if isinstance(given, spec.type):
        one = spec.values_of(given)
        return {f.name: f.coerce_many(one[f.name], count, spec.name) for f in spec.fields}
    if not isinstance(given, Mapping):
        if len(spec.fields) != 1:
            raise FieldValueError(
                f"component {spec.name} has {len(spec.fields)} fields; pass a mapping of field name to values"
            )
        f = spec.fields[0]
        return {f.name: f.coerce_many(given, count, spec.name, copy)}
    unknown = set(given) - set(spec.field_names)
    if unknown:
        raise FieldValueError(f"component {spec.name} has no field(s) {sorted(unknown)}")
    out: dict[str, NDArray[Any]] = {}
    for f in spec.fields:
        if f.name in given:
            out[f.name] = f.coerce_many(given[f.name], count, spec.name, copy)
        else:
            out[f.name] = np.broadcast_to(f.empty(1), (count, *f.shape)) if not f.is_object else f.empty(count)
    return out
