"""Turning trace statistics into tables and JSON: plain functions the commands print.

Tables go through ``rich`` when it is installed and ``plain`` is not asked for, else through
:func:`format_table` (fixed-width text that greps and diffs well).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import IO, Any

from ..trace import GroupStat, SystemStat, TraceData, group_stats, system_stats, tick_stats

__all__ = [
    "diff_rows",
    "format_table",
    "group_rows",
    "print_summary",
    "print_table",
    "summary_dict",
    "summary_text",
    "system_rows",
]

GROUP_HEADERS = (
    "group", "mode", "count", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "skipped", "not run", "errors"
)  # fmt: skip
SYSTEM_HEADERS = ("system", "group", "count", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "skipped", "errors")
DIFF_HEADERS = (
    "group",
    "count A",
    "count B",
    "mean A ms",
    "mean B ms",
    "change",
    "p95 A ms",
    "p95 B ms",
    "errors A",
    "errors B",
)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A plain-text table: the first ``left`` (text) columns left-aligned, the numbers right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], out: IO[str], plain: bool, left: int = 1
) -> None:
    """Print a table with rich when available (and not ``plain``), else as plain text."""
    if not plain:
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # pragma: no cover - rich is in the dev environment
            pass
        else:
            table = Table(title=title, title_justify="left")
            for i, h in enumerate(headers):
                table.add_column(h, justify="left" if i < left else "right", no_wrap=i < left)
            for r in rows:
                table.add_row(*r)
            Console(file=out, width=max(120, _width(out)), highlight=False).print(table)
            return
    print(title, file=out)
    print(format_table(headers, rows, left), file=out)


def _width(out: IO[str]) -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns if out.isatty() else 160


def group_rows(stats: Sequence[GroupStat]) -> list[list[str]]:
    return [
        [
            g.name,
            g.mode,
            str(g.count),
            _ms(g.mean_ms),
            _ms(g.p50_ms),
            _ms(g.p95_ms),
            _ms(g.p99_ms),
            _ms(g.max_ms),
            str(g.skipped),
            str(g.not_run),
            str(g.errors),
        ]
        for g in stats
    ]


def system_rows(stats: Sequence[SystemStat]) -> list[list[str]]:
    return [
        [
            s.name,
            s.group,
            str(s.count),
            _ms(s.mean_ms),
            _ms(s.p50_ms),
            _ms(s.p95_ms),
            _ms(s.p99_ms),
            _ms(s.max_ms),
            str(s.skipped),
            str(s.errors),
        ]
        for s in stats
    ]


def _version(data: TraceData) -> str:
    v = data.header.get("version")
    return ".".join(str(x) for x in v[:2]) if isinstance(v, list) else "?"


def summary_text(data: TraceData, name: str) -> str:
    """The lines above the tables: what the trace is, and its tick durations."""
    t = tick_stats(data)
    state = "complete" if data.complete else "cut short (no end record)"
    lines = [
        f"trace {name}: world {data.header.get('world', '?')!r}, schema {_version(data)}, {state}",
        (
            f"ticks {t.ticks} ({t.first_tick}..{t.last_tick}), span {t.span_ms / 1000:.3f} s, "
            f"errors {t.errors}, aborted {t.aborted}, marks {t.marks}"
        ),
        (
            f"tick ms: mean {_ms(t.mean_ms)}  p50 {_ms(t.p50_ms)}  p95 {_ms(t.p95_ms)}  p99 {_ms(t.p99_ms)}  "
            f"max {_ms(t.max_ms)}"
        ),
    ]
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def summary_dict(data: TraceData, name: str) -> dict[str, Any]:
    """Everything ``summary --json`` prints."""
    return {
        "file": name,
        "world": data.header.get("world"),
        "version": data.header.get("version"),
        "ticks": _clean(dataclasses.asdict(tick_stats(data))),
        "groups": [_clean(dataclasses.asdict(g)) for g in group_stats(data)],
        "systems": [_clean(dataclasses.asdict(s)) for s in system_stats(data)],
        "warnings": list(data.warnings),
    }


def _change(a: float, b: float) -> str:
    if a == 0.0:
        return "n/a" if b == 0.0 else "new"
    return f"{(b - a) / a * 100:+.1f}%"


def diff_rows(a: Sequence[GroupStat], b: Sequence[GroupStat]) -> list[list[str]]:
    """One row per group name found in either capture (A's order first)."""
    by_a = {g.name: g for g in a}
    by_b = {g.name: g for g in b}
    names = list(by_a) + [n for n in by_b if n not in by_a]
    rows: list[list[str]] = []
    for n in names:
        ga, gb = by_a.get(n), by_b.get(n)
        rows.append(
            [
                n,
                str(ga.count) if ga else "-",
                str(gb.count) if gb else "-",
                _ms(ga.mean_ms) if ga else "-",
                _ms(gb.mean_ms) if gb else "-",
                _change(ga.mean_ms, gb.mean_ms) if ga and gb else ("removed" if ga else "added"),
                _ms(ga.p95_ms) if ga else "-",
                _ms(gb.p95_ms) if gb else "-",
                str(ga.errors) if ga else "-",
                str(gb.errors) if gb else "-",
            ]
        )
    return rows


def print_summary(data: TraceData, name: str, out: IO[str], *, plain: bool) -> None:
    """The text ``ecs-trace summary`` prints: the overview, then group and system tables."""
    print(summary_text(data, name), file=out)
    print_table("groups", GROUP_HEADERS, group_rows(group_stats(data)), out, plain, left=2)
    print_table("systems", SYSTEM_HEADERS, system_rows(system_stats(data)), out, plain, left=2)
