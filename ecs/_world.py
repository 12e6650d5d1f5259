"""The World: entities, their components, and resources.

::

    import numpy as np
    import ecs

    @ecs.component
    class Position:
        xy: ecs.f32x2

    @ecs.component
    class Velocity:
        xy: ecs.f32x2

    world = ecs.World(components=[Position, Velocity])
    ids = world.spawn_batch(1000, {Position: {"xy": np.zeros((1000, 2))}, Velocity: (1.0, 0.5)})
    for batch in world.query(Position, Velocity):
        batch[Position].xy += batch[Velocity].xy * 0.016
    print(world.get(ids[0], Position))

Direct calls (``spawn``, ``destroy``, ``add``, ``remove``) change the world immediately and
raise on a stale id. They are for setup, tools and tests; inside a tick, systems record
commands instead (``ctx.commands``), because changing tables while a query iterates them
would move rows under its feet. The world refuses direct structural changes while any
query is running (:class:`StructuralChangeError`).

Every structural operation is vectorised per archetype: destroying 1k entities costs a few
numpy calls per table they live in, whatever the world's size, and queries' cached
archetype lists are only appended to when a new archetype appears, never rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast, overload

import numpy as np
from numpy.typing import NDArray

from ._checks import fits_int64, is_int
from ._commands import (
    ADD,
    DESTROY,
    MAX_BATCH,
    REMOVE,
    SET_RESOURCE,
    SPAWN,
    SPAWN_BATCH,
    ApplyStats,
    CommandBuffer,
    PendingBatch,
    PendingEntity,
    _batch_values,
    check_batch,
    check_resource_key,
    resource_key,
)
from ._component import ComponentSpec, component_spec
from ._entity import DEAD, INDEX_MASK, EntityID, EntityRegistry, describe
from ._errors import (
    CommandError,
    ComponentDefinitionError,
    DuplicateComponentError,
    EcsError,
    MissingComponentError,
    ResourceError,
    StaleEntityError,
    StorageError,
    StructuralChangeError,
    UnregisteredComponentError,
)
from ._query import Batch, iter_batches
from ._snapshot import WorldSnapshot, register_codec, restore_snapshot, take_snapshot
from .storage import (
    DEFAULT_CHUNK_ROWS,
    Archetype,
    ArchetypeStorage,
    ComponentStorage,
    DenseStorage,
    SparseStorage,
    StorageFactory,
)
from .storage._protocol import gather_checked

__all__ = ["World", "WorldStats"]

T = TypeVar("T")
ARCHETYPE: Final = "archetype"
_EMPTY_IDS: Final = np.zeros(0, dtype=np.int64)


@dataclass(slots=True)
class WorldStats:
    """Counters a host or the profiler may read; they only ever grow."""

    stale_commands: int = 0
    archetypes_created: int = 0
    buffers_applied: int = 0


def _as_ids(target: Any) -> NDArray[np.int64]:
    if is_int(target):
        if not fits_int64(int(target)):  # no entity has it; numpy could not hold it
            raise StaleEntityError(f"{int(target)} is not an entity id (out of the 64-bit range)", -1)
        return np.array([int(target)], dtype=np.int64)
    arr = np.asarray(target)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise StaleEntityError(f"expected an entity id or a 1-D array of ids, got {target!r}", -1)
    return arr.astype(np.int64, copy=False)


class World:
    """Holds every entity, component value and resource of a game or server."""

    def __init__(
        self,
        components: Iterable[type] = (),
        *,
        name: str = "world",
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        capacity: int = 1024,
        seed: int | None = None,
    ) -> None:
        if not is_int(chunk_rows) or chunk_rows < 16 or chunk_rows & (chunk_rows - 1):
            raise StorageError(f"chunk_rows must be a power of two >= 16, got {chunk_rows!r}")
        if not is_int(capacity) or not 0 <= capacity <= MAX_BATCH:
            raise StorageError(f"capacity must be an int from 0 to {MAX_BATCH}, got {capacity!r}")
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise ResourceError(f"seed must be None or a non-negative int, got {seed!r} ({exc})") from None
        self.name = name
        self.chunk_rows = chunk_rows
        self.registry = EntityRegistry(capacity)
        self.stats = WorldStats()
        self._specs: dict[type, ComponentSpec] = {}
        self._names: dict[str, type] = {}
        self._order: dict[type, int] = {}
        self._kind: dict[type, str] = {}
        self._storages: dict[type, ComponentStorage] = {}
        self._factories: dict[str, StorageFactory] = {
            "dense": lambda spec: DenseStorage(spec, capacity),
            "sparse": SparseStorage,
        }
        self._archetypes: list[Archetype] = []
        self._by_set: dict[frozenset[type], Archetype] = {}
        # the same, by the tuple a spawn command lists its types in (skips building a set;
        # a restore clears both)
        self._by_types: dict[tuple[type, ...], Archetype] = {}
        self._edges: dict[tuple[int, type, bool], Archetype] = {}
        self._query_cache: dict[tuple[frozenset[type], frozenset[type]], list[Archetype]] = {}
        self._resources: dict[type, Any] = {}
        self._iterating = 0
        self._locked_by: str | None = None
        # Rows freed by destroys inside one World.apply, per archetype id: spawns later in the
        # same buffer fill them; the rest are compacted before any other kind of change.
        # rows destroys left empty, per archetype: ascending int32 parts (see _destroy)
        self._holes: dict[int, list[NDArray[np.integer[Any]]]] = {}
        self._root = self._archetype_for(frozenset())
        if isinstance(components, type) or not isinstance(components, Iterable):
            raise ComponentDefinitionError(f"World(components=...) takes a list of component types, got {components!r}")
        for ctype in components:
            self.register_component(ctype)
        self.add_resource(rng, np.random.Generator)

    def __repr__(self) -> str:
        return (
            f"World({self.name!r}: {len(self)} entities, {len(self._specs)} components, "
            f"{len(self._archetypes)} archetypes)"
        )

    def __len__(self) -> int:
        """Number of live entities."""
        return len(self.registry)

    # -- registration ------------------------------------------------------------------------
    def register_storage(self, name: str, factory: StorageFactory) -> None:
        """Make a custom storage backend available under ``name``.

        ``name`` is a non-empty str and ``factory`` a callable ``factory(spec)`` returning a
        :class:`~ecs.storage.ComponentStorage`; anything else raises :class:`~ecs.StorageError`.
        """
        if not isinstance(name, str) or not name:
            raise StorageError(f"register_storage: the name must be a non-empty str, got {name!r}")
        if name == ARCHETYPE or name in self._factories:
            raise StorageError(f"storage {name!r} is already registered")
        if not callable(factory):
            raise StorageError(f"register_storage({name!r}): factory must be a callable factory(spec), got {factory!r}")
        self._factories[name] = factory

    def register_component(self, ctype: type, storage: str | None = None) -> ComponentSpec:
        """Register a component type; ``storage`` overrides the type's default backend.

        Registering the same type again with the same storage is a no-op.
        """
        spec = component_spec(ctype)
        if storage is not None and (not isinstance(storage, str) or not storage):
            raise StorageError(
                f"component {spec.name}: storage must be a storage name (a str) or None, got {storage!r}"
            )
        kind = storage or spec.storage_hint or ("sparse" if spec.is_object else ARCHETYPE)
        if ctype in self._specs:
            if self._kind[ctype] != kind:
                raise StorageError(
                    f"component {spec.name} is already registered with storage {self._kind[ctype]!r}, not {kind!r}"
                )
            return spec
        other = self._names.get(spec.name)
        if other is not None:
            raise ComponentDefinitionError(
                f"two different component types are named {spec.name!r} "
                f"({other.__module__} and {ctype.__module__}); names must be unique in a world"
            )
        if kind == ARCHETYPE:
            store: ComponentStorage = ArchetypeStorage(spec, self._locate, lambda: self._archetypes)
        else:
            factory = self._factories.get(kind)
            if factory is None:
                raise StorageError(
                    f"component {spec.name}: unknown storage {kind!r}; known: {sorted([ARCHETYPE, *self._factories])}"
                )
            try:
                store = factory(spec)
            except Exception as exc:
                raise StorageError(
                    f"component {spec.name}: the factory of storage {kind!r} raised {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(store, ComponentStorage):
                raise StorageError(f"storage {kind!r} built {store!r}, which lacks the ComponentStorage methods")
        self._specs[ctype] = spec
        self._names[spec.name] = ctype
        self._order[ctype] = len(self._order)
        self._kind[ctype] = kind
        self._storages[ctype] = store
        return spec

    @property
    def components(self) -> tuple[type, ...]:
        """Registered component types, in registration order."""
        return tuple(self._specs)

    def is_registered(self, ctype: type) -> bool:
        return ctype in self._specs

    def storage_kind(self, ctype: type) -> str:
        """The backend name a registered component uses."""
        self._spec(ctype)
        return self._kind[ctype]

    def storage(self, ctype: type) -> ComponentStorage:
        """The storage object of a registered component."""
        self._spec(ctype)
        return self._storages[ctype]

    def spec(self, ctype: type) -> ComponentSpec:
        """The spec of a registered component."""
        return self._spec(ctype)

    def component_named(self, name: str) -> type:
        """The registered component type with this name."""
        try:
            return self._names[name]
        except KeyError:
            raise UnregisteredComponentError(f"no component named {name!r} is registered") from None

    def _spec(self, ctype: Any) -> ComponentSpec:
        try:
            spec = self._specs.get(ctype)
        except TypeError:  # unhashable: a list of types where one type was meant, say
            spec = None
        if spec is None:
            if isinstance(ctype, type) and hasattr(ctype, "__ecs_component__"):
                raise UnregisteredComponentError(
                    f"component {ctype.__qualname__} is not registered with world {self.name!r}; "
                    "call world.register_component first"
                )
            raise UnregisteredComponentError(f"{ctype!r} is not a component type (decorate it with @ecs.component)")
        return spec

    # -- resources ----------------------------------------------------------------------------
    def add_resource(self, value: Any, key: type | None = None) -> None:
        """Store a singleton, keyed by ``key`` or by its own type."""
        rtype = resource_key(value, key, "add_resource")
        self._resources[rtype] = value

    def resource(self, key: type[T]) -> T:
        """The resource stored under ``key``."""
        try:
            return cast(T, self._resources[check_resource_key(key, "resource")])
        except KeyError:
            raise ResourceError(f"world {self.name!r} holds no resource {key.__qualname__}") from None

    def has_resource(self, key: type) -> bool:
        """True when a resource is stored under the type ``key``."""
        return check_resource_key(key, "has_resource") in self._resources

    def remove_resource(self, key: type) -> None:
        """Drop the resource stored under ``key`` (raises when there is none)."""
        if check_resource_key(key, "remove_resource") not in self._resources:
            raise ResourceError(f"world {self.name!r} holds no resource {key.__qualname__}")
        del self._resources[key]

    @property
    def resources(self) -> Mapping[type, Any]:
        """All resources, read-only mapping."""
        return dict(self._resources)

    # -- archetypes -----------------------------------------------------------------------------
    @property
    def archetypes(self) -> tuple[Archetype, ...]:
        return tuple(self._archetypes)

    def _archetype_for(self, types: frozenset[type]) -> Archetype:
        arch = self._by_set.get(types)
        if arch is not None:
            return arch
        ordered = tuple(sorted(types, key=self._order.__getitem__))
        stored = tuple(self._specs[t] for t in ordered if self._kind[t] == ARCHETYPE)
        arch = Archetype(len(self._archetypes), ordered, stored, self.chunk_rows)
        self._archetypes.append(arch)
        self._by_set[types] = arch
        self.stats.archetypes_created += 1
        # Incremental cache maintenance: a new table joins the queries it matches; nothing
        # else is invalidated.
        for (inc, exc), matches in self._query_cache.items():
            if inc <= types and not (exc & types):
                matches.append(arch)
        return arch

    def _edge(self, arch: Archetype, ctype: type, add: bool) -> Archetype:
        key = (arch.id, ctype, add)
        dst = self._edges.get(key)
        if dst is None:
            dst = self._archetype_for(arch.type_set | {ctype} if add else arch.type_set - {ctype})
            self._edges[key] = dst
        return dst

    def matching(self, include: frozenset[type], exclude: frozenset[type] = frozenset()) -> list[Archetype]:
        """Archetypes holding every ``include`` and no ``exclude`` component (cached)."""
        key = (include, exclude)
        cached = self._query_cache.get(key)
        if cached is None:
            cached = [a for a in self._archetypes if include <= a.type_set and not (exclude & a.type_set)]
            self._query_cache[key] = cached
        return cached

    def _locate(self, indices: NDArray[np.int64]) -> list[tuple[Archetype, NDArray[np.int64], NDArray[np.intp]]]:
        aids = self.registry.archetype_of[indices]
        rows = self.registry.row_of[indices]
        out = []
        for aid in np.unique(aids).tolist():
            if aid == DEAD:
                continue
            pos = np.flatnonzero(aids == aid)
            out.append((self._archetypes[aid], rows[pos].astype(np.int64), pos))
        return out

    # -- structural guard ------------------------------------------------------------------------
    def _guard(self, what: str) -> None:
        if self._iterating or self._locked_by is not None:
            where = f"while {self._locked_by} runs" if self._locked_by else "while a query is iterating"
            raise StructuralChangeError(
                f"world.{what}() {where}; record it with the system's command buffer (ctx.commands) instead"
            )

    def lock(self, owner: str | None) -> None:
        """Refuse direct structural changes while ``owner`` (a group name) runs; None unlocks.

        The scheduler calls this around work groups; hosts rarely need it.
        """
        self._locked_by = owner

    # -- direct entity API ----------------------------------------------------------------------
    def spawn(self, *components: Any) -> EntityID:
        """Create one entity with these component instances and return its id."""
        self._guard("spawn")
        buf = CommandBuffer(self)
        token = buf.spawn(*components)
        self._apply_spawn_run(buf._cmds[0][1], buf._cmds[0][2], [token])
        assert token.entity is not None
        return EntityID(token.entity)

    def spawn_batch(self, count: int, components: Mapping[type, Any]) -> NDArray[np.int64]:
        """Create ``count`` entities at once; see :meth:`CommandBuffer.spawn_batch` for values."""
        self._guard("spawn_batch")
        count = check_batch(count, components)
        values = {
            ctype: _batch_values(self._spec(ctype), given, count, copy=False) for ctype, given in components.items()
        }
        return self._spawn(tuple(values), count, values)

    def destroy(self, target: int | NDArray[np.integer[Any]] | Iterable[int]) -> None:
        """Destroy one entity or an array of them; any stale id raises and nothing changes."""
        self._guard("destroy")
        ids = _as_ids(target)
        self._check_alive(ids, "destroy")
        idx = ids & INDEX_MASK
        uniq, counts = np.unique(idx, return_counts=True)
        if len(uniq) != len(idx):
            dup = int(ids[idx == uniq[counts > 1][0]][0])
            raise StaleEntityError(f"destroy: {describe(dup)} appears twice", dup)
        self._destroy(idx)

    def add(self, target: Any, component: Any, values: Any = None) -> None:
        """Add (or overwrite) a component on one entity or many; stale ids raise."""
        self._guard("add")
        ids = _as_ids(target)
        self._check_alive(ids, "add")
        buf = CommandBuffer(self)
        buf.add(ids, component, values)
        cmd = buf._cmds[0]
        self._add(ids & INDEX_MASK, cmd[1], cmd[3])

    def remove(self, target: Any, component: type) -> None:
        """Remove a component from one entity or many (absent: nothing happens); stale ids raise."""
        self._guard("remove")
        ids = _as_ids(target)
        self._check_alive(ids, "remove")
        self._remove(ids & INDEX_MASK, self._spec(component).type)

    def _check_alive(self, ids: NDArray[np.int64], what: str) -> None:
        ok = self.registry.alive_mask(ids)
        if not ok.all():
            bad = int(ids[np.flatnonzero(~ok)[0]])
            raise StaleEntityError(f"{what}: {describe(bad)} is not alive (stale or never spawned)", bad)

    def is_alive(self, eid: int) -> bool:
        return self.registry.is_alive(eid)

    def entities(self) -> NDArray[np.int64]:
        """Ids of every live entity, sorted by slot."""
        return self.registry.alive_ids()

    def components_of(self, eid: int) -> tuple[type, ...]:
        """The component types an entity has."""
        idx = self.registry.check(eid)
        return self._archetypes[int(self.registry.archetype_of[idx])].types

    def has(self, eid: int, ctype: type) -> bool:
        """True when the live entity ``eid`` has ``ctype`` (stale ids raise)."""
        idx = self.registry.check(eid)
        return ctype in self._archetypes[int(self.registry.archetype_of[idx])].type_set

    def get(self, eid: int, ctype: type[T]) -> T:
        """A copy of one entity's component (the slow, per-entity path).

        Mutating the returned object does not change the world; use :meth:`set`, or a query
        for anything done to many entities.
        """
        spec = self._spec(ctype)
        idx = self.registry.check(eid)
        arch = self._archetypes[int(self.registry.archetype_of[idx])]
        if ctype not in arch.type_set:
            raise MissingComponentError(f"{describe(eid)} has no component {spec.name}")
        one = np.array([idx], dtype=np.int64)
        store = self._storages[ctype]
        if self._kind[ctype] == ARCHETYPE:
            row = np.array([int(self.registry.row_of[idx])], dtype=np.int64)
            vals = {f.name: arch.read(row, ctype, f.name)[0] for f in spec.fields}
        else:
            vals = {f.name: gather_checked(store, spec, one, f.name)[0] for f in spec.fields}
        return cast(T, spec.make(vals))

    def set(self, eid: int, value: Any) -> None:
        """Overwrite the values of a component the entity already has (not structural)."""
        spec = self._spec(type(value))
        idx = self.registry.check(eid)
        arch = self._archetypes[int(self.registry.archetype_of[idx])]
        if spec.type not in arch.type_set:
            raise MissingComponentError(f"{describe(eid)} has no component {spec.name}; use add()")
        vals = spec.values_of(value)
        cols = {f.name: f.coerce_many(vals[f.name], 1, spec.name) for f in spec.fields}
        self._write_values(arch, np.array([idx], dtype=np.int64), spec.type, cols)

    # -- queries -----------------------------------------------------------------------------------
    def query(
        self,
        *components: type,
        without: Iterable[type] = (),
        with_: Iterable[type] = (),
        readonly: Iterable[type] = (),
    ) -> Iterator[Batch]:
        """Batches of every entity holding all ``components`` (and ``with_``) and none of ``without``.

        ``readonly`` components arrive as non-writable arrays. Systems get the same thing
        through ``ctx.query``, where read-only is decided by their declared access.
        """
        comps = tuple(components)
        seen: set[type] = set()
        for c in comps:
            self._spec(c)
            if c in seen:
                raise DuplicateComponentError(f"query: component {c.__qualname__} given twice")
            seen.add(c)
        exc = self._types(without, "query: without")
        inc = frozenset(comps) | self._types(with_, "query: with_")
        return self._iterate(comps, self.matching(inc, exc), self._types(readonly, "query: readonly"))

    def _iterate(self, comps: tuple[type, ...], archetypes: list[Archetype], ro: frozenset[type]) -> Iterator[Batch]:
        kinds = [(c, self._kind[c] == ARCHETYPE, c not in ro) for c in comps]
        self._iterating += 1
        try:
            yield from iter_batches(archetypes, kinds, self._storages)
        finally:
            self._iterating -= 1

    def _query_for(
        self, comps: tuple[type, ...], inc: frozenset[type], exc: frozenset[type], ro: frozenset[type]
    ) -> tuple[int, Iterator[Batch]]:
        """Query entry point for execution contexts (access already checked)."""
        archs = self.matching(inc, exc)
        return sum(a.length for a in archs), self._iterate(comps, archs, ro)

    def count(self, *components: type, without: Iterable[type] = (), with_: Iterable[type] = ()) -> int:
        """How many entities a query would visit (no iteration)."""
        inc = self._types(components, "count") | self._types(with_, "count: with_")
        exc = self._types(without, "count: without")
        return sum(a.length for a in self.matching(inc, exc))

    def _types(self, given: Any, what: str) -> frozenset[type]:
        """Registered component types from an iterable argument, or a typed error naming it."""
        if isinstance(given, type) or not isinstance(given, Iterable):
            raise UnregisteredComponentError(f"{what}: expected an iterable of component types, got {given!r}")
        out = []
        for c in given:
            out.append(self._spec(c).type)
        return frozenset(out)

    @overload
    def single(self, ctype: type[T]) -> tuple[EntityID, T]: ...
    @overload
    def single(self, ctype: type[T], *, default: None) -> tuple[EntityID, T] | None: ...
    def single(self, ctype: type[T], **kw: Any) -> tuple[EntityID, T] | None:
        """The one entity holding ``ctype`` (a player, say) and a copy of its component."""
        self._spec(ctype)
        found = [a for a in self.matching(frozenset({ctype})) if a.length]
        total = sum(a.length for a in found)
        if total != 1:
            if "default" in kw and total == 0:
                return None
            raise MissingComponentError(f"single({ctype.__qualname__}): expected exactly one entity, found {total}")
        eid = EntityID(int(found[0].entity_ids()[0]))
        return eid, self.get(eid, ctype)

    # -- commands ------------------------------------------------------------------------------------
    def commands(self) -> CommandBuffer:
        """A new, empty command buffer for this world."""
        return CommandBuffer(self)

    def apply(self, buffer: CommandBuffer) -> ApplyStats:
        """Apply a command buffer in order and clear it; see :mod:`ecs._commands` for the rules."""
        if not isinstance(buffer, CommandBuffer):
            raise CommandError(f"apply: expected a CommandBuffer, got {type(buffer).__name__}")
        if buffer.world is not self:
            raise CommandError("apply: this buffer was created for another world")
        self._guard("apply")
        stats = ApplyStats()
        try:
            self._apply_commands(buffer._cmds, stats)
        finally:
            self._compact()
        self.stats.stale_commands += stats.stale
        self.stats.buffers_applied += 1
        buffer.clear()
        return stats

    def _apply_commands(self, cmds: list[list[Any]], stats: ApplyStats) -> None:
        for cmd in cmds:
            kind = cmd[0]
            if kind == SPAWN:
                self._apply_spawn_run(cmd[1], cmd[2], cmd[3])
                stats.spawned += len(cmd[2])
                stats.commands += len(cmd[2])
            elif kind == SPAWN_BATCH:
                ids = self._spawn(cmd[1], cmd[2], cmd[3])
                cmd[4].entities = ids
                cmd[4]._buffer = None
                stats.spawned += cmd[2]
                stats.commands += 1
            elif kind == DESTROY:
                ids = self._target_ids(cmd[2])
                idx, stale = self.registry.live_indices(ids)
                # with nothing stale the targets are exactly the slots' current ids; repeats
                # are found (and counted as stale) by _destroy
                repeats = self._destroy(idx, defer=True, ids=None if stale else ids)
                stats.destroyed += len(idx) - repeats
                stats.stale += stale + repeats
                stats.commands += len(cmd[2])
            elif kind == ADD:
                self._compact()  # moving rows between tables needs dense tables
                ids, stale = self._resolve(cmd[2], unique=False, keep=True)
                alive = ids >= 0
                vals = cmd[3] if alive.all() else {k: v[alive] for k, v in cmd[3].items()}
                self._add(ids[alive], cmd[1], vals)
                stats.added += int(alive.sum())
                stats.stale += stale
                stats.commands += 1
            elif kind == REMOVE:
                self._compact()
                idx, stale = self._resolve(cmd[2], unique=True)
                self._remove(idx, cmd[1])
                stats.removed += len(idx)
                stats.stale += stale
                stats.commands += 1
            elif kind == SET_RESOURCE:
                self._resources[cmd[1]] = cmd[2]
                stats.resources += 1
                stats.commands += 1

    def _resolve(self, parts: list[Any], unique: bool, keep: bool = False) -> tuple[NDArray[np.int64], int]:
        """Turn target parts into slot indices of live entities; count the stale ones.

        With ``keep``, the result has one entry per target (-1 where stale), for commands
        whose values are aligned with their targets.
        """
        ids = self._target_ids(parts)
        if not len(ids):
            return _EMPTY_IDS, 0
        if keep:
            ok = self.registry.alive_mask(ids)
            return np.where(ok, ids & INDEX_MASK, -1), int(len(ids) - ok.sum())
        idx, stale = self.registry.live_indices(ids)
        if unique and len(idx) > 1:
            ordered = np.sort(idx)  # a sort and a compare: far cheaper than np.unique
            if (ordered[1:] == ordered[:-1]).any():
                # keep first-occurrence order so tables change in a deterministic order
                _, first = np.unique(idx, return_index=True)
                stale += len(idx) - len(first)  # the repeats find the entity already gone
                idx = idx[np.sort(first)]
        return idx, stale

    @staticmethod
    def _target_ids(parts: list[Any]) -> NDArray[np.int64]:
        """One id array from a command's target parts (-1 for a pending entity never spawned)."""
        arrays = []
        for p in parts:
            if isinstance(p, PendingEntity):
                arrays.append(np.array([p.entity if p.entity is not None else -1], dtype=np.int64))
            elif isinstance(p, PendingBatch):
                arrays.append(p.entities if p.entities is not None else np.full(p.count, -1, dtype=np.int64))
            else:
                arrays.append(p)
        if len(arrays) == 1:
            return arrays[0]
        return np.concatenate(arrays) if arrays else _EMPTY_IDS

    # -- vectorised structural core ------------------------------------------------------------
    def _apply_spawn_run(
        self, types: tuple[type, ...], rows: list[dict[type, dict[str, Any]]], tokens: list[PendingEntity]
    ) -> None:
        count = len(rows)
        values: dict[type, dict[str, NDArray[Any]]] = {}
        for t in types:
            spec = self._specs[t]
            per: dict[str, NDArray[Any]] = {}
            for f in spec.fields:
                if f.is_object:
                    col = np.empty(count, dtype=object)
                    for i, r in enumerate(rows):
                        col[i] = r[t][f.name]
                else:
                    col = np.array([r[t][f.name] for r in rows], dtype=f.dtype).reshape(count, *f.shape)
                per[f.name] = col
            values[t] = per
        ids = self._spawn(types, count, values)
        for token, eid in zip(tokens, ids.tolist(), strict=True):
            token.entity = eid
            token._buffer = None

    def _spawn(
        self, types: tuple[type, ...], count: int, values: Mapping[type, Mapping[str, NDArray[Any]]]
    ) -> NDArray[np.int64]:
        if not count:
            return _EMPTY_IDS.copy()
        arch = self._by_types.get(types)
        if arch is None:
            arch = self._by_types[types] = self._archetype_for(frozenset(types))
        reg = self.registry
        if arch.id in self._holes:
            return self._spawn_into_holes(arch, types, count, values)
        # Memory for a big batch can run out in the middle (ids, table rows, side storages):
        # undo what was taken so a MemoryError leaves no half-spawned entities behind.
        # A custom storage's insert may raise too: undone the same way, then a StorageError.
        point, length, done = reg.checkpoint(), arch.length, 0
        try:
            fresh = reg.allocate_fresh(count)
            if fresh is not None:
                # Brand-new slots: ids equal indices (generation 0) and locations are ranges, so
                # no index arrays are gathered or scattered; at 1M entities this halves the
                # memory a spawn touches.
                ids = np.arange(fresh, fresh + count, dtype=np.int64)
                indices = ids
                start = arch.append(ids, {s.type: values[s.type] for s in arch.stored})
                reg.set_range_locations(fresh, ids, arch.id, start)
            else:
                indices, ids = reg._allocate(count)
                start = arch.append(ids, {s.type: values[s.type] for s in arch.stored})
                reg._place(indices, ids, arch.id, np.arange(start, start + count, dtype=np.int32))
            for t in arch.side_types:
                self._storages[t].insert(indices, values[t])
                done += 1
        except Exception as exc:
            placed = arch.length > length  # the table took the rows and the slots were placed
            self._undo_spawn(arch, point, length, (indices, ids) if placed else None, done)
            if not placed or isinstance(exc, MemoryError | EcsError):
                raise
            t = arch.side_types[done]
            raise StorageError(
                f"storage {self._kind[t]!r} of component {self._specs[t].name}: insert raised "
                f"{type(exc).__name__}: {exc}; the spawn of {count} entities was undone"
            ) from exc
        return ids

    def _undo_spawn(
        self,
        arch: Archetype,
        point: tuple[int, int, int],
        length: int,
        placed: tuple[NDArray[np.int64], NDArray[np.int64]] | None,
        done: int,
    ) -> None:
        """Take back a spawn that ran out of memory part way (see :meth:`_spawn`)."""
        if placed is not None:
            indices, ids = placed
            for t in arch.side_types[:done]:
                self._storages[t].remove(indices)
            # Placed slots read as free again: a free slot holds the complement of the id it
            # hands out next, which is the id this spawn gave it.
            self.registry._ids[indices] = np.invert(ids)
            self.registry._archetype[indices] = DEAD
        arch.length = length
        self.registry.rollback(point)

    def _spawn_into_holes(
        self,
        arch: Archetype,
        types: tuple[type, ...],
        count: int,
        values: Mapping[type, Mapping[str, NDArray[Any]]],
    ) -> NDArray[np.int64]:
        """Spawn ``count`` entities, the first ones into rows destroys in this buffer freed."""
        reg = self.registry
        parts = self._holes.pop(arch.id)
        holes = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))  # each part is ascending
        k = min(len(holes), count)
        if k < len(holes):
            self._holes[arch.id] = [holes[k:]]
        indices, ids = reg._allocate(count)
        if k == count:
            arch.fill(holes[:k], ids, values)
            reg._place(indices, ids, arch.id, holes[:k])
        else:
            stored = {s.type: values[s.type] for s in arch.stored}
            arch.fill(holes[:k], ids[:k], {t: {f: v[:k] for f, v in cols.items()} for t, cols in stored.items()})
            start = arch.append(ids[k:], {t: {f: v[k:] for f, v in cols.items()} for t, cols in stored.items()})
            reg._place(indices[:k], ids[:k], arch.id, holes[:k])
            reg._place(indices[k:], ids[k:], arch.id, np.arange(start, start + count - k, dtype=np.int32))
        for t in arch.side_types:
            self._storages[t].insert(indices, values[t])
        return ids

    def _group(self, idx: NDArray[np.int64]) -> list[tuple[Archetype, NDArray[np.int64], NDArray[np.intp] | None]]:
        """Split live slot indices by archetype: (archetype, indices, positions or None=all)."""
        aids = self.registry.archetype_of[idx]
        first = int(aids[0])
        if (aids == first).all():
            return [(self._archetypes[first], idx, None)]
        out: list[tuple[Archetype, NDArray[np.int64], NDArray[np.intp] | None]] = []
        for aid in np.unique(aids).tolist():
            pos = np.flatnonzero(aids == aid)
            out.append((self._archetypes[aid], idx[pos], pos))
        return out

    def _destroy(self, idx: NDArray[np.int64], defer: bool = False, ids: NDArray[np.int64] | None = None) -> int:
        """Destroy live slots; with ``defer`` their rows stay as holes until :meth:`_compact`.

        ``ids``, when known, are the slots' current ids. A slot listed twice is destroyed
        once; returns how many repeats there were (commands count them as stale: the entity
        is already gone when they come).
        """
        if not len(idx):
            return 0
        reg = self.registry
        parts = []
        for arch, sel, _ in self._group(idx):
            rows = reg.row_of[sel]
            # Holes must be ascending; rows usually are (ids come from a query), and strictly
            # ascending rows also prove there is no repeat, without a sort.
            if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():
                rows = np.sort(rows)
                if (rows[1:] == rows[:-1]).any():
                    # Keep first occurrences, so tables change in a deterministic order.
                    _, first = np.unique(idx, return_index=True)
                    unique = idx[np.sort(first)]
                    return self._destroy(unique, defer) + len(idx) - len(unique)
            parts.append((arch, sel, rows))
        for arch, sel, rows in parts:
            if defer:
                self._holes.setdefault(arch.id, []).append(rows)
            else:
                moved, new_rows = arch.swap_remove(rows)
                if len(moved):
                    reg.row_of[moved & INDEX_MASK] = new_rows
            for t in arch.side_types:
                self._storages[t].remove(sel)
        reg.release(idx, ids)
        return 0

    def _compact(self) -> None:
        """Close the holes destroys left: move each table's tail into them (swap remove)."""
        if not self._holes:
            return
        reg = self.registry
        holes, self._holes = self._holes, {}
        for aid, parts in holes.items():
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
            moved, new_rows = self._archetypes[aid].swap_remove(rows)
            if len(moved):
                reg.row_of[moved & INDEX_MASK] = new_rows

    def _move(
        self, sel: NDArray[np.int64], src: Archetype, dst: Archetype, extra: Mapping[type, Mapping[str, NDArray[Any]]]
    ) -> None:
        """Move live entities ``sel`` (all in ``src``) to ``dst``, taking new columns from ``extra``."""
        reg = self.registry
        rows = reg.row_of[sel].astype(np.int64)
        ids = src.read_ids(rows)
        data = src.read_rows(rows)
        values = {s.type: (extra[s.type] if s.type in extra else data[s.type]) for s in dst.stored}
        start = dst.append(ids, values)
        moved, new_rows = src.swap_remove(rows)
        if len(moved):
            reg.row_of[moved & INDEX_MASK] = new_rows
        reg._relocate(sel, dst.id, np.arange(start, start + len(sel), dtype=np.int32))

    def _add(self, idx: NDArray[np.int64], ctype: type, values: Mapping[str, NDArray[Any]]) -> None:
        if not len(idx):
            return
        if len(idx) > 1:
            # Several values for one entity: the last one wins, as if applied one by one.
            _, last_rev = np.unique(idx[::-1], return_index=True)
            if len(last_rev) != len(idx):
                keep = np.sort(len(idx) - 1 - last_rev)
                idx = idx[keep]
                values = {k: v[keep] for k, v in values.items()}
        in_table = self._kind[ctype] == ARCHETYPE
        store = self._storages[ctype]
        for arch, sel, pos in self._group(idx):
            vals = values if pos is None else {k: v[pos] for k, v in values.items()}
            if ctype in arch.type_set:
                self._write_values(arch, sel, ctype, vals)
                continue
            dst = self._edge(arch, ctype, True)
            if not in_table:  # the side storage first: if it raises, nothing has moved
                self._side_call(store.insert, ctype, "insert", sel, vals)
            self._move(sel, arch, dst, {ctype: vals} if in_table else {})
            if in_table:
                store.insert(sel, vals)

    def _write_values(
        self, arch: Archetype, sel: NDArray[np.int64], ctype: type, values: Mapping[str, NDArray[Any]]
    ) -> None:
        """Overwrite ``ctype``'s fields for live slots ``sel`` (all in ``arch``, which holds it)."""
        if self._kind[ctype] == ARCHETYPE:
            rows = self.registry.row_of[sel].astype(np.int64)
            for name, col in values.items():
                arch.write(rows, ctype, name, col)
        else:
            store = self._storages[ctype]
            for name, col in values.items():
                store.scatter(sel, name, col)

    def _remove(self, idx: NDArray[np.int64], ctype: type) -> None:
        if not len(idx):
            return
        store = self._storages[ctype]
        in_table = self._kind[ctype] == ARCHETYPE
        for arch, sel, _ in self._group(idx):
            if ctype not in arch.type_set:
                continue
            if not in_table:  # the side storage first: if it raises, nothing has moved
                self._side_call(store.remove, ctype, "remove", sel)
            self._move(sel, arch, self._edge(arch, ctype, False), {})
            if in_table:
                store.remove(sel)

    def _side_call(self, method: Callable[..., None], ctype: type, name: str, *args: Any) -> None:
        """Call a side storage's ``insert``/``remove``; its failure becomes a StorageError naming it."""
        try:
            method(*args)
        except (EcsError, MemoryError):
            raise
        except Exception as exc:
            raise StorageError(
                f"storage {self._kind[ctype]!r} of component {self._specs[ctype].name}: {name} raised "
                f"{type(exc).__name__}: {exc}; nothing was changed"
            ) from exc

    def _overwrite(self, ids: NDArray[np.int64], ctype: type, values: Mapping[str, NDArray[Any]]) -> int:
        """Write field values back for those ``ids`` still alive and holding ``ctype``.

        Used to merge an async group's writable copies; returns how many rows were written.
        """
        ok = self.registry.alive_mask(ids)
        if not ok.all():
            ids = ids[ok]
            values = {k: v[ok] for k, v in values.items()}
        if not len(ids):
            return 0
        idx = ids & INDEX_MASK
        written = 0
        for arch, sel, pos in self._group(idx):
            if ctype not in arch.type_set:
                continue
            self._write_values(arch, sel, ctype, values if pos is None else {k: v[pos] for k, v in values.items()})
            written += len(sel)
        return written

    # -- inspection ----------------------------------------------------------------------------------
    def column(self, ctype: type, field: str) -> tuple[NDArray[np.int64], NDArray[Any]]:
        """(ids, values) of one field for every holder, sorted by id: handy in tests and tools."""
        spec = self._spec(ctype)
        spec.field(field)
        ids_parts, val_parts = [], []
        for arch in self.matching(frozenset({ctype})):
            if not arch.length:
                continue
            ids = arch.entity_ids()
            ids_parts.append(ids)
            if self._kind[ctype] == ARCHETYPE:
                val_parts.append(arch.column(ctype, field))
            else:
                val_parts.append(gather_checked(self._storages[ctype], spec, ids & INDEX_MASK, field))
        if not ids_parts:
            return _EMPTY_IDS.copy(), spec.field(field).empty(0)
        ids = np.concatenate(ids_parts)
        vals = np.concatenate(val_parts)
        order = np.argsort(ids, kind="stable")
        return ids[order], vals[order]

    def memory_usage(self) -> int:
        """Bytes held by tables, side storages and the registry (numpy buffers only)."""
        total = sum(a.nbytes() for a in self._archetypes)
        reg = self.registry
        total += reg.archetype_of.nbytes + reg.row_of.nbytes + reg.capacity * 8  # + the id array
        for store in self._storages.values():
            nbytes = getattr(store, "nbytes", None)
            if callable(nbytes):
                total += int(nbytes())
        return total

    def state_hash(self) -> str:
        """A stable hex digest of every live entity and component value.

        Equal worlds (same ids, same components, same values) give equal hashes, across runs
        and processes; this is what the determinism tests and ``--hash`` compare. Object
        fields are hashed through ``repr``; resources are not included.
        """
        h = hashlib.blake2b(digest_size=16)
        h.update(self.entities().tobytes())
        for ctype in sorted(self._specs, key=lambda t: self._specs[t].name):
            spec = self._specs[ctype]
            h.update(spec.name.encode())
            if spec.is_tag:
                ids = np.sort(
                    np.concatenate([a.entity_ids() for a in self.matching(frozenset({ctype}))] or [_EMPTY_IDS])
                )
                h.update(ids.tobytes())
                continue
            for f in spec.fields:
                ids, vals = self.column(ctype, f.name)
                h.update(ids.tobytes())
                if f.is_object:
                    h.update(repr(vals.tolist()).encode())
                else:
                    h.update(np.ascontiguousarray(vals).tobytes())
        return h.hexdigest()

    # -- snapshots (the work is in ecs/_snapshot.py) ------------------------------------------------
    def snapshot(self, *, skip_resources: Iterable[type] = ()) -> WorldSnapshot:
        """A copy of the whole world state, to :meth:`restore` later or ``save`` to a file."""
        return take_snapshot(self, skip_resources)

    def restore(self, snapshot: WorldSnapshot) -> None:
        """Return to ``snapshot``'s state; validated first, all or nothing (SnapshotError)."""
        self._guard("restore")
        restore_snapshot(self, snapshot)

    def register_codec(self, ctype: type, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> None:
        """Save values of ``ctype`` (an object-valued component or a resource) as JSON via these callables."""
        register_codec(self, ctype, encode, decode)
