"""EntityRegistry: packed ids, generations, recycling and stale detection."""

from __future__ import annotations

import numpy as np
import pytest

import ecs
from ecs._entity import entity_generation, entity_index, make_entity


def test_ids_pack_index_and_generation_into_one_int() -> None:
    eid = make_entity(17, 3)
    assert entity_index(eid) == 17
    assert entity_generation(eid) == 3
    assert eid == (3 << 32) | 17


def test_allocation_is_sequential_then_recycles_last_freed_first() -> None:
    reg = ecs.EntityRegistry()
    idx = reg.allocate(4)
    assert idx.tolist() == [0, 1, 2, 3]
    reg.set_locations(idx, 0, np.arange(4))
    reg.release(np.array([1, 3]))
    again = reg.allocate(3)
    assert again.tolist() == [3, 1, 4]
    assert len(reg) == 5


def test_a_destroyed_id_is_stale_even_after_its_slot_is_reused() -> None:
    reg = ecs.EntityRegistry()
    idx = reg.allocate(1)
    reg.set_locations(idx, 0, np.zeros(1))
    old = reg.id_of(0)
    assert reg.is_alive(old)
    reg.release(idx)
    assert not reg.is_alive(old)
    new_idx = reg.allocate(1)
    reg.set_locations(new_idx, 0, np.zeros(1))
    new = reg.id_of(0)
    assert new != old and entity_index(new) == entity_index(old)
    assert entity_generation(new) == entity_generation(old) + 1
    assert not reg.is_alive(old)
    with pytest.raises(ecs.StaleEntityError, match=r"Entity\(0v0\)"):
        reg.check(old)


def test_alive_mask_matches_is_alive_for_every_kind_of_id() -> None:
    reg = ecs.EntityRegistry(capacity=16)
    idx = reg.allocate(40)  # forces growth past the initial capacity
    reg.set_locations(idx, 0, np.arange(40))
    reg.release(idx[::3])
    ids = np.array([reg.id_of(i) for i in range(40)] + [make_entity(5, 99), make_entity(1000, 0), -1], dtype=np.int64)
    mask = reg.alive_mask(ids)
    assert mask.tolist() == [reg.is_alive(int(e)) for e in ids]
    assert not reg.is_alive("not an id")  # type: ignore[arg-type]


def test_state_round_trips_through_load_state() -> None:
    reg = ecs.EntityRegistry()
    idx = reg.allocate(10)
    reg.set_locations(idx, 2, np.arange(10))
    reg.release(idx[[2, 5]])
    copy = ecs.EntityRegistry()
    copy.load_state(reg.state())
    assert len(copy) == len(reg) == 8
    assert copy.allocate(2).tolist() == reg.allocate(2).tolist()
    assert copy.alive_ids().tolist() == reg.alive_ids().tolist()


def test_a_generation_wraps_to_zero_after_two_to_the_31_reuses() -> None:
    reg = ecs.EntityRegistry()
    idx = reg.allocate(2)
    reg.set_locations(idx, 0, np.arange(2))
    state = reg.state()
    state["generation"][1] = (1 << 31) - 1  # slot 1 has been reused as often as 31 bits allow
    reg.load_state(state)
    last = reg.id_of(1)
    assert entity_generation(last) == (1 << 31) - 1 and reg.is_alive(last)
    reg.release(np.array([1, 0]))
    assert not reg.is_alive(last) and len(reg) == 0
    again = reg.allocate(2)
    reg.set_locations(again, 0, np.arange(2))
    assert reg.alive_ids().tolist() == [make_entity(0, 1), make_entity(1, 0)]  # slot order
    assert not reg.is_alive(last) and reg.state()["generation"].tolist() == [1, 0]
