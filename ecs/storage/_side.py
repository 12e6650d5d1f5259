"""Storages kept beside the archetype tables: dense columns and sparse maps.

Entities holding a dense or sparse component still carry it in their archetype signature
(that is what queries match on); only the values live here. Queries over these components
gather values through index arrays, which costs 10-50x a contiguous view, so reach for them
when it pays: dense for a component almost every entity has and that changes often enough
that moving rows between archetypes would cost more; sparse for rare components and
arbitrary Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import numpy as np
from numpy.typing import NDArray

from .._component import ComponentSpec
from .._errors import StorageError

__all__ = ["DenseStorage", "SparseStorage"]


@final
class DenseStorage:
    """One column per field, indexed directly by entity slot, plus a presence bitmap.

    Memory is proportional to the highest slot index, not to the number of holders; in
    exchange, a lookup is a single array index and adding the component to an entity never
    moves data around.
    """

    kind = "dense"

    def __init__(self, spec: ComponentSpec, capacity: int = 1024) -> None:
        self.spec = spec
        self._present = np.zeros(capacity, dtype=np.bool_)
        self._columns: dict[str, NDArray[Any]] = {f.name: f.empty(capacity) for f in spec.fields}
        self._count = 0

    def _ensure(self, top: int) -> None:
        cap = self._present.shape[0]
        if top <= cap:
            return
        new_cap = max(top, cap * 2)
        present = np.zeros(new_cap, dtype=np.bool_)
        present[:cap] = self._present
        self._present = present
        for f in self.spec.fields:
            col = f.empty(new_cap)
            col[:cap] = self._columns[f.name]
            self._columns[f.name] = col

    def insert(self, indices: NDArray[np.int64], values: Mapping[str, NDArray[Any]]) -> None:
        if not len(indices):
            return
        self._ensure(int(indices.max()) + 1)
        self._count += int(np.count_nonzero(~self._present[indices]))
        self._present[indices] = True
        for name, col in self._columns.items():
            col[indices] = values[name]

    def remove(self, indices: NDArray[np.int64]) -> None:
        if not len(indices):
            return
        held = self._present[indices]
        self._count -= int(np.count_nonzero(held))
        self._present[indices] = False
        for f in self.spec.fields:
            if f.is_object:  # drop references so objects can be collected
                self._columns[f.name][indices] = None

    def gather(self, indices: NDArray[np.int64], field: str) -> NDArray[Any]:
        return self._columns[field][indices]

    def scatter(self, indices: NDArray[np.int64], field: str, values: NDArray[Any]) -> None:
        self._columns[field][indices] = values

    def contains(self, indices: NDArray[np.int64]) -> NDArray[np.bool_]:
        inside = indices < self._present.shape[0]
        out = np.zeros(len(indices), dtype=np.bool_)
        out[inside] = self._present[indices[inside]]
        return out

    def __len__(self) -> int:
        return self._count

    def nbytes(self) -> int:
        """Bytes held by the columns and the bitmap."""
        return int(self._present.nbytes + sum(c.nbytes for c in self._columns.values()))


@final
class SparseStorage:
    """A dict from entity slot to that entity's field values.

    The right home for components few entities have, and for object-valued components
    (names, inventories, script handles): nothing is allocated for entities without it.
    """

    kind = "sparse"

    def __init__(self, spec: ComponentSpec) -> None:
        self.spec = spec
        self._data: dict[int, dict[str, Any]] = {}

    def insert(self, indices: NDArray[np.int64], values: Mapping[str, NDArray[Any]]) -> None:
        names = [f.name for f in self.spec.fields]
        cols = [values[n] for n in names]
        for i, idx in enumerate(indices.tolist()):
            # Copy numpy rows so the stored value does not alias the caller's batch array.
            self._data[idx] = {
                n: (c[i].copy() if isinstance(c[i], np.ndarray) else c[i]) for n, c in zip(names, cols, strict=True)
            }

    def remove(self, indices: NDArray[np.int64]) -> None:
        for idx in indices.tolist():
            self._data.pop(idx, None)

    def gather(self, indices: NDArray[np.int64], field: str) -> NDArray[Any]:
        spec = self.spec.field(field)
        try:
            items = [self._data[i][field] for i in indices.tolist()]
        except KeyError as exc:
            raise StorageError(f"sparse storage of {self.spec.name}: slot {exc} holds no value") from None
        if spec.is_object:
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out
        return np.array(items, dtype=spec.dtype).reshape(len(items), *spec.shape)

    def scatter(self, indices: NDArray[np.int64], field: str, values: NDArray[Any]) -> None:
        for i, idx in enumerate(indices.tolist()):
            v = values[i]
            self._data[idx][field] = v.copy() if isinstance(v, np.ndarray) else v

    def contains(self, indices: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.fromiter((i in self._data for i in indices.tolist()), dtype=np.bool_, count=len(indices))

    def __len__(self) -> int:
        return len(self._data)
