"""Bad custom storages and storage names: a StorageError naming the storage, nothing changed.

Found by a fuzzing pass: these were raw TypeErrors (a storage name that is not a str, a
factory that is not callable), a factory's own exception escaping, silently wrong values
from a storage whose gather returns the wrong dtype, an IndexError from one returning the
wrong length, and a spawn left half-applied when a storage's insert raised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import ecs
from ecs.storage import DenseStorage

from .components import Position, make_world


@ecs.component
class Custom:
    hp: ecs.f32


def _factory(spec: Any) -> DenseStorage:
    return DenseStorage(spec)


REGISTER_STORAGE = [
    ("name None", None, _factory, "name must be a non-empty str, got None"),
    ("name list", ["x"], _factory, r"name must be a non-empty str, got \['x'\]"),
    ("name empty", "", _factory, "name must be a non-empty str, got ''"),
    ("factory int", "mine", 5, r"register_storage\('mine'\): factory must be a callable .* got 5"),
    ("factory None", "mine", None, "factory must be a callable"),
]


@pytest.mark.parametrize(("label", "name", "factory", "match"), REGISTER_STORAGE, ids=[c[0] for c in REGISTER_STORAGE])
def test_register_storage_refuses_bad_arguments(label: str, name: Any, factory: Any, match: str) -> None:
    world = make_world()
    known = dict(world._factories)
    with pytest.raises(ecs.StorageError, match=match):
        world.register_storage(name, factory)
    assert world._factories == known


def _raises(spec: Any) -> Any:
    raise RuntimeError("no disk")


REGISTER_COMPONENT = [
    ("storage int", 5, "component Custom: storage must be a storage name .* got 5"),
    ("storage list", ["dense"], r"component Custom: storage must be a storage name .* got \['dense'\]"),
    ("storage empty", "", "component Custom: storage must be a storage name .* got ''"),
    ("factory raises", "raising", "component Custom: the factory of storage 'raising' raised RuntimeError: no disk"),
]


@pytest.mark.parametrize(("label", "storage", "match"), REGISTER_COMPONENT, ids=[c[0] for c in REGISTER_COMPONENT])
def test_register_component_refuses_bad_storages(label: str, storage: Any, match: str) -> None:
    world = make_world()
    world.register_storage("raising", _raises)
    before = world.components
    with pytest.raises(ecs.StorageError, match=match):
        world.register_component(Custom, storage=storage)
    assert world.components == before
    assert not world.is_registered(Custom)
    world.register_component(Custom, storage="dense")  # the name is still free


class _WrongGather:
    """A storage whose gather returns the wrong thing; ``bad`` picks what."""

    kind = "wrong"

    def __init__(self, spec: Any, bad: str) -> None:
        self.inner = DenseStorage(spec)
        self.bad = bad

    def insert(self, indices: NDArray[np.int64], values: Any) -> None:
        self.inner.insert(indices, values)

    def remove(self, indices: NDArray[np.int64]) -> None:
        self.inner.remove(indices)

    def gather(self, indices: NDArray[np.int64], field: str) -> Any:
        good = self.inner.gather(indices, field)
        if self.bad == "dtype":
            return good.astype(np.int8)
        if self.bad == "length":
            return good[:0]
        if self.bad == "list":
            return good.tolist()
        raise KeyError(field)

    def scatter(self, indices: NDArray[np.int64], field: str, values: NDArray[Any]) -> None:
        self.inner.scatter(indices, field, values)

    def contains(self, indices: NDArray[np.int64]) -> NDArray[np.bool_]:
        return self.inner.contains(indices)

    def __len__(self) -> int:
        return len(self.inner)


USES = [
    ("get", lambda w, ids: w.get(int(ids[0]), Custom)),
    ("query", lambda w, ids: [b[Custom].hp for b in w.query(Custom)]),
    ("column", lambda w, ids: w.column(Custom, "hp")),
    ("state_hash", lambda w, ids: w.state_hash()),
    ("snapshot", lambda w, ids: w.snapshot()),
]
BAD = [
    ("dtype", "returned a int8 array"),
    ("length", "shape"),
    ("list", "returned a list"),
    ("raise", "raised KeyError"),
]


@pytest.mark.parametrize(("bad", "match"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize(("use", "call"), USES, ids=[u[0] for u in USES])
def test_a_storage_whose_gather_is_wrong_is_named(bad: str, match: str, use: str, call: Any) -> None:
    world = ecs.World(components=[Position])
    world.register_storage("wrong", lambda spec: _WrongGather(spec, bad))
    world.register_component(Custom, storage="wrong")
    ids = world.spawn_batch(4, {Custom: {"hp": np.arange(4)}, Position: None})
    with pytest.raises(ecs.StorageError, match=f"storage 'wrong' of component Custom: gather of field 'hp' .*{match}"):
        call(world, ids)


def test_a_storage_whose_gather_is_wrong_is_named_in_an_async_group() -> None:
    world = make_world()
    world.register_storage("wrong", lambda spec: _WrongGather(spec, "length"))
    world.register_component(Custom, storage="wrong")
    world.spawn_batch(4, {Custom: None, Position: None})

    @ecs.system(reads=(Custom,), async_allowed=True)
    def reader(ctx: ecs.ExecutionContext) -> None:
        pass

    builder = ecs.SchedulerBuilder(world, workers=1)
    builder.add_group("ai", [reader], mode=ecs.Mode.ASYNC)
    with builder.build() as sched, pytest.raises(ecs.StorageError, match="storage 'wrong' of component Custom"):
        sched.tick(0.1)


class _RaisingInsert(_WrongGather):
    def insert(self, indices: NDArray[np.int64], values: Any) -> None:
        raise RuntimeError("full")


@pytest.mark.parametrize("spawn", ["spawn", "spawn_batch", "commands"])
def test_a_storage_whose_insert_raises_leaves_no_half_spawned_entities(spawn: str) -> None:
    world = make_world()
    world.register_storage("raising", lambda spec: _RaisingInsert(spec, "dtype"))
    world.register_component(Custom, storage="raising")
    world.spawn_batch(3, {Position: None})
    before, count = world.state_hash(), len(world)
    match = "storage 'raising' of component Custom: insert raised RuntimeError: full; the spawn of .* was undone"
    buf = ecs.CommandBuffer(world)
    buf.spawn(Position(xy=(1, 2)), Custom(hp=1.0))
    calls = {
        "spawn": lambda: world.spawn(Position(xy=(1, 2)), Custom(hp=1.0)),
        "spawn_batch": lambda: world.spawn_batch(5, {Position: None, Custom: None}),
        "commands": lambda: world.apply(buf),
    }
    with pytest.raises(ecs.StorageError, match=match):
        calls[spawn]()
    assert (len(world), world.state_hash()) == (count, before)
    assert world.spawn(Position(xy=(0, 0))) == 3  # the ids it took are free again


class _RaisingRemove(_WrongGather):
    def remove(self, indices: NDArray[np.int64]) -> None:
        raise RuntimeError("locked")

    def gather(self, indices: NDArray[np.int64], field: str) -> Any:
        return self.inner.gather(indices, field)  # a correct gather: only remove fails


@pytest.mark.parametrize(
    ("storage", "call", "match"),
    [
        (_RaisingInsert, lambda w, ids: w.add(ids, Custom, {"hp": 1.0}), "insert raised RuntimeError: full"),
        (_RaisingInsert, lambda w, ids: w.add(int(ids[0]), Custom(hp=2.0)), "insert raised RuntimeError: full"),
        (_RaisingRemove, lambda w, ids: w.remove(ids, Custom), "remove raised RuntimeError: locked"),
    ],
    ids=["add many", "add one", "remove"],
)
def test_a_storage_that_raises_in_add_or_remove_changes_nothing(storage: Any, call: Any, match: str) -> None:
    world = make_world()
    world.register_storage("raising", lambda spec: storage(spec, "dtype"))
    world.register_component(Custom, storage="raising")
    ids = world.spawn_batch(3, {Position: None})
    if storage is _RaisingRemove:
        world.add(ids, Custom, {"hp": 1.0})  # something to remove
    before = world.state_hash()
    with pytest.raises(ecs.StorageError, match=rf"storage 'raising' of component Custom: {match}; nothing was changed"):
        call(world, ids)
    assert world.state_hash() == before  # the entities did not move to another archetype
