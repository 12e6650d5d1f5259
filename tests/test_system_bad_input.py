"""Bad input at the edges systems see: declarations, hooks, plugins and the execution context.

Each case was found by a fuzzing pass: an untyped error from inside the library, a system
that silently never ran, or a call that changed state before failing. Every case checks the
error type, that the message names the fault, and that nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import ecs

from .components import Health, Position, Velocity, make_world


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


# -- the execution context -----------------------------------------------------------------------
class Score:
    """A resource."""

    def __init__(self) -> None:
        self.value = 0


def _run_in_system(call: Any, *, mode: ecs.Mode = ecs.Mode.SYNCHRONIZED) -> tuple[ecs.World, BaseException | None]:
    """Tick once with a system doing ``call(ctx)``; returns the world and what the call raised."""
    world = make_world(seed=3)
    world.spawn_batch(4, {Position: None, Velocity: (1.0, 0.5)})
    world.add_resource(Score())
    caught: list[BaseException | None] = [None]

    @ecs.system(reads=(Velocity, Score), writes=() if mode is ecs.Mode.ASYNC else (Position,), async_allowed=True)
    def probe(ctx: ecs.ExecutionContext) -> None:
        try:
            result = call(ctx)
            if isinstance(result, Iterator):
                list(result)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            caught[0] = exc

    builder = ecs.SchedulerBuilder(world, workers=1)
    builder.add_group("g", [probe], mode=mode)
    before = world.state_hash()
    with builder.build() as sched:
        sched.tick(0.1)
    assert world.state_hash() == before
    return world, caught[0]


CTX_CASES = [
    ("query list", lambda c: c.query([Position]), ecs.AccessError, r"group .g.\) queried \[.*Position"),
    ("query dict", lambda c: c.query({Position: 1}), ecs.AccessError, "system 'probe' .* queried"),
    ("query without type", lambda c: c.query(Velocity, without=Health), ecs.UnregisteredComponentError,
     "system 'probe': query without= takes an iterable .*Health"),
    ("query without None", lambda c: c.query(Velocity, without=None), ecs.UnregisteredComponentError,
     "without= takes an iterable .* None"),
    ("query without int", lambda c: c.query(Velocity, without=[1]), ecs.UnregisteredComponentError,
     "without= lists 1, which is not a registered component"),
    ("query with_ str", lambda c: c.query(Velocity, with_="Health"), ecs.UnregisteredComponentError,
     "with_= takes an iterable .* 'Health'"),
    ("query with_ resource", lambda c: c.query(Velocity, with_=[Score]), ecs.UnregisteredComponentError,
     "with_= lists .*Score.*not a registered component"),
    ("get list", lambda c: c.get(0, [Position]), ecs.AccessError, r"system 'probe' .* read \[.*Position"),
    ("has list", lambda c: c.has(0, [Position]), ecs.UnregisteredComponentError, r"has\(\) takes .*Position"),
    ("has str", lambda c: c.has(0, "Position"), ecs.UnregisteredComponentError, "has\\(\\) takes .* 'Position'"),
    ("resource list", lambda c: c.resource([Score]), ecs.AccessError, r"read resource \[.*Score"),
    ("set_resource key list", lambda c: c.set_resource(Score(), [Score]), ecs.AccessError, r"set resource \[.*Score"),
]  # fmt: skip


@pytest.mark.parametrize("mode", [ecs.Mode.SYNCHRONIZED, ecs.Mode.ASYNC])
@pytest.mark.parametrize(("label", "call", "error", "match"), CTX_CASES, ids=[c[0] for c in CTX_CASES])
def test_context_refuses_bad_arguments(
    label: str, call: Any, error: type[Exception], match: str, mode: ecs.Mode
) -> None:
    _, caught = _run_in_system(call, mode=mode)
    assert isinstance(caught, error), f"{label}: {caught!r}"
    assert re.search(match, str(caught)), str(caught)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: list(c.query(Position)),
        lambda c: c.get(0, Position),
        lambda c: c.has(0, Position),
        lambda c: c.is_alive(0),
        lambda c: c.resource(Score),
        lambda c: c.set_resource(Score()),
    ],
    ids=["query", "get", "has", "is_alive", "resource", "set_resource"],
)
@pytest.mark.parametrize("mode", [ecs.Mode.SYNCHRONIZED, ecs.Mode.ASYNC])
def test_context_kept_after_the_system_returned_is_refused(call: Any, mode: ecs.Mode) -> None:
    world = make_world(seed=3)
    world.spawn_batch(4, {Position: None, Velocity: (1.0, 0.5)})
    world.add_resource(Score())
    kept: list[ecs.ExecutionContext] = []
    writes = (Score,) if mode is ecs.Mode.ASYNC else (Position, Score)

    @ecs.system(reads=(Velocity, Position), writes=writes, async_allowed=True)
    def stash(ctx: ecs.ExecutionContext) -> None:
        kept.append(ctx)

    builder = ecs.SchedulerBuilder(world, workers=1)
    builder.add_group("g", [stash], mode=mode)
    with builder.build() as sched:
        sched.tick(0.1)
        sched.wait_idle()
        before = world.state_hash()
        with pytest.raises(ecs.EcsError, match="context of system 'stash' .* used outside the system's run"):
            call(kept[0])
        assert world.state_hash() == before
        assert not kept[0].commands  # nothing was recorded for the next flush
