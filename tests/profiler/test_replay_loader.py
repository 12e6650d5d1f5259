"""Replay clock and background loading: pure logic and threads, no window."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecs import TraceFormatError
from ecs.trace import load_trace
from profiler_app import _loader
from profiler_app._loader import LoadCancelled, LoadJob, load_capture
from profiler_app._replay import MAX_SPEED, MIN_SPEED, ReplayClock

MS = 1_000_000


def starts(n: int, step_ms: float = 10.0) -> np.ndarray:
    return (np.arange(n) * step_ms * MS).astype(np.int64)


def test_replay_starts_paused_on_the_first_tick() -> None:
    clock = ReplayClock(starts(5))
    assert (clock.position, clock.playing, clock.n) == (1, False, 5)
    assert clock.advance(1.0) == 1  # paused: time does not move it


def test_replay_follows_the_traces_own_time_at_its_speed() -> None:
    clock = ReplayClock(starts(100))  # a tick every 10 ms
    clock.play()
    assert clock.advance(0.025) == 3  # ticks starting at 0, 10, 20 ms have begun
    clock.speed = 2.0
    assert clock.advance(0.025) == 8  # 50 ms more of trace time: up to 75 ms
    clock.pause()
    assert clock.advance(1.0) == 8


def test_replay_stops_at_the_end_and_play_restarts_it() -> None:
    clock = ReplayClock(starts(10))
    clock.play()
    assert clock.advance(10.0) == 10
    assert clock.at_end
    assert not clock.playing
    clock.toggle()
    assert clock.playing
    assert clock.position == 1
    clock.toggle()
    assert not clock.playing


def test_scrubbing_clamps_and_playback_continues_from_there() -> None:
    clock = ReplayClock(starts(10))
    assert clock.seek(0) == 1
    assert clock.seek(99) == 10
    clock.seek(5)
    clock.play()
    assert clock.advance(0.0101) == 6


@given(st.floats(-10, 1000, allow_nan=False))
def test_replay_speed_stays_within_its_bounds(speed: float) -> None:
    clock = ReplayClock(starts(3), speed)
    assert MIN_SPEED <= clock.speed <= MAX_SPEED


def test_replay_of_ticks_out_of_order_still_moves_forward() -> None:
    clock = ReplayClock(np.array([0, 30, 10, 40, 50], dtype=np.int64) * MS)
    clock.play()
    positions = [clock.advance(0.01) for _ in range(6)]
    assert positions == sorted(positions)
    assert positions[-1] == 5


def test_an_empty_capture_cannot_be_replayed() -> None:
    with pytest.raises(ValueError, match="empty"):
        ReplayClock(np.zeros(0, dtype=np.int64))


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def test_loading_reports_progress_up_to_the_whole_file(sample_trace: Path) -> None:
    seen: list[float] = []
    cap = load_capture(sample_trace, progress=seen.append)
    assert len(cap) == 260
    assert cap.name == sample_trace.name
    assert seen[-1] == 1.0
    assert seen == sorted(seen)
    assert not cap.warnings


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_loading_in_chunks_gives_the_same_columns_as_the_reader(
    sample_trace: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(_loader, "CHUNK_TICKS", chunk)
    monkeypatch.setattr(_loader, "PARTIAL_UNTIL", 1.0)  # partials all the way through
    partials: list[int] = []
    cap = load_capture(sample_trace, partial=lambda c: partials.append(len(c)), partial_every=0.0)
    whole = load_trace(sample_trace)
    for name in ("tick", "tick_start", "groups", "group_tick_row", "systems", "phases", "phase_tick_row"):
        assert np.array_equal(getattr(cap.data, name), getattr(whole, name)), name
    assert cap.data.errors == whole.errors
    assert len(cap.data.marks) == len(whole.marks) == 1
    assert cap.data.complete
    # Partial captures grow, chunk by chunk, while the file is read.
    assert partials == sorted(partials)
    assert len(partials) == (len(whole) // chunk if chunk < len(whole) else 0)


def test_partial_captures_stop_once_most_of_the_file_is_read(
    sample_trace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_loader, "CHUNK_TICKS", 16)
    partials: list[int] = []
    cap = load_capture(sample_trace, partial=lambda c: partials.append(len(c)), partial_every=0.0)
    assert partials, "the first chunk is always shown at once"
    # each partial copies everything read so far: none is taken past PARTIAL_UNTIL of the file
    # (reads come in buffered blocks, so allow one block's worth of ticks beyond it)
    assert max(partials) < _loader.PARTIAL_UNTIL * len(cap) + 80
    assert max(partials) < len(cap)


def test_a_damaged_file_opens_with_what_is_readable_and_says_why(damaged_trace: Path) -> None:
    cap = load_capture(damaged_trace, "damaged")
    assert 50 < len(cap) < 180
    text = " ".join(cap.warnings)
    assert "not valid JSON" in text
    assert "cut short" in text


def test_a_file_that_is_not_a_trace_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(TraceFormatError):
        load_capture(path)


def test_a_file_whose_header_has_a_bad_table_entry_is_refused_naming_it(sample_trace: Path, tmp_path: Path) -> None:
    lines = gzip.decompress(sample_trace.read_bytes()).splitlines(keepends=True)
    header = json.loads(lines[0])
    header["groups"][0]["order"] = [1]
    path = tmp_path / "bad-header.trace.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(header).encode() + b"\n" + b"".join(lines[1:])))
    message = "trace header: groups[0].order must be an int, got list"
    with pytest.raises(TraceFormatError, match=re.escape(message)):
        load_capture(path)
    job = LoadJob.start(path)  # what the window does: the reason is shown, nothing crashes
    assert job.wait(30)
    assert job.capture is None and job.partial is None
    assert job.error is not None and job.error.endswith(f"TraceFormatError: {message}")


def test_a_cancelled_load_stops(sample_trace: Path) -> None:
    with pytest.raises(LoadCancelled, match="cancelled"):
        load_capture(sample_trace, cancelled=lambda: True)


def test_a_background_load_ends_with_a_capture_or_a_message(sample_trace: Path, tmp_path: Path) -> None:
    job = LoadJob.start(sample_trace)
    assert job.wait(30)
    assert job.done
    assert job.error is None
    assert job.capture is not None
    assert job.progress == 1.0
    missing = LoadJob.start(tmp_path / "missing.trace.jsonl")
    assert missing.wait(30)
    assert missing.capture is None
    assert missing.error is not None
    assert "missing.trace.jsonl" in missing.error
    assert "FileNotFoundError" in missing.error


def test_a_background_load_can_be_cancelled(sample_trace: Path) -> None:
    job = LoadJob(sample_trace)
    job.cancel()  # before it starts: the first progress check stops it
    job._thread.start()
    assert job.wait(30)
    assert job.capture is None
    assert job.error is not None
    assert "cancelled" in job.error
