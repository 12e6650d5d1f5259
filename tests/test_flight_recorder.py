"""FlightRecorder: the last ticks in memory, written out around each hitch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ecs
from ecs.trace import FlightRecorder, load_trace
from ecs.trace._schema import Encoder

from ._factories import Heat, Pos

MS = 1_000_000


def game(clock: ecs.ManualClock, slow: dict[int, int]) -> ecs.Scheduler:
    """One group whose system takes 2 ms, or ``slow[tick]`` ms on the ticks listed."""

    @ecs.system(writes=(Pos,))
    def work(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=slow.get(ctx.tick, 2) * MS)

    world = ecs.World(components=[Pos, Heat])
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1)
    b.add_group("work", [work])
    return b.build()


def run(recorder: FlightRecorder, ticks: int, slow: dict[int, int], marks: dict[int, str] | None = None) -> None:
    with game(ecs.ManualClock(), slow) as sched:
        sched.add_observer(recorder)
        for t in range(ticks):
            if marks and t in marks:
                sched.mark(marks[t], at=t)
            sched.tick(1 / 60)
    recorder.wait()


def ticks_of(path: Path) -> list[int]:
    data = load_trace(path)
    assert data.complete and not data.warnings
    return [int(t) for t in data.tick]


def test_a_hitch_writes_the_run_up_the_hitch_and_what_followed(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=16.7, keep=50, after=10)
    run(rec, 200, slow={120: 30})
    assert rec.hitches == 1 and [p.name for p in rec.files] == ["hitch-00000120.trace.jsonl.gz"]
    assert ticks_of(rec.files[0]) == list(range(81, 131))  # 40 before, the hitch, 10 after (keep=50)
    data = load_trace(rec.files[0])
    assert data.header["flight"] == {"reason": "hitch", "tick": 120, "budget_ms": 16.7}
    worst = int(data.tick[data.tick_durations_ms().argmax()])
    assert worst == 120 and data.tick_durations_ms().max() >= 30


def test_hitches_close_together_share_a_file_and_far_apart_get_their_own(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=30, after=5)
    run(rec, 300, slow={50: 20, 53: 25, 200: 40})
    assert rec.hitches == 3
    assert [p.name for p in rec.files] == ["hitch-00000050.trace.jsonl.gz", "hitch-00000200.trace.jsonl.gz"]
    assert ticks_of(rec.files[0]) == list(range(26, 56))  # 53 fell inside 50's after-ticks
    assert ticks_of(rec.files[1])[-1] == 205


def test_after_zero_writes_on_the_hitch_tick(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=5, after=0, compress=False)
    run(rec, 20, slow={7: 11})
    assert [p.name for p in rec.files] == ["hitch-00000007.trace.jsonl"]
    assert ticks_of(rec.files[0]) == [3, 4, 5, 6, 7]


def test_max_files_caps_the_disk_used(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=10, after=2, max_files=2)
    run(rec, 100, slow={10: 20, 30: 20, 50: 20, 70: 20})
    assert len(rec.files) == 2 and rec.skipped == 2 and rec.hitches == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in rec.files]  # no partial files


def test_dump_writes_the_last_ticks_now(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "dumps", budget_ms=None, keep=20, after=5)
    assert rec.dump() is None  # nothing seen yet
    run(rec, 35, slow={})
    path = rec.dump()
    assert path is not None and path.name == "dump-00000034.trace.jsonl.gz"
    assert ticks_of(path) == list(range(15, 35))
    assert load_trace(path).header["flight"]["reason"] == "dump"
    assert rec.dump(tmp_path / "mine.trace.jsonl") == tmp_path / "mine.trace.jsonl"
    assert (tmp_path / "mine.trace.jsonl").read_bytes().startswith(b'{"type":"header"')  # plain: no .gz
    assert ticks_of(tmp_path / "mine.trace.jsonl") == list(range(15, 35))
    assert rec.hitches == 0  # budget None: no automatic files
    assert [p.name for p in rec.files] == ["dump-00000034.trace.jsonl.gz", "mine.trace.jsonl"]


def test_marks_are_kept_in_order_with_the_ticks(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=12, after=1)
    run(rec, 40, slow={30: 50}, marks={25: "boss spawned", 29: "explosion", 5: "too early"})
    (path,) = rec.files
    marks = load_trace(path).marks
    assert [(m["name"], m["data"]) for m in marks] == [("boss spawned", {"at": 25}), ("explosion", {"at": 29})]


def test_closing_with_a_hitch_pending_writes_it_with_the_ticks_it_has(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=20, after=15)
    run(rec, 25, slow={20: 30})  # the scheduler closes four ticks after the hitch
    (path,) = rec.files
    assert ticks_of(path) == list(range(5, 25))


def test_a_directory_that_goes_away_is_reported_and_the_game_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    rec = FlightRecorder(blocker, budget_ms=10, keep=5, after=1)
    blocker.rmdir()
    blocker.write_text("a file where the directory was")  # after the recorder checked it
    run(rec, 20, slow={10: 30})
    assert isinstance(rec.error, OSError) and rec.hitches == 1  # the hitch's file failed, quietly
    assert rec.files == []  # only files actually written are listed
    with pytest.raises(OSError):
        rec.dump()  # asked for, so the failure is raised
    assert rec.dump(tmp_path / "elsewhere.trace.jsonl.gz") == tmp_path / "elsewhere.trace.jsonl.gz"
    assert ticks_of(tmp_path / "elsewhere.trace.jsonl.gz") == [15, 16, 17, 18, 19]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.trace.jsonl.gz", "not-a-directory"]


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"keep": 0}, ValueError, "keep"),
        ({"keep": True, "after": 0}, TypeError, "keep .* got True"),
        ({"keep": 10, "after": 10}, ValueError, "after"),
        ({"after": -1}, ValueError, "after"),
        ({"budget_ms": 0}, ValueError, "budget_ms"),
        ({"budget_ms": float("inf")}, ValueError, "budget_ms must be a finite number > 0 or None, got inf"),
        ({"budget_ms": float("nan")}, ValueError, "budget_ms .* got nan"),
        ({"budget_ms": "5"}, TypeError, "budget_ms .* got '5'"),
        ({"max_files": 0}, ValueError, "max_files"),
        ({"max_files": 2.0}, TypeError, "max_files .* got 2.0"),
        ({"prefix": "a/b"}, ValueError, "prefix"),
        ({"prefix": ""}, ValueError, "prefix"),
        ({"prefix": ".."}, ValueError, "prefix .* got '..'"),
        ({"prefix": "a\0b"}, ValueError, r"prefix .* got 'a\\x00b'"),
        ({"prefix": "p" * 300}, ValueError, "prefix .* at most 200 bytes"),
        ({"prefix": 5}, TypeError, "prefix must be a str, got 5"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        FlightRecorder(tmp_path / "hitches", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "hitches").exists()  # refused before the directory is made


@pytest.mark.parametrize(
    ("directory", "error", "message"),
    [
        (lambda p: p / "a-file", NotADirectoryError, "directory '.*a-file' exists and is not a directory"),
        (lambda p: p / "a-file" / "below", OSError, "cannot use directory '.*below'"),
        (lambda p: str(p / "nul\0dir"), ValueError, "directory .* NUL"),
        (lambda p: None, TypeError, "directory must be a str path, got None"),
        (lambda p: str(p).encode(), TypeError, "directory must be a str path"),
    ],
)
def test_a_directory_that_cannot_hold_files_is_refused_when_built(
    tmp_path: Path, directory: Any, error: type[Exception], message: str
) -> None:
    (tmp_path / "a-file").write_text("in the way")
    with pytest.raises(error, match=message):
        FlightRecorder(directory(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_the_directory_is_created_when_the_recorder_is_built(tmp_path: Path) -> None:
    FlightRecorder(tmp_path / "new" / "hitches")
    assert (tmp_path / "new" / "hitches").is_dir()


@pytest.mark.parametrize(("path", "error"), [("a\0b.jsonl", ValueError), (5, TypeError), (b"x.jsonl", TypeError)])
def test_dump_refuses_a_path_that_is_not_one(tmp_path: Path, path: Any, error: type[Exception]) -> None:
    rec = FlightRecorder(tmp_path, budget_ms=None, keep=5, after=1)
    run(rec, 3, slow={})
    with pytest.raises(error, match="path"):
        rec.dump(path)
    assert list(tmp_path.iterdir()) == [] and rec.files == []


def test_a_failure_that_is_not_an_io_error_is_kept_and_no_file_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ticks: int, dropped: int = 0) -> dict[str, Any]:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(Encoder, "end", staticmethod(broken))
    rec = FlightRecorder(tmp_path, budget_ms=10, keep=5, after=1)
    run(rec, 20, slow={10: 30})
    assert isinstance(rec.error, RuntimeError) and rec.hitches == 1
    assert rec.files == [] and list(tmp_path.iterdir()) == []  # no file, not even a partial one
