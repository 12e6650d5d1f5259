"""Reading traces: a streaming reader, and a columnar loader for analysis tools.

Both survive damage. A trace cut short by a crash (plain or gzip), a line of garbage, a line
longer than the limit, or a record of the wrong shape is skipped with a warning in
``.warnings``; everything readable is kept. Only two things are fatal, because nothing
sensible can be shown: a first record that is not an ``ecs-trace`` header, and a header of a
newer major schema version (:class:`~ecs.TraceFormatError` in both cases).

::

    from ecs.trace import TraceReader, load_trace

    with TraceReader("run.trace.jsonl.gz") as reader:     # streams; memory stays flat
        for event in reader:
            if event["type"] == "tick" and event["end"] - event["start"] > 16_600_000:
                print("hitch at tick", event["tick"])

    data = load_trace("run.trace.jsonl.gz")                # numpy columns, for plots and stats
    print(data.tick_durations_ms().max(), data.warnings)
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final, cast

import numpy as np
from numpy.typing import NDArray

from .._errors import TraceFormatError
from ._schema import GROUP_FIELDS, PHASE_FIELDS, SCHEMA, SYSTEM_FIELDS, VERSION

__all__ = ["MAX_LINE_BYTES", "TraceBuilder", "TraceData", "TraceReader", "data_tail", "load_trace", "open_binary"]

#: Longest line a reader accepts; longer ones are skipped (a guard against garbage).
MAX_LINE_BYTES: Final = 32 * 1024 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_MAX_WARNINGS: Final = 100

try:  # orjson parses 3-5x faster; used when installed (the profiler extra brings it)
    import orjson

    _loads: Any = orjson.loads
    _DecodeError: Any = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _loads = json.loads
    _DecodeError = (json.JSONDecodeError, UnicodeDecodeError)

Source = str | os.PathLike[str] | IO[bytes]


def open_binary(source: Source) -> IO[bytes]:
    """Open a path or binary stream for reading, decompressing gzip when the data is gzip.

    Compression is detected from the content (magic bytes), not the name, so a renamed file
    still opens.
    """
    if isinstance(source, str | os.PathLike):
        raw: IO[bytes] = open(source, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        if _peek(raw, 2) == _GZIP_MAGIC:
            raw.close()
            # gzip.open owns (and closes) its file, unlike GzipFile(fileobj=...)
            return cast(IO[bytes], gzip.open(source, "rb"))
        return raw
    if _peek(source, 2) == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=source, mode="rb"))
    return source


def _peek(raw: IO[bytes], n: int) -> bytes:
    if hasattr(raw, "peek"):
        return bytes(raw.peek(n)[:n])
    if raw.seekable():
        pos = raw.tell()
        head = raw.read(n)
        raw.seek(pos)
        return head
    raise TraceFormatError("cannot detect compression of a non-seekable stream; wrap it in io.BufferedReader")


class _GzipLines:
    """Line reader over gzip data that keeps every byte decoded before damage.

    ``gzip.GzipFile`` decompresses in large blocks, so a corrupt byte early in a small file
    loses the good lines before it too. Feeding zlib 4 KiB at a time keeps them; concatenated
    gzip members (a recorder restarted on the same file) are followed.
    """

    _PIECE: Final = 4096

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._zlib = zlib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._eof = False
        self._fed = False
        self._error: BaseException | None = None

    def _fill(self) -> None:
        if self._eof:
            return
        data = self._raw.read(self._PIECE)
        if not data:
            self._eof = True
            if self._fed and not self._zlib.eof:  # a member began but never finished
                self._buf += self._zlib.flush()
                self._error = EOFError("compressed data ended before the end-of-stream marker")
            return
        while data:
            self._fed = True
            try:
                self._buf += self._zlib.decompress(data)
            except zlib.error as exc:
                self._error = exc
                self._eof = True
                return
            if self._zlib.eof:  # another gzip member may follow
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(wbits=31)
                self._fed = False
            else:
                data = b""

    def readline(self, limit: int) -> bytes:
        while True:
            nl = self._buf.find(b"\n", 0, limit)
            if nl >= 0 or len(self._buf) >= limit:
                end = nl + 1 if nl >= 0 else limit
                line = bytes(self._buf[:end])
                del self._buf[:end]
                return line
            if self._eof:
                if self._buf:
                    line = bytes(self._buf)
                    self._buf.clear()
                    return line
                if self._error is not None:
                    err, self._error = self._error, None
                    raise err
                return b""
            self._fill()

    def close(self) -> None:
        self._raw.close()


class TraceReader:
    """Iterate the events of a trace file, header first; see the module docstring."""

    def __init__(self, source: Source, *, max_line: int = MAX_LINE_BYTES) -> None:
        self._own = isinstance(source, str | os.PathLike)
        if isinstance(source, str | os.PathLike):
            raw: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by close()
        else:
            raw = source
        self._stream: Any = _GzipLines(raw) if _peek(raw, 2) == _GZIP_MAGIC else raw
        self._max = max_line
        self.warnings: list[str] = []
        self.complete = False
        self.lines = 0
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._stream.close()

    def warn(self, text: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(text)
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append("(more warnings not shown)")

    def _raw_lines(self) -> Iterator[bytes]:
        stream = self._stream
        while True:
            try:
                line = stream.readline(self._max + 1)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                self.warn(
                    f"line {self.lines + 1}: file cut short or damaged ({type(exc).__name__}); kept what came before"
                )
                return
            if not line:
                return
            self.lines += 1
            if len(line) > self._max and not line.endswith(b"\n"):
                self.warn(f"line {self.lines}: longer than {self._max} bytes; skipped")
                self._skip_rest_of_line()
                continue
            yield line

    def _skip_rest_of_line(self) -> None:
        while True:
            try:
                chunk = self._stream.readline(self._max)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
                return
            if not chunk or chunk.endswith(b"\n"):
                return

    def _decode(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            obj = _loads(line)
        except _DecodeError:
            if line.endswith(b"\n"):
                self.warn(f"line {self.lines}: not valid JSON; skipped")
            else:
                self.warn(f"line {self.lines}: incomplete last line (the trace was cut short); skipped")
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            self.warn(f"line {self.lines}: not an event object; skipped")
            return None
        return obj

    def _read_header(self) -> dict[str, Any]:
        self._lines = self._raw_lines()
        for line in self._lines:
            obj = self._decode(line)
            if obj is None:
                continue
            if obj.get("type") != "header" or obj.get("schema") != SCHEMA:
                raise TraceFormatError(f"not an {SCHEMA} file: the first record is not an {SCHEMA} header")
            version = obj.get("version")
            if not isinstance(version, list) or len(version) < 2 or not all(isinstance(v, int) for v in version[:2]):
                raise TraceFormatError(f"{SCHEMA} header has no valid version: {version!r}")
            if version[0] > VERSION[0]:
                raise TraceFormatError(
                    f"this trace uses {SCHEMA} schema {version[0]}.{version[1]}, newer than this reader "
                    f"({VERSION[0]}.{VERSION[1]}); upgrade ecs to read it"
                )
            for key in ("groups", "systems"):
                if not isinstance(obj.get(key), list):
                    raise TraceFormatError(f"{SCHEMA} header lacks its {key!r} table")
            return obj
        raise TraceFormatError(f"empty or unreadable file: no {SCHEMA} header found")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Events after the header, in file order. Unknown event types are passed through."""
        for line in self._lines:
            obj = self._decode(line)
            if obj is None:
                continue
            if obj["type"] == "end":
                self.complete = True
            yield obj


@dataclass
class TraceData:
    """A whole trace as numpy columns (see ``docs/trace-format.md`` for the fields).

    ``groups`` is an ``(n, len(GROUP_FIELDS))`` int64 array, one row per group record;
    ``group_tick_row`` says which row of the tick arrays each belongs to. ``systems`` rows
    point at their group row through their first column (already made global).
    """

    header: dict[str, Any]
    tick: NDArray[np.int64]
    tick_start: NDArray[np.int64]
    tick_end: NDArray[np.int64]
    tick_dt: NDArray[np.float64]
    tick_entities: NDArray[np.int64]
    tick_flags: NDArray[np.int64]
    groups: NDArray[np.int64]
    group_tick_row: NDArray[np.int64]
    systems: NDArray[np.int64]
    phases: NDArray[np.int64]
    phase_tick_row: NDArray[np.int64]
    errors: list[tuple[int, int, str]]
    counters: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]]
    marks: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    complete: bool = False

    @property
    def group_names(self) -> list[str]:
        return [str(g.get("name", f"group{i}")) for i, g in enumerate(self.header["groups"])]

    @property
    def system_names(self) -> list[str]:
        return [str(s.get("name", f"system{i}")) for i, s in enumerate(self.header["systems"])]

    def __len__(self) -> int:
        return int(self.tick.shape[0])

    def tick_durations_ms(self) -> NDArray[np.float64]:
        return (self.tick_end - self.tick_start) / 1e6

    def column(self, name: str) -> NDArray[np.int64]:
        """A named column of ``groups`` (``data.column("end")``)."""
        return self.groups[:, GROUP_FIELDS.index(name)]


def _rows(value: Any, width: int) -> NDArray[np.int64] | None:
    """A list of int records as an (n, width) array; None when malformed."""
    if not value:
        return np.zeros((0, width), dtype=np.int64)
    try:
        arr = np.asarray(value, dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 2 or arr.shape[1] < width:
        return None
    return arr[:, :width]


def _ints(value: Any) -> NDArray[np.int64] | None:
    """A flat list of ints as an array; None when malformed."""
    try:
        arr = np.asarray(value, dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        return None
    return arr if arr.ndim == 1 else None


class TraceBuilder:
    """Accumulates decoded events into columns; ``build()`` returns a :class:`TraceData`.

    :func:`load_trace` uses it for files; a live viewer feeds it the events of a stream
    (``builder.add(event)``) and calls ``build()`` when it wants a fresh view. Malformed
    records are skipped with a warning, as in :class:`TraceReader`. Per tick it only
    converts lists to arrays; expanding the compact system records into rows happens once,
    vectorised, in ``build()``.
    """

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.warnings: list[str] = []
        self.complete = False
        self._n_group_names = len(header.get("groups") or ())
        self._n_system_names = len(header.get("systems") or ())
        self._ticks: list[tuple[int, int, int, float, int, int]] = []
        self._g_parts: list[NDArray[np.int64]] = []
        self._p_parts: list[NDArray[np.int64]] = []
        self._g_counts: list[int] = []
        self._p_counts: list[int] = []
        # compact system records: flat ints, record lengths, and the group row base of each record
        self._s_flat: list[NDArray[np.int64]] = []
        self._s_lens: list[int] = []
        self._s_base: list[int] = []
        self._results: list[tuple[int, int, int, int]] = []  # (group_row, k, code, flags)
        self._raw_errors: list[tuple[int, int, str]] = []  # (group_row, k, text)
        self._counters: dict[str, tuple[list[int], list[float]]] = {}
        self._marks: list[dict[str, Any]] = []
        self._n_groups = 0

    def __len__(self) -> int:
        return len(self._ticks)

    def _warn(self, text: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(text)

    def add(self, ev: dict[str, Any]) -> bool:
        """Take one decoded event; returns True when it added a tick."""
        kind = ev.get("type")
        if kind == "mark":
            self._marks.append(ev)
            return False
        if kind == "end":
            self.complete = True
            return False
        if kind != "tick":
            return False
        try:
            row = (
                int(ev["tick"]),
                int(ev["start"]),
                int(ev["end"]),
                float(ev.get("dt", 0.0)),
                int(ev.get("entities", 0)),
                int(ev.get("flags", 0)),
            )
        except (KeyError, TypeError, ValueError):
            self._warn("a tick record with missing or bad fields was skipped")
            return False
        groups = _rows(ev.get("groups"), len(GROUP_FIELDS))
        phases = _rows(ev.get("phases"), len(PHASE_FIELDS))
        recs = ev.get("systems") or []
        ok = groups is not None and phases is not None and isinstance(recs, list)
        flat: NDArray[np.int64] | None = None
        lens: list[int] = []
        if ok:
            assert groups is not None
            ng = len(groups)
            if ((groups[:, 0] < 0) | (groups[:, 0] >= self._n_group_names)).any():
                ok = False
            elif recs:
                lens = [len(r) if isinstance(r, list) else 0 for r in recs]
                flat = _ints([v for r in recs for v in r]) if min(lens) >= 4 else None
                if flat is None:
                    ok = False
                else:
                    starts = np.cumsum([0, *lens[:-1]])
                    pos = flat[starts]
                    first = flat[starts + 1]
                    if ((pos < 0) | (pos >= ng) | (first < 0)).any() or (
                        (first + np.asarray(lens) - 3) > self._n_system_names
                    ).any():
                        ok = False
        if not ok:
            self._warn(f"tick {row[0]} has malformed records; skipped")
            return False
        assert groups is not None
        assert phases is not None
        base = self._n_groups
        self._ticks.append(row)
        tick_row = len(self._ticks) - 1
        if flat is not None:
            self._s_flat.append(flat)
            self._s_lens.extend(lens)
            self._s_base.extend([base] * len(lens))
        for r in ev.get("system_results") or ():
            if (
                isinstance(r, list)
                and len(r) >= 4
                and all(isinstance(v, int) for v in r[:4])
                and 0 <= r[0] < len(groups)
            ):
                self._results.append((base + r[0], r[1], r[2], r[3]))
        for err in ev.get("errors") or ():
            if isinstance(err, list) and len(err) >= 3 and isinstance(err[0], int) and 0 <= err[0] < len(groups):
                k = err[1] if isinstance(err[1], int) else -1
                self._raw_errors.append((base + err[0], k, str(err[2])))
        self._g_parts.append(groups)
        self._p_parts.append(phases)
        self._g_counts.append(len(groups))
        self._p_counts.append(len(phases))
        self._n_groups += len(groups)
        ctr = ev.get("counters")
        if isinstance(ctr, dict):
            for name, value in ctr.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    col = self._counters.setdefault(str(name), ([], []))
                    col[0].append(tick_row)
                    col[1].append(float(value))
        return True

    def _systems(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Expand compact records to (rows, first row of each group row)."""
        width = len(SYSTEM_FIELDS)
        if not self._s_lens:
            return np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.int64)
        flat = np.concatenate(self._s_flat)
        lens = np.asarray(self._s_lens, dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
        n = lens - 3  # systems per record
        total = int(n.sum())
        rid = np.repeat(np.arange(len(lens)), n)
        k = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        o = offs[rid]
        rows = np.empty((total, width), dtype=np.int64)
        rows[:, 0] = np.asarray(self._s_base, dtype=np.int64)[rid] + flat[o]
        rows[:, 1] = flat[o + 1] + k
        rows[:, 2] = flat[o + 2 + k]
        rows[:, 3] = flat[o + 3 + k]
        rows[:, 4] = 0
        rows[:, 5] = 0
        return rows, rows[:, 0]

    def build(self, warnings: list[str] | None = None) -> TraceData:
        """The columns accumulated so far (a new object; the builder keeps accumulating)."""
        gw, pw = len(GROUP_FIELDS), len(PHASE_FIELDS)
        ticks = self._ticks
        n = len(ticks)
        systems, group_of_row = self._systems()
        # k (position inside its group run) -> system row, through each group's first row
        firsts = np.searchsorted(group_of_row, np.arange(self._n_groups + 1), side="left")

        def row_of(group_row: int, k: int) -> int:
            if k < 0 or group_row >= self._n_groups:
                return -1
            r = int(firsts[group_row]) + k
            return r if r < int(firsts[group_row + 1]) else -1

        for g_row, k, code, flags in self._results:
            r = row_of(g_row, k)
            if r >= 0:
                systems[r, 4] = code
                systems[r, 5] = flags
        errors = [(g_row, row_of(g_row, k), text) for g_row, k, text in self._raw_errors]
        return TraceData(
            header=self.header,
            tick=np.array([t[0] for t in ticks], dtype=np.int64),
            tick_start=np.array([t[1] for t in ticks], dtype=np.int64),
            tick_end=np.array([t[2] for t in ticks], dtype=np.int64),
            tick_dt=np.array([t[3] for t in ticks], dtype=np.float64),
            tick_entities=np.array([t[4] for t in ticks], dtype=np.int64),
            tick_flags=np.array([t[5] for t in ticks], dtype=np.int64),
            groups=np.concatenate(self._g_parts) if self._g_parts else np.zeros((0, gw), dtype=np.int64),
            group_tick_row=np.repeat(np.arange(n, dtype=np.int64), self._g_counts),
            systems=systems,
            phases=np.concatenate(self._p_parts) if self._p_parts else np.zeros((0, pw), dtype=np.int64),
            phase_tick_row=np.repeat(np.arange(n, dtype=np.int64), self._p_counts),
            errors=errors,
            counters={
                k: (np.array(v[0], dtype=np.int64), np.array(v[1], dtype=np.float64)) for k, v in self._counters.items()
            },
            marks=list(self._marks),
            warnings=list(warnings if warnings is not None else self.warnings),
            complete=self.complete,
        )


def load_trace(source: Source, *, max_ticks: int | None = None) -> TraceData:
    """Read a whole trace into numpy columns (damage tolerated as in :class:`TraceReader`).

    ``max_ticks`` keeps only the last N ticks (a bounded view of a huge file).
    """
    with TraceReader(source) as reader:
        builder = TraceBuilder(reader.header)
        for ev in reader:
            builder.add(ev)
        warnings = reader.warnings + builder.warnings
    if not builder.complete:
        warnings.append("no end record: the trace was cut short (crash or still being written)")
    data = builder.build(warnings)
    if max_ticks is not None and len(data) > max_ticks:
        data = data_tail(data, max_ticks)
    return data


def data_tail(data: TraceData, n: int) -> TraceData:
    """The last ``n`` ticks of ``data`` (rows re-based so indices stay consistent)."""
    n = max(0, min(int(n), len(data)))
    if n == len(data):
        return data
    first = len(data) - n
    gmask = data.group_tick_row >= first
    g_first = int(np.argmax(gmask)) if gmask.any() else len(data.groups)
    smask = data.systems[:, 0] >= g_first if len(data.systems) else np.zeros(0, dtype=bool)
    systems = data.systems[smask].copy()
    if len(systems):
        systems[:, 0] -= g_first
    s_first = int(np.argmax(smask)) if smask.any() else len(data.systems)
    pmask = data.phase_tick_row >= first
    counters = {}
    for k, (rows, vals) in data.counters.items():
        keep = rows >= first
        counters[k] = (rows[keep] - first, vals[keep])
    return TraceData(
        header=data.header,
        tick=data.tick[first:],
        tick_start=data.tick_start[first:],
        tick_end=data.tick_end[first:],
        tick_dt=data.tick_dt[first:],
        tick_entities=data.tick_entities[first:],
        tick_flags=data.tick_flags[first:],
        groups=data.groups[gmask],
        group_tick_row=data.group_tick_row[gmask] - first,
        systems=systems,
        phases=data.phases[pmask],
        phase_tick_row=data.phase_tick_row[pmask] - first,
        errors=[(g - g_first, s - s_first if s >= 0 else -1, t) for g, s, t in data.errors if g >= g_first],
        counters=counters,
        marks=[m for m in data.marks if n and isinstance(m.get("tick"), int) and m["tick"] >= int(data.tick[first])],
        warnings=data.warnings,
        complete=data.complete,
    )
