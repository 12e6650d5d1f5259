"""Bad arguments to the scheduler are refused early, by a typed error that names them.

``tick``/``run``/``steps`` check ``dt`` and ``ticks`` before doing any work, so a refused
call leaves the world, the ``Time`` resource, the tick count and pending host commands as
they were. Declarations (systems, intervals, groups, builder options, observers) are
refused with a ``BuildError`` when declared or at ``build()``, never at the first tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ecs

from .components import Health, Position, Velocity, make_world

# -- tick, run, steps: dt and ticks ------------------------------------------------------------------


@dataclass
class Rig:
    """A scheduler whose every tick leaves traces: a spawn, a column write, hooks, an observer."""

    world: ecs.World
    sched: ecs.Scheduler
    calls: list[str] = field(default_factory=list)

    def fingerprint(self) -> tuple[Any, ...]:
        s = self.sched
        return (
            self.world.state_hash(),
            len(self.world),
            self.world.resource(ecs.Time),
            s.tick_count,
            s.elapsed,
            len(s.commands),
            tuple(self.calls),
            {name: st.runs for name, st in s.stats.items()},
        )


class StartCounter(ecs.SchedulerObserver):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def on_tick_start(self, tick: int, start_ns: int) -> None:
        self.calls.append(f"observer {tick}")


def make_rig() -> Rig:
    world = make_world()
    world.spawn(Position(xy=(0.0, 0.0)), Velocity(xy=(1.0, 0.0)))
    calls: list[str] = []

    @ecs.system(reads=(Velocity,), writes=(Position,))
    def move(ctx: ecs.ExecutionContext) -> None:
        for batch in ctx.query(Position, Velocity):
            batch[Position].xy += batch[Velocity].xy * np.float32(ctx.dt)
        ctx.commands.spawn(Health(hp=1))
        calls.append("move")

    b = ecs.SchedulerBuilder(world, clock=ecs.ManualClock())
    b.add_group("physics", [move])
    b.on_pre_tick(lambda s: calls.append("pre_tick"))
    b.add_observer(StartCounter(calls))
    sched = b.build()
    sched.run(2, 0.5)  # some history, so "unchanged" is not trivially the initial state
    sched.commands.spawn(Health(hp=7))  # a pending host command must stay pending
    return Rig(world, sched, calls)


BAD_DT = [
    pytest.param("0.1", id="str"),
    pytest.param(b"1", id="bytes"),
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="-inf"),
    pytest.param(-1, id="negative int"),
    pytest.param(-1e-9, id="negative float"),
    pytest.param(np.float64("nan"), id="numpy nan"),
    pytest.param(10**400, id="int too large for a float"),
    pytest.param(1j, id="complex"),
    pytest.param([0.1], id="list"),
    pytest.param(object(), id="object"),
]


def _assert_refused(rig: Rig, exc: pytest.ExceptionInfo[ecs.TickArgumentError], arg: str, bad: object) -> None:
    text = str(exc.value)
    assert arg in text and repr(bad) in text, text
    assert isinstance(exc.value, ValueError)  # also catchable as the builtin


@pytest.mark.parametrize("bad", BAD_DT)
@pytest.mark.parametrize("call", ["tick", "run", "steps", "run_with_trace"])
def test_a_bad_dt_is_refused_before_any_work(call: str, bad: object, tmp_path: Path) -> None:
    rig = make_rig()
    before = rig.fingerprint()
    trace = tmp_path / "t.jsonl"
    calls: dict[str, Callable[[], object]] = {
        "tick": lambda: rig.sched.tick(bad),  # type: ignore[arg-type]
        "run": lambda: rig.sched.run(3, bad),  # type: ignore[arg-type]
        "steps": lambda: rig.sched.steps(bad),  # type: ignore[arg-type]  # refused on the call, not on next()
        "run_with_trace": lambda: rig.sched.run_with_trace(trace, 3, bad),  # type: ignore[arg-type]
    }
    with pytest.raises(ecs.TickArgumentError) as exc:
        calls[call]()
    _assert_refused(rig, exc, "dt", bad)
    assert call in str(exc.value)
    assert rig.fingerprint() == before
    assert not trace.exists()  # no empty trace left behind
    assert rig.sched.observers and not rig.sched.in_flight
    # and the scheduler carries on normally
    rig.sched.tick(0.25)
    assert rig.sched.tick_count == before[3] + 1
    assert rig.world.resource(ecs.Time).elapsed == before[4]


@given(
    st.one_of(
        st.floats().filter(lambda x: not 0 <= x < math.inf),
        st.integers(max_value=-1),
        st.booleans(),
        st.text(),
        st.complex_numbers(),
        st.decimals(allow_nan=True),  # Decimal is not a numbers.Real
        st.lists(st.floats(0, 1), max_size=2),
    )
)
def test_no_bad_dt_ever_reaches_the_world(bad: object) -> None:
    rig = make_rig()
    before = rig.fingerprint()
    with pytest.raises(ecs.TickArgumentError, match="dt must be"):
        rig.sched.tick(bad)  # type: ignore[arg-type]
    assert rig.fingerprint() == before


@pytest.mark.parametrize(
    "dt", [0, 0.0, 1, 0.25, np.float32(0.25), np.float64(0.25), np.int64(1), Fraction(1, 4), None], ids=repr
)
def test_every_finite_number_of_seconds_is_a_dt_and_becomes_a_float(dt: Any) -> None:
    rig = make_rig()
    elapsed = rig.sched.elapsed
    rig.sched.tick(dt)
    t = rig.world.resource(ecs.Time)
    assert type(t.dt) is float
    assert t.dt == (0.0 if dt is None else float(dt))  # a ManualClock that did not move: 0
    assert rig.sched.elapsed == elapsed + t.dt


@pytest.mark.parametrize(
    "bad",
    [1.5, 2.0, "2", None, True, -1, np.float64(2), [2]],
    ids=repr,
)
def test_run_refuses_a_tick_count_that_is_not_an_int_at_least_0(bad: object) -> None:
    rig = make_rig()
    before = rig.fingerprint()
    with pytest.raises(ecs.TickArgumentError) as exc:
        rig.sched.run(bad, 0.1)  # type: ignore[arg-type]
    _assert_refused(rig, exc, "ticks", bad)
    assert rig.fingerprint() == before


def test_run_takes_numpy_ints_and_zero() -> None:
    rig = make_rig()
    assert rig.sched.run(0, 0.1) == 0
    assert rig.sched.run(np.int64(2), 0.1) == 2
    assert rig.sched.tick_count == 4


def test_run_refuses_an_until_that_cannot_be_called() -> None:
    rig = make_rig()
    before = rig.fingerprint()
    with pytest.raises(ecs.TickArgumentError, match="until must be a callable.*'stop'"):
        rig.sched.run(3, 0.1, until="stop")  # type: ignore[arg-type]
    assert rig.fingerprint() == before


@pytest.mark.parametrize(
    ("tick", "elapsed", "arg", "bad"),
    [
        (1.5, 0.0, "tick", 1.5),
        (True, 0.0, "tick", True),
        ("3", 0.0, "tick", "3"),
        (-1, 0.0, "tick", -1),
        (3, math.nan, "elapsed", math.nan),
        (3, math.inf, "elapsed", math.inf),
        (3, -0.5, "elapsed", -0.5),
        (3, "1.0", "elapsed", "1.0"),
    ],
)
def test_set_time_refuses_bad_values(tick: Any, elapsed: Any, arg: str, bad: object) -> None:
    rig = make_rig()
    before = rig.fingerprint()
    with pytest.raises(ecs.TickArgumentError) as exc:
        rig.sched.set_time(tick, elapsed)
    _assert_refused(rig, exc, arg, bad)
    assert rig.fingerprint() == before


# -- group options ----------------------------------------------------------------------------------------


@ecs.system(reads=(Position,))
def look(ctx: ecs.ExecutionContext) -> None:
    pass


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("priority", "x"),
        ("priority", None),
        ("priority", math.nan),
        ("priority", math.inf),
        ("priority", True),
        ("queue_limit", None),
        ("queue_limit", 1.5),
        ("queue_limit", "2"),
        ("queue_limit", True),
        ("queue_limit", -1),
        ("timeout", "1"),
        ("timeout", None),
        ("timeout", math.nan),
        ("timeout", math.inf),
        ("timeout", -1.0),
        ("timeout", False),
        ("interval", 3),
        ("interval", 0.5),
        ("interval", "3 ticks"),
        ("interval", (3,)),
        ("allow_writes", "no"),
        ("allow_writes", None),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_bad_group_options_are_refused_at_build_naming_group_option_and_value(option: str, bad: object) -> None:
    world = make_world()
    b = ecs.SchedulerBuilder(world)
    b.add_group("ok", [])
    b.add_group("moves", [look], **{option: bad})  # type: ignore[arg-type]
    before = world.state_hash()
    with pytest.raises(ecs.BuildError) as exc:
        b.build()
    text = str(exc.value)
    assert "'moves'" in text and option in text and repr(bad) in text, text
    assert world.state_hash() == before


@pytest.mark.parametrize(
    "options",
    [
        {"priority": -2.5},
        {"priority": np.int64(3)},
        {"queue_limit": 0},
        {"queue_limit": np.int64(2)},
        {"timeout": 0},
        {"timeout": np.float32(0.5)},
        {"interval": ecs.Interval(ticks=2)},
        {"interval": ecs.Interval(seconds=0.5)},
        {"interval": None},
    ],
    ids=repr,
)
def test_documented_group_options_still_build_and_tick(options: dict[str, Any]) -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("moves", [look], **options)
    with b.build() as sched:
        assert sched.tick(0.1)["moves"] is ecs.GroupResult.EXECUTED
        spec = sched.plan.group("moves").spec
        # numpy scalars are stored as plain numbers (they go into the JSON trace header)
        assert {type(spec.priority), type(spec.queue_limit), type(spec.timeout)} <= {int, float}


def test_numpy_group_options_make_a_readable_trace(tmp_path: Path) -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("moves", [look], priority=np.int64(3), queue_limit=np.int64(2), timeout=np.float32(0.5))
    with b.build() as sched:
        sched.run_with_trace(tmp_path / "t.jsonl", 2, 0.1)
    with ecs.trace.TraceReader(tmp_path / "t.jsonl") as reader:
        group = reader.header["groups"][0]
    assert (group["priority"], group["queue_limit"], group["timeout_ns"]) == (3, 2, 500_000_000)


def test_a_nan_priority_can_no_longer_jump_the_queue() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("first", [], priority=-1)
    b.add_group("nan", [], priority=float("nan"))
    with pytest.raises(ecs.BuildError, match="'nan': priority must be a finite number, got nan"):
        b.plan()


def test_float_and_int_priorities_mix() -> None:
    b = ecs.SchedulerBuilder(make_world())
    for name, prio in [("c", 2), ("a", -0.5), ("b", 1.5)]:
        b.add_group(name, [], priority=prio)
    assert [g.name for g in b.plan().groups] == ["a", "b", "c"]


@pytest.mark.parametrize("bad", [None, 5, look, "abc"], ids=repr)
def test_add_group_refuses_systems_that_are_not_a_list_when_declared(bad: object) -> None:
    b = ecs.SchedulerBuilder(make_world())
    with pytest.raises(ecs.BuildError, match=r"group 'g': systems must be a list of systems, got"):
        b.add_group("g", bad)  # type: ignore[arg-type]
    assert b.plan().groups == ()  # nothing was half-added


def test_add_group_takes_any_iterable_of_systems() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("a", (look,))
    b.add_group("b", (s for s in []))
    assert [len(g.systems) for g in b.plan().groups] == [1, 0]


def test_a_group_with_an_unhashable_name_is_a_build_error() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group(["g"], [])  # type: ignore[arg-type]
    with pytest.raises(ecs.BuildError, match=r"name must be a non-empty str, got \['g'\]"):
        b.build()


# -- builder options, hooks and observers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"workers": "2"}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"workers": True}, "workers"),
        ({"workers": 0}, "workers"),
        ({"clock": "x"}, "clock"),
        ({"clock": object}, "clock"),
        ({"system_sampling": 4}, "system_sampling"),
    ],
    ids=repr,
)
def test_bad_builder_options_are_refused_at_build(kw: dict[str, Any], name: str) -> None:
    world = make_world()
    b = ecs.SchedulerBuilder(world, **kw)
    b.add_group("g", [look])
    before = world.state_hash()
    with pytest.raises(ecs.BuildError) as exc:
        b.build()
    text = str(exc.value)
    assert name in text and repr(next(iter(kw.values()))) in text, text
    assert world.state_hash() == before


def test_workers_changed_by_a_plugin_is_checked_too() -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.workers = None  # type: ignore[assignment]
    with pytest.raises(ecs.BuildError, match="workers must be an int >= 1, got None"):
        b.build()


def test_builder_defaults_and_numpy_workers_build() -> None:
    with ecs.SchedulerBuilder(make_world(), clock=None, workers=np.int64(2)).build() as sched:
        assert sched.workers == 2 and type(sched.workers) is int


def test_a_hook_must_be_callable_when_declared() -> None:
    b = ecs.SchedulerBuilder(make_world())
    with pytest.raises(ecs.BuildError, match="pre_tick hook must be a callable fn.scheduler., got None"):
        b.add_hook("pre_tick", None)  # type: ignore[arg-type]
    with pytest.raises(ecs.BuildError, match="post_tick hook"):
        b.on_post_tick("send")  # type: ignore[arg-type]


class DuckObserver:
    """Not a SchedulerObserver, but has every method of one."""

    def __init__(self) -> None:
        self.ticks = 0

    def on_start(self, info: ecs.SchedulerInfo) -> None: ...
    def on_tick_start(self, tick: int, start_ns: int) -> None: ...
    def on_group(self, summary: ecs.GroupSummary) -> None: ...
    def on_phase(self, summary: ecs.PhaseSummary) -> None: ...
    def on_tick(self, summary: ecs.TickSummary) -> None:
        self.ticks += 1

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None: ...
    def on_close(self) -> None: ...


class HalfObserver:
    def on_tick(self, summary: ecs.TickSummary) -> None: ...


@pytest.mark.parametrize(
    ("bad", "missing"),
    [
        (None, "on_start, on_tick_start"),
        ("recorder", "on_start"),
        (HalfObserver(), "on_start, on_tick_start, on_group, on_phase, on_mark, on_close"),
    ],
    ids=["None", "str", "half an observer"],
)
def test_an_observer_without_the_interface_is_refused_at_build(bad: object, missing: str) -> None:
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [look])
    b.add_observer(bad)  # type: ignore[arg-type]
    with pytest.raises(ecs.BuildError) as exc:
        b.build()
    text = str(exc.value)
    assert repr(bad) in text and missing in text and "SchedulerObserver" in text, text


def test_a_duck_typed_observer_with_every_method_works() -> None:
    duck = DuckObserver()
    b = ecs.SchedulerBuilder(make_world())
    b.add_group("g", [look])
    b.add_observer(duck)  # type: ignore[arg-type]
    with b.build() as sched:
        sched.run(2, 0.1)
    assert duck.ticks == 2


def test_a_running_scheduler_refuses_a_bad_observer_and_keeps_going() -> None:
    rig = make_rig()
    observers = rig.sched.observers
    with pytest.raises(ecs.EcsError, match="add_observer: observer None is not an ecs.SchedulerObserver"):
        rig.sched.add_observer(None)  # type: ignore[arg-type]
    assert rig.sched.observers == observers
    rig.sched.tick(0.1)
    rig.sched.close()


# -- systems and intervals ---------------------------------------------------------------------------------


def noop(ctx: ecs.ExecutionContext) -> None:
    pass


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"reads": None}, "reads must be a tuple of types, got None"),
        ({"reads": Position}, "reads must be a tuple of types, got <class"),
        ({"reads": 5}, "reads must be a tuple of types, got 5"),
        ({"reads": "Position"}, "reads must be a tuple of types, got 'Position'"),
        ({"reads": (Position, "Velocity")}, "reads must hold component or resource types, got 'Velocity'"),
        ({"reads": (None,)}, "reads must hold component or resource types, got None"),
        ({"writes": None}, "writes must be a tuple of types, got None"),
        ({"writes": [Position()]}, "writes must hold component or resource types"),
        ({"interval": 5}, "interval must be an ecs.Interval or None, got 5"),
        ({"interval": "1s"}, "interval must be an ecs.Interval or None, got '1s'"),
        ({"async_allowed": "yes"}, "async_allowed must be True or False, got 'yes'"),
        ({"name": 5}, "name must be a non-empty str, got 5"),
    ],
    ids=repr,
)
def test_bad_system_options_are_refused_when_decorating(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ecs.BuildError) as exc:
        ecs.system(**kw)(noop)
    text = str(exc.value)
    assert needle in text, text
    if "name" not in kw:
        assert "system 'noop'" in text, text


@pytest.mark.parametrize("bad", [5, (Position,), "noop"], ids=repr)
def test_system_used_positionally_with_a_non_function_is_refused(bad: object) -> None:
    with pytest.raises(ecs.BuildError, match="expected a function to decorate.*pass options by keyword"):
        ecs.system(bad)  # type: ignore[call-overload]


def test_the_decorator_only_decorates_callables() -> None:
    with pytest.raises(ecs.BuildError, match="can only decorate a function f.ctx., got 5"):
        ecs.system(reads=(Position,))(5)  # type: ignore[arg-type]


def test_system_descriptors_check_the_same_things() -> None:
    with pytest.raises(ecs.BuildError, match="system 'mover': writes must be a tuple of types, got None"):
        ecs.SystemDescriptor("mover", writes=None)  # type: ignore[arg-type]
    with pytest.raises(ecs.BuildError, match="system 'mover': interval must be an ecs.Interval"):
        ecs.SystemDescriptor("mover", interval=3)  # type: ignore[arg-type]


def test_reads_and_writes_take_any_iterable_of_types() -> None:
    def gen() -> Iterator[type]:
        yield Velocity

    s = ecs.system(reads=gen(), writes=[Position])(noop)
    assert s.descriptor.reads == (Velocity,) and s.descriptor.writes == (Position,)
    assert ecs.system(noop).descriptor.name == "noop"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"ticks": "3"}, "ticks must be >= 1 and a whole number, got '3'"),
        ({"ticks": 1.5}, "ticks must be >= 1 and a whole number, got 1.5"),
        ({"ticks": 2.0}, "ticks must be >= 1 and a whole number, got 2.0"),
        ({"ticks": True}, "ticks must be >= 1 and a whole number, got True"),
        ({"ticks": 0}, "ticks must be >= 1 and a whole number, got 0"),
        ({"seconds": "1"}, "seconds must be > 0 and finite, got '1'"),
        ({"seconds": math.nan}, "seconds must be > 0 and finite, got nan"),
        ({"seconds": math.inf}, "seconds must be > 0 and finite, got inf"),
        ({"seconds": True}, "seconds must be > 0 and finite, got True"),
        ({"seconds": -0.5}, "seconds must be > 0 and finite, got -0.5"),
        ({"ticks": 2, "seconds": 1.0}, "exactly one of ticks= or seconds="),
    ],
    ids=repr,
)
def test_bad_intervals_are_refused_when_written(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ecs.BuildError) as exc:
        ecs.Interval(**kw)
    assert needle in str(exc.value) and str(exc.value).startswith("Interval: ")


@given(st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text()))
def test_an_interval_in_ticks_is_a_whole_number_at_least_1(bad: object) -> None:
    with pytest.raises(ecs.BuildError, match="ticks must be >= 1"):
        ecs.Interval(ticks=bad)  # type: ignore[arg-type]


def test_numpy_and_plain_numbers_make_plain_intervals() -> None:
    iv = ecs.Interval(ticks=np.int64(3))
    assert iv.ticks == 3 and type(iv.ticks) is int
    half = ecs.Interval(seconds=np.float32(0.5))
    assert half.seconds == 0.5 and type(half.seconds) is float
    assert type(ecs.Interval(seconds=2).seconds) is int  # ints and floats are kept as given
