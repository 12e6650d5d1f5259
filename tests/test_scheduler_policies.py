"""Error policies under fault injection: a failing system never leaves partial writes."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecs

from ._examples import examples
from .components import Enemy, Health, Position, make_world


def spawner(name: str, tag: int, fail_first: int = 0, always: bool = False) -> ecs.System:
    """A system that spawns two entities tagged ``tag`` and raises after the first one."""
    calls = {"n": 0}

    @ecs.system(name=name, async_allowed=True)
    def run(ctx: ecs.ExecutionContext) -> None:
        calls["n"] += 1
        ctx.commands.spawn(Health(tag))
        if always or calls["n"] <= fail_first:
            raise RuntimeError(f"{name} failed on call {calls['n']}")
        ctx.commands.spawn(Health(tag))

    return run


def tags(w: ecs.World) -> list[int]:
    return sorted(int(v) for v in w.column(Health, "hp")[1])


def build(w: ecs.World, *groups: tuple[str, list[ecs.System], dict[str, object]]) -> ecs.Scheduler:
    b = ecs.SchedulerBuilder(w, workers=2)
    for name, systems, kw in groups:
        b.add_group(name, systems, **kw)  # type: ignore[arg-type]
    return b.build()


def test_continue_drops_only_the_failing_systems_commands(caplog: pytest.LogCaptureFixture) -> None:
    w = make_world()
    sched = build(w, ("g", [spawner("ok1", 1), spawner("bad", 2, always=True), spawner("ok3", 3)], {}))
    with sched, caplog.at_level(logging.WARNING, logger="ecs.scheduler"):
        assert sched.tick(0.1)["g"] is ecs.GroupResult.ERRORED
    assert tags(w) == [1, 1, 3, 3]
    assert sched.stats["g"].errors == 1
    assert "system bad in group g failed (tick 0)" in caplog.text and "RuntimeError" in caplog.text
    record = next(r for r in caplog.records if r.name == "ecs.scheduler")
    assert (record.tick, record.group, record.system) == (0, "g", "bad")  # type: ignore[attr-defined]
    assert record.error == "RuntimeError: bad failed on call 1"  # type: ignore[attr-defined]


def test_retry_rewinds_the_first_attempt_before_running_again() -> None:
    w = make_world()
    sched = build(w, ("g", [spawner("flaky", 7, fail_first=1)], {"error_policy": ecs.ErrorPolicy.RETRY}))
    with sched:
        assert sched.tick(0.1)["g"] is ecs.GroupResult.EXECUTED
    assert tags(w) == [7, 7]  # not three: the failed attempt's spawn was rewound
    assert sched.stats["g"].retries == 1 and sched.stats["g"].errors == 0


@pytest.mark.parametrize("fallback", [ecs.ErrorPolicy.CONTINUE, ecs.ErrorPolicy.ABORT])
def test_retry_that_fails_again_applies_the_fallback(fallback: ecs.ErrorPolicy) -> None:
    w = make_world()
    sched = build(
        w,
        ("first", [spawner("fine", 1)], {}),
        (
            "g",
            [spawner("before", 5), spawner("doomed", 9, always=True)],
            {"error_policy": ecs.ErrorPolicy.RETRY, "retry_fallback": fallback, "priority": 1},
        ),
    )
    with sched:
        if fallback is ecs.ErrorPolicy.ABORT:
            with pytest.raises(ecs.TickError) as info:
                sched.tick(0.1)
            assert (info.value.group, info.value.system) == ("g", "doomed")
            assert tags(w) == [1, 1]  # the aborted group's commands (even 'before') are dropped
        else:
            assert sched.tick(0.1)["g"] is ecs.GroupResult.ERRORED
            assert tags(w) == [1, 1, 5, 5]


def test_abort_raises_with_group_system_and_cause_and_the_next_tick_works() -> None:
    w = make_world()
    sched = build(
        w,
        ("a", [spawner("a1", 1)], {}),
        (
            "b",
            [spawner("b1", 2), spawner("b2", 3, fail_first=1)],
            {"error_policy": ecs.ErrorPolicy.ABORT, "priority": 1},
        ),
        ("c", [spawner("c1", 4)], {"priority": 2}),
    )
    with sched:
        with pytest.raises(ecs.TickError, match="tick 0: system 'b2' in group 'b' failed: RuntimeError") as info:
            sched.tick(0.1)
        assert isinstance(info.value.original, RuntimeError)
        assert info.value.__cause__ is info.value.original
        assert tags(w) == [1, 1]  # a's commands kept, b's dropped, c never ran
        assert sched.tick_count == 1
        sched.tick(0.1)
    assert tags(w) == [1, 1, 1, 1, 2, 2, 3, 3, 4, 4]


def test_async_failures_follow_the_same_policies_and_workers_survive() -> None:
    w = make_world()
    bad = spawner("bad", 2, always=True)

    @ecs.system(async_allowed=True)
    def exits(ctx: ecs.ExecutionContext) -> None:
        raise SystemExit(3)  # not an Exception: must still not kill the worker

    sched = build(
        w,
        ("cont", [bad, spawner("fine", 1)], {"mode": ecs.Mode.ASYNC}),
        ("exit", [exits], {"mode": ecs.Mode.ASYNC, "priority": 1}),
    )
    with sched:
        for _ in range(3):
            r = sched.tick(0.1)
            assert r["cont"] is ecs.GroupResult.ERRORED
            assert r["exit"] is ecs.GroupResult.ERRORED
    assert tags(w) == [1, 1] * 3
    assert sched.stats["exit"].errors == 3


def test_async_abort_raises_after_merging_the_other_groups() -> None:
    w = make_world()
    sched = build(
        w,
        ("sync", [spawner("s", 1)], {}),
        ("boom", [spawner("b", 2, always=True)], {"mode": ecs.Mode.ASYNC, "error_policy": ecs.ErrorPolicy.ABORT}),
        ("later", [spawner("l", 3)], {"mode": ecs.Mode.ASYNC, "priority": 1}),
    )
    with sched, pytest.raises(ecs.TickError, match="group 'boom'"):
        sched.tick(0.1)
    assert tags(w) == [1, 1, 3, 3]


# -- property: whatever fails, exactly the successful systems' commands are applied ----------------
plans = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["ok", "fail", "flaky"])), min_size=1, max_size=6)


@given(plan=plans, policy=st.sampled_from([ecs.ErrorPolicy.CONTINUE, ecs.ErrorPolicy.RETRY]))
@settings(max_examples=examples(60), deadline=None)
def test_rewind_keeps_exactly_the_successful_systems_commands(
    plan: list[tuple[int, str]], policy: ecs.ErrorPolicy
) -> None:
    w = make_world()
    expected: list[int] = []
    systems = []
    for i, (n, kind) in enumerate(plan):
        state = {"calls": 0}

        def run(
            ctx: ecs.ExecutionContext, n: int = n, kind: str = kind, i: int = i, state: dict[str, int] = state
        ) -> None:
            state["calls"] += 1
            for _ in range(n):
                ctx.commands.spawn(Health(i), Position(), Enemy)
            if kind == "fail" or (kind == "flaky" and state["calls"] == 1):
                raise ValueError("injected")
            ctx.commands.spawn(Health(i))

        systems.append(ecs.system(name=f"s{i}")(run))
        succeeds = kind == "ok" or (kind == "flaky" and policy is ecs.ErrorPolicy.RETRY)
        if succeeds:
            expected += [i] * (n + 1)
    logging.getLogger("ecs.scheduler").disabled = True
    try:
        with build(w, ("g", systems, {"error_policy": policy})) as sched:
            sched.tick(0.1)
    finally:
        logging.getLogger("ecs.scheduler").disabled = False
    assert tags(w) == sorted(expected)
