"""Component types: plain classes whose annotated fields become numpy columns.

A component is declared with the :func:`component` decorator::

    import ecs

    @ecs.component
    class Position:
        xy: ecs.f32x2          # a float32 x 2 column: one (N, 2) array per chunk

    @ecs.component
    class Health:
        hp: int                # Python int -> int64 column

    @ecs.component
    class Name:
        value: str             # anything non-numeric -> an object field

    @ecs.component
    class Enemy:               # no fields: a tag
        pass

The decorator turns the class into a slotted dataclass (so ``Position(xy=(1, 2))`` builds a
value for ``spawn``) and attaches a :class:`ComponentSpec` describing its fields. Numeric
fields are stored column-wise; a component with any object field is *object-valued* and is
kept in a sparse map by default (see ``ecs.storage``).

Field annotations understood:

* ``float``, ``int``, ``bool`` -> float64, int64, bool
* numpy scalar types (``np.float32``, ``np.uint8`` ...) -> that dtype
* the aliases exported here (``f32``, ``f32x2``, ``i32`` ...) or any
  ``Annotated[..., ecs.Field(dtype, shape)]`` for a fixed per-entity shape
* anything else (``str``, ``list[int]``, your own class) -> an object field

Nothing here touches a world: registering a component with a world is explicit
(``World(components=[...])`` or ``world.register_component``), so there is no hidden global
registry.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from ._errors import ComponentDefinitionError, FieldValueError

__all__ = [
    "ComponentSpec",
    "Field",
    "FieldSpec",
    "boolean",
    "component",
    "component_spec",
    "f32",
    "f32x2",
    "f32x3",
    "f32x4",
    "f64",
    "f64x2",
    "f64x3",
    "i32",
    "i64",
    "u8",
    "u32",
]

T = TypeVar("T")

#: Where the decorator keeps the spec on the class.
_SPEC_ATTR: Final = "__ecs_component__"


@dataclass(frozen=True, slots=True)
class Field:
    """Marker used inside ``Annotated`` to give a field an exact dtype and per-entity shape.

    ``Annotated[NDArray[np.float64], Field(np.float64, (3, 3))]`` stores a 3x3 matrix per
    entity: each chunk holds an ``(N, 3, 3)`` array.
    """

    dtype: Any
    shape: tuple[int, ...] = ()


f32 = Annotated[float, Field(np.float32)]
f64 = Annotated[float, Field(np.float64)]
i32 = Annotated[int, Field(np.int32)]
i64 = Annotated[int, Field(np.int64)]
u8 = Annotated[int, Field(np.uint8)]
u32 = Annotated[int, Field(np.uint32)]
boolean = Annotated[bool, Field(np.bool_)]
f32x2 = Annotated[NDArray[np.float32], Field(np.float32, (2,))]
f32x3 = Annotated[NDArray[np.float32], Field(np.float32, (3,))]
f32x4 = Annotated[NDArray[np.float32], Field(np.float32, (4,))]
f64x2 = Annotated[NDArray[np.float64], Field(np.float64, (2,))]
f64x3 = Annotated[NDArray[np.float64], Field(np.float64, (3,))]

_OBJECT: Final = np.dtype(object)
_PY_SCALARS: Final[dict[Any, np.dtype[Any]]] = {
    float: np.dtype(np.float64),
    int: np.dtype(np.int64),
    bool: np.dtype(np.bool_),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a component: its name, dtype and per-entity shape."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...] = ()

    @property
    def is_object(self) -> bool:
        """True for fields holding arbitrary Python objects."""
        return self.dtype == _OBJECT

    def empty(self, rows: int) -> NDArray[Any]:
        """A new zeroed column for ``rows`` entities (``None`` for object fields)."""
        if self.is_object:
            return np.full((rows, *self.shape), None, dtype=object)
        return np.zeros((rows, *self.shape), dtype=self.dtype)

    def coerce_one(self, value: Any, component: str) -> Any:
        """Convert one entity's value to this field's dtype and shape, or raise.

        Casting follows numpy's ``same_kind`` rule, plus one rule of our own: float64 ->
        float32 and int -> float are fine, float -> int or str -> float are refused, because
        silently truncating a position is the kind of bug that takes an afternoon to find.
        Integers go into any integer field, signed or not (a Python ``5`` into a ``u8``), 0 and
        1 into a bool field, and every value must fit: ``300`` for a ``u8`` or ``1e39`` for a ``f32`` raises instead of
        wrapping to ``44`` or becoming ``inf``.
        """
        if self.is_object:
            return value
        arr, rule = _as_array(value, self, component)
        if arr.shape != self.shape:
            raise FieldValueError(
                f"component {component}.{self.name}: expected shape {self.shape or 'scalar'}, "
                f"got {arr.shape or 'scalar'}"
            )
        out = _cast(arr, rule, self, component, copy=False)
        return out if self.shape else out[()]

    def coerce_many(self, value: Any, count: int, component: str, copy: bool = True) -> NDArray[Any]:
        """Convert values for ``count`` entities to a ``(count, *shape)`` array, or raise.

        A single per-entity value (for example ``(0.0, 1.0)`` for a float32 x 2 field) is
        broadcast to every entity. ``copy=False`` may return the caller's own array (fine
        when it is consumed at once, as by ``World.spawn_batch``; commands keep a copy).
        """
        if self.is_object:
            out = np.empty(count, dtype=object)
            if isinstance(value, np.ndarray) and value.shape[:1] == (count,):
                for i, item in enumerate(value.tolist() if value.dtype != object else value):
                    out[i] = item
            elif isinstance(value, list | tuple) and len(value) == count:
                for i, item in enumerate(value):
                    out[i] = item
            else:
                out.fill(value)
            return out
        arr, rule = _as_array(value, self, component)
        want = (count, *self.shape)
        if arr.shape == want:
            # Commands copy: the caller may reuse its array before the command is applied.
            return _cast(arr, rule, self, component, copy=copy)
        if arr.shape == self.shape:
            return np.broadcast_to(_cast(arr, rule, self, component, copy=False), want)
        raise FieldValueError(
            f"component {component}.{self.name}: expected shape {want} "
            f"(or {self.shape or 'a scalar'} to broadcast), got {arr.shape}"
        )


# How a source dtype goes into a field's dtype, decided once per pair (np.can_cast costs as
# much as copying 1k values): refused, a plain cast, or a cast whose values must be checked.
_REFUSE: Final = 0
_PLAIN: Final = 1
_INT_RANGE: Final = 2  # an integer into a narrower (or other-signed) integer: check min and max
_FLOAT_RANGE: Final = 3  # into a narrower float: let the cast itself report overflow
_CAST_RULE: dict[tuple[np.dtype[Any], np.dtype[Any]], int] = {}


def _cast_rule(src: np.dtype[Any], dst: np.dtype[Any]) -> int:
    rule = _CAST_RULE.get((src, dst))
    if rule is None:
        if src == _OBJECT:
            rule = _REFUSE
        elif np.can_cast(src, dst, casting="safe"):
            rule = _PLAIN
        elif src.kind in "iu" and dst.kind in "iub":
            rule = _INT_RANGE  # 0 and 1 go into a bool field, as Python's own bools are ints
        elif np.can_cast(src, dst, casting="same_kind"):
            rule = _FLOAT_RANGE if dst.kind in "fc" else _PLAIN
        else:
            rule = _REFUSE
        _CAST_RULE[(src, dst)] = rule
    return rule


def _as_array(value: Any, spec: FieldSpec, component: str) -> tuple[NDArray[Any], int]:
    """``value`` as an array and the rule for casting it to ``spec.dtype`` (refused ones raise)."""
    try:
        arr = np.asarray(value)
    except OverflowError:  # a Python int beyond 64 bits
        raise FieldValueError(f"component {component}.{spec.name}: value {value!r} does not fit {spec.dtype}") from None
    except (TypeError, ValueError) as exc:
        raise FieldValueError(
            f"component {component}.{spec.name}: cannot convert {type(value).__name__} to {spec.dtype}: {exc}"
        ) from None
    rule = _cast_rule(arr.dtype, spec.dtype)
    if rule == _REFUSE:
        if isinstance(value, int) and spec.dtype.kind in "iuf":  # numpy keeps ints past 64 bits as objects
            raise FieldValueError(f"component {component}.{spec.name}: value {value} does not fit {spec.dtype}")
        raise FieldValueError(
            f"component {component}.{spec.name}: dtype {arr.dtype} cannot be stored as {spec.dtype} (same_kind casting)"
        )
    return arr, rule


def _cast(arr: NDArray[Any], rule: int, spec: FieldSpec, component: str, copy: bool) -> NDArray[Any]:
    """``arr`` (already accepted by :func:`_as_array`) as ``spec.dtype``, every value checked to fit."""
    if rule == _INT_RANGE and arr.size:
        low, high = (0, 1) if spec.dtype.kind == "b" else (np.iinfo(spec.dtype).min, np.iinfo(spec.dtype).max)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < low or hi > high:
            bad = lo if lo < low else hi
            raise FieldValueError(
                f"component {component}.{spec.name}: value {bad} does not fit {spec.dtype} ({low}..{high})"
            )
    elif rule == _FLOAT_RANGE:
        try:
            with np.errstate(over="raise"):
                return arr.astype(spec.dtype, copy=copy)
        except FloatingPointError:
            finite = arr[np.isfinite(arr)]
            bad = finite.flat[int(np.argmax(np.abs(finite)))] if finite.size else arr.flat[0]
            raise FieldValueError(
                f"component {component}.{spec.name}: value {bad} does not fit {spec.dtype} "
                f"(largest magnitude {np.finfo(spec.dtype).max})"
            ) from None
    return arr.astype(spec.dtype, copy=copy)


@dataclass(frozen=True, slots=True, eq=False)
class ComponentSpec:
    """What the library knows about a component type."""

    type: type
    name: str
    fields: tuple[FieldSpec, ...]
    storage_hint: str | None

    @property
    def is_tag(self) -> bool:
        """A tag has no fields: it only marks membership."""
        return not self.fields

    @property
    def is_object(self) -> bool:
        """True when any field holds Python objects."""
        return any(f.is_object for f in self.fields)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise FieldValueError(f"component {self.name} has no field {name!r}")

    def values_of(self, instance: Any) -> dict[str, Any]:
        """Coerced field values of one component instance."""
        return {f.name: f.coerce_one(getattr(instance, f.name), self.name) for f in self.fields}

    def make(self, values: dict[str, Any]) -> Any:
        """Build an instance from stored field values (copies, so callers can keep them)."""
        return self.type(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in values.items()})


def _field_from_annotation(name: str, ann: Any, owner: str) -> FieldSpec:
    if typing.get_origin(ann) is Annotated:
        for meta in ann.__metadata__:
            if isinstance(meta, Field):
                try:
                    dtype = np.dtype(meta.dtype)
                except (TypeError, ValueError) as exc:
                    raise ComponentDefinitionError(
                        f"component {owner}.{name}: bad dtype {meta.dtype!r}: {exc}"
                    ) from None
                if not isinstance(meta.shape, tuple) or any(
                    not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in meta.shape
                ):
                    raise ComponentDefinitionError(
                        f"component {owner}.{name}: shape must be a tuple of positive ints, got {meta.shape!r}"
                    )
                return FieldSpec(name, _column_dtype(dtype, name, owner), tuple(meta.shape))
        ann = typing.get_args(ann)[0]
    if ann in _PY_SCALARS:
        return FieldSpec(name, _PY_SCALARS[ann])
    if isinstance(ann, type) and issubclass(ann, np.generic) and ann is not np.object_:
        return FieldSpec(name, _column_dtype(np.dtype(ann), name, owner))
    return FieldSpec(name, _OBJECT)


def _column_dtype(dtype: np.dtype[Any], name: str, owner: str) -> np.dtype[Any]:
    """``dtype`` when a column may hold it: numbers and bools, or Python objects.

    Fixed-width strings would cut longer values short without a word, and dates and
    structured dtypes have no zero or same_kind rules a game can rely on: keep those as
    object fields (``name: str``) or as numbers (seconds in a float).
    """
    if dtype.kind in "biufc" or dtype == _OBJECT:
        return dtype
    raise ComponentDefinitionError(
        f"component {owner}.{name}: dtype {dtype} cannot be a column; use a number or bool dtype, "
        "or a plain annotation such as str for an object field"
    )


def _zero_factory(spec: FieldSpec) -> Callable[[], Any]:
    if spec.is_object:
        return lambda: None
    if spec.shape:
        return lambda: np.zeros(spec.shape, spec.dtype)
    scalar = spec.dtype.type(0)
    return lambda: scalar


@overload
def component(cls: type[T], /) -> type[T]: ...
@overload
def component(*, storage: str | None = None) -> Callable[[type[T]], type[T]]: ...
def component(cls: type[T] | None = None, /, *, storage: str | None = None) -> type[T] | Callable[[type[T]], type[T]]:
    """Turn a class with annotated fields into a component type.

    ``storage`` names the default backend when the component is registered with a world
    (``"archetype"``, ``"dense"``, ``"sparse"`` or a custom one); the world may override it.
    Every field gets a default (zero, or ``None`` for object fields) so components can be
    built positionally or by keyword.
    """

    def wrap(klass: type[T]) -> type[T]:
        if not isinstance(klass, type):
            raise ComponentDefinitionError(f"@component expects a class, got {klass!r}")
        try:
            hints = typing.get_type_hints(klass, include_extras=True)
        except Exception as exc:
            raise ComponentDefinitionError(
                f"component {klass.__qualname__}: cannot resolve field annotations: {exc}"
            ) from exc
        own = [n for n in inspect.get_annotations(klass) if not n.startswith("_")]
        specs = tuple(_field_from_annotation(n, hints[n], klass.__qualname__) for n in own)
        for spec in specs:
            if spec.name not in klass.__dict__:
                setattr(klass, spec.name, dataclasses.field(default_factory=_zero_factory(spec)))
        data_cls = dataclass(slots=True, eq=False)(klass)
        setattr(
            data_cls,
            _SPEC_ATTR,
            ComponentSpec(type=data_cls, name=data_cls.__name__, fields=specs, storage_hint=storage),
        )
        return data_cls

    if cls is not None:
        return wrap(cls)
    return wrap


def component_spec(ctype: type) -> ComponentSpec:
    """The spec the :func:`component` decorator attached to ``ctype``."""
    spec = getattr(ctype, _SPEC_ATTR, None)
    if not isinstance(spec, ComponentSpec) or spec.type is not ctype:
        raise ComponentDefinitionError(
            f"{getattr(ctype, '__qualname__', ctype)!r} is not a component type; decorate it with @ecs.component"
        )
    return spec
