"""Recording ticks to a trace file.

:class:`TraceRecorder` is a :class:`~ecs.SchedulerObserver` that writes the schema of
``_schema.py`` as newline-delimited JSON, gzip-compressed when the path ends in ``.gz``::

    recorder = TraceRecorder("run.trace.jsonl.gz")
    sched.add_observer(recorder)
    sched.run(ticks=600, dt=1 / 60)
    sched.remove_observer(recorder)      # writes the end record and closes the file

or simply ``sched.run_with_trace("run.trace.jsonl.gz", ticks=600, dt=1 / 60)``.

Cost on the game thread: keeping each tick's summary, and every ``encode_every`` ticks (16)
encoding the batch (orjson when installed): right after a tick's real work the interpreter's
caches are cold, and encoding sixteen ticks in one go costs far less than one at the end of
each. Writing, and for ``.gz`` compressing, happens on a background thread; zlib releases the
GIL while it compresses, so on a multi-core machine compression runs beside the game. The
writer flushes about every ``flush_every`` ticks (gzip with a sync flush; batches are never
larger than ``flush_every``), so a crash leaves a readable prefix about that far behind.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import threading
import zlib
from collections import deque
from typing import IO, Any, cast

from .._checks import check_count, is_int
from .._errors import EcsError
from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._schema import Encoder, line_encoder

__all__ = ["TraceRecorder"]

_log = logging.getLogger("ecs.trace.recorder")


class _Writer:
    """Moves encoded lines to the output on a daemon thread, in order."""

    def __init__(self, out: IO[bytes], raw: IO[bytes], flush_every: int) -> None:
        self._out = out
        self._raw = raw
        # A deque: appending needs no lock (the game thread only appends; this thread pops).
        self._pending: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._flush_every = flush_every
        self._lines_since_flush = 0
        self._flush_requested = False
        self._stopping = False
        self._idle = True
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ecs-trace-writer", daemon=True)
        self._thread.start()

    def put(self, data: bytes, lines: int = 1) -> None:
        if self.error is not None:
            return  # recording stopped: keep no lines nobody will write
        self._pending.append(data)
        self._lines_since_flush += lines
        if self._lines_since_flush >= self._flush_every:
            self._lines_since_flush = 0
            with self._cond:
                self._flush_requested = True
                self._cond.notify()

    def flush(self, wait: bool = True) -> None:
        """Write everything queued so far and flush it to the OS."""
        with self._cond:
            self._flush_requested = True
            self._cond.notify()
            if wait:
                self._cond.wait_for(self._drained, 30)

    def _drained(self) -> bool:
        # A writer that failed (or is gone) never drains: stop waiting for it.
        return self.error is not None or (self._idle and not self._pending and not self._flush_requested)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(30)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._flush_requested or self._stopping, 0.25)
                pending = self._pending
                batch = [pending.popleft() for _ in range(len(pending))]
                flush = self._flush_requested or self._stopping
                self._flush_requested = False
                stopping = self._stopping
                self._idle = False
            try:
                if batch:
                    self._out.write(b"".join(batch))
                if flush:
                    out: Any = self._out
                    if isinstance(out, gzip.GzipFile):
                        out.flush(zlib.Z_SYNC_FLUSH)
                    else:
                        out.flush()
                    if self._raw is not self._out:
                        self._raw.flush()
            except Exception as exc:  # noqa: BLE001 - disk full, closed stream, a bad target: stop, keep the game
                _log.debug("trace writer stopped", exc_info=True)
                with self._cond:
                    self.error = exc
                    self._pending.clear()
                    self._idle = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._idle = True
                self._cond.notify_all()
            if stopping and not self._pending:
                return


def _check_target(target: Any) -> None:
    """Refuse a ``target`` the writer thread could not write bytes to (TypeError/ValueError)."""
    if isinstance(target, str | os.PathLike):
        path = os.fspath(target)
        if isinstance(path, bytes):
            raise TypeError(f"TraceRecorder: target must be a str path, got the bytes path {target!r}; decode it")
        if "\0" in path:
            raise ValueError(f"TraceRecorder: target {path!r} contains a NUL character")
        return
    if isinstance(target, bytes):
        raise TypeError(f"TraceRecorder: target must be a str path, got the bytes path {target!r}; decode it")
    if isinstance(target, io.TextIOBase):
        raise TypeError(f"TraceRecorder: target {target!r} takes text; traces are bytes: open the file with 'wb'")
    if not callable(getattr(target, "write", None)):
        raise TypeError(
            f"TraceRecorder: target must be a path or a binary file object opened for writing, got {target!r}"
        )
    if getattr(target, "closed", False):
        raise ValueError(f"TraceRecorder: target {target!r} is closed")
    writable = getattr(target, "writable", None)
    if callable(writable) and not writable():
        raise ValueError(f"TraceRecorder: target {target!r} is not open for writing")


class TraceRecorder(SchedulerObserver):
    """Writes every tick of the scheduler it observes to a trace file or binary stream.

    ``target`` is a path (``str`` or ``os.PathLike``; ``.gz`` compresses) or a binary file
    object open for writing; text streams, bytes paths and closed or read-only files are
    refused at construction with a TypeError/ValueError naming ``target``, as are
    ``compresslevel`` outside 0..9 and counts that are not ints >= 1, before any file is
    opened. A failure while writing stops the recording (the game goes on) and is kept in
    :attr:`error`.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        *,
        flush_every: int = 60,
        compresslevel: int = 6,
        close_target: bool | None = None,
        encode_every: int = 16,
    ) -> None:
        _check_target(target)
        flush_every = check_count("TraceRecorder", "flush_every", flush_every)
        encode_every = check_count("TraceRecorder", "encode_every", encode_every)
        if not is_int(compresslevel):
            raise TypeError(f"TraceRecorder: compresslevel must be an int in 0..9, got {compresslevel!r}")
        if not 0 <= compresslevel <= 9:
            raise ValueError(f"TraceRecorder: compresslevel must be an int in 0..9, got {compresslevel!r}")
        self._encoder: Encoder | None = None
        # Ticks wait here and are encoded encode_every at a time: right after a tick's real
        # work the interpreter's caches are cold, and encoding a batch in one go costs a
        # third of encoding each tick as it ends (see docs/observability.md).
        self._batch: list[TickSummary] = []
        self._encode_every = max(1, min(encode_every, flush_every))
        self.ticks = 0
        self.closed = False
        self._close_error: BaseException | None = None
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            self.path: str | None = path
            raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - owned by the recorder, closed in on_close
            gz = path.endswith(".gz")
            try:
                out: IO[bytes] = (
                    cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=int(compresslevel)))
                    if gz
                    else raw
                )
            except BaseException:
                raw.close()
                raise
            self._close_target = True if close_target is None else close_target
        else:
            self.path = None
            raw = out = target
            self._close_target = bool(close_target)
        self._out = out
        self._raw = raw
        self._writer = _Writer(out, raw, flush_every)
        self._dumps = line_encoder()

    @property
    def error(self) -> BaseException | None:
        """The error that stopped recording, if any (the game is never interrupted)."""
        return self._writer.error if self._writer.error is not None else self._close_error

    def _write(self, obj: dict[str, Any]) -> None:
        self._writer.put(self._dumps(obj))

    def _encode_batch(self) -> None:
        batch, self._batch = self._batch, []
        if batch and self._encoder is not None:
            tick, dumps = self._encoder.tick, self._dumps
            self._writer.put(b"".join([dumps(tick(t)) for t in batch]), len(batch))

    def flush(self) -> None:
        """Block until everything recorded so far is written and flushed."""
        self._encode_batch()
        self._writer.flush(wait=True)

    def on_start(self, info: SchedulerInfo) -> None:
        # One file, one header, one scheduler: a recorder attached twice would record nothing
        # the second time (or mix two games in one file), so it says so when attached.
        if self.closed:
            raise EcsError("TraceRecorder: this recorder is closed; make a new one for another recording")
        if self._encoder is not None:
            raise EcsError("TraceRecorder: already recording a scheduler; each scheduler needs its own recorder")
        self._encoder = Encoder(info)
        self._write(self._encoder.header())
        self._writer.flush(wait=False)

    def on_tick(self, summary: TickSummary) -> None:
        if self._encoder is None or self.closed:
            return
        self._batch.append(summary)
        self.ticks += 1
        if len(self._batch) >= self._encode_every:
            self._encode_batch()

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        if self._encoder is None or self.closed:
            return
        self._encode_batch()  # keep the order of ticks and marks
        self._write(Encoder.mark(tick, name, t_ns, data))

    def on_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._encoder is not None:
            self._encode_batch()
            self._write(Encoder.end(self.ticks))
        self._writer.flush(wait=True)
        self._writer.close()
        if self._close_target:
            try:
                self._out.close()
            except (OSError, ValueError) as exc:  # the disk filled up on gzip's last block: keep it
                self._close_error = exc
            finally:
                if self._raw is not self._out:
                    self._raw.close()
