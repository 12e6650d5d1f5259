"""@ecs.component: annotations become field specs; values are checked on the way in."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import ecs
from ecs._component import component_spec

from ._examples import examples
from .components import Enemy, Health, Mana, Matrix, Name, Position


@pytest.mark.parametrize(
    ("ctype", "expected"),
    [
        (Position, [("xy", np.float32, (2,))]),
        (Health, [("hp", np.int64, ())]),
        (Mana, [("mp", np.float32, ())]),
        (Name, [("value", np.dtype(object), ())]),
        (Matrix, [("m", np.float64, (3,)), ("flag", np.bool_, ())]),
        (Enemy, []),
    ],
)
def test_annotations_map_to_dtypes_and_shapes(ctype: type, expected: list[tuple[str, object, tuple[int, ...]]]) -> None:
    spec = component_spec(ctype)
    assert [(f.name, f.dtype, f.shape) for f in spec.fields] == [(n, np.dtype(d), s) for n, d, s in expected]


def test_tags_object_components_and_storage_hints_are_described() -> None:
    assert component_spec(Enemy).is_tag
    assert component_spec(Name).is_object
    assert component_spec(Mana).storage_hint == "dense"
    assert not component_spec(Position).is_object


def test_fields_default_to_zero_or_none_and_build_positionally() -> None:
    p = Position()
    assert p.xy.tolist() == [0.0, 0.0]
    assert Health(5).hp == 5
    assert Name().value is None


def test_custom_shapes_through_annotated_field() -> None:
    @ecs.component
    class Transform:
        m: Annotated[NDArray[np.float64], ecs.Field(np.float64, (3, 3))]

    spec = component_spec(Transform)
    assert spec.fields[0].shape == (3, 3)
    assert Transform().m.shape == (3, 3)


def test_bad_definitions_raise_a_definition_error() -> None:
    with pytest.raises(ecs.ComponentDefinitionError, match="shape"):

        @ecs.component
        class Bad:
            v: Annotated[NDArray[np.float32], ecs.Field(np.float32, (0,))]

    with pytest.raises(ecs.ComponentDefinitionError, match="not a component type"):
        component_spec(int)
    with pytest.raises(ecs.ComponentDefinitionError, match="expects a class"):
        ecs.component(42)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ((1.0, 2.0), True),
        ([1, 2], True),
        (np.array([1.5, 2.5]), True),
        ((1.0,), False),
        ("ab", False),
        ((1, 2, 3), False),
    ],
)
def test_values_are_checked_for_dtype_kind_and_shape(value: object, ok: bool) -> None:
    f = component_spec(Position).fields[0]
    if ok:
        out = f.coerce_one(value, "Position")
        assert out.dtype == np.float32 and out.shape == (2,)
    else:
        with pytest.raises(ecs.FieldValueError, match=r"Position\.xy"):
            f.coerce_one(value, "Position")


def test_float_values_are_refused_for_integer_fields() -> None:
    f = component_spec(Health).fields[0]
    assert f.coerce_one(3, "Health") == 3
    with pytest.raises(ecs.FieldValueError, match="same_kind"):
        f.coerce_one(3.5, "Health")


def test_batch_values_broadcast_a_single_value_and_copy_full_arrays() -> None:
    f = component_spec(Position).fields[0]
    src = np.ones((3, 2), dtype=np.float32)
    full = f.coerce_many(src, 3, "Position")
    src[:] = 7
    assert full.tolist() == [[1, 1]] * 3  # copied: later changes to the source do not leak in
    assert f.coerce_many((4, 5), 3, "Position").tolist() == [[4, 5]] * 3
    with pytest.raises(ecs.FieldValueError, match=r"\(3, 2\)"):
        f.coerce_many(np.ones((4, 2)), 3, "Position")


@ecs.component
class Stats:
    level: ecs.u8 = 0
    gold: ecs.i32 = 0
    speed: ecs.f32 = 0.0
    pos: ecs.f32x2 = (0.0, 0.0)  # type: ignore[assignment]


def test_python_ints_go_into_unsigned_fields() -> None:
    # A u8 field took no Python int at all once (int64 -> uint8 is not numpy same_kind).
    world = ecs.World(components=[Stats])
    e = world.spawn(Stats(level=5))
    assert world.get(e, Stats).level == 5
    world.spawn_batch(3, {Stats: {"level": np.arange(3), "gold": 7}})
    assert sorted(int(b.level) for b in (world.get(x, Stats) for x in world.entities())) == [0, 1, 2, 5]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"level": 256}, r"Stats\.level: value 256 does not fit uint8 \(0\.\.255\)"),
        ({"level": -1}, r"Stats\.level: value -1 does not fit uint8"),
        ({"gold": 2**31}, r"Stats\.gold: value 2147483648 does not fit int32"),
        ({"gold": 2**70}, r"Stats\.gold: value 1180591620717411303424 does not fit int32"),
        ({"speed": 1e39}, r"Stats\.speed: value 1e\+39 does not fit float32"),
        ({"pos": (1.0, -1e300)}, r"Stats\.pos: value -1e\+300 does not fit float32"),
    ],
)
def test_values_that_do_not_fit_are_refused_not_wrapped(values: dict[str, object], message: str) -> None:
    world = ecs.World(components=[Stats])
    with pytest.raises(ecs.FieldValueError, match=message):
        world.spawn(Stats(**values))  # type: ignore[arg-type]
    with pytest.raises(ecs.FieldValueError, match=message):
        world.spawn_batch(2, {Stats: values})
    assert len(world.entities()) == 0  # nothing half-spawned


def test_a_batch_is_refused_whole_when_one_value_does_not_fit() -> None:
    world = ecs.World(components=[Stats])
    with pytest.raises(ecs.FieldValueError, match="value 300 does not fit uint8"):
        world.spawn_batch(3, {Stats: {"level": np.array([1, 300, 2])}})
    with pytest.raises(ecs.FieldValueError, match="does not fit float32"):
        world.spawn_batch(3, {Stats: {"speed": np.array([1.0, np.inf, 1e40])}})
    assert len(world.entities()) == 0


def test_infinity_and_nan_are_values_not_overflow() -> None:
    f = component_spec(Stats).field("speed")
    assert f.coerce_one(float("inf"), "Stats") == np.inf
    assert np.isnan(f.coerce_one(float("nan"), "Stats"))


_INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64]


@settings(max_examples=examples(200), deadline=None)
@given(
    dtype=st.sampled_from(_INT_DTYPES),
    src=st.sampled_from([np.int64, np.uint64, np.int32, np.uint8]),
    values=st.lists(st.integers(-(2**63), 2**64 - 1), min_size=1, max_size=5),
)
def test_an_integer_is_stored_exactly_or_refused(dtype: type, src: type, values: list[int]) -> None:
    info = np.iinfo(src)
    values = [min(max(v, info.min), info.max) for v in values]
    spec = ecs.FieldSpec("n", np.dtype(dtype))
    arr = np.array(values, dtype=src)
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    if all(lo <= v <= hi for v in values):
        assert spec.coerce_many(arr, len(values), "C").tolist() == values
        assert int(spec.coerce_one(values[0], "C")) == values[0]
    else:
        with pytest.raises(ecs.FieldValueError, match=r"C\.n: value -?\d+ does not fit"):
            spec.coerce_many(arr, len(values), "C")


def test_bool_fields_take_0_and_1() -> None:
    f = ecs.FieldSpec("on", np.dtype(np.bool_))
    assert f.coerce_many(np.array([0, 1, 1]), 3, "Light").tolist() == [False, True, True]
    assert f.coerce_one(1, "Light") == np.True_
    with pytest.raises(ecs.FieldValueError, match=r"Light\.on: value 2 does not fit bool \(0\.\.1\)"):
        f.coerce_one(2, "Light")
    with pytest.raises(ecs.FieldValueError, match="value -1 does not fit bool"):
        f.coerce_many(np.array([1, -1]), 2, "Light")
