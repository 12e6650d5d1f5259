"""ecs: an entity-component-system with a deterministic scheduler, for Python games and servers.

Numeric components live in numpy columns; systems declare what they read and write; work
groups run in a fixed order, with read-only async groups on a worker pool; every tick can be
observed, recorded and profiled::

    import numpy as np
    import ecs

    @ecs.component
    class Position:
        xy: ecs.f32x2

    @ecs.component
    class Velocity:
        xy: ecs.f32x2

    @ecs.system(reads=(Velocity,), writes=(Position,))
    def movement(ctx: ecs.ExecutionContext) -> None:
        for batch in ctx.query(Position, Velocity):
            batch[Position].xy += batch[Velocity].xy * np.float32(ctx.dt)

    world = ecs.World(components=[Position, Velocity])
    world.spawn_batch(10_000, {Position: None, Velocity: (1.0, 0.5)})
    builder = ecs.SchedulerBuilder(world)
    builder.add_group("physics", [movement])
    with builder.build() as scheduler:
        scheduler.run(ticks=60, dt=1 / 60)

Everything public is re-exported here; modules with a leading underscore are private.
Sub-packages: ``ecs.storage`` (backends), ``ecs.trace`` (trace files, live stream, metrics,
logs), ``ecs.integrations`` (arcade and headless drivers), ``ecs.testing`` (test doubles).
"""

from ._clock import Clock as Clock
from ._clock import ManualClock as ManualClock
from ._clock import MonotonicClock as MonotonicClock
from ._commands import ApplyStats as ApplyStats
from ._commands import CommandBuffer as CommandBuffer
from ._commands import Mark as Mark
from ._commands import PendingBatch as PendingBatch
from ._commands import PendingEntity as PendingEntity
from ._component import ComponentSpec as ComponentSpec
from ._component import Field as Field
from ._component import FieldSpec as FieldSpec
from ._component import boolean as boolean
from ._component import component as component
from ._component import f32 as f32
from ._component import f32x2 as f32x2
from ._component import f32x3 as f32x3
from ._component import f32x4 as f32x4
from ._component import f64 as f64
from ._component import f64x2 as f64x2
from ._component import f64x3 as f64x3
from ._component import i32 as i32
from ._component import i64 as i64
from ._component import u8 as u8
from ._component import u32 as u32
from ._entity import EntityID as EntityID
from ._entity import EntityRegistry as EntityRegistry
from ._errors import AccessError as AccessError
from ._errors import AsyncNotAllowedError as AsyncNotAllowedError
from ._errors import AsyncWriteError as AsyncWriteError
from ._errors import BuildError as BuildError
from ._errors import CommandError as CommandError
from ._errors import ComponentDefinitionError as ComponentDefinitionError
from ._errors import ComponentError as ComponentError
from ._errors import DuplicateComponentError as DuplicateComponentError
from ._errors import DuplicateSystemError as DuplicateSystemError
from ._errors import EcsError as EcsError
from ._errors import EntityError as EntityError
from ._errors import FieldValueError as FieldValueError
from ._errors import MissingComponentError as MissingComponentError
from ._errors import OwnershipError as OwnershipError
from ._errors import PluginError as PluginError
from ._errors import ResourceError as ResourceError
from ._errors import SnapshotError as SnapshotError
from ._errors import StaleEntityError as StaleEntityError
from ._errors import StorageError as StorageError
from ._errors import StructuralChangeError as StructuralChangeError
from ._errors import TickArgumentError as TickArgumentError
from ._errors import TickError as TickError
from ._errors import TraceFormatError as TraceFormatError
from ._errors import UnknownComponentError as UnknownComponentError
from ._errors import UnknownResourceError as UnknownResourceError
from ._errors import UnregisteredComponentError as UnregisteredComponentError
from ._query import Batch as Batch
from ._query import ComponentView as ComponentView
from ._snapshot import SnapshotCodec as SnapshotCodec
from ._snapshot import WorldSnapshot as WorldSnapshot
from ._summary import ComponentInfo as ComponentInfo
from ._summary import GroupInfo as GroupInfo
from ._summary import GroupSummary as GroupSummary
from ._summary import PhaseSummary as PhaseSummary
from ._summary import SchedulerInfo as SchedulerInfo
from ._summary import SchedulerObserver as SchedulerObserver
from ._summary import SystemInfo as SystemInfo
from ._summary import SystemTimes as SystemTimes
from ._summary import SystemTiming as SystemTiming
from ._summary import TickSummary as TickSummary
from ._system import ExecutionContext as ExecutionContext
from ._system import Interval as Interval
from ._system import System as System
from ._system import SystemDescriptor as SystemDescriptor
from ._system import system as system
from ._world import World as World
from ._world import WorldStats as WorldStats
from .scheduler import ErrorPolicy as ErrorPolicy
from .scheduler import GroupResult as GroupResult
from .scheduler import GroupStats as GroupStats
from .scheduler import Mode as Mode
from .scheduler import Plugin as Plugin
from .scheduler import Scheduler as Scheduler
from .scheduler import SchedulerBuilder as SchedulerBuilder
from .scheduler import SystemSampling as SystemSampling
from .scheduler import Time as Time
from .scheduler import WorkGroup as WorkGroup

__all__ = [
    "AccessError",
    "ApplyStats",
    "AsyncNotAllowedError",
    "AsyncWriteError",
    "Batch",
    "BuildError",
    "Clock",
    "CommandBuffer",
    "CommandError",
    "ComponentDefinitionError",
    "ComponentError",
    "ComponentInfo",
    "ComponentSpec",
    "ComponentView",
    "DuplicateComponentError",
    "DuplicateSystemError",
    "EcsError",
    "EntityError",
    "EntityID",
    "EntityRegistry",
    "ErrorPolicy",
    "ExecutionContext",
    "Field",
    "FieldSpec",
    "FieldValueError",
    "GroupInfo",
    "GroupResult",
    "GroupStats",
    "GroupSummary",
    "Interval",
    "ManualClock",
    "Mark",
    "MissingComponentError",
    "Mode",
    "MonotonicClock",
    "OwnershipError",
    "PendingBatch",
    "PendingEntity",
    "PhaseSummary",
    "Plugin",
    "PluginError",
    "ResourceError",
    "Scheduler",
    "SchedulerBuilder",
    "SchedulerInfo",
    "SchedulerObserver",
    "SnapshotCodec",
    "SnapshotError",
    "StaleEntityError",
    "StorageError",
    "StructuralChangeError",
    "System",
    "SystemDescriptor",
    "SystemInfo",
    "SystemSampling",
    "SystemTimes",
    "SystemTiming",
    "TickArgumentError",
    "TickError",
    "TickSummary",
    "Time",
    "TraceFormatError",
    "UnknownComponentError",
    "UnknownResourceError",
    "UnregisteredComponentError",
    "WorkGroup",
    "World",
    "WorldSnapshot",
    "WorldStats",
    "boolean",
    "component",
    "f32",
    "f32x2",
    "f32x3",
    "f32x4",
    "f64",
    "f64x2",
    "f64x3",
    "i32",
    "i64",
    "system",
    "u8",
    "u32",
]
