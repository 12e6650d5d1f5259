"""Component storage backends and the protocol they share.

See :mod:`ecs.storage._protocol` for the contract. Pick a backend per component when you
register it::

    world.register_component(Position)                   # archetype chunks (default)
    world.register_component(Health, storage="dense")    # one column indexed by entity
    world.register_component(Name, storage="sparse")     # a dict; default for object fields

and add your own with ``world.register_storage("name", factory)``.
"""

from ._archetype import DEFAULT_CHUNK_ROWS as DEFAULT_CHUNK_ROWS
from ._archetype import Archetype as Archetype
from ._archetype import ArchetypeStorage as ArchetypeStorage
from ._protocol import ComponentStorage as ComponentStorage
from ._protocol import StorageFactory as StorageFactory
from ._side import DenseStorage as DenseStorage
from ._side import SparseStorage as SparseStorage

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Archetype",
    "ArchetypeStorage",
    "ComponentStorage",
    "DenseStorage",
    "SparseStorage",
    "StorageFactory",
]
