"""Chrome Trace export: how long a 10k-tick recording takes to convert, and how big the result is.

The recording is real: the scheduler of ``bench_scheduler`` (10 groups x 10 trivial systems,
the worst case for trace size per tick) runs 10k ticks under a :class:`~ecs.trace.TraceRecorder`
writing ``.trace.jsonl.gz``. Then :func:`ecs.trace.export_chrome` converts it to Chrome Trace
Event JSON, plain and gzip. A last run under ``tracemalloc`` reports the peak of Python
allocations during the export, which shows that it streams (one chunk of ticks at a time)
rather than building the whole event list.

No targets: these rows are figures for the docs. Run it alone with
``python -m benchmarks.bench_trace_export [--quick]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from ecs.trace import TraceRecorder, export_chrome

from ._common import make_row
from .bench_scheduler import DT, overhead_scheduler

AREA = "trace export"


def record(path: Path, ticks: int) -> None:
    with overhead_scheduler() as sched:
        sched.add_observer(TraceRecorder(path))
        sched.run(ticks, DT)


def best_export(src: Path, out: Path, repeat: int) -> tuple[float, int]:
    best = float("inf")
    events = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        events = export_chrome(src, out).events
        best = min(best, time.perf_counter() - t0)
    return best, events


def run(quick: bool = False) -> list[dict[str, Any]]:
    ticks = 2_000 if quick else 10_000
    label = f"{ticks // 1000}k ticks x 100 systems"
    with tempfile.TemporaryDirectory(prefix="ecs-bench-export-") as tmp:
        src = Path(tmp) / "run.trace.jsonl.gz"
        record(src, ticks)
        plain = Path(tmp) / "run.chrome.json"
        gz = Path(tmp) / "run.chrome.json.gz"
        t_plain, events = best_export(src, plain, 1 if quick else 3)
        t_gz, _ = best_export(src, gz, 1 if quick else 2)
        tracemalloc.start()
        export_chrome(src, Path(tmp) / "traced.json")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes = {p: os.path.getsize(p) for p in (src, plain, gz)}
    note = f"{events:,} events"
    return [
        make_row(AREA, f"export {label} to .json", t_plain, unit="s", note=note),
        make_row(AREA, f"export {label} to .json.gz", t_gz, unit="s", note=note),
        make_row(AREA, f"export per tick ({label})", t_plain / ticks * 1e6, unit="us", note="plain .json"),
        make_row(AREA, f"trace file ({label}, .jsonl.gz)", sizes[src], unit="bytes"),
        make_row(AREA, f"chrome json ({label})", sizes[plain], unit="bytes"),
        make_row(AREA, f"chrome json.gz ({label})", sizes[gz], unit="bytes"),
        make_row(
            AREA,
            f"peak Python memory during export ({label})",
            peak,
            unit="bytes",
            note=f"vs {sizes[plain]:,} bytes of output: the export streams",
        ),
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['scenario']:55} {row['ours']:>14,.3f} {row['unit']:5} {row['note']}")
