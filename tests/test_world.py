"""World: direct entity operations, queries over every storage, errors that name things."""

from __future__ import annotations

import numpy as np
import pytest

import ecs
from ecs._component import component_spec

from .components import Enemy, Health, Mana, Matrix, Name, Position, Velocity, make_world


def test_spawn_and_get_round_trip_every_kind_of_component() -> None:
    w = make_world()
    e = w.spawn(Position(xy=(1, 2)), Health(7), Mana(1.5), Name("orc"), Enemy, Matrix(m=(1, 2, 3), flag=True))
    assert w.is_alive(e) and len(w) == 1
    assert w.get(e, Position).xy.tolist() == [1, 2]
    assert w.get(e, Health).hp == 7
    assert w.get(e, Mana).mp == pytest.approx(1.5)
    assert w.get(e, Name).value == "orc"
    assert w.get(e, Matrix).m.tolist() == [1, 2, 3]
    assert set(w.components_of(e)) == {Position, Health, Mana, Name, Enemy, Matrix}
    assert w.has(e, Enemy) and not w.has(e, Velocity)


def test_get_returns_a_copy_and_set_writes_values() -> None:
    w = make_world()
    e = w.spawn(Position(xy=(1, 2)), Mana(1.0), Name("a"))
    p = w.get(e, Position)
    p.xy[0] = 99
    assert w.get(e, Position).xy.tolist() == [1, 2]
    w.set(e, Position(xy=(3, 4)))
    w.set(e, Mana(2.0))
    w.set(e, Name("b"))
    assert w.get(e, Position).xy.tolist() == [3, 4]
    assert w.get(e, Mana).mp == 2.0
    assert w.get(e, Name).value == "b"
    with pytest.raises(ecs.MissingComponentError, match="Velocity"):
        w.set(e, Velocity())


def test_spawn_batch_accepts_arrays_broadcasts_instances_and_tags() -> None:
    w = make_world()
    pos = np.arange(10, dtype=np.float64).reshape(5, 2)
    ids = w.spawn_batch(5, {Position: {"xy": pos}, Velocity: Velocity(xy=(1, 1)), Health: np.arange(5), Enemy: None})
    assert len(ids) == 5 and len(w) == 5
    assert w.get(int(ids[3]), Position).xy.tolist() == [6, 7]
    assert w.get(int(ids[3]), Velocity).xy.tolist() == [1, 1]
    assert w.get(int(ids[4]), Health).hp == 4
    assert w.count(Enemy) == 5


def test_destroy_recycles_slots_and_makes_old_ids_stale_everywhere() -> None:
    w = make_world()
    ids = w.spawn_batch(4, {Position: {"xy": np.zeros((4, 2))}, Mana: {"mp": np.arange(4.0)}})
    w.destroy(ids[1])
    assert not w.is_alive(int(ids[1])) and len(w) == 3
    for op in (lambda: w.get(int(ids[1]), Position), lambda: w.destroy(ids[1]), lambda: w.add(ids[1], Health(1))):
        with pytest.raises(ecs.StaleEntityError, match=r"Entity\(1v0\)"):
            op()
    new = w.spawn(Position())
    assert new & 0xFFFFFFFF == ids[1] & 0xFFFFFFFF and new != ids[1]
    # the remaining entities kept their values through the swap-remove
    assert [w.get(int(e), Mana).mp for e in ids[[0, 2, 3]]] == [0.0, 2.0, 3.0]


def test_destroying_an_array_with_a_stale_or_repeated_id_changes_nothing() -> None:
    w = make_world()
    ids = w.spawn_batch(3, {Position: None})
    w.destroy(ids[0])
    before = w.state_hash()
    with pytest.raises(ecs.StaleEntityError):
        w.destroy(ids)
    with pytest.raises(ecs.StaleEntityError, match="twice"):
        w.destroy(np.array([ids[1], ids[1]]))
    assert w.state_hash() == before and len(w) == 2


def test_add_moves_between_archetypes_keeping_values_and_remove_undoes_it() -> None:
    w = make_world()
    ids = w.spawn_batch(3, {Position: {"xy": np.arange(6.0).reshape(3, 2)}})
    w.add(ids[[0, 2]], Velocity(xy=(5, 5)))
    w.add(ids[1], Health, {"hp": [9]})
    assert w.get(int(ids[2]), Position).xy.tolist() == [4, 5]
    assert w.get(int(ids[2]), Velocity).xy.tolist() == [5, 5]
    assert w.count(Position, Velocity) == 2
    w.add(ids[0], Velocity(xy=(7, 7)))  # already present: overwrite
    assert w.get(int(ids[0]), Velocity).xy.tolist() == [7, 7]
    w.remove(ids, Velocity)  # absent on ids[1]: nothing happens there
    assert w.count(Velocity) == 0 and w.count(Position) == 3
    assert w.get(int(ids[0]), Position).xy.tolist() == [0, 1]


def test_unregistered_and_duplicate_components_are_refused_by_name() -> None:
    @ecs.component
    class Stranger:
        v: int

    w = make_world()
    with pytest.raises(ecs.UnregisteredComponentError, match="Stranger is not registered"):
        w.spawn(Stranger(1))
    with pytest.raises(ecs.DuplicateComponentError, match="Position given twice"):
        w.spawn(Position(), Position())
    with pytest.raises(ecs.UnregisteredComponentError, match="not a component type"):
        w.spawn(42)
    with pytest.raises(ecs.FieldValueError, match=r"Position\.xy"):
        w.spawn(Position(xy="nope"))  # type: ignore[arg-type]
    assert len(w) == 0


def test_component_names_must_be_unique_in_a_world() -> None:
    def make() -> type:
        @ecs.component
        class Position:
            v: int

        return Position

    w = make_world()
    with pytest.raises(ecs.ComponentDefinitionError, match="named 'Position'"):
        w.register_component(make())


def test_storage_choice_is_per_component_and_checked() -> None:
    w = ecs.World()
    w.register_component(Position, storage="dense")
    assert w.storage_kind(Position) == "dense"
    w.register_component(Position, storage="dense")  # idempotent
    with pytest.raises(ecs.StorageError, match="already registered"):
        w.register_component(Position, storage="sparse")
    with pytest.raises(ecs.StorageError, match="unknown storage 'nope'"):
        w.register_component(Velocity, storage="nope")
    assert w.storage_kind(Name) if w.is_registered(Name) else True
    w.register_component(Name)
    assert w.storage_kind(Name) == "sparse"


def test_query_yields_zero_copy_views_per_chunk() -> None:
    w = make_world(chunk_rows=16)
    ids = w.spawn_batch(40, {Position: {"xy": np.zeros((40, 2))}, Velocity: {"xy": np.ones((40, 2))}})
    batches = []
    for b in w.query(Position, Velocity):
        b[Position].xy += b[Velocity].xy * 2
        batches.append(len(b))
    assert batches == [16, 16, 8]
    ids_back, vals = w.column(Position, "xy")
    assert ids_back.tolist() == sorted(ids.tolist())
    assert (vals == 2).all()
    table = w.matching(frozenset({Position, Velocity}))[0]
    chunk = table.chunks[0]
    b = next(iter(w.query(Position)))
    assert np.shares_memory(b[Position].xy, chunk.columns[Position]["xy"])


def test_readonly_components_cannot_be_written_through_a_query() -> None:
    w = make_world()
    w.spawn_batch(3, {Position: None, Velocity: None})
    for b in w.query(Position, Velocity, readonly=(Velocity,)):
        with pytest.raises(ValueError, match="read-only"):
            b[Velocity].xy += 1
        with pytest.raises(ecs.AccessError, match="read-only"):
            b[Velocity].xy = 1
        with pytest.raises(ecs.AccessError, match="not part of this query"):
            b[Health]
        b[Position].xy = (3, 4)  # assignment copies into the column
    assert w.column(Position, "xy")[1].tolist() == [[3, 4]] * 3


def test_dense_and_sparse_fields_are_gathered_and_written_back() -> None:
    w = make_world()
    w.register_component(Health, storage="archetype")
    ids = w.spawn_batch(5, {Mana: {"mp": np.arange(5.0)}, Name: {"value": list("abcde")}, Health: np.arange(5)})
    for b in w.query(Mana, Name, Health):
        b[Mana].mp *= 10
        b[Name].value[:] = [v.upper() for v in b[Name].value]
    assert [w.get(int(e), Mana).mp for e in ids] == [0, 10, 20, 30, 40]
    assert [w.get(int(e), Name).value for e in ids] == list("ABCDE")
    for b in w.query(Mana, readonly=(Mana,)):
        with pytest.raises(ValueError, match="read-only"):
            b[Mana].mp += 1


def test_without_and_with_filters_match_on_presence() -> None:
    w = make_world()
    w.spawn_batch(3, {Position: None, Enemy: None})
    w.spawn_batch(2, {Position: None})
    assert sum(len(b) for b in w.query(Position, without=(Enemy,))) == 2
    assert sum(len(b) for b in w.query(Position, with_=(Enemy,))) == 3
    assert w.count(Position, without=(Enemy,)) == 2
    with pytest.raises(ecs.DuplicateComponentError):
        w.query(Position, Position)


def test_structural_changes_are_refused_while_a_query_iterates() -> None:
    w = make_world()
    e = w.spawn(Position())
    for _ in w.query(Position):
        with pytest.raises(ecs.StructuralChangeError, match="ctx.commands"):
            w.spawn(Position())
        with pytest.raises(ecs.StructuralChangeError):
            w.destroy(e)
    w.destroy(e)  # fine once the loop ended


def test_query_caches_grow_only_with_new_archetypes() -> None:
    w = make_world()
    w.spawn(Position())
    first = w.matching(frozenset({Position}))
    assert len(first) == 1
    w.spawn(Position(), Velocity())
    assert w.matching(frozenset({Position})) is first and len(first) == 2
    created = w.stats.archetypes_created
    w.spawn(Position(), Velocity())  # an existing archetype: nothing new
    assert w.stats.archetypes_created == created


def test_single_finds_the_one_holder() -> None:
    w = make_world()
    assert w.single(Enemy, default=None) is None
    e = w.spawn(Enemy, Health(3))
    eid, hp = w.single(Health)
    assert eid == e and hp.hp == 3
    w.spawn(Health(1))
    with pytest.raises(ecs.MissingComponentError, match="exactly one"):
        w.single(Health)


def test_state_hash_is_equal_for_equal_worlds_and_differs_otherwise() -> None:
    def build(v: float) -> ecs.World:
        w = make_world()
        w.spawn_batch(10, {Position: {"xy": np.full((10, 2), v)}, Name: {"value": "x"}, Enemy: None})
        return w

    assert build(1.0).state_hash() == build(1.0).state_hash()
    assert build(1.0).state_hash() != build(2.0).state_hash()


def test_memory_per_entity_is_small_for_numeric_components() -> None:
    w = ecs.World(components=[Position, Velocity])
    n = 200_000
    w.spawn_batch(n, {Position: None, Velocity: None})
    assert w.memory_usage() / n < 64


def test_resources_are_typed_singletons() -> None:
    w = make_world(seed=3)
    rng = w.resource(np.random.Generator)
    assert isinstance(rng, np.random.Generator)
    w.add_resource({"gravity": 9.8}, dict)
    assert w.resource(dict)["gravity"] == 9.8
    with pytest.raises(ecs.ResourceError, match="holds no resource int"):
        w.resource(int)
    with pytest.raises(ecs.ResourceError, match="is not a"):
        w.add_resource("text", int)
    w.remove_resource(dict)
    assert not w.has_resource(dict)


def test_custom_storage_backends_plug_in_through_the_protocol() -> None:
    created = []

    def factory(spec: ecs.ComponentSpec) -> ecs.storage.ComponentStorage:
        store = ecs.storage.SparseStorage(spec)
        created.append(spec.name)
        return store

    w = ecs.World()
    w.register_storage("mine", factory)
    w.register_component(Health, storage="mine")
    e = w.spawn(Health(4))
    assert created == ["Health"] and w.get(e, Health).hp == 4
    with pytest.raises(ecs.StorageError, match="already registered"):
        w.register_storage("mine", factory)

    def broken(spec: ecs.ComponentSpec) -> object:
        return object()

    w.register_storage("broken", broken)  # type: ignore[arg-type]
    with pytest.raises(ecs.StorageError, match="lacks the ComponentStorage"):
        w.register_component(Velocity, storage="broken")
    assert component_spec(Velocity).name == "Velocity"


def test_chunk_rows_must_be_a_power_of_two() -> None:
    with pytest.raises(ecs.StorageError, match="power of two"):
        ecs.World(chunk_rows=1000)
