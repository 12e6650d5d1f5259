"""Component types shared by the core tests (plain module, not fixtures: types are values)."""

from __future__ import annotations

import numpy as np

import ecs


@ecs.component
class Position:
    xy: ecs.f32x2


@ecs.component
class Velocity:
    xy: ecs.f32x2


@ecs.component
class Health:
    hp: int


@ecs.component(storage="dense")
class Mana:
    mp: ecs.f32


@ecs.component
class Name:
    value: str


@ecs.component
class Enemy:
    pass


@ecs.component
class Matrix:
    m: ecs.f64x3
    flag: np.bool_


ALL = (Position, Velocity, Health, Mana, Name, Enemy, Matrix)


def make_world(**kw: object) -> ecs.World:
    return ecs.World(components=ALL, **kw)  # type: ignore[arg-type]
