"""Chrome Trace Event export: valid against the format, properly nested, streamed."""

from __future__ import annotations

import gzip
import io
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import ecs
from ecs.trace import RESULTS, TraceRecorder, export_chrome, load_trace
from ecs.trace._chrome import GRID

from ._factories import create_scheduler, gated_scheduler, scripted_scheduler

# The Chrome Trace Event format ("Trace Event Format", Google, the JSON object form), as far as
# the events we emit are concerned, plus what Perfetto needs: integer pid/tid, numeric ts/dur,
# counter args that are numbers, metadata events with their documented names and args.
CHROME_TRACE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "traceEvents": {"type": "array", "items": {"$ref": "#/$defs/event"}},
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
    },
    "$defs": {
        "event": {
            "type": "object",
            "required": ["ph", "pid", "tid", "name"],
            "properties": {
                "ph": {"enum": ["B", "E", "X", "i", "I", "C", "M", "b", "e", "n", "s", "t", "f", "P", "O", "N", "D"]},
                "pid": {"type": "integer"},
                "tid": {"type": "integer"},
                "name": {"type": "string"},
                "cat": {"type": "string"},
                "ts": {"type": "number"},
                "args": {"type": "object"},
            },
            "allOf": [
                {
                    "if": {"properties": {"ph": {"const": "X"}}},
                    "then": {
                        "required": ["ts", "dur"],
                        "properties": {"dur": {"type": "number", "minimum": 0}, "ts": {"minimum": 0}},
                    },
                },
                {
                    "if": {"properties": {"ph": {"const": "C"}}},
                    "then": {
                        "required": ["ts", "args"],
                        "properties": {
                            "args": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number"}}
                        },
                    },
                },
                {
                    "if": {"properties": {"ph": {"enum": ["i", "I"]}}},
                    "then": {"required": ["ts", "s"], "properties": {"s": {"enum": ["g", "p", "t"]}}},
                },
                {
                    "if": {"properties": {"ph": {"const": "M"}}},
                    "then": {
                        "required": ["args"],
                        "properties": {
                            "name": {
                                "enum": [
                                    "process_name",
                                    "process_labels",
                                    "process_sort_index",
                                    "thread_name",
                                    "thread_sort_index",
                                ]
                            }
                        },
                        "allOf": [
                            {
                                "if": {"properties": {"name": {"enum": ["process_name", "thread_name"]}}},
                                "then": {
                                    "properties": {
                                        "args": {"required": ["name"], "properties": {"name": {"type": "string"}}}
                                    }
                                },
                            },
                            {
                                "if": {"properties": {"name": {"enum": ["process_sort_index", "thread_sort_index"]}}},
                                "then": {
                                    "properties": {
                                        "args": {
                                            "required": ["sort_index"],
                                            "properties": {"sort_index": {"type": "integer"}},
                                        }
                                    }
                                },
                            },
                        ],
                    },
                },
            ],
        }
    },
}


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(CHROME_TRACE_SCHEMA)
    jsonschema.validate(doc, CHROME_TRACE_SCHEMA, cls=jsonschema.Draft202012Validator)


def ns(us: float) -> int:
    """A microsecond value of the export as an integer count of its 1/128 us grid (exact)."""
    k = us * GRID
    assert k == int(k), f"{us} is not on the 1/{GRID} microsecond grid"
    return int(k)


def record(tmp_path: Path, ticks: int = 30, **kw: Any) -> Path:
    path = tmp_path / "run.trace.jsonl"
    sched = create_scheduler(seed=2, **kw)
    sched.add_observer(TraceRecorder(path))
    with sched:
        sched.run(ticks, 1 / 60)
        sched.mark("halfway", score=7)
    return path


def export(source: Any) -> dict[str, Any]:
    buf = io.StringIO()
    export_chrome(source, buf)
    doc: dict[str, Any] = json.loads(buf.getvalue())
    return doc


def by_ph(doc: dict[str, Any], ph: str) -> list[dict[str, Any]]:
    return [e for e in doc["traceEvents"] if e["ph"] == ph]


def thread_names(doc: dict[str, Any]) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in by_ph(doc, "M") if e["name"] == "thread_name"}


def test_the_export_of_a_real_run_is_valid_chrome_trace_json(tmp_path: Path) -> None:
    doc = export(record(tmp_path, fail_at=(4,)))
    validate(doc)
    assert doc["displayTimeUnit"] == "ms"
    assert doc["otherData"]["schema"] == "ecs-trace"
    assert {e["ph"] for e in doc["traceEvents"]} == {"M", "X", "C", "i"}


def test_the_schema_catches_malformed_events() -> None:
    good = {"ph": "X", "pid": 1, "tid": 1, "name": "a", "ts": 1.5, "dur": 2.0}
    validate({"traceEvents": [good]})
    for bad in (
        {**good, "dur": -1},
        {k: v for k, v in good.items() if k != "dur"},
        {"ph": "C", "pid": 1, "tid": 1, "name": "c", "ts": 0, "args": {"v": "high"}},
        {"ph": "i", "pid": 1, "tid": 1, "name": "m", "ts": 0, "s": "x"},
        {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"title": "t"}},
        {**good, "tid": "main"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate({"traceEvents": [bad]})


def check_nesting(slices: list[dict[str, Any]]) -> None:
    """Slices on one track must nest (no partial overlap): the rule Perfetto and speedscope apply."""
    by_tid: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for e in slices:
        by_tid[e["tid"]].append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"]), e["name"]))
    for tid, items in by_tid.items():
        stack: list[tuple[int, int, str]] = []
        for start, end, name in sorted(items, key=lambda x: (x[0], -x[1])):
            while stack and stack[-1][1] <= start:
                stack.pop()
            if stack:
                assert end <= stack[-1][1], f"track {tid}: {name} [{start}, {end}] overlaps {stack[-1]}"
            stack.append((start, end, name))


def test_systems_nest_inside_their_group_slice_on_the_same_track(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=40)
    doc = export(path)
    data = load_trace(path)
    slices = by_ph(doc, "X")
    check_nesting(slices)
    groups = [e for e in slices if e["cat"] == "group"]
    systems = [e for e in slices if e["cat"] == "system"]
    assert len(systems) == sum(1 for row in data.systems if row[4] != 2), (
        "every system run that was not skipped by its interval has a slice"
    )
    group_of = {s["name"]: s["group"] for s in data.header["systems"]}
    for s in systems:
        parents = [
            g
            for g in groups
            if g["tid"] == s["tid"]
            and g["name"] == group_of[s["name"]]
            and ns(g["ts"]) <= ns(s["ts"])
            and ns(s["ts"]) + ns(s["dur"]) <= ns(g["ts"]) + ns(g["dur"])
        ]
        assert len(parents) == 1, f"system {s['name']} at {s['ts']} has {len(parents)} enclosing group slices"
    phases = [e for e in slices if e["cat"] == "phase"]
    ticks = [e for e in slices if e["cat"] == "tick"]
    assert len(ticks) == 40
    for p in phases:
        assert any(ns(t["ts"]) <= ns(p["ts"]) and ns(p["ts"] + p["dur"]) <= ns(t["ts"] + t["dur"]) for t in ticks)


def test_back_to_back_systems_touch_exactly_in_floating_point(tmp_path: Path) -> None:
    """ts + dur of a system is the very double the next system starts at (viewers add them)."""
    doc = export(record(tmp_path, ticks=20))
    physics = [e for e in by_ph(doc, "X") if e["cat"] == "system" and e["name"] in ("move", "bounce")]
    pairs = [(a, b) for a, b in itertools.pairwise(physics) if a["name"] == "move" and b["name"] == "bounce"]
    assert len(pairs) == 10, "bounce runs every second tick, right after move"
    for a, b in pairs:
        assert a["ts"] + a["dur"] == b["ts"]
    assert all(e["ts"] * GRID == int(e["ts"] * GRID) for e in by_ph(doc, "X"))


def test_one_track_per_synchronized_group_and_per_async_worker(tmp_path: Path) -> None:
    doc = export(record(tmp_path))
    names = thread_names(doc)
    assert names[1] == "tick"
    group_tracks = {e["name"]: e["tid"] for e in by_ph(doc, "X") if e["cat"] == "group"}
    assert names[group_tracks["physics"]] == "group physics"
    assert names[group_tracks["spawn"]] == "group spawn"
    assert len({group_tracks["physics"], group_tracks["spawn"], group_tracks["fragile"]}) == 3
    async_tids = {e["tid"] for e in by_ph(doc, "X") if e["cat"] == "group" and e["name"] == "analysis"}
    assert async_tids and all(names[t].startswith("worker ") for t in async_tids)
    used = {e["tid"] for e in doc["traceEvents"] if e["ph"] != "M"}
    assert used <= set(names), "every track used has a name"
    process = [e for e in by_ph(doc, "M") if e["name"] == "process_name"]
    assert process[0]["args"]["name"] == "ecs world"


def test_timestamps_are_microseconds_from_the_trace_start(tmp_path: Path) -> None:
    clock = ecs.ManualClock(start_ns=5_000_000_000)
    path = tmp_path / "exact.jsonl"
    with scripted_scheduler(clock) as sched:
        clock.advance(ns=1_000)  # the first tick starts 1 us after the scheduler was built
        sched.run_with_trace(path, ticks=3, dt=0.1)
    doc = export(path)
    ticks = [e for e in by_ph(doc, "X") if e["cat"] == "tick"]
    assert [(t["ts"], t["dur"]) for t in ticks] == [(1.0, 6000.0), (6001.0, 3000.0), (9001.0, 6000.0)]
    systems = [(e["name"], e["ts"], e["dur"]) for e in by_ph(doc, "X") if e["cat"] == "system"]
    assert systems[:3] == [("a1", 1.0, 1000.0), ("a2", 1001.0, 2000.0), ("b1", 3001.0, 3000.0)]


def test_counters_follow_entities_and_queue_depths_and_are_written_on_change(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=20)
    data = load_trace(path)
    doc = export(path)
    entities = [e["args"]["entities"] for e in by_ph(doc, "C") if e["name"] == "entities"]
    assert entities == data.counters["entities"][1].astype(int).tolist(), "one spawn per tick: always changes"
    depth = [e for e in by_ph(doc, "C") if e["name"] == "queue depth"]
    assert depth and set(depth[0]["args"]) == {"analysis"}
    series = [e["args"]["analysis"] for e in depth]
    assert all(a != b for a, b in itertools.pairwise(series)), "repeated values are not rewritten"


def test_marks_errors_and_aborted_ticks_become_instant_events(tmp_path: Path) -> None:
    doc = export(record(tmp_path, ticks=10, fail_at=(3, 5)))
    instants = by_ph(doc, "i")
    marks = [e for e in instants if e["cat"] == "mark"]
    assert [(m["name"], m["s"], m["args"]) for m in marks] == [("halfway", "g", {"tick": 10, "score": 7})]
    errors = [e for e in instants if e["cat"] == "error"]
    assert [e["args"]["error"] for e in errors] == ["RuntimeError: boom at tick 3", "RuntimeError: boom at tick 5"]
    fragile_tid = next(e["tid"] for e in by_ph(doc, "X") if e["cat"] == "group" and e["name"] == "fragile")
    assert {e["tid"] for e in errors} == {fragile_tid}
    assert all(e["args"]["group"] == "fragile" and e["args"]["system"] == "fragile" for e in errors)


def test_late_and_still_running_async_runs(tmp_path: Path) -> None:
    sched, gate = gated_scheduler()
    path = tmp_path / "late.jsonl"
    with sched:
        sched.add_observer(TraceRecorder(path))
        sched.tick(0.1)
        gate.release.set()
        assert sched.wait_idle(5.0)
        sched.tick(0.1)
    doc = export(path)
    validate(doc)
    assert by_ph(doc, "i")[0]["name"] == "slow still_running"
    runs = [e for e in by_ph(doc, "X") if e["cat"] == "group"]
    assert [r["args"]["late"] for r in runs][:1] == [True]
    assert all(thread_names(doc)[r["tid"]] == "worker 0" for r in runs)
    assert RESULTS[load_trace(path).groups[0, 4]] == "still_running"


def test_a_file_and_its_loaded_data_export_identically(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=15, fail_at=(2,))
    a, b = io.StringIO(), io.BytesIO()
    ra = export_chrome(path, a)
    rb = export_chrome(load_trace(path), b)
    assert a.getvalue().encode() == b.getvalue()
    assert ra.events == rb.events and ra.ticks == rb.ticks == 15


def test_speedscope_mode_leaves_slice_args_out(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=6, fail_at=(2,))
    buf = io.StringIO()
    export_chrome(path, buf, slice_args=False)
    doc = json.loads(buf.getvalue())
    validate(doc)
    slices = by_ph(doc, "X")
    assert all("args" not in e for e in slices)
    assert {e["name"] for e in slices if e["cat"] == "tick"} == {"tick"}
    assert [e["args"]["error"] for e in by_ph(doc, "i") if e["cat"] == "error"] == ["RuntimeError: boom at tick 2"]
    assert len(slices) == len(by_ph(export(path), "X"))


def test_gzip_output_by_extension(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=5)
    out = tmp_path / "run.json.gz"
    result = export_chrome(path, out)
    doc = json.loads(gzip.decompress(out.read_bytes()))
    assert len(doc["traceEvents"]) == result.events
    export_chrome(path, tmp_path / "run.json")
    assert json.loads((tmp_path / "run.json").read_text()) == doc


class CountingStream(io.RawIOBase):
    """A binary sink that remembers the size of every write."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.sizes.append(len(b))
        self.data += b
        return len(b)


def test_the_export_streams_in_bounded_chunks(tmp_path: Path) -> None:
    clock = ecs.ManualClock()
    path = tmp_path / "long.jsonl.gz"
    with scripted_scheduler(clock) as sched:
        sched.run_with_trace(path, ticks=3000, dt=0.1)
    sink = CountingStream()
    result = export_chrome(path, sink)
    assert result.ticks == 3000 and result.events > 20_000
    assert len(sink.sizes) > 5, "written as it goes, not in one piece at the end"
    largest_event = max(len(line) for line in bytes(sink.data).split(b"\n"))
    assert max(sink.sizes) <= 4096 * (largest_event + 2) + 16
    validate(json.loads(bytes(sink.data)))


def test_a_damaged_source_exports_its_readable_prefix(tmp_path: Path) -> None:
    path = record(tmp_path, ticks=20)
    raw = path.read_bytes()
    cut = raw[: len(raw) * 2 // 3]
    damaged = tmp_path / "cut.jsonl"
    damaged.write_bytes(cut + b"\n{not json\n")
    result = export_chrome(damaged, tmp_path / "out.json")
    assert 0 < result.ticks < 20
    assert result.warnings
    validate(json.loads((tmp_path / "out.json").read_text()))


def test_an_unreadable_source_raises_before_writing_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"type": "tick"}\n')
    out = tmp_path / "never.json"
    with pytest.raises(ecs.TraceFormatError):
        export_chrome(bad, out)
    assert not out.exists()


def test_a_trace_with_only_a_header_exports_only_metadata(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    sched = create_scheduler()
    sched.run_with_trace(path, ticks=0)
    sched.close()
    doc = export(path)
    validate(doc)
    assert {e["ph"] for e in doc["traceEvents"]} == {"M"}
