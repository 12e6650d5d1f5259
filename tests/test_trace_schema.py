"""The trace event schema: what the Encoder writes, line by line, and that it decodes back."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ecs
from ecs.trace import (
    ERROR_FIELDS,
    GROUP_FIELDS,
    PHASE_FIELDS,
    PHASES,
    RESULTS,
    SCHEMA,
    SYSTEM_RESULTS,
    VERSION,
    Encoder,
    TraceBuilder,
)
from ecs.trace._schema import SYSTEM_RESULT_FIELDS, SYSTEMS_LAYOUT

from ._factories import create_scheduler, scripted_scheduler


class Lines(ecs.SchedulerObserver):
    """Encodes every tick as the recorder does, keeping the dicts (JSON round-tripped)."""

    def __init__(self) -> None:
        self.encoder: Encoder | None = None
        self.header: dict[str, Any] = {}
        self.ticks: list[dict[str, Any]] = []
        self.summaries: list[ecs.TickSummary] = []

    def on_start(self, info: ecs.SchedulerInfo) -> None:
        self.encoder = Encoder(info)
        self.header = json.loads(json.dumps(self.encoder.header()))

    def on_tick(self, summary: ecs.TickSummary) -> None:
        assert self.encoder is not None
        self.summaries.append(summary)
        self.ticks.append(json.loads(json.dumps(self.encoder.tick(summary))))


def encode(sched: ecs.Scheduler, ticks: int) -> Lines:
    lines = Lines()
    sched.add_observer(lines)
    with sched:
        sched.run(ticks, 0.1)
    return lines


def test_the_header_names_the_schema_and_every_table() -> None:
    h = encode(create_scheduler(workers=2), 0).header
    assert h["type"] == "header" and h["schema"] == SCHEMA == "ecs-trace"
    assert h["version"] == list(VERSION) and VERSION[0] == 1
    assert h["units"] == "ns" and h["clock"] == "MonotonicClock" and h["workers"] == 2
    assert [g["name"] for g in h["groups"]] == ["physics", "analysis", "spawn", "fragile"]
    physics = h["groups"][0]
    assert physics["mode"] == "sync" and physics["systems"] == ["move", "bounce"]
    assert physics["writes"] == ["Pos", "Vel"] and physics["reads"] == ["Pos", "Vel"]
    assert h["groups"][1]["mode"] == "async"
    assert [s["name"] for s in h["systems"]] == ["move", "bounce", "analyse", "spawner", "fragile"]
    assert h["systems"][1]["interval"] == "2 ticks"
    assert {c["name"] for c in h["components"]} == {"Pos", "Vel", "Heat"}
    assert h["components"][0]["fields"] == [["xy", "float32", [2]]]
    assert h["results"] == list(RESULTS) and h["system_results"] == list(SYSTEM_RESULTS)
    assert h["phases"] == list(PHASES)
    assert h["fields"] == {
        "group": list(GROUP_FIELDS),
        "systems": list(SYSTEMS_LAYOUT),
        "system_result": list(SYSTEM_RESULT_FIELDS),
        "phase": list(PHASE_FIELDS),
        "error": list(ERROR_FIELDS),
    }


def test_systems_of_a_group_are_listed_together_in_header_order() -> None:
    """The compact system records rely on it: a group's systems have consecutive indices."""
    h = encode(create_scheduler(), 0).header
    names = [s["name"] for s in h["systems"]]
    for g in h["groups"]:
        first = names.index(g["systems"][0])
        assert names[first : first + len(g["systems"])] == g["systems"]


def test_a_tick_line_holds_positional_records_in_the_documented_order() -> None:
    clock = ecs.ManualClock(start_ns=1_000)
    lines = encode(scripted_scheduler(clock), 2)
    t0, t1 = lines.ticks
    assert set(t0) >= {"type", "tick", "start", "end", "dt", "entities", "flags", "groups", "systems", "phases"}
    assert (t0["tick"], t0["start"], t0["end"], t0["dt"], t0["flags"]) == (0, 1_000, 6_001_000, 0.1, 0)
    a, b = t0["groups"]
    assert len(a) == len(GROUP_FIELDS)
    g = dict(zip(GROUP_FIELDS, a, strict=True))
    assert g == {
        "group": 0,
        "tick": 0,
        "start": 1_000,
        "end": 3_001_000,
        "result": RESULTS.index("executed"),
        "entities": 0,
        "commands": 0,
        "queue_wait": 0,
        "run": 3_000_000,
        "queue_depth": 0,
        "worker": -1,
        "flags": 0,
    }
    gb = dict(zip(GROUP_FIELDS, b, strict=True))
    assert (gb["group"], gb["start"], gb["end"], gb["run"]) == (1, 3_001_000, 6_001_000, 3_000_000)
    # compact system records: [group_pos, first_system, t0, t1, ..., tn]
    assert t0["systems"] == [[0, 0, 1_000, 1_001_000, 3_001_000], [1, 2, 3_001_000, 6_001_000]]
    assert t0["system_results"] == []
    # tick 1: group b is skipped by its interval and reports no systems at all
    assert [RESULTS[r[4]] for r in t1["groups"]] == ["executed", "skipped_interval"]
    assert t1["systems"] == [[0, 0, 6_001_000, 7_001_000, 9_001_000]]
    assert t0["counters"] == {"entities": 0}
    apply, flush = PHASES.index("apply"), PHASES.index("flush")
    assert t0["phases"] == [[apply, 1_000, 1_000, 0, 0, 0, 0], [flush, 6_001_000, 6_001_000, 0, 0, 0, 0]]


def test_errors_and_non_executed_systems_are_listed_separately() -> None:
    lines = encode(create_scheduler(fail_at=(1,), with_async=False), 3)
    t1 = lines.ticks[1]
    fragile_pos = next(i for i, g in enumerate(t1["groups"]) if lines.header["groups"][g[0]]["name"] == "fragile")
    assert t1["errors"] == [[fragile_pos, 0, "RuntimeError: boom at tick 1"]]
    assert [fragile_pos, 0, SYSTEM_RESULTS.index("errored"), 0] in t1["system_results"]
    assert t1["groups"][fragile_pos][4] == RESULTS.index("errored")
    # "bounce" (interval 2 ticks) is skipped on odd ticks: a result record, k = 1 in group physics
    assert [0, 1, SYSTEM_RESULTS.index("skipped_interval"), 0] in t1["system_results"]
    assert lines.ticks[0]["system_results"] == [] and lines.ticks[0]["errors"] == []


def test_counters_carry_entities_and_async_queue_depths() -> None:
    lines = encode(create_scheduler(), 2)
    for line, summary in zip(lines.ticks, lines.summaries, strict=True):
        assert line["counters"]["entities"] == summary.entities == line["entities"]
        assert line["counters"]["queue_depth/analysis"] == summary.queue_depths["analysis"]
    assert lines.ticks[0]["in_flight"] == []


def test_extra_counters_are_merged_into_the_tick_line() -> None:
    sched = create_scheduler(with_async=False)
    enc = Encoder(sched.info)
    lines = Lines()
    sched.add_observer(lines)
    sched.tick(0.1)
    line = enc.tick(lines.summaries[0], counters={"fps": 59.5})
    assert line["counters"] == {"entities": lines.summaries[0].entities, "fps": 59.5}
    sched.close()


def test_hand_built_summaries_take_the_generic_path_and_decode_the_same() -> None:
    """Summaries with plain SystemTiming tuples (tests, other producers) encode one record per system."""
    sched = create_scheduler(with_async=False)
    enc = Encoder(sched.info)
    timings = (
        ecs.SystemTiming("move", 10, 20, "executed"),
        ecs.SystemTiming("bounce", 20, 35, "errored", "ValueError: x", True),
    )
    group = ecs.GroupSummary(0, "physics", "sync", 5, 40, ecs.GroupResult.ERRORED, timings, error="ValueError: x")
    tick = ecs.TickSummary(0, 0, 50, 0.1, 3, (group,), ())
    line = json.loads(json.dumps(enc.tick(tick)))
    assert line["systems"] == [[0, 0, 10, 20], [0, 1, 20, 35]]
    assert line["errors"] == [[0, 1, "ValueError: x"]]
    builder = TraceBuilder(json.loads(json.dumps(enc.header())))
    assert builder.add(line)
    data = builder.build()
    assert data.systems.tolist() == [[0, 0, 10, 20, 0, 0], [0, 1, 20, 35, SYSTEM_RESULTS.index("errored"), 1]]
    assert data.errors == [(0, 1, "ValueError: x")]
    sched.close()


def test_a_group_level_error_without_a_system_has_k_minus_one() -> None:
    sched = create_scheduler(with_async=False)
    enc = Encoder(sched.info)
    group = ecs.GroupSummary(0, "spawn", "sync", 5, 40, ecs.GroupResult.ERRORED, (), error="worker failure: boom")
    line = enc.tick(ecs.TickSummary(0, 0, 50, 0.1, 3, (group,), ()))
    assert line["errors"] == [[0, -1, "worker failure: boom"]]
    sched.close()


def test_aborted_ticks_are_flagged() -> None:
    sched = create_scheduler(with_async=False)
    enc = Encoder(sched.info)
    line = enc.tick(ecs.TickSummary(3, 0, 50, 0.1, 3, (), (), aborted=True))
    assert line["flags"] == 1
    sched.close()


def test_mark_and_end_lines() -> None:
    assert Encoder.mark(4, "boss", 99, {"hp": 10}) == {
        "type": "mark",
        "tick": 4,
        "t": 99,
        "name": "boss",
        "data": {"hp": 10},
    }
    assert Encoder.end(12, dropped=3) == {"type": "end", "ticks": 12, "dropped": 3}


@pytest.mark.parametrize("phase", ["apply", "flush", "maintenance"])
def test_phases_are_coded_by_the_header_table(phase: str) -> None:
    lines = encode(create_scheduler(with_async=False), 1)
    codes = [p[0] for p in lines.ticks[0]["phases"]]
    assert PHASES.index(phase) in codes
