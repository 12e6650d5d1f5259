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

from ._errors import StaleEntityError

__all__ = ["EntityID", "EntityRegistry", "entity_generation", "entity_index", "make_entity"]

EntityID = NewType("EntityID", int)

INDEX_BITS: Final = 32
INDEX_MASK: Final = (1 << INDEX_BITS) - 1
GENERATION_MASK: Final = (1 << 31) - 1
#: ``location_archetype`` value of a slot that holds no live entity.
DEAD: Final = -1


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
    return f"Entity({entity_index(eid)}v{entity_generation(eid)})"


class EntityRegistry:
    """Allocates and recycles entity ids, and records where each live entity is stored.

    Arrays are indexed by slot index and grow geometrically (the registry is small: 12 bytes a
    slot). Freed slots are reused last-in first-out, which keeps allocation deterministic: the
    same sequence of spawns and destroys always yields the same ids.
    """

    __slots__ = ("_archetype", "_count", "_free", "_free_len", "_generation", "_row", "_size")

    def __init__(self, capacity: int = 1024) -> None:
        capacity = max(16, capacity)
        self._generation = np.zeros(capacity, dtype=np.uint32)
        self._archetype = np.full(capacity, DEAD, dtype=np.int32)
        self._row = np.zeros(capacity, dtype=np.int32)
        #: Slots ever used (the high-water mark); slots >= _size were never handed out.
        self._size = 0
        self._free = np.zeros(64, dtype=np.int64)
        self._free_len = 0
        self._count = 0

    # -- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of live entities."""
        return self._count

    @property
    def capacity(self) -> int:
        return int(self._generation.shape[0])

    @property
    def high_water(self) -> int:
        """One past the highest slot index ever handed out."""
        return self._size

    def is_alive(self, eid: int) -> bool:
        """True when ``eid`` names a live entity of this registry."""
        if not isinstance(eid, int | np.integer) or eid < 0:
            return False
        idx = int(eid) & INDEX_MASK
        return (
            idx < self._size and self._archetype[idx] != DEAD and int(self._generation[idx]) == int(eid) >> INDEX_BITS
        )

    def alive_mask(self, eids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Vectorised :meth:`is_alive` for an array of ids."""
        eids = np.asarray(eids, dtype=np.int64)
        idx = eids & INDEX_MASK
        inside = idx < self._size
        if not inside.all():
            idx = np.where(inside, idx, 0)
        # A negative id fails the generation test: its high bits are negative, generations never are.
        ok: NDArray[np.bool_] = self._generation[idx].astype(np.int64) == (eids >> INDEX_BITS)
        ok &= self._archetype[idx] != DEAD
        if not inside.all():
            ok &= inside
        return ok

    def live_indices(self, eids: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
        """Slot indices of the live ids in ``eids`` (in order) and how many were not live.

        The fused fast path of :meth:`alive_mask` for applying commands: when every id is in
        range and alive, which is the usual case, it costs five numpy calls.
        """
        idx = eids & INDEX_MASK
        if len(idx) and int(idx.max()) < self._size and int(eids.min()) >= 0:
            ok = (self._generation[idx] == (eids >> INDEX_BITS)) & (self._archetype[idx] != DEAD)
            if ok.all():
                return idx, 0
        else:
            ok = self.alive_mask(eids)
        live = idx[ok]
        return live, len(idx) - len(live)

    def check(self, eid: int) -> int:
        """Return the slot index of a live ``eid`` or raise :class:`StaleEntityError`."""
        if not self.is_alive(eid):
            raise StaleEntityError(f"{describe(int(eid))} is not alive (stale or never spawned)", int(eid))
        return int(eid) & INDEX_MASK

    def location(self, index: int) -> tuple[int, int]:
        """(archetype id, row) of a live slot."""
        return int(self._archetype[index]), int(self._row[index])

    def id_of(self, index: int) -> EntityID:
        """The current id of a slot."""
        return make_entity(index, int(self._generation[index]))

    def ids_of(self, indices: NDArray[np.int64]) -> NDArray[np.int64]:
        """Vectorised :meth:`id_of`."""
        return (self._generation[indices].astype(np.int64) << INDEX_BITS) | indices

    def alive_ids(self) -> NDArray[np.int64]:
        """Every live id, sorted by slot index."""
        idx = np.flatnonzero(self._archetype[: self._size] != DEAD).astype(np.int64)
        return self.ids_of(idx)

    # -- location bookkeeping (used by the world) ------------------------------------------
    @property
    def archetype_of(self) -> NDArray[np.int32]:
        return self._archetype

    @property
    def row_of(self) -> NDArray[np.int32]:
        return self._row

    def set_locations(self, indices: NDArray[np.int64], archetype: int, rows: NDArray[Any]) -> None:
        self._archetype[indices] = archetype
        self._row[indices] = rows

    # -- allocation --------------------------------------------------------------------------
    def allocate(self, count: int) -> NDArray[np.int64]:
        """Reserve ``count`` slots and return their indices (not yet alive).

        The caller must mark them alive with :meth:`set_locations`. Recycled slots come first
        (most recently freed first), then fresh ones.
        """
        reuse = min(count, self._free_len)
        out = np.empty(count, dtype=np.int64)
        if reuse:
            out[:reuse] = self._free[self._free_len - reuse : self._free_len][::-1]
            self._free_len -= reuse
        fresh = count - reuse
        if fresh:
            start = self._size
            self._grow(start + fresh)
            out[reuse:] = np.arange(start, start + fresh, dtype=np.int64)
            self._size = start + fresh
        self._count += count
        return out

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

    def set_range_locations(self, start: int, count: int, archetype: int, first_row: int) -> None:
        """Mark slots ``start .. start+count`` alive in ``archetype`` at consecutive rows."""
        self._archetype[start : start + count] = archetype
        self._row[start : start + count] = np.arange(first_row, first_row + count, dtype=np.int32)

    def release(self, indices: NDArray[np.int64]) -> None:
        """Free live slots: bump their generation and push them on the free list."""
        n = len(indices)
        if not n:
            return
        self._archetype[indices] = DEAD
        self._generation[indices] = (self._generation[indices] + 1) & GENERATION_MASK
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
        for name, fill in (("_generation", 0), ("_archetype", DEAD), ("_row", 0)):
            old = getattr(self, name)
            new = np.full(new_cap, fill, dtype=old.dtype)
            new[:cap] = old
            setattr(self, name, new)

    # -- snapshot support ---------------------------------------------------------------------
    def state(self) -> dict[str, NDArray[Any]]:
        """Arrays that fully describe the registry (for snapshots)."""
        return {
            "generation": self._generation[: self._size].copy(),
            "archetype": self._archetype[: self._size].copy(),
            "row": self._row[: self._size].copy(),
            "free": self._free[: self._free_len].copy(),
        }

    def load_state(self, state: dict[str, NDArray[Any]]) -> None:
        """Replace the registry contents with arrays from :meth:`state` (already validated)."""
        size = int(state["generation"].shape[0])
        cap = max(16, size)
        self._generation = np.zeros(cap, dtype=np.uint32)
        self._archetype = np.full(cap, DEAD, dtype=np.int32)
        self._row = np.zeros(cap, dtype=np.int32)
        self._generation[:size] = state["generation"]
        self._archetype[:size] = state["archetype"]
        self._row[:size] = state["row"]
        self._size = size
        free = np.asarray(state["free"], dtype=np.int64)
        self._free = np.zeros(max(64, free.shape[0]), dtype=np.int64)
        self._free[: free.shape[0]] = free
        self._free_len = int(free.shape[0])
        self._count = int(np.count_nonzero(self._archetype[:size] != DEAD))
