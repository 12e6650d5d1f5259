"""The contract every component storage backend fulfils.

A storage holds the values of *one* component type for every entity that has it, keyed by
the entity's registry slot index. The world decides which entities have which components
(their archetype); the storage only keeps values. All operations take arrays of slot
indices so that a batch of a thousand entities is one call, not a thousand.

Three backends ship with the library:

* :class:`~ecs.storage.ArchetypeStorage` (default for numeric components and tags): values
  live in the archetype tables, contiguous per chunk, so queries get zero-copy views.
* :class:`~ecs.storage.DenseStorage`: one column indexed by slot with a presence bitmap, for
  components nearly every entity has and that you want to keep out of archetype moves.
* :class:`~ecs.storage.SparseStorage`: a dict, for rare or object-valued components.

A plugin can register another backend with ``world.register_storage(name, factory)``; the
factory receives the component's spec and returns an object satisfying this protocol.
The world holds a custom storage to it: a factory that raises, a ``gather`` that returns the
wrong dtype or length (or raises), and an ``insert`` that raises during a spawn (the spawn is
undone) all surface as a :class:`~ecs.StorageError` naming the storage and the component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .._component import ComponentSpec
from .._errors import EcsError, StorageError

__all__ = ["ComponentStorage", "StorageFactory"]


@runtime_checkable
class ComponentStorage(Protocol):
    """Values of one component type, keyed by entity slot index."""

    #: Short name shown in traces and errors ("archetype", "dense", "sparse", ...).
    kind: str

    def insert(self, indices: NDArray[np.int64], values: Mapping[str, NDArray[Any]]) -> None:
        """Store values for new holders; ``values[field]`` has ``len(indices)`` rows."""

    def remove(self, indices: NDArray[np.int64]) -> None:
        """Forget the values of these holders."""

    def gather(self, indices: NDArray[np.int64], field: str) -> NDArray[Any]:
        """A new array with ``field`` for each index (a copy, in index order)."""

    def scatter(self, indices: NDArray[np.int64], field: str, values: NDArray[Any]) -> None:
        """Overwrite ``field`` for each index."""

    def contains(self, indices: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of these indices hold a value."""

    def __len__(self) -> int:
        """Number of holders."""


class StorageFactory(Protocol):
    """Builds a storage for one component type."""

    def __call__(self, spec: ComponentSpec) -> ComponentStorage: ...


def gather_checked(
    store: ComponentStorage, spec: ComponentSpec, indices: NDArray[np.int64], field: str
) -> NDArray[Any]:
    """``store.gather(indices, field)``, or a StorageError naming the storage if the result is wrong.

    Every gather of the world, its queries, async copies and snapshots goes through here, so
    a custom storage that returns the wrong shape or dtype (or raises) is caught where it
    happens, not as an IndexError deep in numpy or as silently wrong values.
    """
    f = spec.field(field)
    kind = getattr(store, "kind", type(store).__name__)
    try:
        arr = store.gather(indices, field)
    except EcsError:
        raise
    except Exception as exc:
        raise StorageError(
            f"storage {kind!r} of component {spec.name}: gather of field {field!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    expected = (len(indices), *f.shape)
    if not isinstance(arr, np.ndarray) or arr.shape != expected or arr.dtype != f.dtype:
        got = f"{arr.dtype} array of shape {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise StorageError(
            f"storage {kind!r} of component {spec.name}: gather of field {field!r} returned a {got}, "
            f"expected {f.dtype} of shape {expected}"
        )
    return arr
