"""The fixed timestep and the headless drivers, with manual clocks (no engine, no sleeping)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyglet.clock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecs
from ecs.integrations import (
    DROP_MARK,
    FixedTimestep,
    PygletClockDriver,
    advance_scheduler,
    interpolate,
    run_fixed,
)
from ecs.testing import ManualClock, RecordingObserver

from ._examples import examples

DT60 = 16_666_667  # ns per tick at 60 Hz


@ecs.component
class Counter:
    value: ecs.i64


@ecs.system(writes=(Counter,))
def count_up(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Counter):
        b[Counter].value += 1


def make_scheduler(clock: ManualClock | None = None, observe: bool = False) -> tuple[ecs.Scheduler, RecordingObserver]:
    world = ecs.World(components=[Counter])
    world.spawn(Counter(value=0))
    builder = ecs.SchedulerBuilder(world, clock=clock or ManualClock(), workers=1)
    builder.add_group("count", [count_up])
    rec = RecordingObserver()
    if observe:
        builder.add_observer(rec)
    return builder.build(), rec


def counted(sched: ecs.Scheduler) -> int:
    return int(sched.world.column(Counter, "value")[1][0])


# -- the accumulator ---------------------------------------------------------------------------------
def test_one_tick_per_tick_length_of_real_time() -> None:
    ts = FixedTimestep(60)
    assert ts.dt_ns == DT60
    assert ts.advance_ns(DT60) == 1
    assert ts.accumulator == 0.0
    assert ts.advance_ns(DT60 - 1) == 0
    assert ts.advance_ns(1) == 1


def test_a_fraction_of_a_tick_carries_over_and_sets_alpha() -> None:
    ts = FixedTimestep(50)  # 20 ms ticks
    assert ts.advance(0.030) == 1
    assert ts.accumulator == pytest.approx(0.010)
    assert ts.alpha == pytest.approx(0.5)
    assert ts.advance(0.015) == 1
    assert ts.alpha == pytest.approx(0.25)


def test_the_catch_up_cap_drops_whole_ticks_and_counts_them() -> None:
    ts = FixedTimestep(60, max_catch_up=5)
    n = ts.advance_ns(60 * DT60 + 123)  # a one-second stall
    assert n == 5
    assert ts.dropped_steps == 55
    assert ts.dropped_ns == 55 * DT60
    assert ts.dropped_seconds == pytest.approx(55 * DT60 / 1e9)
    assert ts.drops == 1
    assert ts.accumulator == pytest.approx(123e-9)  # the fraction survives the cap
    assert ts.advance_ns(DT60) == 1  # and the next frame is normal again


def test_pause_stops_ticks_and_counts_the_paused_time() -> None:
    ts = FixedTimestep(60)
    ts.advance_ns(DT60 // 2)
    ts.pause()
    assert ts.paused
    assert ts.alpha == 1.0  # a paused game shows its latest state
    assert ts.advance(10.0) == 0
    assert ts.paused_seconds == pytest.approx(10.0)
    assert ts.dropped_ns == 0
    ts.resume()
    assert ts.alpha == pytest.approx(0.5, abs=1e-6)  # the fraction from before the pause
    assert ts.advance_ns(DT60 // 2 + 1) == 1


def test_step_once_pauses_and_queues_exactly_one_tick() -> None:
    ts = FixedTimestep(60)
    ts.step_once()
    assert ts.paused
    assert ts.advance(0.0) == 1
    assert ts.advance(1.0) == 0
    ts.step_once()
    ts.step_once()
    assert ts.advance(0.0) == 2
    assert ts.toggle_pause() is False
    assert ts.toggle_pause() is True


def test_reset_forgets_the_fraction_and_queued_steps() -> None:
    ts = FixedTimestep(60)
    ts.advance_ns(DT60 // 2)
    ts.step_once()
    ts.reset()
    assert ts.accumulator == 0.0
    assert ts.advance(0.0) == 0


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan, 2e6])
def test_a_bad_rate_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        FixedTimestep(rate)


@pytest.mark.parametrize("cap", [0, -3, 1.5])
def test_a_bad_catch_up_cap_is_refused(cap: object) -> None:
    with pytest.raises(ValueError, match="max_catch_up"):
        FixedTimestep(60, max_catch_up=cap)  # type: ignore[arg-type]


@pytest.mark.parametrize("real", [-0.001, math.nan, math.inf, 1e300, "0.016", None, True])
def test_time_never_goes_backwards_or_becomes_nan(real: float) -> None:
    ts = FixedTimestep(60)
    with pytest.raises(ValueError, match="real_dt"):
        ts.advance(real)
    with pytest.raises(ValueError, match="real_ns"):
        ts.advance_ns(-1)
    assert ts.accumulator == 0.0


def test_repr_names_rate_and_state() -> None:
    ts = FixedTimestep(30, max_catch_up=2)
    ts.pause()
    assert "30 Hz" in repr(ts)
    assert "paused" in repr(ts)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(0, 400_000_000)),
        st.tuples(st.just("pause"), st.just(0)),
        st.tuples(st.just("resume"), st.just(0)),
        st.tuples(st.just("step"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=examples(300), deadline=None)
@given(rate=st.sampled_from([24.0, 30.0, 60.0, 144.0, 1000.0]), cap=st.integers(1, 8), ops=operations)
def test_the_books_always_balance(rate: float, cap: int, ops: list[tuple[str, int]]) -> None:
    """Real time fed in == running ticks x dt + accumulator + dropped + paused, exactly."""
    ts = FixedTimestep(rate, max_catch_up=cap)
    fed = running_steps = manual_steps = 0
    for op, ns in ops:
        if op == "advance":
            paused = ts.paused
            acc_before = ts._acc_ns
            n = ts.advance_ns(ns)
            fed += ns
            assert 0 <= n <= cap
            if paused:
                manual_steps += n
            else:
                running_steps += n
                assert n == min(cap, (acc_before + ns) // ts.dt_ns)
        elif op == "pause":
            ts.pause()
        elif op == "resume":
            ts.resume()
        else:
            ts.step_once()
        assert 0 <= ts._acc_ns < ts.dt_ns
        assert 0.0 <= ts.alpha <= 1.0
        assert fed == running_steps * ts.dt_ns + ts._acc_ns + ts.dropped_ns + ts.paused_ns
        assert ts.dropped_ns == ts.dropped_steps * ts.dt_ns
        assert ts.steps == running_steps + manual_steps


@settings(max_examples=examples(100), deadline=None)
@given(frames=st.lists(st.floats(0.0, 0.05), min_size=1, max_size=200))
def test_without_stalls_no_time_is_lost(frames: list[float]) -> None:
    """Frames shorter than the cap allows never drop time: ticks follow real time to within one tick."""
    ts = FixedTimestep(60, max_catch_up=5)
    total = sum(ts.advance(f) for f in frames)
    fed_ns = sum(round(f * 1e9) for f in frames)
    assert ts.dropped_ns == 0
    assert total == fed_ns // DT60


# -- interpolation -------------------------------------------------------------------------------------
def test_interpolate_blends_previous_and_current() -> None:
    prev = np.array([[0.0, 0.0], [10.0, -4.0]], dtype=np.float32)
    cur = np.array([[2.0, 4.0], [20.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(interpolate(prev, cur, 0.0), prev)
    np.testing.assert_allclose(interpolate(prev, cur, 1.0), cur)
    out = np.empty_like(cur)
    result = interpolate(prev, cur, 0.25, out=out)
    assert result is out
    np.testing.assert_allclose(out, [[0.5, 1.0], [12.5, -2.0]])


@pytest.mark.parametrize(
    ("args", "out", "message"),
    [
        ((np.zeros((3, 2)), np.zeros((4, 2)), 0.5), None, r"previous has shape \(3, 2\), current \(4, 2\)"),
        ((["a", "b"], [1.0, 2.0], 0.5), None, "previous and current must be numeric arrays"),
        ((np.zeros(2), np.zeros(2), float("nan")), None, "alpha must be a finite number, got nan"),
        ((np.zeros(2), np.zeros(2), "0.5"), None, "alpha must be a finite number"),
        ((np.zeros((3, 2)), np.zeros((3, 2)), 0.5), np.zeros((2, 2)), r"out must be a float array of shape \(3, 2\)"),
        ((np.zeros(2), np.zeros(2), 0.5), np.zeros(2, dtype=np.int32), "out must be a float array .* int32"),
        ((np.zeros(2), np.zeros(2), 0.5), [0.0, 0.0], "out must be a float array .* got list"),
    ],
)
def test_interpolate_refuses_what_it_cannot_blend(args: tuple[Any, ...], out: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        interpolate(*args, out=out)


# -- driving a scheduler ----------------------------------------------------------------------------------
def test_advance_scheduler_runs_the_owed_ticks_with_the_fixed_dt() -> None:
    sched, rec = make_scheduler(observe=True)
    ts = FixedTimestep(60)
    assert advance_scheduler(sched, ts, 0.06) == 3
    assert counted(sched) == 3
    assert [t.dt for t in rec.ticks] == [ts.dt] * 3
    assert rec.marks == []


def test_advance_scheduler_names_arguments_given_in_the_wrong_order() -> None:
    sched, _ = make_scheduler()
    ts = FixedTimestep(60)
    with pytest.raises(TypeError, match="timestep is a float"):
        advance_scheduler(sched, 0.5, ts)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scheduler is a FixedTimestep"):
        advance_scheduler(ts, ts, 0.5)  # type: ignore[arg-type]
    assert counted(sched) == 0


def test_dropped_time_is_published_as_a_mark() -> None:
    sched, rec = make_scheduler(observe=True)
    ts = FixedTimestep(60, max_catch_up=2)
    assert advance_scheduler(sched, ts, 0.11) == 2
    (tick, name, _, data) = rec.marks[0]
    assert (tick, name) == (0, DROP_MARK)
    assert data["steps"] == 4
    assert data["seconds"] == pytest.approx(4 * DT60 / 1e9)
    assert data["total_seconds"] == pytest.approx(ts.dropped_seconds)


def test_without_observers_dropped_time_is_only_counted() -> None:
    sched, _ = make_scheduler()
    ts = FixedTimestep(60, max_catch_up=1)
    assert advance_scheduler(sched, ts, 1.01) == 1
    assert ts.dropped_steps == 59


def test_a_limit_caps_the_ticks_of_one_call() -> None:
    sched, _ = make_scheduler()
    ts = FixedTimestep(60)
    assert advance_scheduler(sched, ts, 0.05, limit=2) == 2
    assert advance_scheduler(sched, ts, 0.05, limit=-1) == 0
    assert counted(sched) == 2


# -- run_fixed ------------------------------------------------------------------------------------------
def test_run_fixed_ticks_with_a_fixed_dt_as_fast_as_possible() -> None:
    clock = ManualClock()
    sched, rec = make_scheduler(clock, observe=True)
    slept: list[float] = []
    assert run_fixed(sched, 10, 50, sleep=slept.append) == 10
    assert counted(sched) == 10
    assert {t.dt for t in rec.ticks} == {0.02}
    assert slept == []


def test_run_fixed_in_real_time_paces_on_the_scheduler_clock() -> None:
    clock = ManualClock()
    sched, rec = make_scheduler(clock, observe=True)
    assert run_fixed(sched, 5, 50, realtime=True, sleep=clock.advance) == 5
    starts = [t.start_ns for t in rec.ticks]
    assert starts == [0, 20_000_000, 40_000_000, 60_000_000, 80_000_000]


def test_run_fixed_in_real_time_does_not_sleep_when_late() -> None:
    clock = ManualClock()
    sched, _ = make_scheduler(clock)
    clock.advance(1.0)  # clocks move before the run: the schedule starts at the first tick
    slept: list[float] = []

    def slow_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds + 0.5)  # overslept: later ticks are late, so no more sleeping

    run_fixed(sched, 3, 10, realtime=True, sleep=slow_sleep)
    assert len(slept) == 1


def test_run_fixed_stops_when_until_says_so() -> None:
    sched, _ = make_scheduler()
    assert run_fixed(sched, 100, until=lambda s: s.tick_count >= 7) == 7


@pytest.mark.parametrize(("ticks", "rate"), [(-1, 60.0), (1, 0.0)])
def test_run_fixed_refuses_bad_arguments(ticks: int, rate: float) -> None:
    sched, _ = make_scheduler()
    with pytest.raises(ValueError, match="run_fixed"):
        run_fixed(sched, ticks, rate)


# -- the pyglet clock driver ------------------------------------------------------------------------------
class FakeTime:
    """A time source for pyglet's Clock, and a sleep that moves it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def test_the_pyglet_driver_owns_its_clock() -> None:
    sched, _ = make_scheduler()
    driver = PygletClockDriver(sched, 30)
    assert isinstance(driver.clock, pyglet.clock.Clock)
    assert driver.clock is not pyglet.clock.get_default()
    assert driver.timestep.rate_hz == 30
    assert "ticks=0" in repr(driver)


def test_the_pyglet_driver_runs_an_exact_number_of_ticks_on_a_manual_clock() -> None:
    sched, rec = make_scheduler(observe=True)
    t = FakeTime()
    driver = PygletClockDriver(sched, 50, time_function=t, sleep=t.sleep)
    driver.start()
    assert not any(item.func == driver._on_interval for item in pyglet.clock.get_default()._schedule_interval_items)
    assert any(item.func == driver._on_interval for item in driver.clock._schedule_interval_items)
    driver.stop()
    assert driver.run(ticks=25) == 25
    assert counted(sched) == 25
    assert {s.dt for s in rec.ticks} == {0.02}
    assert t.slept == pytest.approx(0.5, abs=0.021)
    assert not driver.running
    global_items = pyglet.clock.get_default()._schedule_interval_items
    assert all(item.func != driver._on_interval for item in global_items)  # never on the global clock


def test_the_pyglet_driver_runs_for_a_duration() -> None:
    sched, _ = make_scheduler()
    t = FakeTime()
    driver = PygletClockDriver(sched, 60, time_function=t, sleep=t.sleep)
    ran = driver.run(duration=1.0)
    assert 59 <= ran <= 60
    assert driver.frames >= ran


def test_the_pyglet_driver_stops_when_until_says_so() -> None:
    sched, _ = make_scheduler()
    t = FakeTime()
    driver = PygletClockDriver(sched, 60, time_function=t, sleep=t.sleep)
    assert driver.run(until=lambda s: s.tick_count >= 12) == 12


def test_a_stall_in_a_server_is_capped_and_reported() -> None:
    sched, rec = make_scheduler(observe=True)
    t = FakeTime()
    driver = PygletClockDriver(sched, 60, max_catch_up=3, time_function=t, sleep=t.sleep)
    stalled = []

    def stall(_dt: float) -> None:  # another callback on the driver's clock blocks for 2 s once
        if not stalled:
            stalled.append(True)
            t.now += 2.0

    driver.clock.schedule_once(stall, 0.1)
    assert driver.run(ticks=20) == 20
    assert driver.timestep.dropped_seconds > 1.8
    assert [m[1] for m in rec.marks] == [DROP_MARK]


def test_the_pyglet_driver_can_be_polled_by_a_host_loop() -> None:
    sched, _ = make_scheduler()
    t = FakeTime()
    driver = PygletClockDriver(sched, 10, time_function=t, sleep=t.sleep)
    driver.start()
    driver.start()  # idempotent
    assert driver.running
    t.now += 0.35
    assert driver.poll() == 3
    driver.stop()
    driver.stop()
    t.now += 1.0
    assert driver.poll() == 0


def test_the_pyglet_driver_needs_a_stop_condition() -> None:
    sched, _ = make_scheduler()
    driver = PygletClockDriver(sched)
    with pytest.raises(ValueError, match="ticks="):
        driver.run()
    with pytest.raises(ValueError, match="ticks must be"):
        driver.run(ticks=-1)


# -- bad input: refused up front, by name, with nothing changed ------------------------------------------
def _books(ts: FixedTimestep) -> tuple[object, ...]:
    return (ts.steps, ts.accumulator, ts.alpha, ts.dropped_ns, ts.paused_ns)


@pytest.mark.parametrize(
    ("rate", "cap", "message"),
    [
        ("60", 5, "rate_hz .* got '60'"),
        (None, 5, "rate_hz .* got None"),
        (1e-300, 5, "rate_hz .* got 1e-300"),  # once an OverflowError from round(1e9 / rate)
        (math.inf, 5, "rate_hz .* got inf"),
        (True, 5, "rate_hz .* got True"),
        (60, True, "max_catch_up .* got True"),
        (60, "5", "max_catch_up .* got '5'"),
    ],
)
def test_a_timestep_refuses_what_is_not_a_rate_or_a_cap(rate: object, cap: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FixedTimestep(rate, cap)  # type: ignore[arg-type]


def test_numpy_numbers_are_fine_rates_and_caps() -> None:
    ts = FixedTimestep(np.float32(30), np.int64(3))
    assert (ts.rate_hz, ts.max_catch_up) == (30.0, 3)
    assert type(ts.max_catch_up) is int
    assert ts.advance_ns(np.int64(ts.dt_ns * 4)) == 3  # capped: one tick dropped
    assert ts.dropped_steps == 1


@pytest.mark.parametrize("real_ns", [math.nan, math.inf, -math.inf, 1.5e9, 16_666_667.0, "5", None, True, -1, 10**30])
def test_advance_ns_takes_whole_nanoseconds_only(real_ns: object) -> None:
    ts = FixedTimestep(60)
    ts.advance_ns(DT60 + 5)
    before = _books(ts)
    with pytest.raises(ValueError, match=r"advance_ns: real_ns must be an int"):
        ts.advance_ns(real_ns)  # type: ignore[arg-type]
    assert _books(ts) == before  # a NaN once poisoned steps, alpha and the accumulator for good


@settings(max_examples=examples(60))
@given(st.one_of(st.floats(), st.text(max_size=3), st.integers(max_value=-1), st.booleans()))
def test_no_non_int_or_negative_real_ns_gets_into_the_books(real_ns: object) -> None:
    ts = FixedTimestep(60)
    with pytest.raises(ValueError, match="real_ns"):
        ts.advance_ns(real_ns)  # type: ignore[arg-type]
    assert _books(ts) == (0, 0.0, 0.0, 0, 0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: run_fixed(s, "3"), ValueError, "ticks must be an int >= 0, got '3'"),
        (lambda s: run_fixed(s, 2.5), ValueError, "ticks must be an int >= 0, got 2.5"),  # once ran 3 ticks
        (lambda s: run_fixed(s, None), ValueError, "ticks .* got None"),
        (lambda s: run_fixed(s, 1, rate_hz=1e-300), ValueError, "rate_hz .* got 1e-300"),  # once OverflowError
        (lambda s: run_fixed(s, 1, rate_hz=math.inf), ValueError, "rate_hz .* got inf"),
        (lambda s: run_fixed(s, 1, rate_hz="60"), ValueError, "rate_hz .* got '60'"),
        (lambda s: run_fixed(None, 1), TypeError, "scheduler must be an ecs.Scheduler, got NoneType"),
        (lambda s: run_fixed(s, 1, until=5), TypeError, "until must be callable, got int"),
        (lambda s: run_fixed(s, 1, realtime=True, sleep=None), TypeError, "sleep must be callable"),
        (lambda s: advance_scheduler(s, FixedTimestep(60), 0.1, limit="3"), ValueError, "limit must be an int"),
        (lambda s: PygletClockDriver(s, "60"), ValueError, "rate_hz .* got '60'"),
        (lambda s: PygletClockDriver(s, time_function=None), TypeError, "time_function must be callable"),
        (lambda s: PygletClockDriver(None), TypeError, "scheduler must be an ecs.Scheduler"),
    ],
)
def test_headless_drivers_check_every_argument_before_the_first_tick(
    call: object, error: type[Exception], message: str
) -> None:
    sched, _ = make_scheduler()
    with pytest.raises(error, match=message):
        call(sched)  # type: ignore[operator]
    assert counted(sched) == 0 and sched.tick_count == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": math.nan}, "duration must be a finite number of seconds >= 0, got nan"),  # once never returned
        ({"duration": math.inf}, "duration .* got inf"),
        ({"duration": -1.0}, "duration .* got -1.0"),
        ({"duration": "5"}, "duration .* got '5'"),
        ({"ticks": 2.5}, "ticks must be an int >= 0, got 2.5"),
        ({"ticks": "3"}, "ticks must be an int >= 0, got '3'"),
    ],
)
def test_the_pyglet_driver_refuses_a_run_it_could_never_finish(options: dict[str, object], message: str) -> None:
    sched, _ = make_scheduler()
    fake = FakeTime()
    driver = PygletClockDriver(sched, time_function=fake, sleep=fake.sleep)
    with pytest.raises(ValueError, match=message):
        driver.run(**options)  # type: ignore[arg-type]
    assert not driver.running and driver.ticks == 0 and fake.slept == 0.0
    with pytest.raises(TypeError, match="until must be callable"):
        driver.run(ticks=1, until=5)  # type: ignore[arg-type]
    assert driver.run(ticks=2) == 2  # the driver is still usable
