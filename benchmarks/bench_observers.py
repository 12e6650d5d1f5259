"""Observer benchmarks: what watching a scheduler costs on the overhead benchmark.

The tick of ``bench_scheduler`` (10 groups x 10 trivial systems, nothing else to do) is the
worst case for observation: every cost of building summaries shows, none hides behind real
work. Three configurations, measured back to back in this process:

* no observer: the scheduler builds no summaries at all;
* a no-op observer (overrides nothing): the scheduler calls only overridden methods, so
  this should cost nothing;
* a :class:`~ecs.trace.TraceRecorder` writing ``.trace.jsonl`` (and one writing ``.jsonl.gz``)
  to a temporary directory: group records kept as int tuples, systems timed per the default
  :class:`~ecs.SystemSampling` (these trivial systems: one tick in 16), encoding on the game
  thread, writing on its own thread.

Ratios are to the tick with no observer. Target: the recorder costs at most 25%.

Run it alone with ``python -m benchmarks.bench_observers [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import ecs
from ecs.trace import TraceRecorder

from ._common import best_of, hotspots, make_row
from .bench_scheduler import DT, overhead_scheduler, time_tick

AREA = "observers"


class NoOp(ecs.SchedulerObserver):
    """Receives everything, does nothing."""


def run(quick: bool = False) -> list[dict[str, Any]]:
    with overhead_scheduler() as sched:
        t_none = time_tick(sched, quick)
    with overhead_scheduler((NoOp(),)) as sched:
        t_noop = time_tick(sched, quick)
    t_rec: dict[str, float] = {}
    spots = ""
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".trace.jsonl", ".trace.jsonl.gz"):
            recorder = TraceRecorder(Path(tmp) / f"bench{suffix}")
            with overhead_scheduler((recorder,)) as sched:
                t_rec[suffix] = time_tick(sched, quick)
                if not spots:
                    spots = hotspots(lambda sched=sched: sched.tick(DT), number=500, top=5)
        realistic = realistic_ratio(Path(tmp), quick)
    # Measure the baseline again and keep the best: the machine is shared and the first
    # figure may have been taken in a noisier moment than the others.
    with overhead_scheduler() as sched:
        t_none = min(t_none, time_tick(sched, quick))
    rows = [
        make_row(
            AREA,
            "no-op observer (100 systems, empty tick)",
            t_noop / t_none,
            unit="x",
            note=f"{t_noop * 1e6:.0f} us vs {t_none * 1e6:.0f} us per tick without observers (no summaries built)",
        )
    ]
    for suffix, t in t_rec.items():
        ratio = t / t_none
        diagnosis = ""
        if ratio > 1.25:
            diagnosis = (
                f"The recorder adds {(t - t_none) * 1e6:.1f} us per tick ({(t - t_none) * 1e9 / 100:.0f} ns per "
                f"system); the 25% budget is {t_none * 0.25 * 1e6:.1f} us. {spots}. Where it goes, measured by "
                "timing the tick with one piece left out at a time: "
                "about 4 us is the scheduler keeping what any tick observer needs (a 12-int record per "
                "group, about 0.25 us each; the TickSummary; 6 sampled system timings), about 1.5 us "
                "Encoder.tick, 1.7 us orjson for the 1 kB line, 0.5 us the call and the queue. Already done: "
                "observers pay only for the methods they override (a no-op observer went from 1.9x to 1.0x), "
                "group runs are kept as the trace's own int records and written as they are, systems "
                "cheaper than 5 us are timed one tick in 16 (SystemSampling), no Enum hashing or lock on "
                "the path (from 2.7x). What is left is Python work proportional to the groups: each group "
                "here costs 2 us to run, so one record per group is 12% by itself. Closing the gap would take "
                "recording without a Python object per group (a writer process fed raw buffers), which this "
                "release does not do. On a tick that does real work the recorder costs "
                f"{(realistic - 1) * 100:.0f}% (row below)."
            )
        rows.append(
            make_row(
                AREA,
                f"TraceRecorder {suffix} (100 systems, empty tick)",
                ratio,
                unit="x",
                target="<= 1.25x",
                met=ratio <= 1.25,
                note=f"{t * 1e6:.0f} us vs {t_none * 1e6:.0f} us per tick without observers",
                diagnosis=diagnosis,
                score=ratio / 1.25,
            )
        )
    rows.append(
        make_row(
            AREA,
            "TraceRecorder .trace.jsonl.gz, 100k movement + churn tick",
            realistic,
            unit="x",
            note="context: the churn scheduler of bench_core (2 groups, 100k entities, +1k -1k per tick)",
        )
    )
    return rows


def realistic_ratio(tmp: Path, quick: bool) -> float:
    """Recorder cost on a tick with real work: bench_core's 100k churn scheduler."""
    from .bench_core import DT as CORE_DT
    from .bench_core import _scheduler

    ticks = 20 if quick else 50
    times = {}
    for recording in (False, True):
        with _scheduler(100_000, True) as sched:
            if recording:
                sched.add_observer(TraceRecorder(tmp / "realistic.trace.jsonl.gz"))
            times[recording] = best_of(lambda sched=sched: sched.tick(CORE_DT), repeat=5, number=ticks, warmup=3)
    return times[True] / times[False]


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
