"""Reading traces: a streaming reader, and a columnar loader for analysis tools.

Both survive damage. A trace cut short by a crash (plain or gzip), a line of garbage, a line
longer than the limit, or a record of the wrong shape is skipped with a warning in
``.warnings``; everything readable is kept. Only a bad header is fatal, because every later
line is read through its tables and nothing sensible could be shown: a first record that is
not an ``ecs-trace`` header, a header of a newer major schema version, or one whose fields or
table entries have the wrong types (:class:`~ecs.TraceFormatError` in every case, naming the
field; the check is :func:`~ecs.trace._schema.check_header`, shared by files, bulk loading
and the live stream).

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

import gc
import gzip
import io
import json
import os
import threading
import weakref
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import itemgetter, methodcaller
from typing import IO, Any, Final, Literal, cast

import numpy as np
from numpy.typing import NDArray

from .._errors import TraceFormatError
from ._schema import GROUP_FIELDS, PHASE_FIELDS, SCHEMA, SYSTEM_FIELDS, SYSTEM_RESULTS, check_header

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
    """Iterate the events of a trace file, header first; see the module docstring.

    Besides iteration, :meth:`read_events` hands out the events of the next lines as a list
    (what bulk consumers such as :func:`load_trace` use): lines are decoded a batch at a time,
    and a batch with any damaged line is decoded again line by line, so the warnings and the
    events are exactly those of iteration.
    """

    #: Lines decoded per batch while iterating a file.
    BATCH_LINES: Final = 256

    def __init__(self, source: Source, *, max_line: int = MAX_LINE_BYTES) -> None:
        self._own = isinstance(source, str | os.PathLike)
        if isinstance(source, str | os.PathLike):
            raw: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by close()
        else:
            raw = source
        self._raw = raw
        self._stream: Any = _GzipLines(raw) if _peek(raw, 2) == _GZIP_MAGIC else raw
        self._max = max_line
        self._exhausted = False
        self._failure: str | None = None  # a read error, warned after the lines read before it
        self.warnings: list[str] = []
        self.complete = False
        self.lines = 0
        try:
            # A pipe or socket is followed line by line (a batch would wait for lines to come).
            self._batch = self.BATCH_LINES if raw.seekable() else 1
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

    @property
    def exhausted(self) -> bool:
        """True once the last line has been read (:meth:`read_events` then returns ``[]``)."""
        return self._exhausted

    @property
    def position(self) -> int | None:
        """Bytes of the underlying file read so far (compressed bytes for gzip); None if unknown."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return None

    def warn(self, text: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(text)
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append("(more warnings not shown)")

    def _read_lines(self, n: int) -> list[bytes | None]:
        """The next ``n`` raw lines (fewer at the end); None stands for a line over the limit."""
        lines: list[bytes | None] = []
        if self._exhausted:
            return lines
        readline = self._stream.readline
        limit = self._max + 1
        while len(lines) < n:
            try:
                line = readline(limit)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                self._failure = (
                    f"line {self.lines + len(lines) + 1}: file cut short or damaged ({type(exc).__name__}); "
                    "kept what came before"
                )
                self._exhausted = True
                break
            if not line:
                self._exhausted = True
                break
            if len(line) > self._max and not line.endswith(b"\n"):
                self._skip_rest_of_line()
                lines.append(None)
            else:
                lines.append(line)
        self.lines += len(lines)
        return lines

    def _skip_rest_of_line(self) -> None:
        while True:
            try:
                chunk = self._stream.readline(self._max)
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
                return
            if not chunk or chunk.endswith(b"\n"):
                return

    def _decode(self, line: bytes | None, number: int) -> dict[str, Any] | None:
        """One line as an event, or None (with a warning unless it is blank)."""
        if line is None:
            self.warn(f"line {number}: longer than {self._max} bytes; skipped")
            return None
        if not line.strip():
            return None
        try:
            obj = _loads(line)
        except _DecodeError:
            if line.endswith(b"\n"):
                self.warn(f"line {number}: not valid JSON; skipped")
            else:
                self.warn(f"line {number}: incomplete last line (the trace was cut short); skipped")
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            self.warn(f"line {number}: not an event object; skipped")
            return None
        return obj

    def _decode_lines(self, lines: list[bytes | None], first: int) -> list[dict[str, Any]]:
        """The events of ``lines`` (numbered from ``first``), with a warning for each line skipped."""
        events = self._decode_batch(lines)
        if events is None:  # some line is damaged: decode them one by one to find it
            decoded = (self._decode(line, first + i) for i, line in enumerate(lines))
            events = [ev for ev in decoded if ev is not None]
        if not self.complete and "end" in map(_TYPE, events):
            self.complete = True
        return events

    @staticmethod
    def _decode_batch(lines: list[bytes | None]) -> list[dict[str, Any]] | None:
        """The events of ``lines`` when every one is a well-formed event, else None."""
        try:
            events: list[Any] = list(map(_loads, lines))
        except (ValueError, TypeError):
            return None
        if _types(events) <= {dict} and _types(map(_TYPE, events)) <= {str}:
            return events
        return None

    def read_events(self, max_lines: int = BATCH_LINES) -> list[dict[str, Any]]:
        """The events of the next ``max_lines`` lines after the header, in file order.

        Fewer (possibly none) when lines were skipped; ``[]`` for good once :attr:`exhausted`.
        Unknown event types are passed through.
        """
        first = self.lines + 1
        events = self._decode_lines(self._read_lines(max(1, max_lines)), first)
        if self._failure is not None:
            self.warn(self._failure)
            self._failure = None
        return events

    def _read_header(self) -> dict[str, Any]:
        while not self._exhausted:
            first = self.lines + 1
            lines = self._read_lines(1)
            obj = self._decode(lines[0], first) if lines else None
            if obj is None:
                continue
            return check_header(obj)
        raise TraceFormatError(f"empty or unreadable file: no {SCHEMA} header found")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Events after the header, in file order. Unknown event types are passed through."""
        while not self._exhausted:
            yield from self.read_events(self._batch)


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
    #: for each of ``errors``, the header index of the system that failed (-1: not known);
    #: the only record of it when the run was not timed (no system row, see SystemSampling)
    error_systems: list[int] = field(default_factory=list)

    def system_errors(self, group_rows: slice | None = None) -> NDArray[np.int64]:
        """Failures per header system: errored system rows plus failures in untimed runs.

        ``group_rows`` (a slice of ``groups``, such as the rows of a tick range) limits the
        count to those group records. Counting only ``systems`` rows would miss the failures
        of runs that were not timed, so a group could show more errors than its systems.
        """
        n = len(self.header.get("systems") or [])
        lo, hi = (0, len(self.groups)) if group_rows is None else group_rows.indices(len(self.groups))[:2]
        s = self.systems
        if group_rows is not None:
            s = s[(s[:, 0] >= lo) & (s[:, 0] < hi)]
        failed = s[s[:, _SYS_RESULT] == _SYS_ERRORED, _SYS_SYSTEM]
        counts = np.bincount(failed[(failed >= 0) & (failed < n)], minlength=n)
        for (g_row, s_row, _), si in zip(self.errors, self.error_systems, strict=False):
            if s_row < 0 and 0 <= si < n and lo <= g_row < hi:
                counts[si] += 1
        return counts

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


def _table(rows: list[Any], width: int) -> NDArray[np.int64]:
    """Records of ints as an (n, width) array; raises TypeError/ValueError when malformed.

    ``np.fromiter`` over the flattened rows is about twice as fast as ``np.array`` on the
    nested lists; rows longer than ``width`` (fields a newer minor version appended) are cut.
    """
    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    widths = set(map(len, rows))
    if len(widths) == 1:
        (w,) = widths
        if w >= width:
            flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * w)
            return flat.reshape(-1, w)[:, :width]
    if min(widths) < width:
        raise ValueError(f"a record has fewer than {width} fields")
    return np.array([r[:width] for r in rows], dtype=np.int64)


def _ints(value: Any) -> NDArray[np.int64] | None:
    """A flat list of ints as an array; None when malformed."""
    try:
        arr = np.asarray(value, dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        return None
    return arr if arr.ndim == 1 else None


def _types(values: Iterable[Any]) -> set[type]:
    return set(map(type, values))


def _starts(lens: NDArray[np.int64]) -> NDArray[np.int64]:
    """Where each of consecutive runs of ``lens`` begins (an exclusive cumulative sum)."""
    offs = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=offs[1:])
    return offs


_TYPE: Final = methodcaller("get", "type")
_TICK_START_END: Final = itemgetter("tick", "start", "end")
_ENTITIES: Final = methodcaller("get", "entities", 0)
_FLAGS: Final = methodcaller("get", "flags", 0)
_DT: Final = methodcaller("get", "dt", 0.0)
_GROUPS: Final = methodcaller("get", "groups")
_PHASES: Final = methodcaller("get", "phases")
_SYSTEMS: Final = methodcaller("get", "systems")
_RESULTS: Final = methodcaller("get", "system_results")
_ERRORS: Final = methodcaller("get", "errors")
_COUNTERS: Final = methodcaller("get", "counters")
_INT_TYPES: Final = frozenset((int, bool))
_NUMBER_TYPES: Final = frozenset((int, bool, float))
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_SYS_SYSTEM: Final = SYSTEM_FIELDS.index("system")
_SYS_RESULT: Final = SYSTEM_FIELDS.index("result")
_SYS_ERRORED: Final = SYSTEM_RESULTS.index("errored")
#: Extra room reserve() gives the columns beyond its estimate (a few percent of error is usual).
_RESERVE_MARGIN: Final = 1.05
#: Share of the estimated rows whose memory reserve() maps ahead of the writer.
_FAULT_IN_SHARE: Final = 0.9


class _Rows:
    """A column (or a table of ``width`` columns) that grows in place, a chunk at a time.

    Rows handed out by :meth:`take` are written once, before the next :meth:`view`, and never
    again, so a view (what ``TraceBuilder.build()`` puts in a :class:`TraceData`) stays valid
    while the builder keeps appending. Growing moves the rows to a bigger buffer and leaves the
    old one to the views that use it. Capacity nobody wrote is never touched, so reserving
    generously costs address space, not memory.

    :meth:`fault_in` (called from another thread) touches reserved rows ahead of the writer so
    the operating system maps their memory there, not on the writer's time; the lock keeps
    the two apart: rows below ``_ready`` belong to the writer or are already mapped.
    """

    def __init__(self, width: int = 0, dtype: type[np.generic] = np.int64, order: Literal["C", "F"] = "C") -> None:
        self._tail: tuple[int, ...] = (width,) if width else ()
        self._dtype = dtype
        self._order: Literal["C", "F"] = order
        self.buf: NDArray[Any] = np.empty((0, *self._tail), dtype=dtype, order=order)
        self.n = 0
        self._ready = 0
        self._lock = threading.Lock()

    @property
    def row_bytes(self) -> int:
        return int(np.dtype(self._dtype).itemsize * (self._tail[0] if self._tail else 1))

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in all."""
        if rows > len(self.buf):
            with self._lock:
                new = np.empty((rows, *self._tail), dtype=self._dtype, order=self._order)
                new[: self.n] = self.buf[: self.n]
                self.buf = new
                self._ready = self.n

    def take(self, k: int) -> NDArray[Any]:
        """The next ``k`` rows, for the caller to fill."""
        end = self.n + k
        if end > len(self.buf):
            self.reserve(max(end, 2 * len(self.buf), 64))
        if end > self._ready:  # ahead of fault_in (or none runs): claim the rows
            with self._lock:
                self._ready = max(self._ready, end)
        out = self.buf[self.n : end]
        self.n = end
        return out

    def view(self) -> NDArray[Any]:
        return self.buf[: self.n]

    def fault_in(self, rows: int, upto: int) -> bool:
        """Touch (one item per memory page) the next ``rows`` rows not yet the writer's, below
        row ``upto``; False when there are none left. Numpy releases the GIL while it writes."""
        with self._lock:
            start = self._ready
            end = min(start + rows, upto, len(self.buf))
            if start >= end:
                return False
            part = self.buf[start:end]
            # one item per 4 KiB page of every column: C order rows are one run of memory,
            # F order rows one run per column
            (part.T if self._order == "F" else part.reshape(1, -1))[:, :: 4096 // part.itemsize] = 0
            self._ready = end
        return True


def _fault_in(columns: list[tuple[weakref.ref[_Rows], int]]) -> None:
    """Touch the reserved rows of each column up to its row limit, a few MiB of each in turn;
    ends early if the builder is dropped (a cancelled load)."""
    step = 4 << 20
    todo = columns
    while todo:
        still = []
        for ref, upto in todo:
            col = ref()
            if col is None:
                return
            if col.fault_in(max(1, step // col.row_bytes), upto):
                still.append((ref, upto))
            del col
        todo = still


def _expand_systems(
    flat: NDArray[np.int64], lens: NDArray[np.int64], group_rows: NDArray[np.int64], out: NDArray[np.int64]
) -> None:
    """Write compact system records as rows of ``SYSTEM_FIELDS`` into ``out``, vectorised.

    ``flat`` holds the records ``[group_pos, first, t0 .. tn]`` back to back, ``lens`` their
    lengths, ``group_rows`` the group row of each; ``out`` has one row per system run
    (``sum(lens - 3)``), column-major so each column is a contiguous write.
    """
    offs = _starts(lens)
    n = lens - 3  # systems per record
    out[:, 4:] = 0  # results and flags: filled from the sparse system_results afterwards
    if (n == 1).all():  # one system per record (summaries built by hand): no expansion
        out[:, 0] = group_rows
        out[:, 1] = flat[offs + 1]
        out[:, 2] = flat[offs + 2]
        out[:, 3] = flat[offs + 3]
        return
    # In flat, every record is [group_pos, first, t0 .. tn]: the start times are every position
    # except the two header ints and the last time of each record, and the end times sit one
    # position later. Two boolean compressions write the time columns in place, without index
    # arrays as long as the rows.
    is_start = np.ones(len(flat), dtype=np.bool_)
    is_start[offs] = False
    is_start[offs + 1] = False
    is_start[offs + lens - 1] = False
    np.compress(is_start, flat, out=out[:, 2])
    np.compress(is_start[:-1], flat[1:], out=out[:, 3])
    out[:, 0] = np.repeat(group_rows, n)
    # system index = first + k, where k counts up inside each record
    out[:, 1] = np.repeat(flat[offs + 1] - (np.cumsum(n) - n), n)
    out[:, 1] += np.arange(len(out), dtype=np.int64)


class TraceBuilder:
    """Accumulates decoded events into columns; ``build()`` returns a :class:`TraceData`.

    :func:`load_trace` uses it for files; a live viewer feeds it the events of a stream
    (``builder.add(event)``) and calls ``build()`` when it wants a fresh view. Malformed
    records are skipped with a warning, as in :class:`TraceReader`.

    Ticks are queued and converted ``CHUNK_TICKS`` at a time, straight into columns that grow
    in place (their system records expanded into rows on the way); ``build()`` only hands out
    views of what is there, so building often (partial captures, live views) is cheap, and the
    columns of a whole file are written once, without a final join. :meth:`reserve` sizes the
    columns up front when the caller can estimate the number of ticks.
    """

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.warnings: list[str] = []
        self.complete = False
        self._n_group_names = len(header.get("groups") or ())
        self._n_system_names = len(header.get("systems") or ())
        self._tick = _Rows()
        self._start = _Rows()
        self._end = _Rows()
        self._dt = _Rows(dtype=np.float64)
        self._entities = _Rows()
        self._flags = _Rows()
        self._groups = _Rows(len(GROUP_FIELDS))
        self._group_tick_row = _Rows()
        self._phases = _Rows(len(PHASE_FIELDS))
        self._phase_tick_row = _Rows()
        # Column-major: every consumer reads whole columns (``systems[:, 2]``), and filling
        # them column by column is then a contiguous write.
        self._systems = _Rows(len(SYSTEM_FIELDS), order="F")
        # While the system rows are sorted by group row (always, for files the recorder
        # writes), results and errors are matched to their rows chunk by chunk; otherwise
        # build() matches them all again over the whole column (see _match_all).
        self._sorted = True
        self._results: list[tuple[int, int, int, int]] = []  # (group_row, k, code, flags)
        self._raw_errors: list[tuple[int, int, str]] = []  # (group_row, k, text)
        self._errors: list[tuple[int, int, str]] = []  # (group_row, system_row, text)
        self._error_systems: list[int] = []  # header system index of each raw error, or -1
        self._system_base: dict[int, tuple[int, int]] | None = None  # group -> (first system, count)
        self._ctr_groups: dict[tuple[str, ...], tuple[list[int], list[tuple[Any, ...]]]] = {}
        self._marks: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return self._tick.n + len(self._pending)

    def _warn(self, text: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(text)

    #: Ticks converted per bulk pass: large enough to amortise numpy's per-call cost,
    #: small enough that a damaged chunk re-read tick by tick stays cheap.
    CHUNK_TICKS: Final = 256

    def add(self, ev: dict[str, Any]) -> bool:
        """Take one decoded event; returns True when it is a tick with valid tick/start/end.

        Ticks are queued and converted in bulk, ``CHUNK_TICKS`` at a time (or when
        :meth:`build` is called): per-tick numpy calls would cost more than parsing.
        """
        kind = ev.get("type")
        if kind == "tick":
            if not (
                isinstance(ev.get("tick"), int) and isinstance(ev.get("start"), int) and isinstance(ev.get("end"), int)
            ):
                self._warn("a tick record with missing or bad fields was skipped")
                return False
            self._pending.append(ev)
            if len(self._pending) >= self.CHUNK_TICKS:
                self._flush()
            return True
        if kind == "mark":
            self._marks.append(ev)
        elif kind == "end":
            self.complete = True
        return False

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Take a list of decoded events: the same as :meth:`add` on each, in order, but a run
        of ticks is checked and queued at once (what bulk loading uses)."""
        try:
            ticks_only = _types(map(_TYPE, events)) <= {str} and all(map("tick".__eq__, map(_TYPE, events)))
            ok = ticks_only and _types(chain.from_iterable(map(_TICK_START_END, events))) <= _INT_TYPES
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            for ev in events:
                self.add(ev)
            return
        while events:  # flushed where add() would flush: warnings come in the same order
            room = self.CHUNK_TICKS - len(self._pending)
            self._pending.extend(events[:room])
            events = events[room:]
            if len(self._pending) >= self.CHUNK_TICKS:
                self._flush()

    def reserve(self, ticks: int) -> None:
        """Size the columns for about ``ticks`` ticks in all, from the records per tick so far
        (nothing happens before a first chunk of ticks is converted).

        Only a hint (an estimate from the file size, say): columns get a margin and still grow
        past it, and room never used costs no memory. A background thread maps the memory of
        the estimated rows ahead of the writer (a first touch of fresh memory costs as much as
        filling it, and can then be paid on another core while this thread parses).
        """
        n = self._tick.n  # converted ticks (the queued ones are not counted yet)
        if n == 0 or ticks <= len(self):
            return
        scale = ticks / n
        columns = []
        for col in (self._tick, self._start, self._end, self._dt, self._entities, self._flags):
            columns.append((col, ticks))
        for col in (self._groups, self._group_tick_row, self._phases, self._phase_tick_row, self._systems):
            columns.append((col, int(col.n * scale) + 64))
        for col, rows in columns:
            col.reserve(int(rows * _RESERVE_MARGIN))
        # Most of the estimate is mapped ahead (not all: an estimate a bit high would leave
        # memory mapped for nothing); the writer claims rows as it goes, so the two never meet.
        todo = [(weakref.ref(col), int(rows * _FAULT_IN_SHARE)) for col, rows in columns]
        threading.Thread(target=_fault_in, args=(todo,), name="ecs-trace fault-in", daemon=True).start()

    def _flush(self) -> None:
        evs, self._pending = self._pending, []
        if evs and not self._add_bulk(evs):
            for ev in evs:  # something in this chunk is damaged: find it tick by tick
                self._add_one(ev)

    def _add_bulk(self, evs: list[dict[str, Any]]) -> bool:
        """Convert a chunk of well-formed ticks at once; False (nothing changed) on any doubt.

        Every field is read with C-level getters over the whole chunk; anything unusual
        (a missing list, a value of an odd type, a bad record) sends the chunk to the careful
        per-tick path, which gives the same result for every tick that is well formed.
        """
        gw, pw = len(GROUP_FIELDS), len(PHASE_FIELDS)
        k = len(evs)
        try:
            tse = np.fromiter(chain.from_iterable(map(_TICK_START_END, evs)), dtype=np.int64, count=3 * k)
            entities = list(map(_ENTITIES, evs))
            flags = list(map(_FLAGS, evs))
            dts = list(map(_DT, evs))
            glists = list(map(_GROUPS, evs))
            plists = list(map(_PHASES, evs))
            slists = list(map(_SYSTEMS, evs))
            if not (
                _types(entities) <= _INT_TYPES
                and _types(flags) <= _INT_TYPES
                and _types(dts) <= _NUMBER_TYPES
                and _types(glists) | _types(plists) | _types(slists) <= {list}
            ):
                return False
            ints = np.fromiter(chain(entities, flags), dtype=np.int64, count=2 * k)
            dt = np.fromiter(dts, dtype=np.float64, count=k)
            g_counts = np.fromiter(map(len, glists), dtype=np.int64, count=k)
            p_counts = np.fromiter(map(len, plists), dtype=np.int64, count=k)
            s_counts = np.fromiter(map(len, slists), dtype=np.int64, count=k)
            groups = _table(list(chain.from_iterable(glists)), gw)
            phases = _table(list(chain.from_iterable(plists)), pw)
            recs = list(chain.from_iterable(slists))
            lens = np.fromiter(map(len, recs), dtype=np.int64, count=len(recs))
            flat = np.fromiter(chain.from_iterable(recs), dtype=np.int64, count=int(lens.sum()))
        except (KeyError, TypeError, ValueError, OverflowError):
            return False
        if len(groups) and ((groups[:, 0] < 0) | (groups[:, 0] >= self._n_group_names)).any():
            return False
        tick_first_group = self._groups.n + _starts(g_counts)  # first group row of each tick
        group_rows = np.zeros(0, dtype=np.int64)
        if recs:
            if int(lens.min()) < 4:
                return False
            offs = _starts(lens)
            rec_tick = np.repeat(np.arange(k), s_counts)
            pos = flat[offs]
            first = flat[offs + 1]
            if ((pos < 0) | (pos >= g_counts[rec_tick]) | (first < 0)).any():
                return False
            if ((first + lens - 3) > self._n_system_names).any():
                return False
            group_rows = tick_first_group[rec_tick] + pos
        tse = tse.reshape(k, 3)
        self._commit(evs, tse, ints[:k], ints[k:], dt, groups, g_counts, phases, p_counts, flat, lens, group_rows)
        return True

    def _commit(
        self,
        evs: list[dict[str, Any]],
        tse: NDArray[np.int64],
        entities: NDArray[np.int64],
        flags: NDArray[np.int64],
        dt: NDArray[np.float64],
        groups: NDArray[np.int64],
        g_counts: NDArray[np.int64],
        phases: NDArray[np.int64],
        p_counts: NDArray[np.int64],
        flat: NDArray[np.int64],
        lens: NDArray[np.int64],
        group_rows: NDArray[np.int64],
    ) -> None:
        """Append checked, converted ticks (``evs`` for their sparse parts) to the columns."""
        k = len(evs)
        t0 = self._tick.n
        g0 = self._groups.n
        s0 = self._systems.n
        self._tick.take(k)[:] = tse[:, 0]
        self._start.take(k)[:] = tse[:, 1]
        self._end.take(k)[:] = tse[:, 2]
        self._dt.take(k)[:] = dt
        self._entities.take(k)[:] = entities
        self._flags.take(k)[:] = flags
        tick_rows = np.arange(t0, t0 + k, dtype=np.int64)
        self._groups.take(len(groups))[:] = groups
        self._group_tick_row.take(len(groups))[:] = np.repeat(tick_rows, g_counts)
        self._phases.take(len(phases))[:] = phases
        self._phase_tick_row.take(len(phases))[:] = np.repeat(tick_rows, p_counts)
        rows = self._systems.take(int((lens - 3).sum()) if len(lens) else 0)
        if len(rows):
            _expand_systems(flat, lens, group_rows, rows)
            if self._sorted and len(rows) > 1 and not (rows[1:, 0] >= rows[:-1, 0]).all():
                self._sorted = False
        # the sparse parts: system results, errors, counters
        first_group = (g0 + _starts(g_counts)).tolist()
        counts = g_counts.tolist()
        n_results, n_errors = len(self._results), len(self._raw_errors)
        results = list(map(_RESULTS, evs))
        for i in compress(range(k), results):
            self._take_results(results[i], first_group[i], counts[i])
        errors = list(map(_ERRORS, evs))
        for i in compress(range(k), errors):
            self._take_errors(errors[i], first_group[i], counts[i])
        if self._sorted and (len(self._results) > n_results or len(self._raw_errors) > n_errors):
            self._match_chunk(rows, s0, self._results[n_results:], self._raw_errors[n_errors:])
        self._take_counters(list(map(_COUNTERS, evs)), t0)

    def _match_chunk(
        self,
        rows: NDArray[np.int64],
        s0: int,
        results: list[tuple[int, int, int, int]],
        errors: list[tuple[int, int, str]],
    ) -> None:
        """Match this chunk's results and errors to its system rows (``rows``, from row ``s0``).

        The system rows of group row g are those whose group row is g; as the column is sorted,
        the ones of this chunk's groups are all in ``rows``. Same answers as the search over the
        whole column in :meth:`_match_all`.
        """
        keys = [(g, k) for g, k, _, _ in results] + [(g, k) for g, k, _ in errors]
        g = np.array([key[0] for key in keys], dtype=np.int64)
        k = np.array([key[1] if 0 <= key[1] <= _I64_MAX // 2 else -1 for key in keys], dtype=np.int64)
        col = rows[:, 0]
        lo = np.searchsorted(col, g, side="left")
        hi = np.searchsorted(col, g + 1, side="left")
        at = np.where((k >= 0) & (lo + k < hi), lo + k, -1).tolist()
        for (_, _, code, flags), r in zip(results, at, strict=False):
            if r >= 0:
                rows[r, 4] = code
                rows[r, 5] = flags
        for (g_row, _, text), r in zip(errors, at[len(results) :], strict=True):
            self._errors.append((g_row, s0 + r if r >= 0 else -1, text))

    def _match_all(self, systems: NDArray[np.int64]) -> list[tuple[int, int, str]]:
        """Results (written into ``systems``) and errors matched over the whole column.

        Used when the rows are not sorted by group row (records of a tick out of group order),
        where matching chunk by chunk could differ from the search over the whole column.
        """
        n_groups = self._groups.n
        systems[:, 4:] = 0
        firsts = np.searchsorted(systems[:, 0], np.arange(n_groups + 1), side="left")

        def row_of(group_row: int, k: int) -> int:
            if k < 0 or group_row >= n_groups:
                return -1
            r = int(firsts[group_row]) + k
            return r if r < int(firsts[group_row + 1]) else -1

        for g_row, k, code, flags in self._results:
            r = row_of(g_row, k)
            if r >= 0:
                systems[r, 4] = code
                systems[r, 5] = flags
        return [(g_row, row_of(g_row, k), text) for g_row, k, text in self._raw_errors]

    def _take_results(self, results: Any, base: int, n_groups: int) -> None:
        for r in results if isinstance(results, list) else ():
            well_formed = isinstance(r, list) and len(r) >= 4 and all(isinstance(v, int) for v in r[:4])
            if well_formed and 0 <= r[0] < n_groups and min(r[2:4]) >= _I64_MIN and max(r[2:4]) <= _I64_MAX:
                self._results.append((base + r[0], r[1], r[2], r[3]))

    def _take_errors(self, errors: Any, base: int, n_groups: int) -> None:
        for err in errors if isinstance(errors, list) else ():
            if isinstance(err, list) and len(err) >= 3 and isinstance(err[0], int) and 0 <= err[0] < n_groups:
                k = err[1] if isinstance(err[1], int) else -1
                self._raw_errors.append((base + err[0], k, str(err[2])))

    def _take_counters(self, counters: list[Any], first_row: int) -> None:
        # Ticks nearly always carry the same counter names: group their values by the tuple
        # of names and convert each group in one numpy call at build time.
        if _types(counters) == {dict}:
            names = list(map(tuple, counters))
            if names.count(names[0]) == len(names):  # one set of names for the chunk (the usual case)
                group = self._ctr_groups.get(names[0])
                if group is None:
                    group = self._ctr_groups[names[0]] = ([], [])
                group[0].extend(range(first_row, first_row + len(counters)))
                group[1].extend(map(tuple, map(dict.values, counters)))
                return
        for i, ctr in enumerate(counters):
            if isinstance(ctr, dict):
                group = self._ctr_groups.get(tuple(ctr))
                if group is None:
                    group = self._ctr_groups[tuple(ctr)] = ([], [])
                group[0].append(first_row + i)
                group[1].append(tuple(ctr.values()))

    def _counter_columns(self) -> dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]]:
        parts: dict[str, tuple[list[NDArray[np.int64]], list[NDArray[np.float64]]]] = {}
        for names, (rows, values) in self._ctr_groups.items():
            tick_rows = np.asarray(rows, dtype=np.int64)
            try:
                table = np.array(values, dtype=np.float64).reshape(len(values), len(names))
                columns = [(str(name), tick_rows, table[:, j]) for j, name in enumerate(names)]
            except (TypeError, ValueError):  # a non-numeric value somewhere: sort it out one by one
                columns = []
                for j, name in enumerate(names):
                    keep = [
                        (r, float(v[j]))
                        for r, v in zip(rows, values, strict=True)
                        if isinstance(v[j], int | float) and not isinstance(v[j], bool)
                    ]
                    if keep:
                        columns.append((str(name), np.array([k[0] for k in keep]), np.array([k[1] for k in keep])))
            for name, r, v in columns:
                col = parts.setdefault(name, ([], []))
                col[0].append(r)
                col[1].append(v)
        out = {}
        for name, (rs, vs) in parts.items():
            r = np.concatenate(rs)
            v = np.concatenate(vs)
            if len(rs) > 1:
                order = np.argsort(r, kind="stable")
                r, v = r[order], v[order]
            out[name] = (r, v)
        return out

    def _add_one(self, ev: dict[str, Any]) -> bool:
        """The careful path for one tick: skip it with a warning if anything is malformed."""
        try:
            scalars = (int(ev["tick"]), int(ev["start"]), int(ev["end"]))
            entities, flags = int(ev.get("entities", 0)), int(ev.get("flags", 0))
            dt = float(ev.get("dt", 0.0))
            tse = np.array([scalars], dtype=np.int64)
            ints = np.array([entities, flags], dtype=np.int64)
        except (KeyError, TypeError, ValueError, OverflowError):
            self._warn("a tick record with missing or bad fields was skipped")
            return False
        groups = _rows(ev.get("groups"), len(GROUP_FIELDS))
        phases = _rows(ev.get("phases"), len(PHASE_FIELDS))
        recs = ev.get("systems") or []
        ok = groups is not None and phases is not None and isinstance(recs, list)
        flat: NDArray[np.int64] | None = np.zeros(0, dtype=np.int64)
        lens = np.zeros(0, dtype=np.int64)
        if ok:
            assert groups is not None
            ng = len(groups)
            if ((groups[:, 0] < 0) | (groups[:, 0] >= self._n_group_names)).any():
                ok = False
            elif recs:
                lens = np.array([len(r) if isinstance(r, list) else 0 for r in recs], dtype=np.int64)
                flat = _ints([v for r in recs for v in r]) if lens.min() >= 4 else None
                if flat is None:
                    ok = False
                else:
                    starts = _starts(lens)
                    pos = flat[starts]
                    first = flat[starts + 1]
                    if ((pos < 0) | (pos >= ng) | (first < 0)).any() or (
                        (first + lens - 3) > self._n_system_names
                    ).any():
                        ok = False
        if not ok:
            self._warn(f"tick {scalars[0]} has malformed records; skipped")
            return False
        assert groups is not None
        assert phases is not None
        assert flat is not None
        group_rows = self._groups.n + flat[_starts(lens)] if len(lens) else lens
        self._commit(
            [ev],
            tse,
            ints[:1],
            ints[1:],
            np.array([dt], dtype=np.float64),
            groups,
            np.array([len(groups)], dtype=np.int64),
            phases,
            np.array([len(phases)], dtype=np.int64),
            flat,
            lens,
            group_rows,
        )
        return True

    def build(self, warnings: list[str] | None = None) -> TraceData:
        """The columns accumulated so far (a new object; the builder keeps accumulating).

        Its arrays are views of the builder's columns (rows already written never change), so
        a build costs next to nothing however many ticks there are; treat them as read-only.
        """
        self._flush()
        systems = self._systems.view()
        errors = list(self._errors)
        self._name_error_systems()
        if not self._sorted:
            systems = systems.copy(order="F")
            errors = self._match_all(systems)
        return TraceData(
            header=self.header,
            tick=self._tick.view(),
            tick_start=self._start.view(),
            tick_end=self._end.view(),
            tick_dt=self._dt.view(),
            tick_entities=self._entities.view(),
            tick_flags=self._flags.view(),
            groups=self._groups.view(),
            group_tick_row=self._group_tick_row.view(),
            systems=systems,
            phases=self._phases.view(),
            phase_tick_row=self._phase_tick_row.view(),
            errors=errors,
            counters=self._counter_columns(),
            marks=list(self._marks),
            warnings=list(warnings if warnings is not None else self.warnings),
            complete=self.complete,
            error_systems=list(self._error_systems),
        )

    def _name_error_systems(self) -> None:
        """Extend ``_error_systems`` for the errors taken since the last build."""
        if len(self._error_systems) == len(self._raw_errors):
            return
        if self._system_base is None:
            # header systems are listed group after group: a group's k-th system is first + k
            first: dict[str, int] = {}
            for i, sys in enumerate(self.header.get("systems") or []):
                if isinstance(sys, dict) and isinstance(sys.get("group"), str):
                    first.setdefault(sys["group"], i)
            self._system_base = {}
            for gi, g in enumerate(self.header.get("groups") or []):
                if isinstance(g, dict) and g.get("name") in first:
                    self._system_base[gi] = (first[g["name"]], len(g.get("systems") or []))
        group_of = self._groups.view()[:, 0]
        for g_row, k, _ in self._raw_errors[len(self._error_systems) :]:
            base = self._system_base.get(int(group_of[g_row])) if 0 <= g_row < len(group_of) else None
            self._error_systems.append(base[0] + k if base is not None and 0 <= k < base[1] else -1)


def load_trace(source: Source, *, max_ticks: int | None = None) -> TraceData:
    """Read a whole trace into numpy columns (damage tolerated as in :class:`TraceReader`).

    ``max_ticks`` keeps only the last N ticks (a bounded view of a huge file).
    """
    # Parsed events are acyclic and short-lived, but a whole chunk of them survives long
    # enough to be promoted, and the collector then rescans millions of objects: pausing it
    # for the load takes a third off the time of a 100k-tick trace.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with TraceReader(source) as reader:
            builder = TraceBuilder(reader.header)
            size = _size_of(source)
            while not reader.exhausted:
                builder.add_events(reader.read_events())
                if size is not None and len(builder) >= _ESTIMATE_AFTER:
                    _reserve_for_file(builder, reader, size)
                    size = None
            data = builder.build()
            data.warnings[:0] = reader.warnings
    finally:
        if collecting:
            gc.enable()
    if not builder.complete:
        data.warnings.append("no end record: the trace was cut short (crash or still being written)")
    if max_ticks is not None and len(data) > max_ticks:
        data = data_tail(data, max_ticks)
    return data


def _size_of(source: Source) -> int | None:
    try:
        if isinstance(source, str | os.PathLike):
            return os.path.getsize(source)
        return os.fstat(source.fileno()).st_size
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


#: Ticks read before the columns are sized for the whole file (enough for a fair average).
_ESTIMATE_AFTER: Final = 1024


def _reserve_for_file(builder: TraceBuilder, reader: TraceReader, size: int) -> None:
    """Size ``builder``'s columns for the whole file, extrapolating from the part read so far.

    Worth it for a big file: the columns are then written once, in place, instead of being
    moved each time they outgrow their buffers.
    """
    position = reader.position
    if position and len(builder):
        builder.reserve(int(len(builder) * min(size / position, 1e6)))


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
        error_systems=[si for (g, _, _), si in zip(data.errors, data.error_systems, strict=False) if g >= g_first],
        counters=counters,
        marks=[m for m in data.marks if n and isinstance(m.get("tick"), int) and m["tick"] >= int(data.tick[first])],
        warnings=data.warnings,
        complete=data.complete,
    )
