"""Work groups, the builder that validates them, and the scheduler that runs them."""

from ._builder import Plan as Plan
from ._builder import PlannedGroup as PlannedGroup
from ._builder import Plugin as Plugin
from ._builder import SchedulerBuilder as SchedulerBuilder
from ._scheduler import GroupStats as GroupStats
from ._scheduler import Scheduler as Scheduler
from ._types import ErrorPolicy as ErrorPolicy
from ._types import GroupResult as GroupResult
from ._types import Mode as Mode
from ._types import SystemSampling as SystemSampling
from ._types import Time as Time
from ._types import WorkGroup as WorkGroup

__all__ = [
    "ErrorPolicy",
    "GroupResult",
    "GroupStats",
    "Mode",
    "Plan",
    "PlannedGroup",
    "Plugin",
    "Scheduler",
    "SchedulerBuilder",
    "SystemSampling",
    "Time",
    "WorkGroup",
]
