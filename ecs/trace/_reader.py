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

import gc
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
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


def _table(rows: list[Any], width: int) -> NDArray[np.int64]:
    """Records of ints as an (n, width) array; raises TypeError/ValueError when malformed.

    ``np.fromiter`` over the flattened rows is about twice as fast as ``np.array`` on the
    nested lists; rows longer than ``width`` (fields a newer minor version appended) are cut.
    """
    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    widths = set(map(len, rows))
    if widths == {width}:
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * width)
        return flat.reshape(-1, width)
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
        self._ctr_groups: dict[tuple[str, ...], tuple[list[int], list[tuple[Any, ...]]]] = {}
        self._marks: list[dict[str, Any]] = []
        self._n_groups = 0
        self._pending: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._ticks) + len(self._pending)

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

    def _flush(self) -> None:
        evs, self._pending = self._pending, []
        if evs and not self._add_bulk(evs):
            for ev in evs:  # something in this chunk is damaged: find it tick by tick
                self._add_one(ev)

    def _add_bulk(self, evs: list[dict[str, Any]]) -> bool:
        """Convert a chunk of well-formed ticks at once; False (nothing changed) on any doubt."""
        gw, pw = len(GROUP_FIELDS), len(PHASE_FIELDS)
        try:
            rows = [
                (
                    int(ev["tick"]),
                    int(ev["start"]),
                    int(ev["end"]),
                    float(ev.get("dt", 0.0)),
                    int(ev.get("entities", 0)),
                    int(ev.get("flags", 0)),
                )
                for ev in evs
            ]
            glists = [ev.get("groups") or [] for ev in evs]
            plists = [ev.get("phases") or [] for ev in evs]
            slists = [ev.get("systems") or [] for ev in evs]
            g_counts = [len(g) for g in glists]
            p_counts = [len(p) for p in plists]
            s_counts = [len(r) for r in slists]
            groups = _table([r for g in glists for r in g], gw)
            phases = _table([r for p in plists for r in p], pw)
            recs = [r for sl in slists for r in sl]
            lens = np.fromiter(map(len, recs), dtype=np.int64, count=len(recs))
            flat = np.fromiter(chain.from_iterable(recs), dtype=np.int64, count=int(lens.sum()))
        except (KeyError, TypeError, ValueError, OverflowError):
            return False
        if groups.shape[0] != sum(g_counts) or phases.shape[0] != sum(p_counts):
            return False
        if len(groups) and ((groups[:, 0] < 0) | (groups[:, 0] >= self._n_group_names)).any():
            return False
        g_counts_arr = np.asarray(g_counts, dtype=np.int64)
        tick_base = self._n_groups + np.concatenate([[0], np.cumsum(g_counts_arr)[:-1]])  # first group row
        if recs:
            if int(lens.min()) < 4:
                return False
            offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
            rec_tick = np.repeat(np.arange(len(evs)), s_counts)
            pos = flat[offs]
            first = flat[offs + 1]
            if ((pos < 0) | (pos >= g_counts_arr[rec_tick]) | (first < 0)).any():
                return False
            if ((first + lens - 3) > self._n_system_names).any():
                return False
            self._s_flat.append(flat)
            self._s_lens.extend(lens.tolist())
            self._s_base.extend(tick_base[rec_tick].tolist())
        base_rows = len(self._ticks)
        self._ticks.extend(rows)
        self._g_parts.append(groups)
        self._p_parts.append(phases)
        self._g_counts.extend(g_counts)
        self._p_counts.extend(p_counts)
        for i, ev in enumerate(evs):
            base = int(tick_base[i])
            extra_results = ev.get("system_results")
            if extra_results:
                self._take_results(extra_results, base, g_counts[i])
            extra_errors = ev.get("errors")
            if extra_errors:
                self._take_errors(extra_errors, base, g_counts[i])
            ctr = ev.get("counters")
            if isinstance(ctr, dict):
                self._take_counters(ctr, base_rows + i)
        self._n_groups += int(g_counts_arr.sum())
        return True

    def _take_results(self, results: Any, base: int, n_groups: int) -> None:
        for r in results if isinstance(results, list) else ():
            well_formed = isinstance(r, list) and len(r) >= 4 and all(isinstance(v, int) for v in r[:4])
            if well_formed and 0 <= r[0] < n_groups:
                self._results.append((base + r[0], r[1], r[2], r[3]))

    def _take_errors(self, errors: Any, base: int, n_groups: int) -> None:
        for err in errors if isinstance(errors, list) else ():
            if isinstance(err, list) and len(err) >= 3 and isinstance(err[0], int) and 0 <= err[0] < n_groups:
                k = err[1] if isinstance(err[1], int) else -1
                self._raw_errors.append((base + err[0], k, str(err[2])))

    def _take_counters(self, ctr: dict[str, Any], tick_row: int) -> None:
        # Ticks nearly always carry the same counter names: group their values by the tuple
        # of names and convert each group in one numpy call at build time.
        group = self._ctr_groups.get(tuple(ctr))
        if group is None:
            group = self._ctr_groups[tuple(ctr)] = ([], [])
        group[0].append(tick_row)
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
        if flat is not None:
            self._s_flat.append(flat)
            self._s_lens.extend(lens)
            self._s_base.extend([base] * len(lens))
        self._take_results(ev.get("system_results") or [], base, len(groups))
        self._take_errors(ev.get("errors") or [], base, len(groups))
        self._g_parts.append(groups)
        self._p_parts.append(phases)
        self._g_counts.append(len(groups))
        self._p_counts.append(len(phases))
        self._n_groups += len(groups)
        ctr = ev.get("counters")
        if isinstance(ctr, dict):
            self._take_counters(ctr, len(self._ticks) - 1)
        return True

    def _systems(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Expand compact records to (rows, group row of each row), vectorised.

        Rows are column-major: every consumer reads whole columns (``systems[:, 2]``), and
        filling them column by column is then a contiguous write.
        """
        width = len(SYSTEM_FIELDS)
        if not self._s_lens:
            return np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.int64)
        flat = np.concatenate(self._s_flat)
        lens = np.asarray(self._s_lens, dtype=np.int64)
        base = np.asarray(self._s_base, dtype=np.int64)
        offs = np.zeros(len(lens), dtype=np.int64)
        np.cumsum(lens[:-1], out=offs[1:])
        n = lens - 3  # systems per record
        rows = np.empty((int(n.sum()), width), dtype=np.int64, order="F")
        rows[:, 4:] = 0  # results and flags: filled from the sparse system_results afterwards
        if (n == 1).all():  # one system per record (summaries built by hand): no expansion
            rows[:, 0] = base + flat[offs]
            rows[:, 1] = flat[offs + 1]
            rows[:, 2] = flat[offs + 2]
            rows[:, 3] = flat[offs + 3]
        else:
            # In flat, every record is [group_pos, first, t0 .. tn]: the start times are every
            # position except the two header ints and the last time of each record, and the
            # end times sit one position later. Two boolean compressions write the time columns
            # in place, without index arrays as long as the rows.
            is_start = np.ones(len(flat), dtype=np.bool_)
            is_start[offs] = False
            is_start[offs + 1] = False
            is_start[offs + lens - 1] = False
            np.compress(is_start, flat, out=rows[:, 2])
            np.compress(is_start[:-1], flat[1:], out=rows[:, 3])
            rows[:, 0] = np.repeat(base + flat[offs], n)
            # system index = first + k, where k counts up inside each record
            rows[:, 1] = np.repeat(flat[offs + 1] - (np.cumsum(n) - n), n)
            rows[:, 1] += np.arange(len(rows), dtype=np.int64)
        return rows, rows[:, 0]

    def build(self, warnings: list[str] | None = None) -> TraceData:
        """The columns accumulated so far (a new object; the builder keeps accumulating)."""
        self._flush()
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
            counters=self._counter_columns(),
            marks=list(self._marks),
            warnings=list(warnings if warnings is not None else self.warnings),
            complete=self.complete,
        )


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
            for ev in reader:
                builder.add(ev)
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
