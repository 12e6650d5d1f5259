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
import gzip
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from .._summary import SchedulerInfo, SchedulerObserver, TickSummary
from ._schema import Encoder, line_encoder

__all__ = ["FlightRecorder"]


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
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"FlightRecorder: keep must be an int >= 1, got {keep!r}")
        if not isinstance(after, int) or not 0 <= after < keep:
            raise ValueError(f"FlightRecorder: after must be an int in [0, keep), got {after!r} (keep={keep})")
        if budget_ms is not None and not budget_ms > 0:
            raise ValueError(f"FlightRecorder: budget_ms must be > 0 or None, got {budget_ms!r}")
        if not isinstance(max_files, int) or max_files < 1:
            raise ValueError(f"FlightRecorder: max_files must be an int >= 1, got {max_files!r}")
        if not prefix or os.sep in prefix or (os.altsep and os.altsep in prefix):
            raise ValueError(f"FlightRecorder: prefix must be a plain file name part, got {prefix!r}")
        self.directory = Path(directory)
        self.budget_ms = budget_ms
        self.keep = keep
        self.after = after
        self.prefix = prefix
        self.max_files = max_files
        self.compress = compress
        #: ticks over budget seen so far
        self.hitches = 0
        #: files written (or being written) so far, in order
        self.files: list[Path] = []
        #: files not written because ``max_files`` was reached
        self.skipped = 0
        #: the I/O error that stopped a file, if any (the game is never interrupted)
        self.error: BaseException | None = None
        self._budget_ns = None if budget_ms is None else int(budget_ms * 1_000_000)
        # TickSummary objects, and marks as (tick, name, t_ns, data) tuples, in order
        self._ring: deque[Any] = deque(maxlen=keep)
        self._encoder: Encoder | None = None
        self._countdown = 0  # ticks still to keep before a pending hitch is written (0: none)
        self._hitch_tick = -1
        self._hitch_files = 0
        self._writers: list[threading.Thread] = []
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
        your own is gzip-compressed when its name ends in ``.gz``. Not counted against
        ``max_files``.
        """
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
        if path is not None:
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
            target=self._write_in_background, args=(items, path, info), name="ecs-flight-writer", daemon=True
        )
        with self._lock:
            self._writers.append(thread)
        thread.start()

    def _new_path(self, tick: int, stem: str) -> Path:
        suffix = ".trace.jsonl.gz" if self.compress else ".trace.jsonl"
        path = self.directory / f"{stem}-{tick:08d}{suffix}"
        n = 1
        while path.exists() or path in self.files:  # a second dump at the same tick
            path = self.directory / f"{stem}-{tick:08d}-{n}{suffix}"
            n += 1
        self.files.append(path)
        return path

    def _write_in_background(self, items: list[Any], path: Path, flight: dict[str, Any]) -> None:
        error = self._write(items, path, flight, self.compress)
        if error is not None:
            self.error = error

    def _write(self, items: list[Any], path: Path, flight: dict[str, Any], compress: bool) -> OSError | None:
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
        except OSError as exc:
            with contextlib.suppress(OSError):  # no half-written file left behind
                tmp.unlink(missing_ok=True)
            return exc
        return None
