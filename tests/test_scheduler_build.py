"""SchedulerBuilder.build(): every invalid description is refused with a typed error naming it."""

from __future__ import annotations

import pytest

import ecs

from .components import Health, Position, Velocity, make_world


def sys_(name: str, reads: tuple[type, ...] = (), writes: tuple[type, ...] = (), **kw: object) -> ecs.System:
    return ecs.system(name=name, reads=reads, writes=writes, **kw)(lambda ctx: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("groups", "error", "message"),
    [
        pytest.param(
            [("a", [sys_("s", writes=(Position,))]), ("b", [sys_("t", writes=(Position,))])],
            ecs.OwnershipError,
            r"Position is written by group 'a' \(system 's'\) and by group 'b' \(system 't'\)",
            id="two groups write one component",
        ),
        pytest.param(
            [("a", [sys_("s"), sys_("s")])],
            ecs.DuplicateSystemError,
            "two systems are named 's'",
            id="duplicate system name",
        ),
        pytest.param(
            [("a", [sys_("s", reads=(Position,))], {"mode": ecs.Mode.ASYNC})],
            ecs.AsyncNotAllowedError,
            "system 's' is in async group 'a'.*async_allowed",
            id="async without async_allowed",
        ),
        pytest.param(
            [("a", [sys_("s", writes=(Position,), async_allowed=True)], {"mode": ecs.Mode.ASYNC})],
            ecs.AsyncWriteError,
            "system 's' in async group 'a' writes Position",
            id="async writes without allow_writes",
        ),
        pytest.param(
            [("a", [sys_("s", reads=(int,))])],
            ecs.UnknownResourceError,
            "system 's' in group 'a' declares int",
            id="undeclared resource",
        ),
        pytest.param([("a", []), ("a", [])], ecs.BuildError, "two work groups are named 'a'", id="duplicate group"),
        pytest.param([("a", ["not a system"])], ecs.BuildError, "is not a system", id="not a system"),
    ],
)
def test_invalid_descriptions_fail_at_build_time(groups: list[tuple], error: type[Exception], message: str) -> None:
    b = ecs.SchedulerBuilder(make_world())
    for name, systems, *opts in groups:
        b.add_group(name, systems, **(opts[0] if opts else {}))
    with pytest.raises(error, match=message):
        b.build()


def test_unregistered_component_is_named_with_system_and_group() -> None:
    @ecs.component
    class Ghost:
        v: int

    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [sys_("haunt", reads=(Ghost,))])
    with pytest.raises(ecs.UnknownComponentError, match="system 'haunt' in group 'g' declares component Ghost"):
        b.build()


def test_the_same_system_object_twice_is_refused() -> None:
    s = sys_("once")
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("a", [s])
    b.add_group("b", [s])
    with pytest.raises(ecs.DuplicateSystemError, match="registered twice"):
        b.build()


def test_writers_inside_one_synchronized_group_may_share_a_component() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("physics", [sys_("a", writes=(Position,)), sys_("b", writes=(Position,))])
    plan = b.plan()
    assert plan.owners == (("Position", "physics"),)


def test_async_group_with_allow_writes_may_own_a_component() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("ai", [sys_("think", writes=(Health,), async_allowed=True)], mode=ecs.Mode.ASYNC, allow_writes=True)
    with b.build() as sched:
        assert sched.plan.group("ai").written_components == frozenset({Health})


def test_group_order_follows_priority_then_registration() -> None:
    b = ecs.SchedulerBuilder(make_world())
    for name, prio in [("c", 5), ("a", 0), ("b", 0), ("d", -1)]:
        b.add_group(name, [sys_("s_" + name)], priority=prio)
    assert [g.name for g in b.plan().groups] == ["d", "a", "b", "c"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"queue_limit": -1}, "queue_limit"),
        ({"timeout": -1.0}, "timeout"),
        ({"retry_fallback": ecs.ErrorPolicy.RETRY}, "retry_fallback"),
        ({"mode": "sync"}, "mode must be a Mode"),
        ({"error_policy": "abort"}, "error_policy"),
    ],
)
def test_bad_group_options_are_refused(kw: dict[str, object], message: str) -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [], **kw)  # type: ignore[arg-type]
    with pytest.raises(ecs.BuildError, match=message):
        b.build()


def test_add_system_and_hooks_need_known_names() -> None:
    b = ecs.SchedulerBuilder(make_world())
    with pytest.raises(ecs.BuildError, match="no group named 'x'"):
        b.add_system(sys_("s"), "x")
    with pytest.raises(ecs.BuildError, match="unknown hook kind"):
        b.add_hook("during_tick", lambda s: None)
    with pytest.raises(ecs.BuildError, match="workers"):
        ecs.SchedulerBuilder(make_world(), workers=0).build()


def test_interval_and_descriptor_validation() -> None:
    with pytest.raises(ecs.EcsError, match="exactly one"):
        ecs.Interval()
    with pytest.raises(ecs.EcsError, match="ticks must be >= 1"):
        ecs.Interval(ticks=0)
    with pytest.raises(ecs.EcsError, match="seconds must be > 0"):
        ecs.Interval(seconds=0)
    with pytest.raises(ecs.EcsError, match="name"):
        ecs.SystemDescriptor("")


class GoodPlugin:
    name = "good"

    def register(self, world: ecs.World, builder: ecs.SchedulerBuilder) -> None:
        world.add_resource(3.0, float)
        builder.add_group("plugin-group", [sys_("plugged", reads=(float,))])


class BadPlugin:
    def register(self, world: ecs.World, builder: ecs.SchedulerBuilder) -> None:
        builder.add_group("half", [sys_("half-done")])
        raise RuntimeError("no config file")


def test_plugins_register_groups_and_resources() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_plugin(GoodPlugin())
    assert b.plugins == ("good",)
    with b.build() as sched:
        assert [g.name for g in sched.plan.groups] == ["plugin-group"]


def test_a_failing_plugin_is_named_and_leaves_the_builder_unchanged() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("mine", [sys_("m")])
    with pytest.raises(ecs.PluginError, match="plugin 'BadPlugin' failed in register.*no config file") as info:
        b.add_plugin(BadPlugin())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert [g.name for g in b.plan().groups] == ["mine"]
    with pytest.raises(ecs.PluginError, match="no register"):
        b.add_plugin(object())  # type: ignore[arg-type]


def test_a_plugin_is_added_once_and_named_by_a_string() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_plugin(GoodPlugin())
    with pytest.raises(ecs.PluginError, match="plugin 'good' was already added"):
        b.add_plugin(GoodPlugin())  # its group would be added twice

    class Nameless(GoodPlugin):
        name = ("not", "a", "string")  # type: ignore[assignment]

    with pytest.raises(ecs.PluginError, match="plugin .*Nameless: its name must be a string"):
        b.add_plugin(Nameless())
    assert b.plugins == ("good",)
    assert [g.name for g in b.plan().groups] == ["plugin-group"]


def test_class_based_systems_work_like_decorated_functions() -> None:
    class Mover:
        descriptor = ecs.SystemDescriptor("mover", reads=(Velocity,), writes=(Position,))

        def run(self, ctx: ecs.ExecutionContext) -> None:
            for b in ctx.query(Position, Velocity):
                b[Position].xy += b[Velocity].xy

    w = make_world()
    e = w.spawn(Position(), Velocity(xy=(1, 2)))
    b = ecs.SchedulerBuilder(w)
    b.add_group("g", [Mover()])
    with b.build() as sched:
        sched.run(3, 0.1)
    assert w.get(e, Position).xy.tolist() == [3, 6]
