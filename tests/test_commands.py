"""Command buffers: checked when recorded, applied in order, vectorised, rewindable."""

from __future__ import annotations

import numpy as np
import pytest

import ecs

from .components import Enemy, Health, Mana, Name, Position, Velocity, make_world


def test_commands_apply_in_order_and_pending_entities_resolve() -> None:
    w = make_world()
    buf = w.commands()
    a = buf.spawn(Position(xy=(1, 1)))
    b = buf.spawn(Position(xy=(2, 2)))
    buf.add(a, Health(5))
    buf.destroy(b)
    assert a.entity is None
    stats = w.apply(buf)
    assert a.entity is not None and w.get(a.entity, Health).hp == 5
    assert b.entity is not None and not w.is_alive(b.entity)
    assert (stats.spawned, stats.destroyed, stats.added, stats.stale) == (2, 1, 1, 0)
    assert len(buf) == 0


def test_consecutive_spawns_and_destroys_are_coalesced_into_batches() -> None:
    w = make_world()
    buf = w.commands()
    for i in range(5):
        buf.spawn(Position(xy=(i, i)), Velocity())
    buf.spawn(Position())  # another component set: a new run
    assert buf.kinds == ["spawn", "spawn"]
    assert len(buf) == 6
    w.apply(buf)
    ids = w.entities()
    buf.destroy(ids[0])
    buf.destroy(ids[1:3])
    assert buf.kinds == ["destroy"]
    w.apply(buf)
    assert len(w) == 3


def test_stale_targets_are_skipped_and_counted_not_fatal() -> None:
    w = make_world()
    ids = w.spawn_batch(3, {Position: None})
    first, second = w.commands(), w.commands()
    first.destroy(ids[0])
    second.destroy(ids[0])  # another system destroyed the same entity this tick
    second.add(ids[0], Health(1))
    second.destroy(ids[1])
    w.apply(first)
    stats = w.apply(second)
    assert stats.stale == 2 and stats.destroyed == 1
    assert w.stats.stale_commands == 2
    assert len(w) == 1


def test_bad_commands_raise_when_recorded_and_leave_the_buffer_unchanged() -> None:
    @ecs.component
    class Unknown:
        v: int

    w = make_world()
    buf = w.commands()
    buf.spawn(Position())
    before = buf.kinds
    with pytest.raises(ecs.FieldValueError, match=r"Health\.hp"):
        buf.spawn(Health(hp=1.5))  # type: ignore[arg-type]
    with pytest.raises(ecs.UnregisteredComponentError, match="Unknown"):
        buf.add(1, Unknown(1))
    with pytest.raises(ecs.DuplicateComponentError):
        buf.spawn(Position(), Position())
    with pytest.raises(ecs.FieldValueError, match=r"expected shape \(4, 2\)"):
        buf.spawn_batch(4, {Position: {"xy": np.zeros((3, 2))}})
    with pytest.raises(ecs.FieldValueError, match="no field"):
        buf.spawn_batch(4, {Position: {"zz": 1}})
    with pytest.raises(ecs.CommandError, match="count"):
        buf.spawn_batch(-1, {})
    with pytest.raises(ecs.CommandError, match="expected an entity id"):
        buf.destroy("abc")
    with pytest.raises(ecs.CommandError, match="not the class"):
        buf.spawn(Position)
    assert buf.kinds == before


def test_mark_and_rewind_forget_everything_after_the_mark() -> None:
    w = make_world()
    buf = w.commands()
    buf.spawn(Position(xy=(1, 1)))
    m = buf.mark()
    lost = buf.spawn(Position(xy=(2, 2)))  # coalesced into the same run as the first
    buf.destroy(123)
    buf.set_resource({"x": 1}, dict)
    buf.rewind(m)
    assert len(buf) == 1
    with pytest.raises(ecs.CommandError, match="rewound"):
        buf.add(lost, Health(1))
    w.apply(buf)
    assert len(w) == 1 and not w.has_resource(dict)
    with pytest.raises(ecs.CommandError, match="earlier state"):
        buf.rewind(m)  # the buffer was applied and cleared since


def test_pending_entities_of_another_buffer_need_it_applied_first() -> None:
    w = make_world()
    one, two = w.commands(), w.commands()
    p = one.spawn(Position())
    with pytest.raises(ecs.CommandError, match="another buffer"):
        two.add(p, Health(1))
    w.apply(one)
    two.add(p, Health(2))
    w.apply(two)
    assert p.entity is not None and w.get(p.entity, Health).hp == 2


def test_spawn_batch_pending_batch_and_vectorised_add_remove() -> None:
    w = make_world()
    buf = w.commands()
    batch = buf.spawn_batch(100, {Position: {"xy": np.random.default_rng(0).random((100, 2))}, Mana: 1.0})
    buf.add(batch, Health, {"hp": np.arange(100)})
    buf.remove(batch, Mana)
    w.apply(buf)
    assert batch.entities is not None and len(batch) == 100
    assert w.count(Position, Health) == 100 and w.count(Mana) == 0
    assert w.get(int(batch.entities[42]), Health).hp == 42


def test_resources_are_replaced_through_commands() -> None:
    w = make_world()
    buf = w.commands()
    buf.set_resource(3.5, float)
    with pytest.raises(ecs.ResourceError):
        buf.set_resource("x", float)
    w.apply(buf)
    assert w.resource(float) == 3.5


def test_a_buffer_applies_only_to_its_own_world() -> None:
    w1, w2 = make_world(), make_world()
    buf = w1.commands()
    buf.spawn(Position())
    with pytest.raises(ecs.CommandError, match="another world"):
        w2.apply(buf)
    other = w2.commands()
    with pytest.raises(ecs.CommandError, match="different worlds"):
        other.extend(buf)


def test_extend_merges_commands_in_order_without_aliasing() -> None:
    w = make_world()
    a, b, merged = w.commands(), w.commands(), w.commands()
    a.spawn(Position(xy=(1, 1)), Enemy)
    b.spawn(Position(xy=(2, 2)), Enemy)
    merged.extend(a)
    merged.extend(b)
    merged.spawn(Position(xy=(3, 3)), Enemy)
    assert len(a) == 1 and len(b) == 1
    w.apply(merged)
    assert [v[0] for v in w.column(Position, "xy")[1].tolist()] == [1, 2, 3]


def test_object_components_travel_through_commands() -> None:
    w = make_world()
    buf = w.commands()
    p = buf.spawn(Name(["a", "list"]))
    buf.spawn_batch(2, {Name: {"value": [{"k": 1}, {"k": 2}]}})
    w.apply(buf)
    assert p.entity is not None and w.get(p.entity, Name).value == ["a", "list"]
    assert sorted(str(v) for v in w.column(Name, "value")[1]) == ["['a', 'list']", "{'k': 1}", "{'k': 2}"]


def test_spawns_fill_the_rows_destroys_freed_in_the_same_buffer() -> None:
    w = ecs.World(components=[Position, Health], chunk_rows=16)
    ids = w.spawn_batch(40, {Position: {"xy": np.arange(80.0).reshape(40, 2)}, Health: np.arange(40)})
    table = w.matching(frozenset({Position, Health}))[0]
    for destroyed, spawned in [(10, 4), (3, 9), (5, 5)]:
        buf = w.commands()
        alive = w.entities()
        buf.destroy(alive[:destroyed])
        batch = buf.spawn_batch(spawned, {Position: (7.0, 7.0), Health: 7})
        buf.add(alive[-1], Health(99))  # a later command sees a dense table again
        w.apply(buf)
        assert batch.entities is not None
        assert table.length == len(w)  # no holes left behind
        assert sorted(table.entity_ids().tolist()) == sorted(w.entities().tolist())
        for e in batch.entities.tolist():
            assert w.get(e, Health).hp == 7
        assert w.get(int(alive[-1]), Health).hp == 99
    survivors = [int(e) for e in ids if w.is_alive(int(e))]
    assert survivors
    for e in survivors[:-1]:
        assert w.get(e, Health).hp == e & 0xFFFFFFFF  # untouched rows kept their values


@pytest.mark.parametrize("order", ["ascending", "shuffled"])
def test_a_destroy_listing_entities_in_any_order_with_repeats_destroys_each_once(order: str) -> None:
    w = ecs.World(components=[Position, Health], chunk_rows=16)
    ids = w.spawn_batch(40, {Position: {"xy": np.arange(80.0).reshape(40, 2)}, Health: np.arange(40)})
    targets = ids[5:25].copy()
    if order == "shuffled":
        np.random.default_rng(3).shuffle(targets)
    targets = np.concatenate([targets, targets[:4]])  # four repeats
    buf = w.commands()
    buf.destroy(targets)
    batch = buf.spawn_batch(7, {Position: (1.0, 1.0), Health: 7})
    stats = w.apply(buf)
    assert (stats.destroyed, stats.stale, stats.spawned) == (20, 4, 7)
    assert len(w) == 27 and len(w.storage(Health)) == 27
    alive = [w.is_alive(e) for e in ids.tolist()]
    assert alive == [True] * 5 + [False] * 20 + [True] * 15
    for e in ids[25:].tolist():
        assert w.get(e, Health).hp == e & 0xFFFFFFFF  # survivors kept their own values
    assert batch.entities is not None
    assert [w.get(e, Health).hp for e in batch.entities.tolist()] == [7] * 7
