"""@ecs.component: annotations become field specs; values are checked on the way in."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pytest
from numpy.typing import NDArray

import ecs
from ecs._component import component_spec

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
