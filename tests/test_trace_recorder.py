"""TraceRecorder: what the scheduler reported is what load_trace reads back."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ecs
from ecs.testing import RecordingObserver
from ecs.trace import GROUP_FIELDS, PHASES, RESULTS, SYSTEM_FIELDS, SYSTEM_RESULTS, TraceRecorder, load_trace

from ._factories import Pos, create_scheduler, gated_scheduler, scripted_scheduler

G = {n: i for i, n in enumerate(GROUP_FIELDS)}
S = {n: i for i, n in enumerate(SYSTEM_FIELDS)}


def record(path: Path, sched: ecs.Scheduler, ticks: int, dt: float = 1 / 60) -> RecordingObserver:
    """Run ``sched`` under both a recorder and an in-memory observer; close it."""
    rec = RecordingObserver()
    sched.add_observer(rec)
    recorder = TraceRecorder(path)
    sched.add_observer(recorder)
    with sched:
        sched.run(ticks, dt)
        sched.mark("level loaded", level=3, ratio=np.float32(0.5))
    return rec


@pytest.mark.parametrize("name", ["run.trace.jsonl", "run.trace.jsonl.gz"])
def test_round_trip_matches_the_summaries_the_scheduler_published(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    rec = record(path, create_scheduler(seed=1, fail_at=(3, 7)), ticks=12)
    data = load_trace(path)
    assert data.complete and data.warnings == []
    assert len(data) == 12 and data.tick.tolist() == list(range(12))
    assert rec.info is not None
    assert data.group_names == [g.name for g in rec.info.groups]
    # tick rows
    assert data.tick_start.tolist() == [t.start_ns for t in rec.ticks]
    assert data.tick_end.tolist() == [t.end_ns for t in rec.ticks]
    assert data.tick_entities.tolist() == [t.entities for t in rec.ticks]
    # group rows, in tick order, with names and results
    expected = [g for t in rec.ticks for g in t.groups]
    assert [data.group_names[i] for i in data.column("group")] == [g.group for g in expected]
    assert [RESULTS[r] for r in data.column("result")] == [g.result.value for g in expected]
    assert data.column("start").tolist() == [g.start_ns for g in expected]
    assert data.column("run").tolist() == [g.run_ns for g in expected]
    assert data.column("worker").tolist() == [-1 if g.worker is None else g.worker for g in expected]
    # system timings, each pointing at its group row
    systems = [(gi, s) for gi, g in enumerate(expected) for s in g.systems]
    assert len(data.systems) == len(systems)
    for row, (gi, s) in zip(data.systems, systems, strict=True):
        assert row[S["group_row"]] == gi
        assert data.system_names[row[S["system"]]] == s.name
        assert (row[S["start"]], row[S["end"]]) == (s.start_ns, s.end_ns)
        assert SYSTEM_RESULTS[row[S["result"]]] == s.result
    # the failing system: an error record under the right group and system, on ticks 3 and 7
    assert len(data.errors) == 2
    for (g_row, s_row, text), tick in zip(data.errors, (3, 7), strict=True):
        assert data.group_names[data.groups[g_row, G["group"]]] == "fragile"
        assert data.system_names[data.systems[s_row, S["system"]]] == "fragile"
        assert text == f"RuntimeError: boom at tick {tick}"
        assert RESULTS[data.groups[g_row, G["result"]]] == "errored"
    # the interval system is skipped on odd ticks
    bounce = data.system_names.index("bounce")
    skipped = data.systems[(data.systems[:, S["system"]] == bounce)][:, S["result"]]
    assert [SYSTEM_RESULTS[r] for r in skipped] == ["executed", "skipped_interval"] * 6
    # phases, counters and marks
    assert {PHASES[p] for p in data.phases[:, 0]} == {"apply", "flush", "maintenance"}
    assert data.counters["entities"][1].tolist() == [float(t.entities) for t in rec.ticks]
    assert "queue_depth/analysis" in data.counters
    assert data.marks == [
        {"type": "mark", "tick": 12, "t": rec.marks[0][2], "name": "level loaded", "data": {"level": 3, "ratio": 0.5}}
    ]


def test_exact_durations_survive_the_round_trip(tmp_path: Path) -> None:
    clock = ecs.ManualClock()
    path = tmp_path / "t.jsonl"
    record(path, scripted_scheduler(clock), ticks=4)
    data = load_trace(path)
    assert data.tick_durations_ms().tolist() == [6.0, 3.0, 6.0, 3.0]
    a = data.group_names.index("a")
    runs = data.groups[data.column("group") == a]
    assert (runs[:, G["end"]] - runs[:, G["start"]]).tolist() == [3_000_000] * 4


def test_a_late_async_merge_is_recorded_in_the_tick_that_merged_it(tmp_path: Path) -> None:
    sched, gate = gated_scheduler()
    path = tmp_path / "late.jsonl"
    with sched:
        sched.add_observer(TraceRecorder(path))
        assert sched.tick(0.1)["slow"] is ecs.GroupResult.STILL_RUNNING
        gate.release.set()
        assert sched.wait_idle(5.0)
        sched.tick(0.1)
    data = load_trace(path)
    rows = data.groups.tolist()
    assert [RESULTS[r[G["result"]]] for r in rows][:2] == ["still_running", "executed"]
    late = rows[1]
    assert late[G["flags"]] & 2, "the merged run carries the late flag"
    assert late[G["tick"]] == 0 and data.group_tick_row[1] == 1, "dispatched in tick 0, merged in tick 1"
    assert late[G["worker"]] == 0


def test_recorder_writes_to_a_binary_stream_and_leaves_it_open() -> None:
    buf = io.BytesIO()
    sched = create_scheduler(with_async=False)
    recorder = TraceRecorder(buf)
    sched.add_observer(recorder)
    sched.run(3, 0.1)
    sched.close()
    assert not buf.closed
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["type"] for x in lines] == ["header", "tick", "tick", "tick", "end"]
    assert lines[-1] == {"type": "end", "ticks": 3, "dropped": 0}


def test_run_with_trace_closes_the_file_with_an_end_record_even_when_a_tick_raises(tmp_path: Path) -> None:
    world = ecs.World(components=[Pos])

    @ecs.system
    def explode(ctx: ecs.ExecutionContext) -> None:
        if ctx.tick == 2:
            raise ValueError("no")

    b = ecs.SchedulerBuilder(world)
    b.add_group("g", [explode], error_policy=ecs.ErrorPolicy.ABORT)
    path = tmp_path / "abort.jsonl"
    with b.build() as sched, pytest.raises(ecs.TickError):
        sched.run_with_trace(path, ticks=5, dt=0.1)
    data = load_trace(path)
    assert data.complete
    assert data.tick.tolist() == [0, 1, 2]
    assert data.tick_flags.tolist() == [0, 0, 1], "the aborted tick is flagged"
    assert data.errors[0][2] == "ValueError: no"


def test_a_crash_leaves_a_readable_prefix_at_most_flush_every_ticks_behind(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl.gz"
    sched = create_scheduler(with_async=False)
    recorder = TraceRecorder(path, flush_every=5)
    sched.add_observer(recorder)
    sched.run(12, 0.1)
    # The process "dies" here: the recorder is never closed. Its writer thread flushes on its
    # own, so within a moment the file holds all but at most the last few ticks.
    deadline = time.monotonic() + 10
    while True:
        try:
            data = load_trace(io.BytesIO(path.read_bytes()))
        except ecs.TraceFormatError:  # not even the header has reached the disk yet
            data = None
        if (data is not None and len(data) >= 12 - 5) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert data is not None
    assert 12 - 5 <= len(data) <= 12
    assert data.tick.tolist() == list(range(len(data)))
    assert not data.complete
    assert any("cut short" in w for w in data.warnings)
    sched.close()


def test_gzip_output_is_real_gzip_and_plain_output_is_text(tmp_path: Path) -> None:
    for name in ("a.jsonl", "a.jsonl.gz"):
        sched = create_scheduler(with_async=False)
        sched.run_with_trace(tmp_path / name, ticks=2, dt=0.1)
        sched.close()
    unzipped = gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes())
    plain = (tmp_path / "a.jsonl").read_bytes()
    for raw in (unzipped, plain):
        assert raw.startswith(b'{"type":"header","schema":"ecs-trace"')
        assert raw.endswith(b'{"type":"end","ticks":2,"dropped":0}\n')


def test_a_recorder_records_one_scheduler_and_says_so_when_attached_again(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    recorder = TraceRecorder(path)
    with create_scheduler(with_async=False) as s1, create_scheduler(with_async=False) as s2:
        s1.add_observer(recorder)
        with pytest.raises(ecs.EcsError, match="already recording a scheduler; each scheduler needs its own"):
            s2.add_observer(recorder)
        assert s2.observers == ()
        s1.tick(0.1)
        s1.remove_observer(recorder)  # closes it
        with pytest.raises(ecs.EcsError, match="this recorder is closed"):
            s2.add_observer(recorder)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [ln["type"] for ln in lines] == ["header", "tick", "end"]


def test_marks_with_ints_json_cannot_carry_are_written_as_text(tmp_path: Path) -> None:
    path = tmp_path / "marks.jsonl"
    with create_scheduler(with_async=False) as sched:
        sched.add_observer(TraceRecorder(path))
        sched.mark("seed", big=2**80, nested=[1, {"neg": -(2**70)}], fits=2**63 - 1)
        with pytest.raises(ecs.EcsError, match="mark: the name must be a string, got 5"):
            sched.mark(5)  # type: ignore[arg-type]
    (mark,) = load_trace(path).marks
    assert mark["data"] == {"big": str(2**80), "nested": [1, {"neg": str(-(2**70))}], "fits": 2**63 - 1}


def test_ticks_encoded_in_batches_keep_their_order_with_marks() -> None:
    """Batching the encoding changes when lines are written, never what or in which order."""
    outputs = []
    for encode_every in (1, 16):
        buf = io.BytesIO()
        clock = ecs.ManualClock(start_ns=1_000)
        with scripted_scheduler(clock) as sched:
            sched.add_observer(TraceRecorder(buf, close_target=False, encode_every=encode_every))
            for tick in range(40):
                sched.tick(0.1)
                if tick in (3, 20, 21):
                    sched.mark(f"after {tick}", tick=tick)
        lines = [json.loads(line) for line in buf.getvalue().splitlines()]
        assert [ln["type"] for ln in lines].count("tick") == 40 and lines[-1] == {
            "type": "end",
            "ticks": 40,
            "dropped": 0,
        }
        outputs.append([ln for ln in lines if ln["type"] != "header"])
    assert outputs[0] == outputs[1]
    marks = [i for i, ln in enumerate(outputs[1]) if ln["type"] == "mark"]
    assert [outputs[1][i - 1]["tick"] for i in marks] == [3, 20, 21]


# -- bad input ----------------------------------------------------------------------------------------------
def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ecs-trace-writer" and t.is_alive()]


class _NoWrite:
    pass


@pytest.mark.parametrize(
    ("target", "kwargs", "error", "message"),
    [
        (lambda p: io.StringIO(), {}, TypeError, r"target .*StringIO.* takes text.*'wb'"),
        (lambda p: open(p / "t.txt", "w"), {}, TypeError, r"target .*TextIOWrapper.* takes text"),  # noqa: SIM115
        (lambda p: None, {}, TypeError, "target must be a path or a binary file object.*None"),
        (lambda p: 1, {}, TypeError, "target must be a path or a binary file object.*got 1"),
        (lambda p: _NoWrite(), {}, TypeError, "target must be a path or a binary file object"),
        (lambda p: str(p / "x.jsonl").encode(), {}, TypeError, "bytes path"),
        (lambda p: str(p / "a\0b.jsonl"), {}, ValueError, "target .* NUL"),
        (lambda p: open(p / "ro.bin", "rb"), {}, ValueError, "target .* not open for writing"),  # noqa: SIM115
        (lambda p: p / "x.jsonl.gz", {"compresslevel": 99}, ValueError, "compresslevel must be an int in 0..9, got 99"),
        (lambda p: p / "x.jsonl.gz", {"compresslevel": "6"}, TypeError, "compresslevel .* got '6'"),
        (lambda p: p / "x.jsonl", {"flush_every": 0}, ValueError, "flush_every must be an int >= 1, got 0"),
        (lambda p: p / "x.jsonl", {"flush_every": "5"}, TypeError, "flush_every .* got '5'"),
        (lambda p: p / "x.jsonl", {"encode_every": True}, TypeError, "encode_every .* got True"),
        (lambda p: p / "x.jsonl", {"encode_every": -1}, ValueError, "encode_every .* got -1"),
    ],
)
def test_bad_targets_and_options_are_refused_before_anything_is_opened(
    tmp_path: Path, target: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    (tmp_path / "ro.bin").write_bytes(b"")
    obj = target(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=message):
        TraceRecorder(obj, **kwargs)
    if hasattr(obj, "close"):
        obj.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no file created
    assert writer_threads() == []


def test_a_closed_file_target_is_refused(tmp_path: Path) -> None:
    with open(tmp_path / "c.bin", "wb") as f:
        pass
    with pytest.raises(ValueError, match="target .* is closed"):
        TraceRecorder(f)


class _Exploding(io.RawIOBase):
    """A binary target whose write fails with something other than an I/O error."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise RuntimeError("the target broke")


def test_any_writer_failure_is_kept_in_error_and_close_returns() -> None:
    sched = create_scheduler(seed=1)
    recorder = TraceRecorder(_Exploding())
    sched.add_observer(recorder)
    with sched:
        sched.run(40, 1 / 60)
    assert isinstance(recorder.error, RuntimeError) and "the target broke" in str(recorder.error)
    assert recorder.closed and writer_threads() == []
