"""The one error hierarchy of the library.

Every error the library raises on purpose derives from :class:`EcsError`, so a host can
catch everything with one ``except`` clause, or pick the precise leaf it cares about::

    EcsError
    ├── EntityError
    │   ├── StaleEntityError          an id whose entity was destroyed (or never existed)
    │   └── MissingComponentError     the entity is alive but lacks the component
    ├── ComponentError
    │   ├── UnregisteredComponentError  a component type the world does not know
    │   ├── ComponentDefinitionError    a class that cannot be a component
    │   ├── DuplicateComponentError     the same component twice in one spawn
    │   └── FieldValueError             wrong dtype, shape or length for a field
    ├── ResourceError                 an unknown or wrongly typed resource
    ├── StorageError                  an unknown storage name or a broken custom storage
    ├── StructuralChangeError         spawn/destroy/add/remove while queries are running
    ├── CommandError                  a command that cannot be recorded or applied
    ├── AccessError                   a system touched what it did not declare
    ├── BuildError                    the scheduler description is invalid
    │   ├── DuplicateSystemError
    │   ├── OwnershipError            two groups write the same component
    │   ├── AsyncWriteError           an async group writes without allow_writes
    │   ├── AsyncNotAllowedError      a system in an async group lacks async_allowed
    │   ├── UnknownComponentError     a declared component the world has not registered
    │   └── UnknownResourceError      a declared resource the world does not hold
    ├── PluginError                   a plugin's register() failed; names the plugin
    ├── TickError                     a group under the ABORT policy failed
    ├── TickArgumentError             a bad dt or tick count for tick(), run(), steps(), set_time()
    ├── SnapshotError                 a snapshot is corrupt, truncated or does not fit
    └── TraceFormatError              a trace file or stream cannot be read

Messages always name the thing at fault (entity id, component, system, group), because the
person reading them is usually looking at a game that just stopped.
"""

from __future__ import annotations

from typing import final

__all__ = [
    "AccessError",
    "AsyncNotAllowedError",
    "AsyncWriteError",
    "BuildError",
    "CommandError",
    "ComponentDefinitionError",
    "ComponentError",
    "DuplicateComponentError",
    "DuplicateSystemError",
    "EcsError",
    "EntityError",
    "FieldValueError",
    "MissingComponentError",
    "OwnershipError",
    "PluginError",
    "ResourceError",
    "SnapshotError",
    "StaleEntityError",
    "StorageError",
    "StructuralChangeError",
    "TickArgumentError",
    "TickError",
    "TraceFormatError",
    "UnknownComponentError",
    "UnknownResourceError",
    "UnregisteredComponentError",
]


class EcsError(Exception):
    """Base class of every error raised by the library."""


class EntityError(EcsError):
    """Something is wrong with an entity id."""


@final
class StaleEntityError(EntityError):
    """The entity id refers to an entity that is not alive (destroyed, or never spawned)."""

    def __init__(self, message: str, entity: int) -> None:
        super().__init__(message)
        self.entity = entity


@final
class MissingComponentError(EntityError):
    """The entity is alive but does not have the requested component."""


class ComponentError(EcsError):
    """Something is wrong with a component type or a component value."""


@final
class UnregisteredComponentError(ComponentError):
    """A component type was used before ``World.register_component``."""


@final
class ComponentDefinitionError(ComponentError):
    """A class cannot be turned into a component (bad field annotation, for instance)."""


@final
class DuplicateComponentError(ComponentError):
    """The same component type appears twice where it may appear once."""


@final
class FieldValueError(ComponentError):
    """A value has the wrong dtype, shape or length for a component field."""


@final
class ResourceError(EcsError):
    """A resource is missing, or a value of the wrong type was given for it."""


@final
class StorageError(EcsError):
    """An unknown storage name, or a custom storage that broke its contract."""


@final
class StructuralChangeError(EcsError):
    """A structural change was attempted directly while queries are iterating.

    Inside a tick, use the system's command buffer (``ctx.commands``) instead.
    """


@final
class CommandError(EcsError):
    """A command cannot be recorded (bad arguments) or applied."""


@final
class AccessError(EcsError):
    """A system touched a component or resource outside its declared access."""


class BuildError(EcsError):
    """The scheduler description is invalid.

    Raised by ``SchedulerBuilder.build()`` for groups, observers and builder options, and
    as soon as a system, :class:`~ecs.SystemDescriptor` or :class:`~ecs.Interval` is
    declared with a bad argument: never later, at the first tick.
    """


@final
class DuplicateSystemError(BuildError):
    """The same system (or two systems with one name) was registered twice."""


@final
class OwnershipError(BuildError):
    """Two work groups declare writes to the same component or resource."""


@final
class AsyncWriteError(BuildError):
    """An async group writes a component without ``allow_writes=True``."""


@final
class AsyncNotAllowedError(BuildError):
    """A system without ``async_allowed=True`` was placed in an async group."""


@final
class UnknownComponentError(BuildError):
    """A system declares a component the world has not registered."""


@final
class UnknownResourceError(BuildError):
    """A system declares a resource the world does not hold."""


@final
class PluginError(EcsError):
    """A plugin's ``register`` raised; the plugin is named and the cause chained."""


@final
class TickError(EcsError):
    """A system failed in a group whose policy is ABORT (or RETRY falling back to ABORT).

    Attributes name the group and system; ``original`` is the exception the system raised
    (also chained as ``__cause__``).
    """

    def __init__(self, group: str, system: str, original: BaseException, tick: int) -> None:
        super().__init__(
            f"tick {tick}: system {system!r} in group {group!r} failed: {type(original).__name__}: {original}"
        )
        self.group = group
        self.system = system
        self.original = original
        self.tick = tick


@final
class TickArgumentError(EcsError, ValueError):
    """A bad ``dt``, tick count or time given to a scheduler that is ticking.

    ``Scheduler.tick``, ``run``, ``steps``, ``run_with_trace`` and ``set_time`` check their
    arguments before doing any work, so the world, the ``Time`` resource and the tick count
    are unchanged when this is raised. It is also a :class:`ValueError`, like the error
    ``FixedTimestep.advance`` raises for a bad frame time.
    """


@final
class SnapshotError(EcsError):
    """A snapshot is corrupt, truncated, of an unknown version, or does not fit the world."""


@final
class TraceFormatError(EcsError):
    """A trace file or stream is unreadable (for example a newer major schema version)."""
