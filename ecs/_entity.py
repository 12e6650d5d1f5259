"""Entity ids and the registry that hands them out.

An :data:`EntityID` is a plain ``int`` that packs two numbers::

    id = generation << 32 | index

``index`` is a slot in the registry's arrays; ``generation`` counts how many times that slot
has been reused. Destroying an entity bumps its slot's generation, so an id kept by game code
after the entity died no longer matches and is detected as stale everywhere (``is_alive``
returns False, direct operations raise :class:`StaleEntityError`). Because ids are plain
integers, arrays of ids are plain ``int64`` numpy arrays and whole batches are checked with
a couple of vectorised comparisons.

Generations use 31 bits, so ids stay positive in ``int64``. A slot is recycled only after it
has been destroyed, and it wraps after 2**31 reuses of the same slot.

The registry also stores where each entity lives (archetype and row), which is what makes
``world.get(eid, Position)`` an O(1) lookup.
"""

from __future__ import annotations

from typing import Any, Final, NewType

import numpy as np
from numpy.typing import NDArray

from ._checks import is_int
from ._errors import StaleEntityError

__all__ = ["EntityID", "EntityRegistry", "entity_generation", "entity_index", "make_entity"]

EntityID = NewType("EntityID", int)

INDEX_BITS: Final = 32
INDEX_MASK: Final = (1 << INDEX_BITS) - 1
GENERATION_MASK: Final = (1 << 31) - 1
#: ``location_archetype`` value of a slot that holds no live entity.
DEAD: Final = -1
#: ``~(id + one generation) == _NEXT_COMPLEMENT - id``: a freed slot's stored value.
_NEXT_COMPLEMENT: Final = -(1 << INDEX_BITS) - 1


def make_entity(index: int, generation: int) -> EntityID:
    """Pack an index and a generation into an id."""
    return EntityID((generation & GENERATION_MASK) << INDEX_BITS | index)


def entity_index(eid: int) -> int:
    """The registry slot of an id."""
    return eid & INDEX_MASK


def entity_generation(eid: int) -> int:
    """The generation of an id."""
    return eid >> INDEX_BITS


def describe(eid: int) -> str:
    """A readable form of an id for error messages: ``Entity(17v3)``."""
    if eid < 0:  # no entity has a negative id; its bits would read as nonsense
        return f"Entity(invalid id {eid})"
    return f"Entity({entity_index(eid)}v{entity_generation(eid)})"


class EntityRegistry:
    """Allocates and recycles entity ids, and records where each live entity is stored.

    Arrays are indexed by slot index and grow geometrically (16 bytes a slot). The id array
    holds, for a live slot, its id, and for a freed slot the bitwise complement of the id it
    will hand out next (a negative number, so it never equals an id): checking a whole batch
    of ids is then one gather and one comparison. Slots never handed out (at or past the
    high-water mark) are never read, so growing leaves them as untouched zero pages. Freed
    slots are reused last-in first-out, which keeps allocation deterministic: the same
    sequence of spawns and destroys always yields the same ids.
    """

    __slots__ = ("_archetype", "_count", "_free", "_free_len", "_ids", "_row", "_size", "_wrap_budget")

    def __init__(self, capacity: int = 1024) -> None:
        capacity = max(16, capacity)
        self._ids = np.zeros(capacity, dtype=np.int64)  # never read before a slot is handed out
        self._archetype = np.full(capacity, DEAD, dtype=np.int32)
        self._row = np.zeros(capacity, dtype=np.int32)
        #: Slots ever used (the high-water mark); slots >= _size were never handed out.
        self._size = 0
        self._free = np.zeros(64, dtype=np.int64)
        self._free_len = 0
        self._count = 0
        # Releases left before some slot could reach the last generation: until then no
        # release needs to check for a generation wrapping (see release).
        self._wrap_budget = GENERATION_MASK

    # -- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of live entities."""
        return self._count

    @property
    def capacity(self) -> int:
        return int(self._ids.shape[0])

    @property
    def high_water(self) -> int:
        """One past the highest slot index ever handed out."""
        return self._size

    def is_alive(self, eid: int) -> bool:
        """True when ``eid`` names a live entity of this registry (False for anything not an id)."""
        if not is_int(eid) or eid < 0:
            return False
        idx = int(eid) & INDEX_MASK
        return idx < self._size and int(self._ids[idx]) == int(eid)

    def alive_mask(self, eids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Vectorised :meth:`is_alive` for an array of ids."""
        eids = np.asarray(eids, dtype=np.int64)
        idx = eids & INDEX_MASK
        inside = idx < self._size
        if not inside.all():
            idx = np.where(inside, idx, 0)
            ok: NDArray[np.bool_] = self._ids[idx] == eids
            ok &= inside
            return ok
        # A negative id never matches: live slots hold non-negative ids.
        same: NDArray[np.bool_] = self._ids[idx] == eids
        return same

    def live_indices(self, eids: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
        """Slot indices of the live ids in ``eids`` (in order) and how many were not live.

        The fused fast path of :meth:`alive_mask` for applying commands: when every id is in
        range and alive, which is the usual case, it costs four numpy calls.
        """
        idx = eids & INDEX_MASK
        if len(idx) and int(idx.max()) < self._size:
            ok = self._ids[idx] == eids
            if ok.all():
                return idx, 0
        else:
            ok = self.alive_mask(eids)
        live = idx[ok]
        return live, len(idx) - len(live)

    def check(self, eid: int) -> int:
        """Return the slot index of a live ``eid`` or raise :class:`StaleEntityError`."""
        if not is_int(eid):
            raise StaleEntityError(f"expected an entity id (an int), got {type(eid).__name__} {eid!r}", -1)
        if not self.is_alive(eid):
            raise StaleEntityError(f"{describe(int(eid))} is not alive (stale or never spawned)", int(eid))
        return int(eid) & INDEX_MASK

    def location(self, index: int) -> tuple[int, int]:
        """(archetype id, row) of a live slot."""
        return int(self._archetype[index]), int(self._row[index])

    def id_of(self, index: int) -> EntityID:
        """The current id of a live slot."""
        return EntityID(int(self._ids[index]))

    def ids_of(self, indices: NDArray[np.int64]) -> NDArray[np.int64]:
        """Vectorised :meth:`id_of` (live slots)."""
        return self._ids[indices]

    def alive_ids(self) -> NDArray[np.int64]:
        """Every live id, sorted by slot index."""
        ids = self._ids[: self._size]
        return ids[ids >= 0]

    # -- location bookkeeping (used by the world) ------------------------------------------
    @property
    def archetype_of(self) -> NDArray[np.int32]:
        return self._archetype

    @property
    def row_of(self) -> NDArray[np.int32]:
        return self._row

    def set_locations(self, indices: NDArray[np.int64], archetype: int, rows: NDArray[Any]) -> None:
        """Record where slots live; slots fresh from :meth:`allocate` become alive."""
        ids = self._ids[indices]
        self._ids[indices] = np.where(ids < 0, ~ids, ids)
        self._relocate(indices, archetype, rows)

    def _relocate(self, indices: NDArray[np.int64], archetype: int, rows: NDArray[Any]) -> None:
        """Record that live slots moved to ``archetype`` at ``rows``."""
        self._archetype[indices] = archetype
        self._row[indices] = rows

    def _place(self, indices: NDArray[np.int64], ids: NDArray[np.int64], archetype: int, rows: NDArray[Any]) -> None:
        """Mark slots from :meth:`_allocate` alive with their ``ids`` in ``archetype`` at ``rows``."""
        self._ids[indices] = ids
        self._archetype[indices] = archetype
        self._row[indices] = rows

    # -- allocation --------------------------------------------------------------------------
    def allocate(self, count: int) -> NDArray[np.int64]:
        """Reserve ``count`` slots and return their indices (not yet alive).

        The caller must mark them alive with :meth:`set_locations`. Recycled slots come first
        (most recently freed first), then fresh ones.
        """
        indices, ids = self._allocate(count)
        self._ids[indices] = ~ids  # not alive until set_locations
        return indices

    def _allocate(self, count: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """:meth:`allocate`, also returning the ids the slots will carry (for :meth:`_place`)."""
        reuse = min(count, self._free_len)
        fresh = count - reuse
        if not fresh:
            indices = self._free[self._free_len - reuse : self._free_len][::-1].copy()
            self._free_len -= reuse
            ids = np.invert(self._ids[indices])
        else:
            indices = np.empty(count, dtype=np.int64)
            if reuse:
                indices[:reuse] = self._free[self._free_len - reuse : self._free_len][::-1]
                self._free_len -= reuse
            start = self._size
            self._grow(start + fresh)
            indices[reuse:] = np.arange(start, start + fresh, dtype=np.int64)
            self._size = start + fresh
            ids = indices.copy()  # fresh slots: generation 0, id == index
            if reuse:
                np.invert(self._ids[indices[:reuse]], out=ids[:reuse])
        self._count += count
        return indices, ids

    def allocate_fresh(self, count: int) -> int | None:
        """Reserve ``count`` never-used slots when no freed slot is waiting; return the first.

        Returns None when the free list is not empty (use :meth:`allocate`, which recycles).
        Fresh slots have generation 0, so their ids equal their indices.
        """
        if self._free_len:
            return None
        start = self._size
        self._grow(start + count)
        self._size = start + count
        self._count += count
        return start

    def checkpoint(self) -> tuple[int, int, int]:
        """What :meth:`rollback` needs to undo allocations made after this call."""
        return self._size, self._free_len, self._count

    def rollback(self, point: tuple[int, int, int]) -> None:
        """Undo the allocations since :meth:`checkpoint` (slots allocated but not yet placed).

        Allocation only moves counters: fresh slots past ``_size`` are never read, and the
        free list keeps its entries beyond ``_free_len``, so restoring the counters is enough.
        """
        self._size, self._free_len, self._count = point

    def set_range_locations(self, start: int, ids: NDArray[np.int64], archetype: int, first_row: int) -> None:
        """Mark fresh slots ``start .. start+len(ids)`` alive (``ids`` equal their indices)."""
        end = start + len(ids)
        self._ids[start:end] = ids
        self._archetype[start:end] = archetype
        # rows = ids - start + first_row, written in place: a temporary arange of a million rows
        # would be fresh memory, and first touches of fresh memory are what a big spawn pays for
        np.subtract(ids, start - first_row, out=self._row[start:end], casting="unsafe")

    def release(self, indices: NDArray[np.int64], ids: NDArray[np.int64] | None = None) -> None:
        """Free live slots: bump their generation and push them on the free list.

        ``ids``, when the caller has them, must be the slots' current ids (saves a gather).
        """
        n = len(indices)
        if not n:
            return
        self._archetype[indices] = DEAD
        # Store the complement of the next id (same index, generation + 1) in one ufunc call:
        # ~(id + G) == (-G - 1) - id. Only a generation wrapping past 31 bits comes out >= 0.
        nxt = np.subtract(_NEXT_COMPLEMENT, self._ids[indices] if ids is None else ids)
        self._wrap_budget -= n
        if self._wrap_budget < 0 and int(nxt.max()) >= 0:
            nxt = np.where(nxt >= 0, np.invert(indices), nxt)  # wrapped: generation 0 again
        self._ids[indices] = nxt
        need = self._free_len + n
        if need > self._free.shape[0]:
            bigger = np.zeros(max(need, 2 * self._free.shape[0]), dtype=np.int64)
            bigger[: self._free_len] = self._free[: self._free_len]
            self._free = bigger
        self._free[self._free_len : need] = indices
        self._free_len = need
        self._count -= n

    def _grow(self, need: int) -> None:
        cap = self.capacity
        if need <= cap:
            return
        new_cap = max(need, cap + cap // 2)
        # Slots at or past _size were never handed out: their stored value is never read
        # (every check tests the index against _size first), so zeros will do, and np.zeros
        # leaves the memory untouched until a spawn writes it.
        ids = np.zeros(new_cap, dtype=np.int64)
        ids[:cap] = self._ids
        self._ids = ids
        for name, fill in (("_archetype", DEAD), ("_row", 0)):
            old = getattr(self, name)
            new = np.full(new_cap, fill, dtype=old.dtype)
            new[:cap] = old
            setattr(self, name, new)

    # -- snapshot support ---------------------------------------------------------------------
    def state(self) -> dict[str, NDArray[Any]]:
        """Arrays that fully describe the registry (for snapshots).

        ``generation`` is each slot's generation: the live entity's, or for a free slot the
        one it will hand out next.
        """
        ids = self._ids[: self._size]
        return {
            "generation": (np.where(ids >= 0, ids, ~ids) >> INDEX_BITS).astype(np.uint32),
            "archetype": self._archetype[: self._size].copy(),
            "row": self._row[: self._size].copy(),
            "free": self._free[: self._free_len].copy(),
        }

    def load_state(self, state: dict[str, NDArray[Any]]) -> None:
        """Replace the registry contents with arrays from :meth:`state` (already validated)."""
        size = int(state["generation"].shape[0])
        cap = max(16, size)
        self._archetype = np.full(cap, DEAD, dtype=np.int32)
        self._row = np.zeros(cap, dtype=np.int32)
        self._archetype[:size] = state["archetype"]
        self._row[:size] = state["row"]
        ids = np.zeros(cap, dtype=np.int64)
        ids[:size] = (state["generation"].astype(np.int64) << INDEX_BITS) | np.arange(size, dtype=np.int64)
        dead = self._archetype[:size] == DEAD
        ids[:size][dead] = ~ids[:size][dead]
        self._ids = ids
        self._size = size
        free = np.asarray(state["free"], dtype=np.int64)
        self._free = np.zeros(max(64, free.shape[0]), dtype=np.int64)
        self._free[: free.shape[0]] = free
        self._free_len = int(free.shape[0])
        self._count = int(size - np.count_nonzero(dead))
        self._wrap_budget = GENERATION_MASK - (int(state["generation"].max()) if size else 0)
