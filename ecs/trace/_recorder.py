"""Recording ticks to a trace file.

:class:`TraceRecorder` is a :class:`~ecs.SchedulerObserver` that writes the schema of
``_schema.py`` as newline-delimited JSON, gzip-compressed when the path ends in ``.gz``::

    recorder = TraceRecorder("run.trace.jsonl.gz")
    sched.add_observer(recorder)
    sched.run(ticks=600, dt=1 / 60)
    sched.remove_observer(recorder)      # writes the end record and closes the file

or simply ``sched.run_with_trace("run.trace.jsonl.gz", ticks=600, dt=1 / 60)``.

The file is flushed every ``flush_every`` ticks (gzip with a sync flush), so a crash leaves a
readable prefix that is at most that many ticks behind.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from typing import IO, Any, cast

from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._schema import Encoder

__all__ = ["TraceRecorder"]


class TraceRecorder(SchedulerObserver):
    """Writes every tick of the schedulers it observes to a trace file or binary stream."""

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        *,
        flush_every: int = 60,
        compresslevel: int = 6,
        close_target: bool | None = None,
    ) -> None:
        self._encoder: Encoder | None = None
        self._flush_every = max(1, flush_every)
        self._since_flush = 0
        self.ticks = 0
        self.closed = False
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            self.path: str | None = path
            raw: IO[bytes] = open(path, "wb")  # noqa: SIM115 - owned by the recorder, closed in on_close
            self._gzip = path.endswith(".gz")
            self._out: IO[bytes] = (
                cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel))
                if self._gzip
                else raw
            )
            self._raw = raw
            self._close_target = True if close_target is None else close_target
        else:
            self.path = None
            self._gzip = False
            self._out = target
            self._raw = target
            self._close_target = bool(close_target)
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default).encode

    def _write(self, obj: dict[str, Any]) -> None:
        self._out.write(self._dumps(obj).encode("utf-8") + b"\n")

    def flush(self) -> None:
        out: Any = self._out
        if isinstance(out, gzip.GzipFile):
            out.flush(zlib.Z_SYNC_FLUSH)
        else:
            self._out.flush()
        if self._raw is not self._out:
            self._raw.flush()
        self._since_flush = 0

    def on_start(self, info: SchedulerInfo) -> None:
        if self._encoder is not None:
            return  # one header per file; a second scheduler would need its own recorder
        self._encoder = Encoder(info)
        self._write(self._encoder.header())
        self.flush()

    def on_tick(self, summary: TickSummary) -> None:
        if self._encoder is None or self.closed:
            return
        self._write(self._encoder.tick(summary))
        self.ticks += 1
        self._since_flush += 1
        if self._since_flush >= self._flush_every:
            self.flush()

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        if self._encoder is None or self.closed:
            return
        self._write(Encoder.mark(tick, name, t_ns, data))

    def on_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._encoder is not None:
            self._write(Encoder.end(self.ticks))
        if self._close_target:
            self._out.close()
            if self._raw is not self._out:
                self._raw.close()
        else:
            self.flush()


def _default(obj: Any) -> Any:
    # Mark data may hold numpy scalars or arbitrary objects: never fail a game over a trace.
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    return repr(obj)
