"""Opening trace files in a background thread, with progress, so the window stays interactive.

:func:`load_capture` is the whole job (streaming :class:`~ecs.trace.TraceReader` into a
:class:`~ecs.trace.TraceBuilder`, then :func:`~profiler_app._data.index_capture`);
:class:`LoadJob` runs it on a thread and exposes ``progress``, ``capture`` and ``error`` for the
GUI to poll each frame::

    job = LoadJob.start("run.trace.jsonl.gz")
    ...
    if job.done:
        use(job.capture) if job.error is None else show(job.error)

Damage is not an error: a cut-short or partly garbled file loads with what is readable and the
reasons in ``capture.warnings``. Only a file that is not a trace at all, one whose header is
damaged (the reader's :class:`ecs.TraceFormatError` names the field), or an unreadable one
ends in ``error``.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ecs.trace import TraceBuilder, TraceReader

from ._data import Capture, index_capture

__all__ = ["LoadCancelled", "LoadJob", "load_capture"]

#: Ticks read before the columns are sized for the whole file (from the bytes they took).
_SIZE_AFTER = 1024
#: Ticks per column chunk while loading (see :func:`load_capture`).
CHUNK_TICKS = 8192
#: Past this fraction of the file, no more partial captures: each one indexes everything read
#: so far, and the whole capture is only moments away.
PARTIAL_UNTIL = 0.35


class LoadCancelled(Exception):
    """The user cancelled a load."""


def load_capture(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    partial: Callable[[Capture], None] | None = None,
    partial_every: float = 1.5,
) -> Capture:
    """Read a trace file into an indexed :class:`Capture` (see the module docstring).

    ``progress`` receives the fraction of the file read so far (compressed bytes for gzip).
    ``partial``, when given, receives a capture of the ticks read so far after the first chunk
    and then about every ``partial_every`` seconds, so a big file shows its beginning at once.
    Raises :class:`ecs.TraceFormatError` for a file that is not a trace or has a damaged
    header, OSError when it cannot be read, :class:`LoadCancelled` when ``cancelled()`` turns
    true.

    Columns are written in place by one :class:`~ecs.trace.TraceBuilder` (which converts ticks
    in bulk chunks); partial captures are builds (views) of the ticks so far.
    """
    # Pause the cyclic collector while parsing (see ecs.trace.load_trace): parsed events are
    # acyclic, and a collector rescanning them costs a third of a big load.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(path, name, progress, cancelled, partial, partial_every)
    finally:
        if collecting:
            gc.enable()


def _load(
    path: str | os.PathLike[str],
    name: str | None,
    progress: Callable[[float], None] | None,
    cancelled: Callable[[], bool] | None,
    partial: Callable[[Capture], None] | None,
    partial_every: float,
) -> Capture:
    p = Path(path)
    size = max(1, p.stat().st_size)
    label = name or p.name
    # One builder for the whole file, fed a batch of lines at a time. A partial capture (what
    # the window shows while the rest loads) is a build of what came so far: the first after
    # CHUNK_TICKS ticks, then every partial_every seconds in the first part of the file.
    next_partial = time.perf_counter()
    with open(p, "rb") as raw, TraceReader(raw) as reader:
        builder = TraceBuilder(reader.header)
        shown = 0
        sized = False
        while not reader.exhausted:
            # Lines come in batches; while partial captures may still be taken, a batch stops
            # where the next one is due, so partials come at the same ticks as event by event.
            lines = reader.BATCH_LINES
            due_in = CHUNK_TICKS - (len(builder) - shown)
            if partial is not None and due_in > 0 and (shown == 0 or raw.tell() <= PARTIAL_UNTIL * size):
                lines = min(lines, due_in)
            builder.add_events(reader.read_events(lines))
            if not sized and len(builder) >= _SIZE_AFTER:
                # Columns sized for the whole file (extrapolated from the bytes read so far) are
                # written once, in place, into memory mapped ahead of time on another thread.
                builder.reserve(int(len(builder) * size / max(1, raw.tell())))
                sized = True
            if (
                partial is not None
                and len(builder) - shown >= CHUNK_TICKS
                and time.perf_counter() >= next_partial
                and (shown == 0 or raw.tell() <= PARTIAL_UNTIL * size)
            ):
                partial(index_capture(builder.build([]), label))
                shown = len(builder)
                next_partial = time.perf_counter() + partial_every
            if cancelled is not None and cancelled():
                raise LoadCancelled(f"loading {p.name} was cancelled")
            if progress is not None:
                progress(min(1.0, raw.tell() / size))
        data = builder.build()
        data.warnings[:0] = reader.warnings
    if not data.complete:
        data.warnings.append("no end record: the trace was cut short (crash or still being written)")
    if progress is not None:
        progress(1.0)
    return index_capture(data, label)


class LoadJob:
    """One background load; the GUI polls ``done``, ``progress``, ``partial``, ``capture``, ``error``."""

    #: Seconds between partial captures of a long load.
    partial_every = 1.5

    def __init__(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.progress = 0.0
        self.capture: Capture | None = None
        self.partial: Capture | None = None  # the ticks read so far, during a long load
        self.slot: int | None = None  # where the GUI shows the partial capture (set by the state)
        self.error: str | None = None
        self.started = time.perf_counter()
        self.elapsed = 0.0
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ecs-profiler load {self.name}", daemon=True)

    @classmethod
    def start(cls, path: str | os.PathLike[str], name: str | None = None) -> LoadJob:
        job = cls(path, name)
        job._thread.start()
        return job

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _set_progress(self, value: float) -> None:
        self.progress = value

    def _set_partial(self, capture: Capture) -> None:
        self.partial = capture

    def _run(self) -> None:
        try:
            self.capture = load_capture(
                self.path,
                self.name,
                progress=self._set_progress,
                cancelled=self._cancel.is_set,
                partial=self._set_partial,
                partial_every=self.partial_every,
            )
        except LoadCancelled as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message in the GUI, never a crash
            self.error = f"cannot open {self.path}: {type(exc).__name__}: {exc}"
        finally:
            self.elapsed = time.perf_counter() - self.started
            self._done.set()
