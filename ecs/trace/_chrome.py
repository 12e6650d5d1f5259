"""Chrome Trace Event export: open a recording in Perfetto UI, speedscope or chrome://tracing.

::

    from ecs.trace import export_chrome

    export_chrome("run.trace.jsonl.gz", "run.chrome.json")      # or ecs-trace export ... --chrome

writes the JSON *object form* of the Chrome Trace Event format
(``{"displayTimeUnit": "ms", "otherData": {...}, "traceEvents": [...]}``) laid out as:

* a ``tick`` track: one complete (``X``) slice per tick, with the tick's phases (``pre_tick``,
  ``apply``, ``flush``, ``maintenance``, ``post_tick``; the hook phases appear only when hooks
  are registered) nested inside it;
* one track per synchronized group: a slice per run with its systems nested inside;
* one track per async worker: the runs of async groups on that worker (from when the worker
  picked the run up; the time it queued is in the slice's ``args.queue_wait_us``), systems
  nested inside;
* counters (``C``): ``entities``, ``queue depth`` (one series per async group) and any extra
  counters of the trace, sampled at the end of each tick and written only when they change;
* instant events (``i``): marks (global), errors (on the track of the failing group),
  aborted ticks, and async runs that could not start (``still_running``, ``dropped``);
* metadata (``M``) naming the process and every track and fixing their order.

Group runs skipped by their interval produce no event. Timestamps are microseconds relative
to the trace start (the header's ``start_ns``), written with nanosecond precision.

The export streams: ticks are read, converted and written one at a time, so a 100k-tick
recording needs memory for one tick, not for the whole event list.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final, cast

from ._reader import Source, TraceBuilder, TraceData, TraceReader
from ._schema import GROUP_FIELDS, PHASE_FIELDS, PHASES, RESULTS, SYSTEM_FIELDS, SYSTEM_RESULTS

__all__ = ["ChromeExport", "export_chrome"]

PID: Final = 1
TICK_TID: Final = 1
#: Track numbers: synchronized group i (header order) is ``GROUP_TID + i``; worker w is ``WORKER_TID + w``.
GROUP_TID: Final = 100
WORKER_TID: Final = 10_000
#: Async runs whose record names no worker (a task that failed outside any system).
NO_WORKER_TID: Final = WORKER_TID - 1
#: Timestamps are written on a grid of 1/128 microsecond (7.8 ns): a binary fraction, so every
#: value is an exact double and ``ts + dur`` of a slice equals the ``ts`` of the slice that
#: follows it. With decimal microseconds (``2650.695 + 2348.675 == 4999.370000000001``)
#: back-to-back systems seem to overlap, and viewers mis-nest them (speedscope does).
GRID: Final = 128
_GRID_BITS: Final = 7
_FRAC: Final = tuple("" if f == 0 else "." + f"{f * 78125:07d}".rstrip("0") for f in range(GRID))
_CHUNK: Final = 4096  # events per write
_CHUNK_TICKS: Final = 1024  # ticks decoded into columns at a time when exporting from a file
_MAX_WARNINGS: Final = 100

_G: Final = {name: i for i, name in enumerate(GROUP_FIELDS)}
_S: Final = {name: i for i, name in enumerate(SYSTEM_FIELDS)}
_P: Final = {name: i for i, name in enumerate(PHASE_FIELDS)}
_RAN: Final = frozenset(RESULTS.index(r) for r in ("executed", "errored", "skipped_empty"))
_NOT_STARTED: Final = frozenset(RESULTS.index(r) for r in ("still_running", "dropped"))
_SYS_SKIPPED: Final = SYSTEM_RESULTS.index("skipped_interval")
_SYS_EXECUTED: Final = SYSTEM_RESULTS.index("executed")

OutTarget = str | os.PathLike[str] | IO[str] | IO[bytes]


@dataclass(frozen=True, slots=True)
class ChromeExport:
    """What :func:`export_chrome` wrote."""

    events: int
    ticks: int
    warnings: tuple[str, ...]  # damage skipped while reading the source


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _grid(ns: int) -> int:
    """Nanoseconds -> the nearest step of the microsecond grid (``GRID`` steps per microsecond)."""
    return (ns * GRID + 500) // 1000


def _fmt(k: int) -> str:
    """A grid value as a microsecond JSON number (``k / GRID``, written exactly)."""
    if k < 0:
        return "-" + _fmt(-k)
    return f"{k >> _GRID_BITS}{_FRAC[k & (GRID - 1)]}"


def _us(ns: int) -> str:
    """Nanoseconds as grid microseconds: ``1_234_567`` -> ``"1234.5703125"``."""
    return _fmt(_grid(ns))


class _Writer:
    """Buffers encoded events and writes them in chunks, commas included."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self._buf: list[str] = []
        self._first = True
        self.events = 0

    def add(self, event: str) -> None:
        self._buf.append(event)
        self.events += 1
        if len(self._buf) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        text = ",\n".join(self._buf)
        self._write(("\n" if self._first else ",\n") + text)
        self._first = False
        self._buf.clear()


class _Converter:
    """Turns ticks of one trace into Chrome events (state: header tables, counter values)."""

    def __init__(self, header: dict[str, Any], origin_ns: int, out: _Writer, slice_args: bool = True) -> None:
        self.out = out
        self.slice_args = slice_args
        self.origin = origin_ns
        groups = header.get("groups") or []
        systems = header.get("systems") or []
        self.group_names = [
            _q(str(g.get("name", f"group{i}")) if isinstance(g, dict) else f"group{i}") for i, g in enumerate(groups)
        ]
        self.group_async = [isinstance(g, dict) and g.get("mode") == "async" for g in groups]
        self.system_names = [
            _q(str(s.get("name", f"system{i}")) if isinstance(s, dict) else f"system{i}") for i, s in enumerate(systems)
        ]
        phases = header.get("phases")
        names = phases if isinstance(phases, list) and phases else list(PHASES)
        self.phase_names = [_q(str(p)) for p in names]
        self.result_names = [_q(r) for r in RESULTS]
        self.counters: dict[str, str] = {}  # Chrome counter name -> last args written
        self.known_tids: set[int] = set()
        self.ticks = 0
        self._metadata(header, groups)

    # -- metadata --------------------------------------------------------------------------------------
    def _thread(self, tid: int, name: str, sort: int) -> None:
        self.known_tids.add(tid)
        self.out.add(f'{{"ph":"M","pid":{PID},"tid":{tid},"name":"thread_name","args":{{"name":{_q(name)}}}}}')
        self.out.add(f'{{"ph":"M","pid":{PID},"tid":{tid},"name":"thread_sort_index","args":{{"sort_index":{sort}}}}}')

    def _metadata(self, header: dict[str, Any], groups: list[Any]) -> None:
        world = str(header.get("world", "world"))
        self.out.add(f'{{"ph":"M","pid":{PID},"tid":0,"name":"process_name","args":{{"name":{_q("ecs " + world)}}}}}')
        self._thread(TICK_TID, "tick", 0)
        for gi, g in enumerate(groups):
            if not self.group_async[gi]:
                order = g.get("order", gi) if isinstance(g, dict) else gi
                self._thread(GROUP_TID + gi, f"group {json.loads(self.group_names[gi])}", 1 + int(order))
        workers = header.get("workers")
        if any(self.group_async) and isinstance(workers, int):
            for w in range(max(0, min(workers, 1024))):
                self._worker_thread(WORKER_TID + w)

    def _worker_thread(self, tid: int) -> None:
        if tid == NO_WORKER_TID:
            self._thread(tid, "async (no worker)", 1_000_000)
        else:
            self._thread(tid, f"worker {tid - WORKER_TID}", 100_000 + tid - WORKER_TID)

    # -- events ------------------------------------------------------------------------------------------
    def _slice(self, tid: int, start: int, end: int, name: str, cat: str, args: str) -> None:
        k0 = _grid(start - self.origin)
        d = _grid(end - self.origin) - k0
        tail = f',"args":{{{args}}}}}' if args and self.slice_args else "}"
        self.out.add(
            f'{{"ph":"X","pid":{PID},"tid":{tid},"ts":{_fmt(k0)},"dur":{_fmt(d if d > 0 else 0)},'
            f'"name":{name},"cat":"{cat}"{tail}'
        )

    def _instant(self, tid: int, t: int, name: str, cat: str, scope: str, args: str) -> None:
        self.out.add(
            f'{{"ph":"i","pid":{PID},"tid":{tid},"ts":{_us(t - self.origin)},"s":"{scope}",'
            f'"name":{name},"cat":"{cat}","args":{{{args}}}}}'
        )

    def _counter(self, t: int, name: str, args: str) -> None:
        if self.counters.get(name) == args:
            return
        self.counters[name] = args
        self.out.add(
            f'{{"ph":"C","pid":{PID},"tid":{TICK_TID},"ts":{_us(t - self.origin)},"name":{_q(name)},"args":{{{args}}}}}'
        )

    def _name(self, table: list[str], i: int, kind: str) -> str:
        return table[i] if 0 <= i < len(table) else _q(f"{kind}{i}")

    def _track(self, g: list[int]) -> int:
        gi = g[_G["group"]]
        if 0 <= gi < len(self.group_async) and self.group_async[gi]:
            worker = g[_G["worker"]]
            tid = WORKER_TID + worker if worker >= 0 else NO_WORKER_TID
            if tid not in self.known_tids:
                self._worker_thread(tid)
            return tid
        return GROUP_TID + gi

    def tick(
        self,
        tick: int,
        start: int,
        end: int,
        dt: float,
        entities: int,
        flags: int,
        groups: Sequence[list[int]],
        systems: Sequence[list[int]],
        phases: Sequence[list[int]],
        errors: Sequence[tuple[int, int, str]],
        counters: dict[str, float],
    ) -> None:
        """Write one tick: rows as in :class:`TraceData`, with the systems' first column (their group
        row) and the errors' indices rebased to this tick's groups and systems."""
        self.ticks += 1
        # Without args, every tick slice has the same name, so frame-merging viewers aggregate them.
        tick_name = f'"tick {tick}"' if self.slice_args else '"tick"'
        self._slice(TICK_TID, start, end, tick_name, "tick", f'"tick":{tick},"dt":{_num(dt)},"entities":{entities}')
        for p in phases:
            a = f'"commands":{p[_P["commands"]]},"spawned":{p[_P["spawned"]]},"destroyed":{p[_P["destroyed"]]}'
            if p[_P["stale"]]:
                a += f',"stale":{p[_P["stale"]]}'
            self._slice(
                TICK_TID,
                p[_P["start"]],
                p[_P["end"]],
                self._name(self.phase_names, p[_P["phase"]], "phase"),
                "phase",
                a,
            )
        tids: list[int] = []
        for g in groups:
            tid = self._track(g)
            tids.append(tid)
            result = g[_G["result"]]
            name = self._name(self.group_names, g[_G["group"]], "group")
            rname = self._name(self.result_names, result, "result")
            if result in _RAN:
                a = (
                    f'"tick":{g[_G["tick"]]},"result":{rname},'
                    f'"entities":{g[_G["entities"]]},"commands":{g[_G["commands"]]}'
                )
                if tid >= NO_WORKER_TID:
                    a += (
                        f',"queue_wait_us":{_us(g[_G["queue_wait"]])},"queue_depth":{g[_G["queue_depth"]]},'
                        f'"late":{"true" if g[_G["flags"]] & 2 else "false"}'
                    )
                    run_start = g[_G["end"]] - g[_G["run"]]
                else:
                    run_start = g[_G["start"]]
                self._slice(tid, run_start, g[_G["end"]], name, "group", a)
            elif result in _NOT_STARTED:
                label = _q(f"{json.loads(name)} {RESULTS[result]}")
                self._instant(TICK_TID, g[_G["end"]], label, "group", "t", f'"tick":{g[_G["tick"]]}')
        # Systems are most of the events: one tight loop, names and offsets bound to locals.
        add, origin, n_tids, names = self.out.add, self.origin, len(tids), self.system_names
        frac, mask = _FRAC, GRID - 1
        i_sys, i_start, i_end, i_result, i_flags = _S["system"], _S["start"], _S["end"], _S["result"], _S["flags"]
        for s in systems:
            result = s[i_result]
            if result == _SYS_SKIPPED:
                continue
            pos = s[0]  # the group row, rebased to this tick by _data_ticks
            tid = tids[pos] if 0 <= pos < n_tids else TICK_TID
            start, end, si = s[i_start], s[i_end], s[i_sys]
            name = names[si] if 0 <= si < len(names) else _q(f"system{si}")
            # _grid and _fmt inlined: this line runs once per system slice, most of the export.
            k0 = ((start - origin) * GRID + 500) // 1000
            d = ((end - origin) * GRID + 500) // 1000 - k0
            d = d if d > 0 else 0
            ts = f"{k0 >> _GRID_BITS}{frac[k0 & mask]}" if k0 >= 0 else _fmt(k0)
            if (result == _SYS_EXECUTED and not s[i_flags]) or not self.slice_args:
                tail = "}"
            else:
                rname = SYSTEM_RESULTS[result] if 0 <= result < len(SYSTEM_RESULTS) else str(result)
                tail = f',"args":{{"result":{_q(rname)},"retried":{"true" if s[i_flags] & 1 else "false"}}}}}'
            add(
                f'{{"ph":"X","pid":{PID},"tid":{tid},"ts":{ts},"dur":{d >> _GRID_BITS}{frac[d & mask]},'
                f'"name":{name},"cat":"system"{tail}'
            )
        for gpos, spos, text in errors:
            if not 0 <= gpos < len(groups):
                continue
            g = groups[gpos]
            at = systems[spos][_S["end"]] if 0 <= spos < len(systems) else g[_G["end"]]
            gname = self._name(self.group_names, g[_G["group"]], "group")
            sname = (
                self._name(self.system_names, systems[spos][_S["system"]], "system")
                if 0 <= spos < len(systems)
                else "null"
            )
            self._instant(
                tids[gpos], at, '"error"', "error", "t", f'"group":{gname},"system":{sname},"error":{_q(text)}'
            )
        if flags & 1:
            self._instant(TICK_TID, end, '"tick aborted"', "error", "t", f'"tick":{tick}')
        depths: list[str] = []
        for key, value in counters.items():
            if key.startswith("queue_depth/"):
                depths.append(f"{_q(key[len('queue_depth/') :])}:{_num(value)}")
            elif key == "entities":
                self._counter(end, "entities", f'"entities":{_num(value)}')
            else:
                self._counter(end, key, f'"value":{_num(value)}')
        if depths:
            self._counter(end, "queue depth", ",".join(depths))

    def mark(self, ev: dict[str, Any]) -> None:
        t = ev.get("t")
        if type(t) is not int:
            return
        data = ev.get("data")
        args = json.dumps(data if isinstance(data, dict) else {}, ensure_ascii=False, default=repr)[1:-1]
        tick = ev.get("tick")
        if type(tick) is int:
            args = f'"tick":{tick}' + ("," + args if args else "")
        self._instant(TICK_TID, t, _q(str(ev.get("name", "mark"))), "mark", "g", args)


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "0"  # JSON has no NaN or infinity
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))  # loaded traces hold counters as floats; keep files and exports alike
    return repr(float(value))


def _data_ticks(data: TraceData) -> Iterator[tuple[Any, ...]]:
    """Per-tick records of a loaded trace, rebuilt in the shape of a tick line."""
    g_bounds = _bounds(data.group_tick_row.tolist(), len(data))
    p_bounds = _bounds(data.phase_tick_row.tolist(), len(data))
    sys_group = data.systems[:, 0].tolist() if len(data.systems) else []
    errors_by_tick: dict[int, list[tuple[int, int, int, str]]] = {}
    group_rows = data.group_tick_row.tolist()
    for g, s, text in data.errors:
        if 0 <= g < len(group_rows):
            errors_by_tick.setdefault(group_rows[g], []).append((g, s, 0, text))
    # counters: (rows, values) per name, walked in step with the ticks
    ctr = [(name, rows.tolist(), vals.tolist()) for name, (rows, vals) in data.counters.items()]
    ptr = [0] * len(ctr)
    s_lo = 0
    for row in range(len(data)):
        g_lo, g_hi = g_bounds[row], g_bounds[row + 1]
        s_hi = s_lo
        while s_hi < len(sys_group) and sys_group[s_hi] < g_hi:
            s_hi += 1
        systems = data.systems[s_lo:s_hi].tolist()
        for s in systems:
            s[0] -= g_lo
        errors = [(g - g_lo, s - s_lo if s >= 0 else -1, text) for g, s, _, text in errors_by_tick.get(row, ())]
        counters: dict[str, float] = {}
        for k, (name, rows, vals) in enumerate(ctr):
            i = ptr[k]
            while i < len(rows) and rows[i] < row:
                i += 1
            if i < len(rows) and rows[i] == row:
                counters[name] = vals[i]
                i += 1
            ptr[k] = i
        yield (
            int(data.tick[row]),
            int(data.tick_start[row]),
            int(data.tick_end[row]),
            float(data.tick_dt[row]),
            int(data.tick_entities[row]),
            int(data.tick_flags[row]),
            data.groups[g_lo:g_hi].tolist(),
            systems,
            data.phases[p_bounds[row] : p_bounds[row + 1]].tolist(),
            errors,
            counters,
        )
        s_lo = s_hi


def _bounds(rows: list[int], n: int) -> list[int]:
    """Start offsets of each tick's records in a row-sorted column (length n + 1)."""
    out = [0] * (n + 1)
    for r in rows:
        out[r + 1] += 1
    for i in range(n):
        out[i + 1] += out[i]
    return out


def _convert_chunk(
    header: dict[str, Any],
    builder: TraceBuilder,
    conv: _Converter | None,
    writer: _Writer,
    warnings: list[str],
    slice_args: bool,
) -> _Converter | None:
    data = builder.build()
    warnings.extend(w for w in data.warnings if len(warnings) < _MAX_WARNINGS)
    if conv is None:
        if not len(data) and not data.marks:
            return None
        # Without a start_ns in the header, the first tick (or mark) is the origin.
        first = int(data.tick_start[0]) if len(data) else data.marks[0].get("t")
        conv = _Converter(header, _origin(header, first if type(first) is int else 0), writer, slice_args)
    for rec in _data_ticks(data):
        conv.tick(*rec)
    for m in data.marks:
        conv.mark(m)
    return conv


def _origin(header: dict[str, Any], fallback: int) -> int:
    start = header.get("start_ns")
    return start if type(start) is int else fallback


def export_chrome(source: Source | TraceData, out: OutTarget, *, slice_args: bool = True) -> ChromeExport:
    """Write ``source`` (a trace path or binary stream, or a loaded :class:`TraceData`) to ``out``.

    ``out`` is a path (gzip-compressed when it ends in ``.gz``; Perfetto opens that too) or an
    open text or binary stream, which is left open. Damage in the source is skipped as by
    :class:`~ecs.trace.TraceReader` and reported in the result's ``warnings``; an unreadable
    source raises :class:`~ecs.TraceFormatError` before anything is written.

    ``slice_args=False`` leaves the args out of slices and names every tick slice ``tick``:
    speedscope names a frame by its name *and* args, so per-run args make every run a frame of
    its own and defeat its left-heavy and sandwich views. Perfetto shows args in its details
    panel, so keep them (the default) for Perfetto.
    """
    if isinstance(source, TraceData):
        return _export(source.header, None, source, out, slice_args)
    if isinstance(source, str | os.PathLike):
        # Opened here rather than by TraceReader, so the file is closed on every path out.
        with open(source, "rb") as f:
            return export_chrome(f, out, slice_args=slice_args)
    with TraceReader(source) as reader:
        result = _export(reader.header, reader, None, out, slice_args)
        return ChromeExport(result.events, result.ticks, tuple(reader.warnings) + result.warnings)


def _export(
    header: dict[str, Any], reader: TraceReader | None, data: TraceData | None, out: OutTarget, slice_args: bool
) -> ChromeExport:
    close: IO[Any] | None = None
    if isinstance(out, str | os.PathLike):
        path = os.fspath(out)
        raw = cast(IO[bytes], gzip.open(path, "wb", compresslevel=6) if path.endswith(".gz") else open(path, "wb"))  # noqa: SIM115 - closed below
        close = raw
        stream: IO[Any] = raw
    else:
        stream = out
    if isinstance(cast(object, stream), io.TextIOBase):  # IO[str] and IO[bytes] look alike to mypy
        write: Any = stream.write
    else:
        bwrite = stream.write

        def write(text: str) -> None:
            bwrite(text.encode("utf-8"))

    warnings: list[str] = []
    try:
        other = {
            "source": "ecs-trace",
            "schema": header.get("schema"),
            "version": header.get("version"),
            "world": header.get("world"),
            "clock": header.get("clock"),
            "start_ns": header.get("start_ns"),
        }
        other_json = json.dumps(other, ensure_ascii=False, default=repr)
        write(f'{{"displayTimeUnit":"ms","otherData":{other_json},"traceEvents":[')
        writer = _Writer(write)
        if data is not None:
            conv = _Converter(header, _origin(header, int(data.tick_start[0]) if len(data) else 0), writer, slice_args)
            for rec in _data_ticks(data):
                conv.tick(*rec)
            for m in data.marks:
                conv.mark(m)
        else:
            # Decoding goes through TraceBuilder (one decoder for every tool), a chunk of ticks at
            # a time, so memory holds one chunk, never the whole trace.
            assert reader is not None
            conv_opt: _Converter | None = None
            builder = TraceBuilder(header)
            for ev in reader:
                builder.add(ev)
                if len(builder) >= _CHUNK_TICKS:
                    conv_opt = _convert_chunk(header, builder, conv_opt, writer, warnings, slice_args)
                    builder = TraceBuilder(header)
            conv_opt = _convert_chunk(header, builder, conv_opt, writer, warnings, slice_args)
            conv = conv_opt if conv_opt is not None else _Converter(header, _origin(header, 0), writer, slice_args)
        writer.flush()
        write("\n]}\n")
        return ChromeExport(writer.events, conv.ticks, tuple(warnings))
    finally:
        if close is not None:
            close.close()
