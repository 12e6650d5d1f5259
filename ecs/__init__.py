"""ecs: an entity-component-system with a deterministic scheduler, for Python games and servers."""

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
from ._errors import *  # noqa: F403
from ._query import Batch as Batch
from ._query import ComponentView as ComponentView
from ._world import World as World
from ._world import WorldStats as WorldStats
