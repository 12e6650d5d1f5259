"""Observer benchmarks: what watching a scheduler costs on the overhead benchmark.

The tick of ``bench_scheduler`` (10 groups x 10 trivial systems, nothing else to do) is the
worst case for observation: every cost of building summaries shows, none hides behind real
work. Configurations, measured back to back in this process:

* no observer: the scheduler builds no summaries at all;
* a no-op observer (overrides nothing): the scheduler calls only overridden methods, so
  this should cost nothing;
* an ``on_tick`` observer that keeps the summaries and reads nothing: what the scheduler
  itself spends on any tick observer (group and phase records, sampled system timings,
  the TickSummary), the floor under every recorder built on observers;
* a :class:`~ecs.trace.TraceRecorder` writing ``.trace.jsonl`` (and one writing ``.jsonl.gz``)
  to a temporary directory: group and phase records written as they are, systems timed per
  the default :class:`~ecs.SystemSampling` (these trivial systems: one tick in 16), encoding
  16 ticks at a time on the game thread, writing on its own thread.

Ratios are to the tick with no observer. Target: the recorder costs at most 25%. When it
misses, the diagnosis splits the recorder's cost into the pieces measured here (the
scheduler's share, ``Encoder.tick``, orjson, the rest).

Run it alone with ``python -m benchmarks.bench_observers [--quick]``;
``python -m benchmarks.bench_observers --costs`` prints the "What each costs" table of
docs/observability.md (every observer the library ships, on the same tick).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import ecs
from ecs.trace import Encoder, FlightRecorder, TraceRecorder
from ecs.trace._schema import line_encoder

from ._common import best_of, make_row
from .bench_scheduler import DT, overhead_scheduler, time_tick

AREA = "observers"
#: a sampling policy that times no system after each group's first run
UNTIMED = ecs.SystemSampling(every=2**31 - 1, above_us=1e9)


class NoOp(ecs.SchedulerObserver):
    """Receives everything, does nothing."""


class KeepTicks(ecs.SchedulerObserver):
    """Keeps each tick's summary, reads nothing, lets them go 16 at a time (as the recorder)."""

    def __init__(self, keep_all: bool = False) -> None:
        self.info: ecs.SchedulerInfo | None = None
        self.ticks: list[ecs.TickSummary] = []
        self._keep_all = keep_all

    def on_start(self, info: ecs.SchedulerInfo) -> None:
        self.info = info

    def on_tick(self, summary: ecs.TickSummary) -> None:
        self.ticks.append(summary)
        if len(self.ticks) >= 16 and not self._keep_all:
            self.ticks = []


def timed(
    observers: tuple[ecs.SchedulerObserver, ...], quick: bool, sampling: ecs.SystemSampling | None = None
) -> float:
    with overhead_scheduler(observers) as sched:
        if sampling is not None:
            sched.system_sampling = sampling
        return time_tick(sched, quick)


def encoding_costs(quick: bool) -> tuple[float, float, int, int]:
    """Seconds per tick for ``Encoder.tick`` and for orjson; bytes and integers per line.

    Measured on 64 real summaries of the overhead tick (default sampling), hot, in a loop.
    """
    keep = KeepTicks(keep_all=True)
    with overhead_scheduler((keep,)) as sched:
        for _ in range(96):
            sched.tick(DT)
    assert keep.info is not None
    ticks = keep.ticks[32:]
    encoder, dumps = Encoder(keep.info), line_encoder()
    number = 50 if quick else 200
    t_enc = best_of(lambda: [encoder.tick(t) for t in ticks], repeat=5, number=number, warmup=5) / len(ticks)
    lines = [encoder.tick(t) for t in ticks]
    t_dump = best_of(lambda: [dumps(o) for o in lines], repeat=5, number=number, warmup=5) / len(ticks)
    size = sum(len(dumps(o)) for o in lines) // len(lines)
    ints = sum(_count_ints(o) for o in lines) // len(lines)
    return t_enc, t_dump, size, ints


def _count_ints(obj: Any) -> int:
    if isinstance(obj, bool):
        return 0
    if isinstance(obj, int):
        return 1
    if isinstance(obj, dict):
        return sum(_count_ints(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_count_ints(v) for v in obj)
    return 0


def run(quick: bool = False) -> list[dict[str, Any]]:
    t_none = timed((), quick)
    t_noop = timed((NoOp(),), quick)
    t_keep = timed((KeepTicks(),), quick)
    t_keep_untimed = timed((KeepTicks(),), quick, UNTIMED)
    t_rec: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".trace.jsonl", ".trace.jsonl.gz"):
            t_rec[suffix] = timed((TraceRecorder(Path(tmp) / f"bench{suffix}"),), quick)
        realistic = realistic_ratio(Path(tmp), quick)
    t_enc, t_dump, line_bytes, line_ints = encoding_costs(quick)
    # Measure the baseline again and keep the best: the machine is shared and the first
    # figure may have been taken in a noisier moment than the others.
    t_none = min(t_none, timed((), quick))
    us = 1e6
    rows = [
        make_row(
            AREA,
            "no-op observer (100 systems, empty tick)",
            t_noop / t_none,
            unit="x",
            note=f"{t_noop * us:.0f} us vs {t_none * us:.0f} us per tick without observers (no summaries built)",
        ),
        make_row(
            AREA,
            "on_tick observer keeping summaries (100 systems, empty tick)",
            t_keep / t_none,
            unit="x",
            note=(
                f"+{(t_keep - t_none) * us:.1f} us: what the scheduler spends on any tick observer, "
                f"{(t_keep - t_keep_untimed) * us:.1f} us of it timing the sampled systems"
            ),
        ),
    ]
    for suffix, t in t_rec.items():
        ratio = t / t_none
        diagnosis = ""
        if ratio > 1.25:
            added = t - t_none
            rest = added - (t_keep - t_none) - t_enc - t_dump
            diagnosis = (
                f"The recorder adds {added * us:.1f} us per tick ({added * 1e9 / 100:.0f} ns per system); the 25% "
                f"budget is {t_none * 0.25 * us:.1f} us. Measured here, piece by piece: the scheduler keeping what "
                f"any tick observer gets, {(t_keep - t_none) * us:.1f} us (row above: group and phase records, "
                f"the TickSummary, and {(t_keep - t_keep_untimed) * us:.1f} us timing the sampled systems); "
                f"Encoder.tick {t_enc * us:.1f} us; orjson {t_dump * us:.1f} us for the {line_bytes}-byte line; "
                f"the rest (batching, the writer thread) {rest * us:.1f} us. Each piece is Python work per "
                f"integer: a tick line here carries {line_ints} of them, and building a Python int into a "
                "record and serializing it costs 10-20 ns in CPython whatever the serializer (orjson and "
                "marshal both take about 1 us for 10 group records). Tried and measured: handing marshalled "
                "batches to a writer process (marshal costs what orjson costs, so only Encoder.tick would "
                "leave the game thread); a stripped prototype with compact records relative to the tick "
                "start, no encoder object and no system times written reached 1.25x. Meeting 25% on groups "
                "that cost 2 us to run would need the recorder outside CPython's per-object costs (a native "
                "extension) or a trace that carries less per group. On a tick that does real work the "
                f"recorder costs {(realistic - 1) * 100:.0f}% (row below)."
            )
        rows.append(
            make_row(
                AREA,
                f"TraceRecorder {suffix} (100 systems, empty tick)",
                ratio,
                unit="x",
                target="<= 1.25x",
                met=ratio <= 1.25,
                note=f"{t * us:.0f} us vs {t_none * us:.0f} us per tick without observers",
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


class _Discard:
    """A span exporter that drops what it is given (spans are built and batched as with OTLP)."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _metrics(spans: bool, system_spans: bool = False) -> ecs.SchedulerObserver:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ecs.trace import MetricsObserver

    tracer = TracerProvider()
    tracer.add_span_processor(BatchSpanProcessor(_Discard()))  # type: ignore[arg-type]
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return MetricsObserver(meters, tracer, spans=spans, system_spans=system_spans)


def _logging(enabled: bool) -> ecs.SchedulerObserver:
    from ecs.trace import JsonFormatter, LoggingObserver

    logger = logging.getLogger(f"bench.groups.{'on' if enabled else 'off'}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG if enabled else logging.WARNING)
    if enabled and not logger.handlers:
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    return LoggingObserver(logger)


def cost_table(quick: bool = False) -> str:
    """The "What each costs" table of docs/observability.md, measured on this machine."""
    import io

    setups: list[tuple[str, Any]] = [
        ("no observer", lambda: ()),
        ("an observer that overrides nothing", lambda: (NoOp(),)),
        ("an `on_tick` observer that reads nothing (records kept, systems sampled)", lambda: (KeepTicks(),)),
        ("`TraceRecorder` to memory", lambda: (TraceRecorder(io.BytesIO()),)),
        ("`FlightRecorder`, no hitch (keeps the last 600 ticks)", lambda: (FlightRecorder(tempfile.gettempdir()),)),
        ("`LoggingObserver`, failures only (logger at WARNING)", lambda: (_logging(False),)),
        ("`LoggingObserver`, JSON formatted, every tick", lambda: (_logging(True),)),
        ("`MetricsObserver`, spans off", lambda: (_metrics(False),)),
        ("`MetricsObserver`, tick and group spans", lambda: (_metrics(True),)),
        ("`MetricsObserver`, tick, group and system spans (for timed runs)", lambda: (_metrics(True, True),)),
    ]
    times = [timed(make(), quick) for _, make in setups]
    base = min(times[0], timed((), quick))
    lines = ["| setup | per tick | on top of no observer |", "|---|---|---|"]
    for (name, _), t in zip(setups, times, strict=True):
        extra = "" if t is times[0] else f"+{(t - base) * 1e6:.0f} us"
        lines.append(f"| {name} | {t * 1e6:.0f} us | {extra} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--costs" in sys.argv:
        print(cost_table("--quick" in sys.argv))
    else:
        for r in run("--quick" in sys.argv):
            print(r)
