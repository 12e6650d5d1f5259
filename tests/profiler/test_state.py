"""The profiler's state object: what the buttons and keys do, without a window."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ecs.trace import LiveStreamServer, data_tail
from profiler_app._data import index_capture
from profiler_app._loader import LoadJob, load_capture
from profiler_app._state import MAX_TIMELINE_TICKS, ProfilerState

from . import _traces as T
from .conftest import sample_game
from .test_data import exact_events
from .test_live import wait_for


def loaded(state: ProfilerState, *paths: Path, for_compare: bool = False) -> ProfilerState:
    for p in paths:
        state.open_file(p, for_compare=for_compare)
    assert wait_for(lambda: all(j.done for j in state.jobs))
    state.poll(0.0)
    return state


@pytest.fixture
def exact_state() -> ProfilerState:
    state = ProfilerState()
    head, events = exact_events(10)
    state.add_capture(index_capture(T.build(head, events), "exact"))
    return state


def test_nothing_is_shown_before_a_capture_is_open() -> None:
    state = ProfilerState()
    assert state.shown() == (None, 0, 0)
    assert state.selection() == (0, 0)
    state.select(3)
    state.step(1)
    assert not state.step_hitch(1)
    assert state.selection() == (0, 0)


def test_an_opened_file_becomes_active_with_its_worst_tick_selected(sample_trace: Path) -> None:
    state = loaded(ProfilerState(), sample_trace)
    cap, lo, hi = state.shown()
    assert cap is not None
    assert (lo, hi) == (0, 260)
    a, b = state.selection()
    assert b == a + 1
    assert cap.tick_ms[a] == cap.tick_ms.max()
    assert not state.banners


def test_a_long_load_shows_its_first_ticks_then_the_whole_capture_in_the_same_place(
    sample_trace: Path, sample_trace_b: Path
) -> None:
    state = loaded(ProfilerState(), sample_trace_b)
    whole = load_capture(sample_trace)
    job = LoadJob(sample_trace)  # driven by hand: no thread, so every step is observed
    state.jobs.append(job)
    job.partial = index_capture(data_tail(whole.data, 100), "first 100")
    state.poll(0.0)
    assert len(state.captures) == 2
    assert state.active == job.slot == 1
    assert len(state.captures[1]) == 100
    job.partial = index_capture(data_tail(whole.data, 200), "first 200")
    state.poll(0.0)
    assert len(state.captures) == 2
    assert len(state.captures[1]) == 200
    job.capture = whole
    job._done.set()
    state.poll(0.0)
    assert not state.jobs
    assert state.captures[1] is whole
    assert state.active == 1


def test_a_load_that_fails_half_way_drops_its_partial_view(sample_trace: Path) -> None:
    state = ProfilerState()
    job = LoadJob(sample_trace)
    state.jobs.append(job)
    job.partial = index_capture(data_tail(load_capture(sample_trace).data, 10), "first 10")
    state.poll(0.0)
    assert len(state.captures) == 1
    job.error = "cannot open it: OSError: disk on fire"
    job._done.set()
    state.poll(0.0)
    assert not state.captures
    assert state.banners[-1].text == "cannot open it: OSError: disk on fire"


def test_a_damaged_file_opens_with_a_warning_banner(damaged_trace: Path) -> None:
    state = loaded(ProfilerState(), damaged_trace)
    assert state.captures
    (banner,) = state.banners
    assert banner.level == "warning"
    assert "damaged" in banner.text
    assert any("not valid JSON" in d for d in banner.details)


def test_a_file_that_cannot_be_read_leaves_an_error_banner(tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace.jsonl"
    bad.write_bytes(b"\x00\x01\x02")
    state = loaded(ProfilerState(), bad)
    assert not state.captures
    assert state.banners[-1].level == "error"
    assert "bad.trace.jsonl" in state.banners[-1].text


def test_two_files_are_set_up_for_compare_and_closing_keeps_indices_right(
    sample_trace: Path, sample_trace_b: Path
) -> None:
    state = loaded(ProfilerState(), sample_trace, sample_trace_b)
    assert len(state.captures) == 2
    assert (state.compare_a, state.compare_b) == (0, 1)
    state.close_capture(0)
    assert (state.active, state.compare_a, state.compare_b) == (0, -1, 0)
    assert state.captures[0].name == sample_trace_b.name
    state.close_capture(5)  # out of range: nothing happens
    assert len(state.captures) == 1


def test_a_file_opened_for_compare_becomes_b(sample_trace: Path, sample_trace_b: Path) -> None:
    state = loaded(ProfilerState(), sample_trace)
    loaded(state, sample_trace_b, for_compare=True)
    assert state.active == 0
    assert (state.compare_a, state.compare_b) == (0, 1)


def test_keys_step_through_ticks_and_shift_extends(exact_state: ProfilerState) -> None:
    state = exact_state
    state.select(4)
    state.step(+1)
    assert state.selection() == (5, 6)
    state.step(+2, extend=True)
    assert state.selection() == (5, 8)
    state.step(-1, extend=True)
    assert state.selection() == (4, 8)
    state.step(-1)
    assert state.selection() == (3, 4)
    state.select(99)
    assert state.selection() == (9, 10)  # clamped to the last tick
    state.select(-5)
    assert state.selection() == (0, 1)


def test_page_keys_jump_between_hitches(exact_state: ProfilerState) -> None:
    state = exact_state
    state.budget_ms = 15.0  # tick 3 takes 22 ms, the others 12
    state.select(0)
    assert state.step_hitch(+1)
    assert state.selection() == (3, 4)
    assert not state.step_hitch(+1)
    assert state.step_hitch(-1) is False  # nothing before tick 3
    state.select(9)
    assert state.step_hitch(-1)
    assert state.selection() == (3, 4)


def test_a_long_selection_is_clamped_for_the_timeline(sample_trace: Path) -> None:
    state = loaded(ProfilerState(), sample_trace)
    state.select_range(250, 0)
    assert state.selection() == (0, 250)
    a, b = state.timeline_range()
    assert (a, b) == (0, min(250, MAX_TIMELINE_TICKS))


def test_replay_shows_the_ticks_played_so_far(exact_state: ProfilerState) -> None:
    state = exact_state
    assert state.start_replay()
    assert state.mode == "replay"
    assert state.shown()[2] == 1
    state.poll(0.045)  # ticks start every 20 ms: 0, 20 and 40 have begun
    assert state.shown()[2] == 3
    assert state.selection() == (2, 3)
    state.stop_replay()
    assert state.mode == "file"
    assert state.shown()[2] == 10


def test_replay_needs_an_open_capture() -> None:
    assert not ProfilerState().start_replay()


def test_an_invalid_live_address_is_a_banner_not_a_crash() -> None:
    state = ProfilerState()
    assert not state.connect("nowhere")
    assert state.banners[-1].level == "error"
    assert state.live is None
    assert state.save_live("x.trace.jsonl") == 0
    assert "not connected" in state.banners[-1].text


def test_live_mode_follows_the_latest_tick_and_pause_freezes_the_view(tmp_path: Path) -> None:
    server = LiveStreamServer(port=0, status_interval=0.05)
    sched = sample_game(entities=100, stall_every=1000)
    sched.add_observer(server)
    state = ProfilerState(live_capacity=100)
    with sched:
        assert state.connect(f"127.0.0.1:{server.port}")
        assert state.mode == "live"
        live = state.live
        assert live is not None
        assert wait_for(lambda: server.stats.clients == 1)
        sched.run(30, 1 / 60)

        def caught_up() -> bool:
            state.poll(0.0)
            cap = state.live_capture
            return cap is not None and int(cap.data.tick[-1]) == 29

        assert wait_for(caught_up)
        assert state.selection() == (29, 30)  # following the newest tick
        state.select(10)
        assert not state.live_follow  # picking an older tick stops following
        state.live_paused = True
        frozen = state.live_capture
        sched.run(10, 1 / 60)
        assert wait_for(lambda: live.ticks_seen == 40)
        time.sleep(0.3)
        state.poll(0.0)
        assert state.live_capture is frozen
        assert state.save_live(tmp_path / "live.trace.jsonl") > 0
        assert "saved" in state.banners[-1].text
        state.disconnect()
    assert live.status == "stopped"
    state.leave_live()
    assert state.mode == "file"


def test_memo_recomputes_on_a_new_key_and_throttles_volatile_changes() -> None:
    state = ProfilerState()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert state.memo("x", "a", compute) == 1
    assert state.memo("x", "a", compute) == 1
    assert state.memo("x", "b", compute) == 2
    assert state.memo("x", "b", compute, volatile=1, min_interval=60.0) == 2  # throttled
    assert state.memo("x", "b", compute, volatile=2, min_interval=0.0) == 3


@pytest.mark.parametrize(
    ("flight", "budget"),
    [
        ({"reason": "hitch", "tick": 3, "budget_ms": 4.5}, 4.5),
        ({"reason": "dump", "tick": 9}, 16.6),  # a dump broke no budget
        ({"reason": "hitch", "tick": 3, "budget_ms": "fast"}, 16.6),  # garbage is ignored
        (None, 16.6),
    ],
)
def test_a_flight_recorder_hitch_file_sets_the_budget_it_broke(flight: object, budget: float) -> None:
    head, events = exact_events(10)
    if flight is not None:
        head = {**head, "flight": flight}
    state = ProfilerState()
    state.add_capture(index_capture(T.build(head, events), "hitch"))
    assert state.budget_ms == budget
    infos = [b.text for b in state.banners if b.level == "info"]
    assert infos == (
        ["hitch: written by a flight recorder because tick 3 ran over 4.5 ms; the frame graph's budget is set to that"]
        if budget == 4.5
        else []
    )
