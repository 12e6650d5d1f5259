"""Catching hitches: keep the last ticks in memory, write them out when one runs long.

A game that stutters once an hour does not want a trace of the whole hour. A
:class:`FlightRecorder` keeps the last ``keep`` ticks as the scheduler's own summaries
(nothing is encoded while all is well), and when a tick runs over ``budget_ms`` it waits
``after`` more ticks, then writes everything it holds to a trace file of its own: the run-up
to the hitch, the hitch, and what followed. The files are ordinary traces; ``ecs-profiler``,
``ecs-trace summary`` and Perfetto (after ``ecs-trace export``) open them::

    recorder = FlightRecorder("hitches", budget_ms=16.7)
    sched.add_observer(recorder)
    ...                                 # play; each hitch leaves hitches/hitch-00012345.trace.jsonl.gz
    recorder.dump()                     # or write the last ticks now (a debug key, a bug report)
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import numbers
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Final

from .._checks import check_count, is_finite_real, is_int
from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._schema import Encoder, line_encoder

__all__ = ["FlightRecorder"]

_log = logging.getLogger("ecs.trace.flight")
#: Longest ``prefix``, in UTF-8 bytes: with the tick and suffix a file name stays under 255.
_MAX_PREFIX: Final = 200


def _ready_directory(directory: Any) -> Path:
    """``directory`` as a Path, created if missing; a TypeError/ValueError/OSError naming it."""
    if not isinstance(directory, str | os.PathLike) or isinstance(os.fspath(directory), bytes):
        raise TypeError(f"FlightRecorder: directory must be a str path, got {directory!r}")
    path = Path(directory)
    if "\0" in str(path):
        raise ValueError(f"FlightRecorder: directory {str(path)!r} contains a NUL character")
    if path.exists() and not path.is_dir():
        message = f"FlightRecorder: directory {str(path)!r} exists and is not a directory"
        raise NotADirectoryError(errno.ENOTDIR, message)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # OSError(errno, ...) keeps the subclass: FileExistsError, PermissionError...
        raise OSError(exc.errno, f"FlightRecorder: cannot use directory {str(path)!r}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"FlightRecorder: directory {str(path)!r} is not writable")
    return path


class FlightRecorder(SchedulerObserver):
    """Keeps the last ``keep`` ticks (and marks) and writes them out around each hitch.

    ``budget_ms``: a tick longer than this (start to end, as the trace measures it) is a
    hitch; None disables detection (write with :meth:`dump` only). ``after``: ticks kept
    after a hitch before its file is written, so a file holds about ``keep - after`` ticks
    before it. A hitch during those ``after`` ticks goes into the same file. At most
    ``max_files`` files are written (``skipped`` counts the rest), named
    ``{prefix}-{tick:08d}.trace.jsonl.gz`` after the hitch's tick (``.jsonl`` without
    ``compress``). Files are encoded and written on a background thread; :meth:`wait` blocks
    until they are on disk, and closing the scheduler (or removing the observer) writes a
    pending hitch with the ticks it has.

    On the game thread a tick costs what any ``on_tick`` observer costs the scheduler (its
    records are kept) plus a deque append: nothing is encoded until a file is written.
    Systems are timed as :class:`~ecs.SystemSampling` says; a group that is usually cheap is
    timed on one tick in 16, so its hitch may show without per-system detail unless you set
    ``SystemSampling(every=1)``.

    Settings are checked when the recorder is built: ``directory`` is created then (an
    ``OSError`` naming it if it cannot be, e.g. a file is in the way), and a ``prefix`` that
    is not a plain file-name part, a ``budget_ms`` that is not a finite number > 0, and counts
    out of range raise a TypeError/ValueError naming them. A file that fails later (the disk
    filled up, the directory was removed) is left out of :attr:`files` and its error kept in
    :attr:`error`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] = ".",
        *,
        budget_ms: float | None = 16.7,
        keep: int = 600,
        after: int = 60,
        prefix: str = "hitch",
        max_files: int = 20,
        compress: bool = True,
    ) -> None:
        keep = check_count("FlightRecorder", "keep", keep)
        if not is_int(after) or not 0 <= after < keep:
            raise ValueError(f"FlightRecorder: after must be an int in [0, keep), got {after!r} (keep={keep})")
        after = int(after)
        budget: Any = budget_ms  # checked as the Any it may really be
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
                raise TypeError(f"FlightRecorder: budget_ms must be a finite number > 0 or None, got {budget!r}")
            if not (is_finite_real(budget) and budget > 0):
                raise ValueError(f"FlightRecorder: budget_ms must be a finite number > 0 or None, got {budget!r}")
        max_files = check_count("FlightRecorder", "max_files", max_files)
        if not isinstance(prefix, str):
            raise TypeError(f"FlightRecorder: prefix must be a str, got {prefix!r}")
        if (
            not prefix
            or prefix in (".", "..")
            or "\0" in prefix
            or os.sep in prefix
            or (os.altsep and os.altsep in prefix)
            or len(prefix.encode("utf-8", "surrogatepass")) > _MAX_PREFIX
        ):
            raise ValueError(
                f"FlightRecorder: prefix must be a plain file name part (no separators or NUL, "
                f"at most {_MAX_PREFIX} bytes), got {prefix!r}"
            )
        self.directory = _ready_directory(directory)
        self.budget_ms = budget_ms
        self.keep = keep
        self.after = after
        self.prefix = prefix
        self.max_files = max_files
        self.compress = compress
        #: ticks over budget seen so far
        self.hitches = 0
        #: files written so far, in the order they were started (one that failed is not listed)
        self.files: list[Path] = []
        #: files not written because ``max_files`` was reached
        self.skipped = 0
        #: the error that stopped a file, if any (the game is never interrupted)
        self.error: BaseException | None = None
        self._reserved: set[Path] = set()  # names handed out, written or not: never reused
        self._budget_ns = None if budget_ms is None else int(budget_ms * 1_000_000)
        # TickSummary objects, and marks as (tick, name, t_ns, data) tuples, in order
        self._ring: deque[Any] = deque(maxlen=keep)
        self._encoder: Encoder | None = None
        self._countdown = 0  # ticks still to keep before a pending hitch is written (0: none)
        self._hitch_tick = -1
        self._hitch_files = 0
        self._writers: list[threading.Thread] = []
        self._last_writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- observer interface ------------------------------------------------------------------------
    def on_start(self, info: SchedulerInfo) -> None:
        if self._encoder is None:  # one scheduler per recorder: its tables name the groups
            self._encoder = Encoder(info)

    def on_tick(self, summary: TickSummary) -> None:
        if self._closed:
            return
        self._ring.append(summary)
        budget = self._budget_ns
        if budget is not None and summary.end_ns - summary.start_ns > budget:
            self.hitches += 1
            if not self._countdown:  # a later hitch while one is pending goes into its file
                self._countdown = self.after + 1  # this tick, then ``after`` more
                self._hitch_tick = summary.tick
        if self._countdown:
            self._countdown -= 1
            if not self._countdown:
                self._write_pending()

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        if not self._closed:
            self._ring.append((tick, name, t_ns, dict(data)))

    def on_close(self) -> None:
        if self._closed:
            return
        if self._countdown:  # a hitch still waiting for its after-ticks: write what there is
            self._write_pending()
        self._closed = True
        self.wait()

    # -- writing -----------------------------------------------------------------------------------
    def dump(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the ticks held now to ``path`` (default: a new file named after the last tick).

        Returns the path, or None when there is nothing to write yet (no tick seen). Blocks
        until the file is written; raises the ``OSError`` if it could not be. A ``path`` of
        your own is gzip-compressed when its name ends in ``.gz``; one that is not a ``str``
        path, or holds a NUL, is refused with a TypeError/ValueError. Not counted against
        ``max_files``.
        """
        if path is not None:
            if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
                raise TypeError(f"FlightRecorder.dump: path must be a str path or None, got {path!r}")
            if "\0" in os.fspath(path):
                raise ValueError(f"FlightRecorder.dump: path {os.fspath(path)!r} contains a NUL character")
        if self._encoder is None or not self._ring:
            return None
        items = list(self._ring)
        last = next((x.tick for x in reversed(items) if isinstance(x, TickSummary)), 0)
        if path is None:
            target, compress = self._new_path(last, "dump"), self.compress
        else:
            target = Path(path)
            compress = target.name.endswith(".gz")
        error = self._write(items, target, {"reason": "dump", "tick": last}, compress)
        if error is not None:
            raise error
        self.files.append(target)
        return target

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every file started so far is written."""
        with self._lock:
            writers, self._writers = self._writers, []
        for t in writers:
            t.join(timeout)

    def _write_pending(self) -> None:
        tick, self._countdown, self._hitch_tick = self._hitch_tick, 0, -1
        if self._encoder is None:
            return
        if self._hitch_files >= self.max_files:
            self.skipped += 1
            return
        self._hitch_files += 1
        items = list(self._ring)  # the summaries are frozen: the thread may read them later
        path = self._new_path(tick, self.prefix)
        info = {"reason": "hitch", "tick": tick, "budget_ms": self.budget_ms}
        thread = threading.Thread(
            target=self._write_in_background,
            args=(items, path, info, self._last_writer),
            name="ecs-flight-writer",
            daemon=True,
        )
        self._last_writer = thread
        with self._lock:
            self._writers.append(thread)
        thread.start()

    def _new_path(self, tick: int, stem: str) -> Path:
        suffix = ".trace.jsonl.gz" if self.compress else ".trace.jsonl"
        path = self.directory / f"{stem}-{tick:08d}{suffix}"
        n = 1
        while path.exists() or path in self._reserved:  # a second dump at the same tick
            path = self.directory / f"{stem}-{tick:08d}-{n}{suffix}"
            n += 1
        self._reserved.add(path)
        return path

    def _write_in_background(
        self, items: list[Any], path: Path, flight: dict[str, Any], before: threading.Thread | None
    ) -> None:
        error = self._write(items, path, flight, self.compress)
        if before is not None:
            before.join()  # list files in the order their hitches happened
        if error is not None:
            self.error = error
        else:
            self.files.append(path)

    def _write(self, items: list[Any], path: Path, flight: dict[str, Any], compress: bool) -> Exception | None:
        """Encode ``items`` into a whole trace file at ``path``; the error, if it failed."""
        encoder = self._encoder
        assert encoder is not None
        dumps = line_encoder()
        ticks = sum(1 for x in items if isinstance(x, TickSummary))
        tmp = path.with_name(path.name + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as raw:
                out: Any = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if compress else raw
                out.write(dumps(encoder.header(flight=flight)))
                for x in items:
                    out.write(dumps(encoder.tick(x) if isinstance(x, TickSummary) else Encoder.mark(*x)))
                out.write(dumps(Encoder.end(ticks)))
                if out is not raw:
                    out.close()
            tmp.replace(path)  # a file that exists is whole
        except Exception as exc:  # noqa: BLE001 - OSError: disk full, directory gone; else a bug, logged
            if not isinstance(exc, OSError):
                _log.error("FlightRecorder could not write %s", path, exc_info=True)
            with contextlib.suppress(OSError, ValueError):  # no half-written file left behind
                tmp.unlink(missing_ok=True)
            return exc
        return None
