"""The worker pool that runs async work groups.

Workers are daemon threads pulling tasks from one FIFO queue. Threads, because numpy
releases the GIL inside large kernels, so a numpy-heavy async group really runs beside the
main thread on another core; a pure-Python async group gains nothing (the GIL) and pays
about 40 us per task, which is why async groups are opt-in and coarse.

Daemon threads, because a system can hang: the scheduler stops waiting for it after its
timeout and the process must still be able to exit. ``close()`` asks workers to stop and
waits a bounded time; a worker stuck in user code is abandoned, never joined forever.

Every task catches every exception (``BaseException`` included), so a failing system can
neither kill a worker nor leave the tick waiting for an event that never comes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Final, final

from .._clock import Clock

__all__ = ["Task", "WorkerPool"]

_STOP: Final = None


@final
class Task:
    """One submitted piece of work and what became of it."""

    __slots__ = ("_fn", "done", "end_ns", "enqueue_ns", "error", "name", "start_ns", "worker")

    def __init__(self, name: str, fn: Callable[[Task], None], enqueue_ns: int) -> None:
        self.name = name
        self._fn = fn
        self.enqueue_ns = enqueue_ns
        self.start_ns = 0
        self.end_ns = 0
        self.worker: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def __repr__(self) -> str:
        state = "done" if self.done.is_set() else ("running" if self.start_ns else "queued")
        return f"<Task {self.name} {state}>"


@final
class WorkerPool:
    """A fixed number of daemon worker threads sharing one FIFO queue."""

    def __init__(self, workers: int, clock: Clock, name: str = "ecs-worker") -> None:
        if workers < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {workers}")
        self.size = workers
        self._clock = clock
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._pending = 0  # tasks submitted and not yet started
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"{name}-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        """Tasks waiting for a worker (not yet started)."""
        return self._pending

    def submit(self, name: str, fn: Callable[[Task], None]) -> Task:
        if self._closed:
            raise RuntimeError("worker pool is closed")
        task = Task(name, fn, self._clock.now_ns())
        with self._lock:
            self._pending += 1
        self._queue.put(task)
        return task

    def _work(self, worker_id: int) -> None:
        while True:
            task = self._queue.get()
            if task is _STOP:
                return
            with self._lock:
                self._pending -= 1
            task.worker = worker_id
            task.start_ns = self._clock.now_ns()
            try:
                task._fn(task)
            except BaseException as exc:  # noqa: BLE001 - a worker must survive anything a system does
                task.error = exc
            finally:
                task.end_ns = self._clock.now_ns()
                task.done.set()

    def close(self, timeout: float = 1.0) -> bool:
        """Stop the workers; returns False if some were stuck in user code (left behind)."""
        if self._closed:
            return True
        self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)
        ok = True
        for t in self._threads:
            t.join(timeout / max(1, len(self._threads)))
            ok &= not t.is_alive()
        return ok
