"""Hand-written trace events with exact times, for tests that need to know every number.

Records are built from the schema's field names (``GROUP_FIELDS`` ...), never from positions
typed by hand, so the tests follow the schema if a minor version appends fields.
"""

from __future__ import annotations

from typing import Any

from ecs.trace import GROUP_FIELDS, PHASE_FIELDS, PHASES, RESULTS, SCHEMA, VERSION, TraceBuilder, TraceData

MS = 1_000_000


def header(groups: list[dict[str, Any]], components: tuple[str, ...] = ("P", "V", "H")) -> dict[str, Any]:
    """A header with ``groups`` (name, mode, reads, writes, systems, queue_limit) and their systems."""
    systems = []
    full = []
    for g in groups:
        names = g.get("systems", [f"{g['name']}.s"])
        full.append(
            {
                "name": g["name"],
                "mode": g.get("mode", "sync"),
                "systems": names,
                "reads": g.get("reads", []),
                "writes": g.get("writes", []),
                "queue_limit": g.get("queue_limit", 4),
            }
        )
        for s in names:
            systems.append({"name": s, "group": g["name"], "reads": g.get("reads", []), "writes": g.get("writes", [])})
    return {
        "type": "header",
        "schema": SCHEMA,
        "version": list(VERSION),
        "groups": full,
        "systems": systems,
        "components": [{"name": c, "storage": "archetype", "fields": []} for c in components],
    }


def group(gi: int, tick: int, start: float, end: float, **kw: Any) -> list[int]:
    """A group record; times in ms; ``result`` by name; other fields by schema name."""
    values = {
        "group": gi,
        "tick": tick,
        "start": round(start * MS),
        "end": round(end * MS),
        "result": RESULTS.index(kw.pop("result", "executed")),
        "entities": 0,
        "commands": 0,
        "queue_wait": 0,
        "run": round((end - start) * MS),
        "queue_depth": 0,
        "worker": -1,
        "flags": 0,
    }
    for k, v in kw.items():
        values[k] = round(v * MS) if k in ("queue_wait", "run") else v
    return [values[f] for f in GROUP_FIELDS]


def phase(name: str, start: float, end: float) -> list[int]:
    values = {"phase": PHASES.index(name), "start": round(start * MS), "end": round(end * MS)}
    return [values.get(f, 0) for f in PHASE_FIELDS]


def tick(
    n: int,
    start: float,
    end: float,
    groups: list[list[int]],
    systems: list[list[int]] | None = None,
    phases: list[list[int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A tick line; ``systems`` are compact records ``[group_pos, first_system, t0_ns, t1_ns, ...]``."""
    return {
        "type": "tick",
        "tick": n,
        "start": round(start * MS),
        "end": round(end * MS),
        "dt": 1 / 60,
        "entities": 0,
        "groups": groups,
        "systems": systems or [],
        "phases": phases or [],
        **extra,
    }


def build(head: dict[str, Any], events: list[dict[str, Any]]) -> TraceData:
    builder = TraceBuilder(head)
    for ev in events:
        builder.add(ev)
    builder.add({"type": "end"})
    return builder.build()
