"""Archetype tables: entities with the same component set share contiguous columns.

An :class:`Archetype` is a table whose rows are entities and whose columns are the fields of
its archetype-stored components, split into fixed-size *chunks*. A query hands a system one
batch per chunk, made of zero-copy numpy views (``chunk[:rows]``), so a movement system over
a million entities is a handful of vectorised numpy calls.

Why chunks: when a table grows, a new chunk is allocated and nothing is copied (only the
first chunk of a small table grows by doubling until it reaches the chunk size, which keeps
tiny archetypes tiny). Why 64K rows a chunk by default: measured on 2 cores, numpy
kernels over 64K-row chunks run as fast as over one 1M-row array (the temporaries stay in
cache) while the Python cost of a batch is paid only 16 times per million entities.

Rows are kept dense: removing rows moves the last rows into the holes ("swap remove"), done
for a whole array of rows at once, so destroying 1k entities is a few numpy calls whatever
the table size. Row numbers are global to the table: row ``r`` lives in chunk
``r // chunk_size`` at offset ``r % chunk_size``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, final

import numpy as np
from numpy.typing import NDArray

from .._component import ComponentSpec
from .._errors import StorageError

__all__ = ["DEFAULT_CHUNK_ROWS", "Archetype", "ArchetypeStorage", "Chunk"]

DEFAULT_CHUNK_ROWS: Final = 65536
_MIN_ROWS: Final = 16

Columns = dict[type, dict[str, NDArray[Any]]]


def _run(local: NDArray[np.integer[Any]]) -> Any:
    """A slice when ascending unique rows are contiguous, else the rows themselves."""
    first = int(local[0])
    if int(local[-1]) - first == len(local) - 1:
        return slice(first, first + len(local))
    return local


@final
class Chunk:
    """One block of rows: entity ids plus one array per stored field."""

    __slots__ = ("capacity", "columns", "entities")

    def __init__(self, capacity: int, stored: tuple[ComponentSpec, ...]) -> None:
        self.capacity = capacity
        self.entities: NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self.columns: Columns = {s.type: {f.name: f.empty(capacity) for f in s.fields} for s in stored}

    def grown(self, capacity: int, used: int, stored: tuple[ComponentSpec, ...]) -> Chunk:
        """A larger copy of this chunk keeping the first ``used`` rows."""
        new = Chunk(capacity, stored)
        new.entities[:used] = self.entities[:used]
        for ctype, cols in self.columns.items():
            for name, col in cols.items():
                new.columns[ctype][name][:used] = col[:used]
        return new

    def nbytes(self) -> int:
        return int(self.entities.nbytes + sum(c.nbytes for cols in self.columns.values() for c in cols.values()))


@final
class Archetype:
    """A table of entities that share exactly the same set of components.

    ``types`` is every component of the signature (including dense/sparse ones, which is
    what queries match on); ``stored`` lists the ones whose values live in this table.
    """

    __slots__ = ("_has_objects", "chunk_rows", "chunks", "id", "length", "side_types", "stored", "type_set", "types")

    def __init__(
        self,
        archetype_id: int,
        types: tuple[type, ...],
        stored: tuple[ComponentSpec, ...],
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.id = archetype_id
        self.types = types
        self.type_set = frozenset(types)
        self.stored = stored
        in_table = {spec.type for spec in stored}
        #: Member types whose values live outside this table (dense, sparse, custom storages).
        self.side_types = tuple(t for t in types if t not in in_table)
        self.chunk_rows = chunk_rows
        self.chunks: list[Chunk] = []
        self.length = 0
        self._has_objects = any(f.is_object for spec in stored for f in spec.fields)

    def __repr__(self) -> str:
        names = ", ".join(t.__qualname__ for t in self.types)
        return f"Archetype#{self.id}({names}; {self.length} rows)"

    # -- iteration ------------------------------------------------------------------------
    def filled_chunks(self) -> Iterator[tuple[Chunk, int]]:
        """(chunk, rows used) for every chunk holding at least one row, in row order."""
        left = self.length
        for chunk in self.chunks:
            if left <= 0:
                return
            used = min(left, chunk.capacity)
            yield chunk, used
            left -= used

    def entity_ids(self) -> NDArray[np.int64]:
        """All entity ids of the table, in row order (a copy)."""
        if not self.length:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([c.entities[:n] for c, n in self.filled_chunks()])

    def column(self, ctype: type, field: str) -> NDArray[Any]:
        """One whole column, concatenated across chunks (a copy)."""
        parts = [c.columns[ctype][field][:n] for c, n in self.filled_chunks()]
        if not parts:
            spec = next(s for s in self.stored if s.type is ctype)
            return spec.field(field).empty(0)
        return np.concatenate(parts)

    # -- capacity ---------------------------------------------------------------------------
    def _reserve(self, extra: int) -> None:
        need = self.length + extra
        cap_rows = self.chunk_rows
        if not self.chunks:
            rows = min(cap_rows, max(_MIN_ROWS, 1 << max(0, need - 1).bit_length()))
            self.chunks.append(Chunk(rows, self.stored))
        first = self.chunks[0]
        if len(self.chunks) == 1 and first.capacity < cap_rows and need > first.capacity:
            # Only a lone, small first chunk grows by copying; bounded by chunk_rows.
            size = min(cap_rows, max(first.capacity * 2, 1 << max(0, need - 1).bit_length()))
            self.chunks[0] = first.grown(size, self.length, self.stored)
        while len(self.chunks) * cap_rows < need and self.chunks[0].capacity == cap_rows:
            self.chunks.append(Chunk(cap_rows, self.stored))

    def _trim(self) -> None:
        # Keep one spare chunk so a table oscillating around a boundary does not thrash.
        needed = -(-self.length // self.chunk_rows) if self.length else 0
        while len(self.chunks) > needed + 1:
            self.chunks.pop()

    # -- row addressing -----------------------------------------------------------------------
    def _split(self, rows: NDArray[np.int64]) -> list[tuple[int, Any, NDArray[np.int64]]]:
        """Group global rows by chunk: (chunk index, positions in ``rows``, local rows)."""
        if len(self.chunks) == 1 or not len(rows):
            return [(0, slice(None), rows)]
        c = self.chunk_rows
        ks = rows // c
        k0 = int(ks[0])
        if int(ks.min()) == int(ks.max()):
            return [(k0, slice(None), rows - k0 * c)]
        order = np.argsort(ks, kind="stable")
        sorted_k = ks[order]
        cuts = np.flatnonzero(np.diff(sorted_k)) + 1
        out: list[tuple[int, Any, NDArray[np.int64]]] = []
        for pos in np.split(order, cuts):
            k = int(ks[pos[0]])
            out.append((k, pos, rows[pos] - k * c))
        return out

    def _segments(self, start: int, count: int) -> Iterator[tuple[Chunk, int, int, int]]:
        """(chunk, local start, local end, offset in source) covering rows [start, start+count)."""
        done = 0
        while done < count:
            row = start + done
            k, local = divmod(row, self.chunk_rows)
            if len(self.chunks) == 1:
                k, local = 0, row
            chunk = self.chunks[k]
            take = min(count - done, chunk.capacity - local)
            yield chunk, local, local + take, done
            done += take

    # -- mutation ------------------------------------------------------------------------------
    def append(self, ids: NDArray[np.int64], values: Mapping[type, Mapping[str, NDArray[Any]]]) -> int:
        """Append rows; ``values`` must hold every stored field. Returns the first new row."""
        count = len(ids)
        start = self.length
        if not count:
            return start
        self._reserve(count)
        for chunk, a, b, off in self._segments(start, count):
            chunk.entities[a:b] = ids[off : off + b - a]
            for spec in self.stored:
                src = values[spec.type]
                dst = chunk.columns[spec.type]
                for f in spec.fields:
                    dst[f.name][a:b] = src[f.name][off : off + b - a]
        self.length = start + count
        return start

    def fill(
        self, rows: NDArray[np.integer[Any]], ids: NDArray[np.int64], values: Mapping[type, Mapping[str, NDArray[Any]]]
    ) -> None:
        """Write whole rows (ids and every stored field) at existing ascending ``rows``.

        Used to put newly spawned entities into the holes that destroys in the same command
        buffer left, instead of moving the table's tail into them and appending.
        """
        for k, pos, local in self._split_sorted(rows):
            chunk = self.chunks[k]
            chunk.entities[local] = ids[pos]
            for spec in self.stored:
                src = values[spec.type]
                dst = chunk.columns[spec.type]
                for f in spec.fields:
                    dst[f.name][local] = src[f.name][pos]

    def read(self, rows: NDArray[np.int64], ctype: type, field: str) -> NDArray[Any]:
        """Values of one field at the given rows (a copy, in ``rows`` order)."""
        parts = self._split(rows)
        if len(parts) == 1:
            k, _, local = parts[0]
            return self.chunks[k].columns[ctype][field][local]
        proto = self.chunks[0].columns[ctype][field]
        out = np.empty((len(rows), *proto.shape[1:]), dtype=proto.dtype)
        for k, pos, local in parts:
            out[pos] = self.chunks[k].columns[ctype][field][local]
        return out

    def write(self, rows: NDArray[np.int64], ctype: type, field: str, values: NDArray[Any]) -> None:
        """Overwrite one field at the given rows."""
        for k, pos, local in self._split(rows):
            self.chunks[k].columns[ctype][field][local] = values[pos] if not isinstance(pos, slice) else values

    def read_ids(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        parts = self._split(rows)
        if len(parts) == 1:
            k, _, local = parts[0]
            return self.chunks[k].entities[local]
        out = np.empty(len(rows), dtype=np.int64)
        for k, pos, local in parts:
            out[pos] = self.chunks[k].entities[local]
        return out

    def read_rows(self, rows: NDArray[np.int64]) -> dict[type, dict[str, NDArray[Any]]]:
        """Every stored field at the given rows (for moving entities to another table)."""
        return {s.type: {f.name: self.read(rows, s.type, f.name) for f in s.fields} for s in self.stored}

    def _split_sorted(self, rows: NDArray[np.integer[Any]]) -> list[tuple[int, slice, Any]]:
        """:meth:`_split` for ascending unique rows, by binary search.

        Local rows that form a contiguous run come back as a slice, so copying them is a
        memcpy instead of a fancy-indexed gather (destroying a block of entities, or the
        table's tail moving into holes, are both runs in practice).
        """
        if not len(rows):
            return [(0, slice(None), rows)]
        c = self.chunk_rows
        single = len(self.chunks) == 1
        k0 = 0 if single else int(rows[0]) // c
        k1 = 0 if single else int(rows[-1]) // c
        if k0 == k1:
            return [(k0, slice(None), _run(rows - k0 * c if k0 else rows))]
        cuts = np.searchsorted(rows, np.arange(k0 + 1, k1 + 1, dtype=np.int64) * c)
        out: list[tuple[int, slice, Any]] = []
        lo = 0
        for k, hi in zip(range(k0, k1 + 1), [*cuts.tolist(), len(rows)], strict=True):
            if hi > lo:
                out.append((k, slice(lo, hi), _run(rows[lo:hi] - k * c)))
            lo = hi
        return out

    def _copy_rows(self, src: NDArray[np.integer[Any]], dst: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
        """Copy every column from rows ``src`` to rows ``dst`` (both ascending, same length).

        Returns the ids of the moved entities.
        """
        sp = self._split_sorted(src)
        dp = self._split_sorted(dst)
        n = len(src)
        simple = len(sp) == 1 and len(dp) == 1
        moved: NDArray[np.int64] = np.zeros(0, np.int64)
        getters: list[tuple[Any, ...]] = [(None, None)]
        getters += [(spec.type, f.name) for spec in self.stored for f in spec.fields]
        for ctype, name in getters:

            def col(k: int, ctype: Any = ctype, name: Any = name) -> NDArray[Any]:
                chunk = self.chunks[k]
                return chunk.entities if ctype is None else chunk.columns[ctype][name]

            if simple:  # the common case: the tail and the holes each sit in one chunk
                vals = col(sp[0][0])[sp[0][2]]
                col(dp[0][0])[dp[0][2]] = vals
                if ctype is None and isinstance(sp[0][2], slice):
                    vals = vals.copy()  # a view of rows about to be reused
            else:
                first = col(sp[0][0])
                vals = np.empty((n, *first.shape[1:]), dtype=first.dtype)
                for k, pos, local in sp:
                    vals[pos] = col(k)[local]
                for k, pos, local in dp:
                    col(k)[local] = vals[pos]
            if ctype is None:
                moved = vals
        return moved

    def swap_remove(self, rows: NDArray[np.integer[Any]]) -> tuple[NDArray[np.int64], NDArray[np.integer[Any]]]:
        """Remove rows by moving the last rows into the holes.

        Returns ``(moved_ids, new_rows)``: entities that changed row and where they are now,
        so the caller can update its location index. ``rows`` must be unique and valid.
        """
        n = len(rows)
        old_len = self.length
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows = np.sort(rows)
        if n > old_len or int(rows[-1]) >= old_len or int(rows[0]) < 0:
            raise StorageError(f"{self!r}: rows out of range in swap_remove")
        new_len = old_len - n
        cut = int(np.searchsorted(rows, new_len))  # rows[:cut] are holes below the new end
        holes = rows[:cut]
        moved_ids = np.zeros(0, np.int64)
        if cut:
            keep = np.ones(n, dtype=np.bool_)  # tail rows [new_len, old_len) that survive
            keep[rows[cut:] - new_len] = False
            src = np.flatnonzero(keep) + new_len
            moved_ids = self._copy_rows(src, holes)
        self.length = new_len
        if self._has_objects:
            self._clear_objects(new_len, old_len)
        self._trim()
        return moved_ids, holes

    def _clear_objects(self, start: int, end: int) -> None:
        # Object columns would otherwise keep dead entities' Python objects alive.
        obj = [(s.type, f.name) for s in self.stored for f in s.fields if f.is_object]
        if not obj or end <= start:
            return
        for chunk, a, b, _ in self._segments(start, end - start):
            for ctype, name in obj:
                chunk.columns[ctype][name][a:b] = None

    def nbytes(self) -> int:
        return sum(c.nbytes() for c in self.chunks)


@final
class ArchetypeStorage:
    """The :class:`~ecs.storage.ComponentStorage` view of an archetype-stored component.

    Values live in the archetype tables; this adapter resolves entity slots to (table, row)
    through the world's location index, so the per-entity API (``world.get``) and custom
    tools can treat every backend alike. Queries bypass it and read chunks directly.
    """

    kind = "archetype"

    def __init__(
        self, spec: ComponentSpec, locate: Any, tables: Callable[[], Iterable[Archetype]] | None = None
    ) -> None:
        self.spec = spec
        # locate(indices) -> list of (archetype, rows, positions); supplied by the world.
        self._locate = locate
        # tables() -> the world's archetypes: when given, the holder count is read from the
        # tables, and the world skips calling insert/remove (two calls per spawn or destroy).
        self._tables = tables
        self._count = 0

    def insert(self, indices: NDArray[np.int64], values: Mapping[str, NDArray[Any]]) -> None:
        # Rows are appended by the world when it places entities in tables.
        self._count += len(indices)

    def remove(self, indices: NDArray[np.int64]) -> None:
        self._count -= len(indices)

    def gather(self, indices: NDArray[np.int64], field: str) -> NDArray[Any]:
        f = self.spec.field(field)
        out = np.empty((len(indices), *f.shape), dtype=f.dtype)
        for arch, rows, pos in self._locate(indices):
            out[pos] = arch.read(rows, self.spec.type, field)
        return out

    def scatter(self, indices: NDArray[np.int64], field: str, values: NDArray[Any]) -> None:
        for arch, rows, pos in self._locate(indices):
            arch.write(rows, self.spec.type, field, values[pos])

    def contains(self, indices: NDArray[np.int64]) -> NDArray[np.bool_]:
        out = np.zeros(len(indices), dtype=np.bool_)
        for arch, _rows, pos in self._locate(indices):
            out[pos] = self.spec.type in arch.type_set
        return out

    def __len__(self) -> int:
        if self._tables is not None:
            t = self.spec.type
            return sum(a.length for a in self._tables() if t in a.type_set)
        return self._count
