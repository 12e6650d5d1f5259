"""The public surface is exactly what ecs/__init__.py lists, and every name resolves."""

from __future__ import annotations

import types

import ecs
import ecs.storage
import ecs.trace


def public_names(module: types.ModuleType) -> set[str]:
    return {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), types.ModuleType)}


def test_all_lists_exactly_the_public_names() -> None:
    for module in (ecs, ecs.storage, ecs.trace):
        assert set(module.__all__) == public_names(module), module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_every_error_derives_from_ecs_error() -> None:
    errors = [getattr(ecs, n) for n in ecs.__all__ if n.endswith("Error")]
    assert len(errors) >= 20
    assert all(issubclass(e, ecs.EcsError) for e in errors)
