"""Reading traces: cut short, garbage, wrong shapes, versions, incremental building, tails."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecs
import ecs.trace
from ecs.trace import GROUP_FIELDS, TraceBuilder, TraceData, TraceReader, TraceRecorder, data_tail, load_trace

from ._examples import examples
from ._factories import create_scheduler, scripted_scheduler

TICKS = 6


def plain_trace() -> bytes:
    """A small complete trace with errors, marks and an async group (plain NDJSON bytes)."""
    buf = io.BytesIO()
    sched = create_scheduler(seed=3, fail_at=(2,))
    sched.add_observer(TraceRecorder(buf))
    sched.run(3, 0.1)
    sched.mark("middle", n=1)
    sched.run(TICKS - 3, 0.1)
    sched.close()
    return buf.getvalue()


PLAIN = plain_trace()
LINES = PLAIN.splitlines(keepends=True)


def gzip_trace() -> bytes:
    """The same kind of trace, gzip-compressed with a sync flush after every line (as a crash sees it)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    out = bytearray()
    for line in LINES:
        out += comp.compress(line) + comp.flush(zlib.Z_SYNC_FLUSH)
    out += comp.flush()
    return bytes(out)


GZ = gzip_trace()


def complete_ticks_before(cut: int) -> int:
    """How many tick lines are whole (closing brace included) in ``PLAIN[:cut]``."""
    n, pos = 0, 0
    for line in LINES:
        body_end = pos + len(line.rstrip(b"\n"))
        if body_end <= cut and line.startswith(b'{"type":"tick"'):
            n += 1
        pos += len(line)
    return n


def load(raw: bytes) -> TraceData:
    return load_trace(io.BytesIO(raw))


def test_the_fixture_trace_is_complete_and_clean() -> None:
    data = load(PLAIN)
    assert len(data) == TICKS and data.complete and data.warnings == []
    assert load(GZ).groups.tolist() == data.groups.tolist()


# -- cut short -------------------------------------------------------------------------------------------
def check_plain_cut(cut: int) -> None:
    header_end = len(LINES[0].rstrip(b"\n"))
    raw = PLAIN[:cut]
    if cut < header_end:
        with pytest.raises(ecs.TraceFormatError, match="no ecs-trace header"):
            load(raw)
        return
    data = load(raw)
    assert len(data) == complete_ticks_before(cut)
    assert data.tick.tolist() == list(range(len(data)))
    if cut < len(PLAIN) - 1:
        assert not data.complete
        assert any("cut short" in w for w in data.warnings)
    else:
        assert data.complete


def test_a_plain_trace_cut_at_every_line_boundary_loads_its_prefix() -> None:
    pos = 0
    for line in LINES:
        for cut in (pos, pos + 1, pos + len(line) - 1):
            check_plain_cut(cut)
        pos += len(line)
    check_plain_cut(len(PLAIN))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(PLAIN)))
def test_a_plain_trace_cut_anywhere_loads_its_prefix(cut: int) -> None:
    check_plain_cut(cut)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(GZ)))
def test_a_gzip_trace_cut_anywhere_loads_a_prefix_or_reports_no_header(cut: int) -> None:
    raw = GZ[:cut]
    try:
        data = load(raw)
    except ecs.TraceFormatError as exc:
        assert "no ecs-trace header" in str(exc)
        return
    assert data.tick.tolist() == list(range(len(data)))
    assert len(data) <= TICKS
    if cut == len(GZ):
        assert data.complete and len(data) == TICKS and data.warnings == []
    if not data.complete:
        assert data.warnings


def test_a_gzip_trace_keeps_every_tick_flushed_before_the_cut() -> None:
    # Sync-flushed per line: cutting right after a flush point loses nothing before it.
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = bytearray()
    for i, line in enumerate(LINES):
        out += comp.compress(line) + comp.flush(zlib.Z_SYNC_FLUSH)
        data = load(bytes(out))
        assert len(data) == sum(1 for x in LINES[: i + 1] if x.startswith(b'{"type":"tick"'))


def test_corrupt_gzip_bytes_keep_what_came_before_with_warnings() -> None:
    buf = io.BytesIO()
    sched = create_scheduler(seed=3, with_async=False)
    sched.add_observer(TraceRecorder(buf))
    sched.run(300, 0.1)
    sched.close()
    gz = gzip.compress(buf.getvalue())
    mid = int(len(gz) * 0.6)
    data = load(gz[:mid] + bytes(b ^ 0x5A for b in gz[mid : mid + 64]) + gz[mid + 64 :])
    assert 0 < len(data) < 300
    assert data.tick.tolist() == list(range(len(data)))
    assert data.warnings and not data.complete


def test_an_empty_file_and_a_missing_header_are_the_only_fatal_cases(tmp_path: Path) -> None:
    with pytest.raises(ecs.TraceFormatError, match="empty or unreadable"):
        load(b"")
    with pytest.raises(ecs.TraceFormatError, match="not an ecs-trace file"):
        load(LINES[1])  # a tick line first
    with pytest.raises(ecs.TraceFormatError, match="empty or unreadable"):
        load(gzip.compress(b"")[:5])


def test_loading_a_gzip_path_closes_the_file(tmp_path: Path) -> None:
    """filterwarnings=error turns an unclosed file (ResourceWarning) into a failure."""
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(GZ)
    assert len(load_trace(path)) == TICKS
    import gc

    gc.collect()


def test_a_path_with_a_bad_header_is_closed_too(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(LINES[1])
    with pytest.raises(ecs.TraceFormatError):
        load_trace(path)
    import gc

    gc.collect()


# -- garbage and wrong shapes ------------------------------------------------------------------------------
def tick_line(**over: Any) -> bytes:
    ev = json.loads(LINES[1])
    ev.update(over)
    return json.dumps(ev).encode() + b"\n"


def test_garbage_lines_are_skipped_with_warnings() -> None:
    raw = (
        LINES[0]
        + b"garbage\n"
        + b"[1, 2, 3]\n"
        + b'"just a string"\n'
        + b'{"no_type": 1}\n'
        + b'{"type": 7}\n'
        + b"\xff\xfe\n"
        + b"\n"
        + LINES[1]
        + LINES[-1]
    )
    data = load(raw)
    assert len(data) == 1 and data.complete
    assert len(data.warnings) == 6
    assert sum("not valid JSON" in w for w in data.warnings) == 2
    assert sum("not an event object" in w for w in data.warnings) == 4


def test_records_of_the_wrong_shape_are_skipped_with_warnings() -> None:
    bad = [
        tick_line(tick="seven"),
        tick_line(start=None),
        tick_line(groups="not a list"),
        tick_line(groups=[[1, 2, 3]]),  # too short
        tick_line(groups=[[99] + [0] * (len(GROUP_FIELDS) - 1)]),  # unknown group
        tick_line(systems=[[0]]),  # a system record with no times
        tick_line(systems=[[0, 999, 1, 2]]),  # unknown system
        tick_line(systems=[[5, 0, 1, 2]]),  # a group position that does not exist
        tick_line(phases=[["apply"]]),
    ]
    data = load(LINES[0] + b"".join(bad) + LINES[2] + LINES[-1])
    assert len(data) == 1
    assert len(data.warnings) == len(bad)


def test_malformed_errors_results_and_counters_are_ignored_not_fatal() -> None:
    line = tick_line(
        errors=[["x"], [0, "k", 5], [99, 0, "out of range"]],
        system_results=[[0], ["a", 1, 2, 3]],
        counters={"ok": 1.5, "bad": "high", "flag": True},
    )
    data = load(LINES[0] + line + LINES[-1])
    assert len(data) == 1
    assert data.counters["ok"][1].tolist() == [1.5]
    assert "bad" not in data.counters and "flag" not in data.counters
    assert all(0 <= g < len(data.groups) for g, _, _ in data.errors)


def test_oversized_lines_are_skipped() -> None:
    huge = b'{"type":"tick","junk":"' + b"x" * 5000 + b'"}\n'
    raw = LINES[0] + huge + LINES[1] + LINES[-1]
    with TraceReader(io.BytesIO(raw), max_line=len(LINES[0]) + 100) as reader:
        builder = TraceBuilder(reader.header)
        for ev in reader:
            builder.add(ev)
        warnings = reader.warnings
    assert len(builder) == 1
    assert any("longer than" in w for w in warnings)


def test_warnings_are_capped() -> None:
    raw = LINES[0] + b"garbage\n" * 500 + LINES[-1]
    data = load(raw)
    assert 100 <= len(data.warnings) <= 102


# -- versions ----------------------------------------------------------------------------------------------
def header(**over: Any) -> bytes:
    h = json.loads(LINES[0])
    h.update(over)
    return json.dumps(h).encode() + b"\n"


def test_a_newer_major_version_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ecs.TraceFormatError) as info:
        load(header(version=[2, 0]) + LINES[1])
    msg = str(info.value)
    mine = f"({ecs.trace.VERSION[0]}.{ecs.trace.VERSION[1]})"
    assert "2.0" in msg and "newer than this reader" in msg and mine in msg and "upgrade" in msg


@pytest.mark.parametrize("version", [None, "1.0", [1], ["1", "0"]])
def test_a_header_without_a_valid_version_is_refused(version: Any) -> None:
    with pytest.raises(ecs.TraceFormatError, match="no valid version"):
        load(header(version=version))


def test_a_header_without_its_tables_is_refused() -> None:
    with pytest.raises(ecs.TraceFormatError, match="'systems' table"):
        load(header(systems=None))


def test_a_newer_minor_version_with_extra_fields_loads() -> None:
    """Minor versions only add: object fields, trailing record fields, new line types."""
    h = header(version=[1, 5], gpu={"vendor": "mesa"})
    ev = json.loads(LINES[1])
    ev["frame_id"] = 12
    ev["groups"] = [[*g, 777] for g in ev["groups"]]
    ev["phases"] = [[*p, 5] for p in ev["phases"]]
    extra = json.dumps({"type": "gpu_sample", "t": 5, "ms": 1.5}).encode() + b"\n"
    data = load(h + json.dumps(ev).encode() + b"\n" + extra + LINES[-1])
    assert len(data) == 1 and data.warnings == [] and data.complete
    assert data.groups.shape[1] == len(GROUP_FIELDS)
    assert data.header["gpu"] == {"vendor": "mesa"}
    reference = load(LINES[0] + LINES[1] + LINES[-1])
    assert data.groups.tolist() == reference.groups.tolist()
    with TraceReader(io.BytesIO(h + extra)) as reader:
        assert [e["type"] for e in reader] == ["gpu_sample"], "unknown line types pass through the reader"


# -- TraceBuilder and data_tail ----------------------------------------------------------------------------
def test_trace_builder_accumulates_incrementally() -> None:
    with TraceReader(io.BytesIO(PLAIN)) as reader:
        events = list(reader)
        builder = TraceBuilder(reader.header)
    seen = 0
    snapshots = []
    for ev in events:
        added = builder.add(ev)
        seen += added
        assert added == (ev["type"] == "tick")
        assert len(builder) == seen
        snapshots.append(builder.build())
    assert builder.complete
    full = builder.build()
    ref = load(PLAIN)
    assert full.groups.tolist() == ref.groups.tolist()
    assert full.systems.tolist() == ref.systems.tolist()
    assert full.errors == ref.errors and full.marks == ref.marks
    first = snapshots[0]
    assert len(first) == 1, "an earlier build is a snapshot; the builder kept accumulating"
    assert first.groups.shape[0] < full.groups.shape[0]
    assert builder.add({"type": "something-new"}) is False


def test_data_tail_equals_a_trace_holding_only_the_last_ticks() -> None:
    full = load(PLAIN)
    for n in range(1, TICKS + 1):
        tail = data_tail(full, n)
        head = LINES[0]
        tick_lines = [x for x in LINES if x.startswith(b'{"type":"tick"')]
        rest = [x for x in LINES[1:] if not x.startswith(b'{"type":"tick"') and b'"type":"mark"' not in x]
        marks = [x for x in LINES if b'"type":"mark"' in x and json.loads(x)["tick"] >= TICKS - n]
        ref = load(head + b"".join(tick_lines[-n:]) + b"".join(marks) + b"".join(rest))
        assert len(tail) == n
        assert tail.tick.tolist() == ref.tick.tolist()
        assert tail.groups.tolist() == ref.groups.tolist()
        assert tail.group_tick_row.tolist() == ref.group_tick_row.tolist()
        assert tail.systems.tolist() == ref.systems.tolist()
        assert tail.phase_tick_row.tolist() == ref.phase_tick_row.tolist()
        assert tail.errors == ref.errors
        assert [m["name"] for m in tail.marks] == [m["name"] for m in ref.marks]
        for k, (rows, vals) in tail.counters.items():
            assert rows.tolist() == ref.counters[k][0].tolist()
            assert vals.tolist() == ref.counters[k][1].tolist()


def test_load_trace_max_ticks_keeps_the_last_ticks() -> None:
    data = load_trace(io.BytesIO(PLAIN), max_ticks=2)
    assert data.tick.tolist() == [TICKS - 2, TICKS - 1]


def test_data_tail_asking_for_more_ticks_than_there_are_returns_everything_unchanged() -> None:
    full = load(PLAIN)
    tail = data_tail(full, TICKS + 10)
    assert tail.group_tick_row.tolist() == full.group_tick_row.tolist()
    assert tail.phase_tick_row.tolist() == full.phase_tick_row.tolist()


def test_data_tail_of_zero_ticks_is_empty() -> None:
    tail = data_tail(load(PLAIN), 0)
    assert len(tail) == 0 and tail.groups.shape[0] == 0 and tail.systems.shape[0] == 0


def test_column_names_a_group_column() -> None:
    clock = ecs.ManualClock()
    buf = io.BytesIO()
    with scripted_scheduler(clock) as sched:
        sched.add_observer(TraceRecorder(buf))
        sched.run(2, 0.1)
    data = load(buf.getvalue())
    assert np.array_equal(data.column("run"), data.groups[:, GROUP_FIELDS.index("run")])
    assert data.tick_durations_ms().tolist() == [6.0, 3.0]


# -- the bulk paths give what the careful per-line path gives ----------------------------------------------
def long_damaged_trace(*, unsorted: bool = True) -> bytes:
    """600 ticks (several bulk chunks) with every kind of damage the loaders skip or tolerate,
    cut mid-line at the end; ``unsorted`` adds a tick with its system records out of group order."""
    ticks = [json.loads(line) for line in LINES if line.startswith(b'{"type":"tick"')]
    damage: list[dict[str, Any]] = [
        {"tick": "seven"},
        {"start": None},
        {"entities": "5"},  # int() accepts it: kept
        {"entities": 2.5},
        {"dt": "0.1"},
        {"dt": None},
        {"flags": True},
        {"groups": "not a list"},
        {"groups": [[1, 2, 3]]},
        {"groups": None},
        {"systems": [[0]]},
        {"systems": [[0, 999, 1, 2]]},
        {"systems": [[1, 3, 5, 6], [0, 0, 1, 2, 3]] if unsorted else [[0, 0, 1, 2, 3], [1, 3, 5, 6]]},
        {"phases": [["apply"]]},
        {"counters": {"ok": 1.5, "bad": "high", "flag": True}},
        {"counters": {"flag": True, "ok": 2}},
        {"counters": [1, 2]},
        {"system_results": [[0, 1, 2, 0], [0], ["a", 1, 2, 3], [0, 0, 2**70, 0], [1, 5, 1, 0]]},
        {"errors": [["x"], [0, "k", 5], [99, 0, "out of range"], [0, 1, "ValueError: two"], [1, 2**70, "far"]]},
        {"tick": 2**70},
        {"entities": 2**64},
        {"frame_id": 12},  # a field from a newer minor version
    ]
    out = [LINES[0]]
    for i in range(600):
        ev = dict(ticks[i % len(ticks)], tick=i)
        if i % 23 == 5:
            ev.update(damage[(i // 23) % len(damage)])
        if i % 97 == 50:
            out += [b"garbage\n", b"\n", b"[1, 2]\n", b'{"type":"mark","label":"m","tick":3}\n', b'{"type":"gpu"}\n']
        out.append(json.dumps(ev).encode() + b"\n")
    out.append(LINES[-1])
    raw = b"".join(out)
    return raw[: len(raw) - len(LINES[-1]) - 40]  # cut inside the last tick line


def assert_same_data(a: TraceData, b: TraceData, *, warnings_in_order: bool = True) -> None:
    for name in (
        "tick",
        "tick_start",
        "tick_end",
        "tick_dt",
        "tick_entities",
        "tick_flags",
        "groups",
        "group_tick_row",
        "systems",
        "phases",
        "phase_tick_row",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.counters.keys() == b.counters.keys()
    for name, (rows, values) in a.counters.items():
        assert np.array_equal(rows, b.counters[name][0]) and np.array_equal(values, b.counters[name][1]), name
    assert (a.errors, a.marks, a.complete) == (b.errors, b.marks, b.complete)
    assert a.warnings == b.warnings if warnings_in_order else sorted(a.warnings) == sorted(b.warnings)


@pytest.mark.parametrize("unsorted", [False, True], ids=["sorted", "records-out-of-group-order"])
def test_bulk_decoding_and_conversion_give_what_the_per_line_path_gives(
    monkeypatch: pytest.MonkeyPatch, unsorted: bool
) -> None:
    raw = long_damaged_trace(unsorted=unsorted)
    fast = load(raw)
    assert 400 < len(fast) < 600 and not fast.complete
    assert any("not valid JSON" in w for w in fast.warnings) and any("malformed" in w for w in fast.warnings)
    assert any(s >= 0 for _, s, _ in fast.errors) and fast.systems[:, 4].any()
    # every line decoded alone, every tick converted alone, results and errors matched to
    # system rows by one search over the whole column at the end (not chunk by chunk)
    monkeypatch.setattr(TraceReader, "_decode_batch", staticmethod(lambda lines: None))
    monkeypatch.setattr(TraceBuilder, "_add_bulk", lambda self, evs: False)
    monkeypatch.setattr(TraceBuilder, "_match_chunk", lambda self, *args: setattr(self, "_sorted", False))
    careful = load(raw)
    assert_same_data(fast, careful)


def test_a_builder_fed_in_any_batches_with_builds_in_between_gives_the_same_columns() -> None:
    raw = long_damaged_trace()
    whole = load(raw)
    for batch in (1, 5, 300):
        with TraceReader(io.BytesIO(raw)) as reader:
            builder = TraceBuilder(reader.header)
            snapshots = []
            while not reader.exhausted:
                builder.add_events(reader.read_events(batch))
                snapshots.append(builder.build([]))
            data = builder.build()
            data.warnings[:0] = reader.warnings
        data.warnings.append(whole.warnings[-1])  # the loader's "no end record"
        # (a build converts the ticks queued so far: the tick warnings come in another order)
        assert_same_data(whole, data, warnings_in_order=False)
        # an earlier build is unchanged by what came after it
        early = snapshots[len(snapshots) // 3]
        assert np.array_equal(early.groups, whole.groups[: len(early.groups)])
        assert np.array_equal(early.systems[:, :4], whole.systems[: len(early.systems), :4])


@pytest.mark.parametrize("estimate", [0.7, 1.0, 3.0], ids=["too-low", "right", "too-high"])
def test_columns_reserved_ahead_hold_the_same_data(estimate: float) -> None:
    """reserve() sizes the columns from an estimate and maps their memory on another thread,
    ahead of the writer; whatever the estimate, the columns are those of a builder without it."""
    raw = long_damaged_trace(unsorted=False)
    whole = load(raw)
    with TraceReader(io.BytesIO(raw)) as reader:
        builder = TraceBuilder(reader.header)
        reserved = False
        while not reader.exhausted:
            builder.add_events(reader.read_events(50))
            if not reserved and len(builder) >= 300:  # after a first chunk is converted
                builder.reserve(int(len(whole) * estimate))
                reserved = True
        data = builder.build()
        data.warnings[:0] = reader.warnings
    data.warnings.append(whole.warnings[-1])
    assert_same_data(whole, data)
