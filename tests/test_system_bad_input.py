"""Bad input at the edges systems see: declarations, hooks, plugins and the execution context.

Each case was found by a fuzzing pass: an untyped error from inside the library, a system
that silently never ran, or a call that changed state before failing. Every case checks the
error type, that the message names the fault, and that nothing changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import ecs

from .components import Position, make_world


async def _coroutine(ctx: ecs.ExecutionContext) -> None:
    ctx.commands.spawn(Position(xy=(0, 0)))


def _generator(ctx: ecs.ExecutionContext) -> Iterator[None]:
    ctx.commands.spawn(Position(xy=(0, 0)))
    yield


async def _async_generator(ctx: ecs.ExecutionContext) -> AsyncIterator[None]:
    yield


NEVER_RUN = [
    pytest.param(_coroutine, "async def", id="coroutine"),
    pytest.param(_generator, "generator function", id="generator"),
    pytest.param(_async_generator, "async def", id="async-generator"),
]


# -- system declarations -------------------------------------------------------------------------
@pytest.mark.parametrize(("fn", "what"), NEVER_RUN)
def test_system_refuses_functions_whose_body_would_never_run(fn: Any, what: str) -> None:
    with pytest.raises(ecs.BuildError, match=f"system '{fn.__name__}' is an? {what}"):
        ecs.system(fn)
    with pytest.raises(ecs.BuildError, match=f"system 'named' is an? {what}"):
        ecs.system(name="named", reads=(Position,))(fn)


def test_system_class_with_async_run_is_refused_at_build() -> None:
    class Spawner:
        descriptor = ecs.SystemDescriptor("spawner")

        async def run(self, ctx: ecs.ExecutionContext) -> None:
            ctx.commands.spawn(Position(xy=(0, 0)))

    builder = ecs.SchedulerBuilder(make_world())
    builder.add_group("g", [Spawner()])
    with pytest.raises(ecs.BuildError, match="group 'g': system 'spawner': run is an async def"):
        builder.build()


# -- hooks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fn", "what"), NEVER_RUN)
@pytest.mark.parametrize("kind", ["pre_tick", "post_tick", "maintenance"])
def test_hooks_refuse_functions_whose_body_would_never_run(fn: Any, what: str, kind: str) -> None:
    builder = ecs.SchedulerBuilder(make_world())
    with pytest.raises(ecs.BuildError, match=f"{kind} hook '{fn.__qualname__}' is an? {what}"):
        builder.add_hook(kind, fn)
    with pytest.raises(ecs.BuildError, match=f"{kind} hook"):
        getattr(builder, f"on_{kind}")(fn)
    assert builder._hooks[kind] == []


@pytest.mark.parametrize("kind", [["pre_tick"], {"k": 1}])
def test_add_hook_with_a_kind_that_is_not_a_string(kind: Any) -> None:
    builder = ecs.SchedulerBuilder(make_world())
    with pytest.raises(ecs.BuildError, match="unknown hook kind"):
        builder.add_hook(kind, lambda s: None)
    assert all(not v for v in builder._hooks.values())
