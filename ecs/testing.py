"""Test doubles that ship with the library, for your game's own tests.

::

    from ecs.testing import ManualClock, RecordingObserver

    clock = ManualClock()
    rec = RecordingObserver()
    builder = ecs.SchedulerBuilder(world, clock=clock)
    builder.add_observer(rec)
    sched = builder.build()
    sched.tick(1 / 60)
    assert rec.results("physics") == [ecs.GroupResult.EXECUTED]
"""

from __future__ import annotations

from typing import Any

from ._clock import ManualClock
from ._summary import GroupSummary, PhaseSummary, SchedulerInfo, SchedulerObserver, TickSummary
from .scheduler._types import GroupResult

__all__ = ["ManualClock", "RecordingObserver"]


class RecordingObserver(SchedulerObserver):
    """Keeps every summary it receives, in order, for assertions."""

    def __init__(self) -> None:
        self.info: SchedulerInfo | None = None
        self.groups: list[GroupSummary] = []
        self.phases: list[PhaseSummary] = []
        self.ticks: list[TickSummary] = []
        self.marks: list[tuple[int, str, int, dict[str, Any]]] = []
        self.closed = False

    def on_start(self, info: SchedulerInfo) -> None:
        self.info = info

    def on_group(self, summary: GroupSummary) -> None:
        self.groups.append(summary)

    def on_phase(self, summary: PhaseSummary) -> None:
        self.phases.append(summary)

    def on_tick(self, summary: TickSummary) -> None:
        self.ticks.append(summary)

    def on_mark(self, tick: int, name: str, t_ns: int, data: dict[str, Any]) -> None:
        self.marks.append((tick, name, t_ns, data))

    def on_close(self) -> None:
        self.closed = True

    def results(self, group: str) -> list[GroupResult]:
        """The result of ``group`` in every tick it was reported, in order."""
        return [g.result for g in self.groups if g.group == group]

    def clear(self) -> None:
        self.groups.clear()
        self.phases.clear()
        self.ticks.clear()
        self.marks.clear()
