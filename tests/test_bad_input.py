"""Bad input to the world and its command buffers: a typed error naming the fault, nothing changed.

Each case here was once a raw TypeError/AttributeError/OverflowError from deep inside the
library, or a call that half-applied before failing (found by a fuzzing pass over the public
API). Every case checks the error type, that the message names what was wrong, and that the
world's state hash did not move.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import pytest
from numpy.typing import NDArray

import ecs
from ecs.storage import DenseStorage
from ecs.storage._archetype import Archetype

from .components import Enemy, Health, Mana, Position, make_world


@ecs.component
class Unregistered:
    v: int


def _world() -> tuple[ecs.World, int]:
    w = make_world(seed=1)
    e = w.spawn(Position(xy=(1, 2)), Health(3), Mana(1.0))
    w.spawn(Health(5), Enemy)
    return w, int(e)


CASES: list[tuple[str, Callable[[ecs.World, int], object], type[Exception], str]] = [
    # entity ids that are not ints, or no 64-bit int at all
    ("get None", lambda w, e: w.get(None, Health), ecs.StaleEntityError, "expected an entity id .* NoneType"),  # type: ignore[arg-type]
    ("get str", lambda w, e: w.get("1", Health), ecs.StaleEntityError, "expected an entity id .* str"),  # type: ignore[arg-type]
    ("get float", lambda w, e: w.get(1.0, Health), ecs.StaleEntityError, "expected an entity id .* float"),  # type: ignore[arg-type]
    ("get bool", lambda w, e: w.get(True, Health), ecs.StaleEntityError, "expected an entity id .* bool"),
    ("get -1", lambda w, e: w.get(-1, Health), ecs.StaleEntityError, r"Entity\(invalid id -1\) is not alive"),
    ("has array", lambda w, e: w.has(np.array([e]), Health), ecs.StaleEntityError, "expected an entity id"),  # type: ignore[arg-type]
    ("set None", lambda w, e: w.set(None, Health(1)), ecs.StaleEntityError, "expected an entity id"),  # type: ignore[arg-type]
    ("destroy 2**63", lambda w, e: w.destroy(2**63), ecs.StaleEntityError, "9223372036854775808 is not an entity id"),
    ("add 2**64-1", lambda w, e: w.add(2**64 - 1, Enemy()), ecs.StaleEntityError, "not an entity id"),
    ("remove 2**70", lambda w, e: w.remove(2**70, Health), ecs.StaleEntityError, "not an entity id"),
    # components named by something that is not a registered component type
    (
        "count list",
        lambda w, e: w.count([Health]),
        ecs.UnregisteredComponentError,
        r"\[.*Health.*\] is not a component",
    ),  # type: ignore[arg-type]
    (
        "count without None",
        lambda w, e: w.count(Health, without=None),
        ecs.UnregisteredComponentError,
        "without: expected an iterable",
    ),  # type: ignore[arg-type]
    ("query list", lambda w, e: list(w.query([Health])), ecs.UnregisteredComponentError, "is not a component"),  # type: ignore[arg-type]
    (
        "query readonly unregistered",
        lambda w, e: list(w.query(Health, readonly=[Unregistered])),
        ecs.UnregisteredComponentError,
        "Unregistered is not registered",
    ),
    (
        "query with_ a type",
        lambda w, e: list(w.query(Health, with_=Enemy)),
        ecs.UnregisteredComponentError,
        "with_: expected an iterable",
    ),  # type: ignore[arg-type]
    ("single None", lambda w, e: w.single(None), ecs.UnregisteredComponentError, "None is not a component"),  # type: ignore[call-overload]
    (
        "single unregistered",
        lambda w, e: w.single(Unregistered),
        ecs.UnregisteredComponentError,
        "Unregistered is not registered",
    ),
    # spawn_batch counts and values
    (
        "spawn_batch None values",
        lambda w, e: w.spawn_batch(3, None),
        ecs.CommandError,
        "components must map .* NoneType",
    ),  # type: ignore[arg-type]
    (
        "spawn_batch list values",
        lambda w, e: w.spawn_batch(2, [Health]),
        ecs.CommandError,
        "components must map .* list",
    ),  # type: ignore[arg-type]
    (
        "spawn_batch bool count",
        lambda w, e: w.spawn_batch(True, {Enemy: None}),
        ecs.CommandError,
        "count must be an int .* True",
    ),
    (
        "spawn_batch 2**70",
        lambda w, e: w.spawn_batch(2**70, {Enemy: None}),
        ecs.CommandError,
        "count must be an int from 0 to 4294967296",
    ),
    ("spawn_batch -1", lambda w, e: w.spawn_batch(-1, {Enemy: None}), ecs.CommandError, "count must be an int"),
    # resources are keyed by type
    ("resource None", lambda w, e: w.resource(None), ecs.ResourceError, "keyed by type, got None"),  # type: ignore[arg-type]
    ("resource str", lambda w, e: w.resource("x"), ecs.ResourceError, "keyed by type, got 'x'"),  # type: ignore[arg-type]
    ("has_resource list", lambda w, e: w.has_resource([1]), ecs.ResourceError, r"keyed by type, got \[1\]"),  # type: ignore[arg-type]
    ("remove_resource str", lambda w, e: w.remove_resource("x"), ecs.ResourceError, "keyed by type"),  # type: ignore[arg-type]
    ("add_resource key str", lambda w, e: w.add_resource(5, "int"), ecs.ResourceError, "key must be a type, got 'int'"),  # type: ignore[arg-type]
    (
        "add_resource wrong type",
        lambda w, e: w.add_resource(5, str),
        ecs.ResourceError,
        "value of type int is not a str",
    ),
    # whole buffers
    ("apply None", lambda w, e: w.apply(None), ecs.CommandError, "expected a CommandBuffer, got NoneType"),  # type: ignore[arg-type]
    (
        "snapshot skip None",
        lambda w, e: w.snapshot(skip_resources=None),  # type: ignore[arg-type]
        ecs.SnapshotError,
        "skip_resources lists resource types .* got None",
    ),
    (
        "snapshot skip a type",
        lambda w, e: w.snapshot(skip_resources=dict),  # type: ignore[arg-type]
        ecs.SnapshotError,
        "a list such as",
    ),
    (
        "snapshot skip ints",
        lambda w, e: w.snapshot(skip_resources=[5]),
        ecs.SnapshotError,
        "skip_resources lists resource types, got 5",
    ),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_calls_raise_a_typed_error_and_change_nothing(
    call: Callable[[ecs.World, int], object], error: type[Exception], message: str
) -> None:
    w, e = _world()
    before, ids = w.state_hash(), w.entities().tolist()
    with pytest.raises(error, match=message):
        call(w, e)
    assert w.state_hash() == before and w.entities().tolist() == ids


BUFFER_CASES: list[tuple[str, Callable[[ecs.CommandBuffer], object], str]] = [
    ("spawn_batch 2**70", lambda b: b.spawn_batch(2**70, {Enemy: None}), "count must be an int from 0"),
    ("spawn_batch None", lambda b: b.spawn_batch(2, None), "components must map"),  # type: ignore[arg-type]
    ("destroy 2**70", lambda b: b.destroy(2**70), "1180591620717411303424 is not an entity id"),
    ("destroy list 2**70", lambda b: b.destroy([2**70]), "not an entity id"),
    ("add 2**64-1", lambda b: b.add(2**64 - 1, Enemy()), "not an entity id"),
    ("rewind None", lambda b: b.rewind(None), "expected a Mark .* got None"),  # type: ignore[arg-type]
    ("rewind forged", lambda b: b.rewind(ecs.Mark(-1, 0, 0)), "not taken from this buffer"),
    ("extend None", lambda b: b.extend(None), "expected a CommandBuffer, got NoneType"),  # type: ignore[arg-type]
    ("set_resource key str", lambda b: b.set_resource(5, "int"), "key must be a type"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in BUFFER_CASES], ids=[c[0] for c in BUFFER_CASES])
def test_bad_commands_are_refused_when_recorded_and_leave_the_buffer_whole(
    call: Callable[[ecs.CommandBuffer], object], message: str
) -> None:
    w, e = _world()
    buf = w.commands()
    buf.destroy(e)
    buf.spawn(Health(7))
    kinds = buf.kinds
    with pytest.raises((ecs.CommandError, ecs.ResourceError), match=message):
        call(buf)
    assert buf.kinds == kinds and len(buf) == 2
    w.apply(buf)  # what was recorded before the bad call still applies, once
    assert not w.is_alive(e) and w.count(Health) == 2


def test_a_mark_of_another_buffer_is_refused_and_cuts_nothing() -> None:
    w, _ = _world()
    a, other = w.commands(), w.commands()
    m = other.mark()
    a.spawn(Health(1))
    a.spawn(Health(2))
    with pytest.raises(ecs.CommandError, match="not taken from this buffer"):
        a.rewind(m)
    assert len(a) == 2
    a.rewind(a.mark())  # its own mark still works
    assert len(a) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"chunk_rows": "x"}, ecs.StorageError, "chunk_rows must be a power of two >= 16, got 'x'"),
        ({"chunk_rows": 16.0}, ecs.StorageError, "chunk_rows .* got 16.0"),
        ({"chunk_rows": None}, ecs.StorageError, "chunk_rows"),
        ({"capacity": 2**70}, ecs.StorageError, "capacity must be an int from 0 to 4294967296"),
        ({"capacity": -1}, ecs.StorageError, "capacity"),
        ({"seed": -1}, ecs.ResourceError, "seed must be None or a non-negative int, got -1"),
        ({"seed": "x"}, ecs.ResourceError, "seed .* got 'x'"),
        ({"components": Health}, ecs.ComponentDefinitionError, "takes a list of component types, got <class"),
    ],
)
def test_world_options_are_checked(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ecs.World(**kwargs)


def test_remove_resource_removes_a_resource_whose_value_is_none() -> None:
    w = ecs.World()
    w.add_resource(None, object)
    assert w.has_resource(object)
    w.remove_resource(object)  # once said "holds no resource" after removing it
    assert not w.has_resource(object)
    with pytest.raises(ecs.ResourceError, match="holds no resource object"):
        w.remove_resource(object)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[str, ecs.Field("U3")], "dtype <U3 cannot be a column"),
        (Annotated[Any, ecs.Field("datetime64[s]")], r"dtype datetime64\[s\] cannot be a column"),
        (np.str_, "dtype <U0 cannot be a column"),
        (Annotated[Any, ecs.Field(np.float32, 3)], "shape must be a tuple of positive ints, got 3"),  # type: ignore[arg-type]
        (Annotated[Any, ecs.Field(np.float32, (True,))], "shape must be a tuple of positive ints"),
        (Annotated[Any, ecs.Field("not a dtype")], "bad dtype 'not a dtype'"),
    ],
)
def test_fields_numpy_cannot_hold_as_columns_are_refused_at_definition(annotation: Any, message: str) -> None:
    # A U3 column once cut "abcdef" to "abc" without a word; datetime64 raised numpy's ValueError.
    with pytest.raises(ecs.ComponentDefinitionError, match=rf"component T\.a: {message}"):
        ecs.component(type("T", (), {"__annotations__": {"a": annotation}}))


class FailingDense(DenseStorage):
    """A dense storage whose inserts run out of memory while ``fail`` is set."""

    fail = False

    def insert(self, indices: NDArray[np.int64], values: Any) -> None:
        if FailingDense.fail:
            raise MemoryError("no memory for this test")
        super().insert(indices, values)


@ecs.component(storage="failing")
class Cargo:
    load: ecs.f32


def _failing_world() -> ecs.World:
    w = ecs.World(components=[Position, Health], seed=3)
    w.register_storage("failing", FailingDense)
    w.register_component(Cargo)
    return w


@pytest.mark.parametrize("recycled", [False, True], ids=["fresh slots", "recycled slots"])
@pytest.mark.parametrize("where", ["table", "side storage"])
def test_a_spawn_that_runs_out_of_memory_leaves_no_half_spawned_entities(
    where: str, recycled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, twin = _failing_world(), _failing_world()  # the twin sees the same calls minus the failure
    for world in (w, twin):
        ids = world.spawn_batch(10, {Position: (1, 1), Health: {"hp": np.arange(10)}})
        if recycled:
            world.destroy(ids[:6])
    before = w.state_hash()
    if where == "table":
        arch = w._archetype_for(frozenset({Position, Health}))
        append = Archetype.append

        def no_memory(self: Archetype, *args: Any) -> int:
            if self is arch:
                raise MemoryError("no memory for this test")
            return append(self, *args)

        monkeypatch.setattr(Archetype, "append", no_memory)
        failing: dict[type, Any] = {Position: (2, 2), Health: {"hp": 7}}
    else:
        FailingDense.fail = True
        failing = {Position: (2, 2), Cargo: {"load": 1.5}}
    try:
        with pytest.raises(MemoryError):
            w.spawn_batch(8, failing)
    finally:
        FailingDense.fail = False
        monkeypatch.undo()
    assert w.state_hash() == before and len(w) == len(twin)
    # The slots the failed spawn took are handed out again, exactly as if it never happened.
    again = {Position: (3, 3), Cargo: {"load": 2.0}}
    assert w.spawn_batch(8, again).tolist() == twin.spawn_batch(8, again).tolist()
    assert w.state_hash() == twin.state_hash()


@pytest.mark.parametrize("target", [io.BytesIO(), None, 5])
def test_snapshot_files_are_named_by_path_and_file_objects_get_a_hint(target: Any, tmp_path: Any) -> None:
    w = ecs.World(components=[Position, Health])
    w.spawn(Position(xy=(1, 2)), Health(3))
    snap = w.snapshot()
    with pytest.raises(ecs.SnapshotError, match=r"save takes a file path, got .*; for a file object use f\.write"):
        snap.save(target)
    with pytest.raises(ecs.SnapshotError, match=r"load takes a file path, got .*from_bytes\(f\.read\(\)\)"):
        ecs.WorldSnapshot.load(target)
    snap.save(tmp_path / "ok.snap")  # the documented forms still work
    assert ecs.WorldSnapshot.load(str(tmp_path / "ok.snap")).meta == snap.meta
