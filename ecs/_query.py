"""Query results: one :class:`Batch` per archetype chunk, holding numpy views.

A query such as ``world.query(Position, Velocity)`` yields batches. Each batch has the ids of
its entities and, per queried component, a :class:`ComponentView` whose attributes are the
component's fields as numpy arrays::

    for batch in world.query(Position, Velocity):
        batch[Position].xy += batch[Velocity].xy * dt      # in place, zero copy

For archetype-stored components the arrays are views into the chunk: writing them writes the
world. Assigning an attribute (``view.xy = other``) copies into the column. Components the
caller may only read arrive with ``writeable=False``, so an accidental write fails at once
with numpy's "assignment destination is read-only".

Dense and sparse components cannot be viewed in place (their rows are not contiguous), so
their fields are gathered into new arrays on first access and, when writable, written back
when the batch ends (when the loop moves to the next batch, or breaks). Mutate them in place
or by assignment as usual; just do not keep the arrays after the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, final

import numpy as np
from numpy.typing import NDArray

from ._component import component_spec
from ._entity import INDEX_MASK
from ._errors import AccessError
from .storage._protocol import gather_checked

if TYPE_CHECKING:
    from .storage import ComponentStorage

__all__ = ["Batch", "ComponentView"]

_SET: Final = object.__setattr__


def readonly(arr: NDArray[Any]) -> NDArray[Any]:
    """A read-only view of ``arr`` (the original stays writable)."""
    view = arr.view()
    view.flags.writeable = False
    return view


class ComponentView:
    """The fields of one component for the rows of a batch, as numpy arrays.

    Read fields as attributes (``view.xy``). Each is an array with one row per entity of the
    batch; fields with a per-entity shape add trailing dimensions (float32 x 2 -> ``(n, 2)``).
    """

    __slots__ = ("_arrays", "_component", "_writable")
    _arrays: dict[str, NDArray[Any]]
    _component: type
    _writable: bool

    def __init__(self, component: type, arrays: dict[str, NDArray[Any]], writable: bool) -> None:
        _SET(self, "_component", component)
        _SET(self, "_arrays", arrays)
        _SET(self, "_writable", writable)

    def __getattr__(self, name: str) -> NDArray[Any]:
        try:
            return self._arrays[name]
        except KeyError:
            raise AttributeError(f"component {self._component.__qualname__} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if not self._writable:
            raise AccessError(f"component {self._component.__qualname__} is read-only here; field {name!r} not written")
        arr = self.__getattr__(name)
        if value is not arr:  # augmented assignment already wrote in place
            arr[...] = value

    def __repr__(self) -> str:
        return f"<{self._component.__qualname__} view: {', '.join(self._arrays)}>"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._arrays)


@final
class _GatheredView(ComponentView):
    """Fields gathered from a dense or sparse storage; written back by :meth:`Batch.close`."""

    __slots__ = ("_indices", "_storage", "_touched")
    _indices: NDArray[np.int64]
    _storage: ComponentStorage
    _touched: set[str]

    def __init__(self, component: type, storage: ComponentStorage, indices: NDArray[np.int64], writable: bool) -> None:
        super().__init__(component, {}, writable)
        _SET(self, "_storage", storage)
        _SET(self, "_indices", indices)
        _SET(self, "_touched", set())

    def __getattr__(self, name: str) -> NDArray[Any]:
        arrays: dict[str, NDArray[Any]] = self._arrays
        arr = arrays.get(name)
        if arr is None:
            spec = component_spec(self._component)
            if name not in spec.field_names:
                raise AttributeError(f"component {self._component.__qualname__} has no field {name!r}")
            arr = gather_checked(self._storage, spec, self._indices, name)
            if self._writable:
                self._touched.add(name)  # in-place edits are invisible to us: write back all accessed
            else:
                arr.flags.writeable = False
            arrays[name] = arr
        return arr

    def _write_back(self) -> None:
        for name in self._touched:
            self._storage.scatter(self._indices, name, self._arrays[name])
        self._touched.clear()


@final
class Batch:
    """One chunk's worth of query results.

    ``batch.entities`` holds the entity ids (read-only); ``batch[Component]`` the component's
    fields; ``len(batch)`` the number of rows.
    """

    __slots__ = ("_gathered", "_views", "entities")

    def __init__(
        self, entities: NDArray[np.int64], views: dict[type, ComponentView], gathered: list[_GatheredView]
    ) -> None:
        self.entities = entities
        self._views = views
        self._gathered = gathered

    def __getitem__(self, component: type) -> ComponentView:
        try:
            return self._views[component]
        except KeyError:
            raise AccessError(
                f"component {getattr(component, '__qualname__', component)!r} is not part of this query"
            ) from None

    def __len__(self) -> int:
        return int(self.entities.shape[0])

    def __contains__(self, component: type) -> bool:
        return component in self._views

    @property
    def indices(self) -> NDArray[np.int64]:
        """Registry slot indices of the rows (``entities & 0xFFFFFFFF``)."""
        return self.entities & INDEX_MASK

    def close(self) -> None:
        """Write gathered dense/sparse fields back. Called by the query between batches."""
        for view in self._gathered:
            view._write_back()


def iter_batches(
    archetypes: list[Any],
    kinds: list[tuple[type, bool, bool]],
    storages: dict[type, ComponentStorage],
) -> Iterator[Batch]:
    """One batch per filled chunk of each archetype.

    ``kinds`` holds, per queried component, (type, stored in the table?, writable?).
    Table-stored fields become views of the chunk; others are gathered through
    ``storages`` and written back when the batch closes.
    """
    for arch in list(archetypes):
        if not arch.length:
            continue
        for chunk, n in arch.filled_chunks():
            views: dict[type, ComponentView] = {}
            gathered: list[_GatheredView] = []
            ids = readonly(chunk.entities[:n])
            for ctype, in_table, writable in kinds:
                if in_table:
                    cols = chunk.columns[ctype]
                    if writable:
                        arrays = {name: col[:n] for name, col in cols.items()}
                    else:
                        arrays = {name: readonly(col[:n]) for name, col in cols.items()}
                    views[ctype] = ComponentView(ctype, arrays, writable)
                else:
                    view = _GatheredView(ctype, storages[ctype], ids & INDEX_MASK, writable)
                    views[ctype] = view
                    gathered.append(view)
            batch = Batch(ids, views, gathered)
            try:
                yield batch
            finally:
                batch.close()


def make_gathered(
    component: type, storage: ComponentStorage, indices: NDArray[np.int64], writable: bool
) -> ComponentView:
    return _GatheredView(component, storage, indices, writable)
