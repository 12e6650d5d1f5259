"""World snapshots: the whole state of a world, taken in memory, saved to a file, restored.

::

    snap = world.snapshot()              # copies of every column: about 10 ms per 1M entities
    ...                                  # the game goes on
    world.restore(snap)                  # back to exactly that state, all or nothing
    snap.save("level3.ecsnap")
    world.restore(ecs.WorldSnapshot.load("level3.ecsnap"))

Uses: rollback netcode (snapshot every tick, restore and re-simulate when late input
arrives), a rewind key, save games, and reproducing a bug from the state just before it.

**What a snapshot holds.** Every live entity with its id and every component value; the
registry's generations and free list, so ids held by game code stay valid after a restore
and the next spawns get the same ids they would have had; the archetype tables in the same
order and row order, so queries visit entities in the same order and a re-run is
bit-identical; and the world's resources (the random generator's state included). It does
not hold the scheduler's own state (tick count, elapsed time, interval bookkeeping, commands
not yet applied, async groups in flight): restore between ticks, after
``sched.wait_idle()`` when async groups may overrun.

**No code in the data.** Numeric columns are numpy arrays; everything else is JSON.
Object-valued components (a ``str`` name, an inventory list) are saved through a codec
registered for their type, which turns one component into JSON and back::

    world.register_codec(Name, encode=lambda n: n.value, decode=lambda v: Name(value=v))

A world with an object-valued component and no codec refuses to snapshot, with a
:class:`~ecs.SnapshotError` naming the component. Resources are saved when they are plain
JSON values, dataclasses of JSON values, numeric numpy arrays, numpy random generators, or
have a codec; any other resource is refused by name unless the snapshot skips it
(``world.snapshot(skip_resources=[Window])``), in which case restore leaves it alone.

**Restore validates everything first**: format and version, that the snapshot's components
(names, storages, field dtypes and shapes) are exactly the world's, array dtypes and
lengths, and the registry's invariants (each live entity in exactly one in-range table row
that holds that very id, free-list entries dead and unique). It builds the new state
beside the old one and swaps it in only when all of it is valid; on any error the world is
exactly as it was. Query caches are rebuilt because the archetype tables are new objects.

**The file format** (version 1; the full reference is docs/snapshots.md)::

    offset 0    8 bytes   magic b"\\x89ECSSNAP"
    offset 8    8 bytes   H, the header length (unsigned little-endian)
    offset 16  32 bytes   BLAKE2b-256 digest of the header
    offset 48   H bytes   header: UTF-8 JSON (the metadata, plus "arrays": the table of arrays)
    then                  each array as a complete .npy file, back to back, in table order

Every array entry in the table gives its name, offset (from the end of the header), length
and BLAKE2b-256 digest, and the file must end exactly after the last one, so every byte of
a file is covered by a check: a truncated or damaged file is refused, never half-read.
Arrays are read with numpy's .npy parser without pickle (object arrays are refused).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import struct
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, final

import numpy as np
from numpy.typing import NDArray

from ._component import ComponentSpec
from ._entity import DEAD, GENERATION_MASK, INDEX_BITS, EntityRegistry, describe
from ._errors import EcsError, SnapshotError
from .storage import Archetype, ArchetypeStorage, ComponentStorage
from .storage._protocol import gather_checked

if TYPE_CHECKING:
    from ._world import World

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SnapshotCodec",
    "WorldSnapshot",
    "register_codec",
    "restore_snapshot",
    "take_snapshot",
]

FORMAT_NAME: Final = "ecs-world-snapshot"
FORMAT_VERSION: Final = 1
MAGIC: Final = b"\x89ECSSNAP"
_PREFIX: Final = struct.Struct("<8sQ32s")
#: Bounds a reader applies before trusting a length read from a file.
MAX_HEADER_BYTES: Final = 1 << 30
_MAX_NPY_HEADER: Final = 1 << 16
_ARCHETYPE: Final = "archetype"

_BIT_GENERATORS: Final[dict[str, type[np.random.BitGenerator]]] = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


@final
@dataclass(frozen=True, slots=True)
class SnapshotCodec:
    """How values of one type (an object-valued component or a resource) become JSON and back.

    ``encode(value)`` returns plain JSON data (dicts with str keys, lists, str, int, float,
    bool, None); ``decode(data)`` rebuilds an equal value of ``type``.
    """

    type: type
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


# Codecs belong to a world (no global registry), but World stays free of snapshot state:
# they are kept here, keyed weakly by the world that registered them.
_CODECS: weakref.WeakKeyDictionary[World, dict[type, SnapshotCodec]] = weakref.WeakKeyDictionary()


def register_codec(world: World, ctype: type, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> None:
    """Register (or replace) the codec ``world`` uses for values of ``ctype``."""
    if not isinstance(ctype, type):
        raise SnapshotError(f"register_codec: expected a type, got {ctype!r}")
    if not callable(encode) or not callable(decode):
        raise SnapshotError(f"register_codec({ctype.__name__}): encode and decode must be callables")
    _CODECS.setdefault(world, {})[ctype] = SnapshotCodec(ctype, encode, decode)


def _type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _normalize(value: Any, what: str) -> Any:
    """``value`` after a JSON round trip (so memory and file snapshots are identical), or raise."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError, RecursionError) as exc:
        raise SnapshotError(f"{what} is not plain JSON data: {exc}") from None


def _readonly(arr: NDArray[Any]) -> NDArray[Any]:
    view = arr.view()
    view.flags.writeable = False
    return view


@final
class WorldSnapshot:
    """The complete state of a world at one moment: numpy arrays plus JSON metadata.

    Take one with ``world.snapshot()``, restore it with ``world.restore(snap)`` (as often as
    you like: a snapshot is never changed by a restore), write it with :meth:`save` and read
    it back with :meth:`load`. ``meta`` and ``arrays`` expose the contents for tools; the
    format is described in :mod:`ecs._snapshot` and docs/snapshots.md.
    """

    __slots__ = ("_arrays", "_meta")

    _meta: dict[str, Any]
    _arrays: dict[str, NDArray[Any]]

    def __init__(self, meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> None:
        """Assemble a snapshot from parts (tools and tests; ``world.snapshot()`` is the usual way).

        The arrays are kept, not copied, as read-only views: do not change them afterwards.
        Nothing is checked against a world until :meth:`World.restore`.
        """
        if not isinstance(meta, Mapping):
            raise SnapshotError(f"snapshot metadata must be a mapping, got {type(meta).__name__}")
        normal = _normalize(dict(meta), "snapshot metadata")
        if "arrays" in normal:
            raise SnapshotError("snapshot metadata may not use the key 'arrays' (it names the file's array table)")
        if not isinstance(arrays, Mapping):
            raise SnapshotError(f"snapshot arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
        kept: dict[str, NDArray[Any]] = {}
        for name, arr in arrays.items():
            if not isinstance(name, str) or not isinstance(arr, np.ndarray):
                raise SnapshotError(f"snapshot arrays must map str names to numpy arrays, got {name!r}: {type(arr)}")
            if arr.dtype.hasobject:
                raise SnapshotError(f"snapshot array {name!r} holds Python objects; snapshots store numbers only")
            kept[name] = _readonly(arr)
        self._meta = normal
        self._arrays = kept

    @classmethod
    def _adopt(cls, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> WorldSnapshot:
        """Wrap parts already normalised and owned by the snapshot (no copies, no checks)."""
        snap = object.__new__(cls)
        snap._meta = meta
        snap._arrays = {k: _readonly(v) for k, v in arrays.items()}
        return snap

    # -- inspection ---------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        """A copy of the JSON metadata (format, version, components, archetypes, resources ...)."""
        copied: dict[str, Any] = json.loads(json.dumps(self._meta))
        return copied

    @property
    def arrays(self) -> Mapping[str, NDArray[Any]]:
        """The numeric arrays by name (read-only), e.g. ``"archetype/1/Position/xy"``."""
        return MappingProxyType(self._arrays)

    @property
    def version(self) -> Any:
        return self._meta.get("version")

    @property
    def entities(self) -> int:
        """How many live entities the snapshot holds."""
        return int(self._meta.get("entities", 0))

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the metadata is not counted)."""
        return sum(int(a.nbytes) for a in self._arrays.values())

    def __repr__(self) -> str:
        return (
            f"WorldSnapshot({self._meta.get('world')!r}: {self.entities} entities, "
            f"{len(self._arrays)} arrays, {self.nbytes} bytes)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorldSnapshot):
            return NotImplemented
        if self._meta != other._meta or self._arrays.keys() != other._arrays.keys():
            return False
        return all(
            a.dtype == other._arrays[k].dtype and np.array_equal(a, other._arrays[k]) for k, a in self._arrays.items()
        )

    __hash__ = None  # type: ignore[assignment]  # equal snapshots compare by content; they are not keys

    # -- files ----------------------------------------------------------------------------------
    def _encode(self) -> list[bytes]:
        parts: list[bytes] = []
        table = []
        offset = 0
        for name, arr in self._arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            data = buf.getvalue()
            digest = hashlib.blake2b(data, digest_size=32).hexdigest()
            table.append({"name": name, "offset": offset, "nbytes": len(data), "blake2b": digest})
            parts.append(data)
            offset += len(data)
        header = json.dumps({**self._meta, "arrays": table}, allow_nan=False, separators=(",", ":")).encode()
        prefix = _PREFIX.pack(MAGIC, len(header), hashlib.blake2b(header, digest_size=32).digest())
        return [prefix, header, *parts]

    def to_bytes(self) -> bytes:
        """The snapshot in the file format (see the module docstring)."""
        return b"".join(self._encode())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the snapshot to ``path`` atomically (a temporary file, then a rename)."""
        target = Path(_snapshot_path(path, "save"))
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as f:
                for part in self._encode():
                    f.write(part)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WorldSnapshot:
        """Read a snapshot file; a damaged, truncated or foreign file raises SnapshotError."""
        data = Path(_snapshot_path(path, "load")).read_bytes()
        try:
            return cls.from_bytes(data)
        except SnapshotError as exc:
            raise SnapshotError(f"{path}: {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> WorldSnapshot:
        """Parse the file format; every byte is checked (see the module docstring)."""
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            raise SnapshotError(f"a snapshot is read from bytes, got {type(data).__name__}") from None
        size = len(view)
        if size < _PREFIX.size:
            raise SnapshotError(f"not a world snapshot: {size} bytes is less than the {_PREFIX.size}-byte prefix")
        magic, hlen, digest = _PREFIX.unpack_from(view)
        if magic != MAGIC:
            raise SnapshotError("not a world snapshot (the magic bytes do not match)")
        if hlen > min(MAX_HEADER_BYTES, size - _PREFIX.size):
            raise SnapshotError(f"snapshot truncated or damaged: the header claims {hlen} bytes, {size} in the file")
        header = bytes(view[_PREFIX.size : _PREFIX.size + hlen])
        if hashlib.blake2b(header, digest_size=32).digest() != digest:
            raise SnapshotError("snapshot header is damaged (its checksum does not match)")
        try:
            meta = json.loads(header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SnapshotError(f"snapshot header is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise SnapshotError("snapshot header is not a JSON object")
        _check_format(meta)
        table = meta.pop("arrays", None)
        if not isinstance(table, list):
            raise SnapshotError("snapshot header has no array table")
        start = _PREFIX.size + hlen
        offset = 0
        arrays: dict[str, NDArray[Any]] = {}
        for i, entry in enumerate(table):
            where = f"array table entry {i}"
            name = _get(entry, "name", str, where)
            off = _get(entry, "offset", int, where)
            nbytes = _get(entry, "nbytes", int, where)
            hexdigest = _get(entry, "blake2b", str, where)
            if name in arrays:
                raise SnapshotError(f"snapshot lists array {name!r} twice")
            if off != offset or nbytes < 0:
                raise SnapshotError(f"snapshot array {name!r} is not where the table says (offset {off})")
            end = start + off + nbytes
            if end > size:
                raise SnapshotError(f"snapshot truncated: array {name!r} ends at byte {end}, the file has {size}")
            chunk = view[start + off : end]
            if hashlib.blake2b(chunk, digest_size=32).hexdigest() != hexdigest:
                raise SnapshotError(f"snapshot array {name!r} is damaged (its checksum does not match)")
            arrays[name] = _read_npy(chunk, name)
            offset += nbytes
        if start + offset != size:
            raise SnapshotError(f"snapshot has {size - start - offset} unexpected bytes after its last array")
        return cls._adopt(meta, arrays)


def _read_npy(buf: memoryview, name: str) -> NDArray[Any]:
    """A read-only array over ``buf`` (a whole .npy file), refusing object dtypes and slack."""
    head = io.BytesIO(bytes(buf[:_MAX_NPY_HEADER]))
    fmt = np.lib.format
    try:
        version = fmt.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(head)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(head)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as exc:
        raise SnapshotError(f"snapshot array {name!r} is not a valid .npy array: {exc}") from None
    if dtype.hasobject:
        raise SnapshotError(f"snapshot array {name!r} holds Python objects, which snapshots never load")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    start = head.tell()
    if start + count * dtype.itemsize != len(buf):
        raise SnapshotError(f"snapshot array {name!r}: {len(buf) - start} data bytes for shape {shape} of {dtype}")
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=start).reshape(shape, order="F" if fortran else "C")
    arr.flags.writeable = False
    return arr


# -- metadata helpers -------------------------------------------------------------------------------
def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise SnapshotError(f"snapshot metadata: {where} has no {key!r}")
    value = obj[key]
    ints_only = kind is int
    if not isinstance(value, kind) or (ints_only and isinstance(value, bool)):
        raise SnapshotError(f"snapshot metadata: {where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _check_format(meta: dict[str, Any]) -> None:
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise SnapshotError(f"not a world snapshot: format is {fmt!r}, expected {FORMAT_NAME!r}")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SnapshotError(f"snapshot has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format version {version} is newer than this library reads (up to {FORMAT_VERSION}); upgrade ecs"
        )


class _Arrays:
    """The snapshot's arrays, fetched with dtype and shape checks; remembers what was used."""

    def __init__(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        self._arrays = arrays
        self.used: set[str] = set()

    def get(self, name: str, dtype: Any, shape: tuple[int, ...]) -> NDArray[Any]:
        arr = self._arrays.get(name)
        if arr is None:
            raise SnapshotError(f"snapshot is missing array {name!r}")
        want = np.dtype(dtype)
        if arr.dtype != want:
            raise SnapshotError(f"snapshot array {name!r} has dtype {arr.dtype.str}, expected {want.str}")
        if arr.shape != shape:
            raise SnapshotError(f"snapshot array {name!r} has shape {arr.shape}, expected {shape}")
        self.used.add(name)
        return arr

    def check_all_used(self) -> None:
        extra = sorted(set(self._arrays) - self.used)
        if extra:
            raise SnapshotError(f"snapshot has arrays this world has no place for: {extra[:5]}")


# -- taking a snapshot --------------------------------------------------------------------------------
def _encode_rows(
    spec: ComponentSpec, cols: Mapping[str, NDArray[Any]], ids: NDArray[np.int64], codec: SnapshotCodec
) -> list[Any]:
    out = []
    for r, eid in enumerate(ids.tolist()):
        value = spec.make({name: col[r] for name, col in cols.items()})
        try:
            out.append(codec.encode(value))
        except Exception as exc:  # user code: report which value broke, whatever it raised
            raise SnapshotError(f"codec of {spec.name} failed to encode {describe(eid)}'s {value!r}: {exc!r}") from exc
    normal: list[Any] = _normalize(out, f"the encoded values of component {spec.name}")
    return normal


def _bitgen_state_out(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {k: _bitgen_state_out(v) for k, v in value.items()}
    return value


def _bitgen_state_in(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__ndarray__", "dtype"}:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _bitgen_state_in(v) for k, v in value.items()}
    return value


def _plain_fields(value: Any) -> dict[str, Any] | None:
    """Init fields of a dataclass instance, or None when it cannot be rebuilt from them."""
    fields = dataclasses.fields(value)
    if any(not f.init for f in fields):
        return None
    return {f.name: getattr(value, f.name) for f in fields}


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _tuples(value: Any) -> Any:
    """JSON lists back to tuples, all the way down (the inverse of saving a tuple field)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _encode_fields(value: Any, arrays: dict[str, NDArray[Any]], prefix: str) -> dict[str, Any] | None:
    """A dataclass's init fields as ``{name: {"json"|"tuple"|"array": ...}}``, or None if one will not do.

    Each field must come back equal: JSON data as is, tuples (of JSON data and tuples) from
    lists, numeric numpy arrays as snapshot arrays.
    """
    fields = _plain_fields(value)
    if fields is None:
        return None
    out: dict[str, Any] = {}
    for fname, v in fields.items():
        if type(v) is np.ndarray and not v.dtype.hasobject:
            arrays[f"{prefix}/{fname}"] = v.copy()
            out[fname] = {"array": f"{prefix}/{fname}"}
            continue
        try:
            normal = _normalize(v, fname)
        except SnapshotError:
            return None
        back = _tuples(normal) if isinstance(v, tuple) else normal
        if not _same(back, v):
            return None
        out[fname] = {"tuple" if isinstance(v, tuple) else "json": normal}
    return out


def _encode_resource(
    key: type, value: Any, codecs: Mapping[type, SnapshotCodec], arrays: dict[str, NDArray[Any]], n: int
) -> dict[str, Any]:
    name = _type_name(key)
    what = f"resource {key.__qualname__}"
    codec = codecs.get(key)
    if codec is not None:
        try:
            encoded = codec.encode(value)
        except Exception as exc:  # user code: whatever it raised becomes a SnapshotError
            raise SnapshotError(f"codec of {what} failed to encode it: {exc!r}") from exc
        return {"type": name, "kind": "codec", "value": _normalize(encoded, f"the encoded {what}")}
    if isinstance(value, np.random.Generator):
        state = _bitgen_state_out(value.bit_generator.state)
        return {"type": name, "kind": "generator", "value": _normalize(state, f"the state of {what}")}
    if type(value) is np.ndarray and not value.dtype.hasobject:
        arrays[f"resource/{n}"] = value.copy()
        return {"type": name, "kind": "ndarray", "array": f"resource/{n}"}
    if dataclasses.is_dataclass(value) and type(value) is key:
        encoded_fields = _encode_fields(value, arrays, f"resource/{n}")
        if encoded_fields is not None:
            return {"type": name, "kind": "dataclass", "fields": encoded_fields}
    elif type(value) is key and key in (bool, int, float, str, list, dict):
        try:
            normal = _normalize(value, what)
        except SnapshotError:
            normal = None
        if normal is not None and _same(normal, value):
            return {"type": name, "kind": "json", "value": normal}
    raise SnapshotError(
        f"{what} ({type(value).__name__}) cannot be saved: it is not JSON data, a dataclass of JSON data, "
        f"tuples and numeric arrays, a numeric array or a random generator; register a codec "
        f"(world.register_codec({key.__qualname__}, encode=..., decode=...)) "
        f"or leave it out (world.snapshot(skip_resources=[{key.__qualname__}]))"
    )


def _snapshot_path(path: Any, what: str) -> str | os.PathLike[str]:
    """``path`` when it names a file; a file object gets a hint instead of Path's TypeError."""
    if isinstance(path, str | os.PathLike):
        return path
    raise SnapshotError(
        f"{what} takes a file path, got {type(path).__name__}; for a file object use "
        + ("f.write(snapshot.to_bytes())" if what == "save" else "WorldSnapshot.from_bytes(f.read())")
    )


def take_snapshot(world: World, skip_resources: Iterable[type] = ()) -> WorldSnapshot:
    """Copy the whole state of ``world`` (see the module docstring); the world is not changed."""
    if isinstance(skip_resources, type) or not isinstance(skip_resources, Iterable):
        raise SnapshotError(f"skip_resources lists resource types (a list such as [Window]), got {skip_resources!r}")
    skip = list(skip_resources)
    for key in skip:
        if not isinstance(key, type):
            raise SnapshotError(f"skip_resources lists resource types, got {key!r}")
    codecs = _CODECS.get(world, {})
    reg = world.registry
    arrays: dict[str, NDArray[Any]] = {}
    components = []
    for ctype in world.components:
        spec = world.spec(ctype)
        if spec.is_object and ctype not in codecs:
            field = next(f.name for f in spec.fields if f.is_object)
            raise SnapshotError(
                f"component {spec.name} holds Python objects (field {field!r}) and has no codec: register one "
                f"with world.register_codec({spec.name}, encode=..., decode=...), or make its fields numeric"
            )
        components.append(
            {
                "name": spec.name,
                "storage": world.storage_kind(ctype),
                "fields": [{"name": f.name, "dtype": f.dtype.str, "shape": list(f.shape)} for f in spec.fields],
            }
        )

    for part, arr in reg.state().items():
        arrays[f"registry/{part}"] = arr
    archetypes = []
    for arch in world.archetypes:
        ids = arch.entity_ids()
        arrays[f"archetype/{arch.id}/entities"] = ids
        entry: dict[str, Any] = {"components": [world.spec(t).name for t in arch.types], "length": arch.length}
        objects = {}
        for s in arch.stored:
            if s.is_object:
                cols = {f.name: arch.column(s.type, f.name) for f in s.fields}
                objects[s.name] = _encode_rows(s, cols, ids, codecs[s.type])
            else:
                for f in s.fields:
                    arrays[f"archetype/{arch.id}/{s.name}/{f.name}"] = arch.column(s.type, f.name)
        if objects:
            entry["objects"] = objects
        archetypes.append(entry)

    # Side storages (dense, sparse, custom) hold values by slot; their holders are the live
    # slots whose archetype includes the component, listed in slot order.
    aids = reg.archetype_of[: reg.high_water]
    side: dict[str, Any] = {}
    for ctype in world.components:
        if world.storage_kind(ctype) == _ARCHETYPE:
            continue
        spec = world.spec(ctype)
        holders = np.flatnonzero(_membership(world.archetypes, ctype)[aids]).astype(np.int64)
        arrays[f"side/{spec.name}/indices"] = holders
        store = world.storage(ctype)
        if spec.is_object:
            cols = {f.name: gather_checked(store, spec, holders, f.name) for f in spec.fields}
            side[spec.name] = {"objects": _encode_rows(spec, cols, reg.ids_of(holders), codecs[ctype])}
            continue
        for f in spec.fields:
            col = gather_checked(store, spec, holders, f.name)
            if col.base is not None:  # a custom storage may hand out a view: never alias live data
                col = col.copy()
            arrays[f"side/{spec.name}/{f.name}"] = col

    resources: list[dict[str, Any]] = []
    for key, value in world.resources.items():
        if key not in skip:
            resources.append(_encode_resource(key, value, codecs, arrays, len(resources)))
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "world": world.name,
        "chunk_rows": world.chunk_rows,
        "entities": len(world),
        "components": components,
        "registry": {"size": reg.high_water, "free": int(arrays["registry/free"].shape[0])},
        "archetypes": archetypes,
        "side": side,
        "resources": resources,
        "skipped_resources": sorted(_type_name(t) for t in skip),
    }
    return WorldSnapshot._adopt(meta, arrays)


def _membership(archetypes: Iterable[Archetype], ctype: type) -> NDArray[np.bool_]:
    """``has[archetype id]``: which archetypes include ``ctype``; one extra False entry at the
    end so that indexing with DEAD (-1) answers False."""
    archs = list(archetypes)
    has = np.zeros(len(archs) + 1, dtype=np.bool_)
    for a in archs:
        has[a.id] = ctype in a.type_set
    return has


# -- restoring -----------------------------------------------------------------------------------------
@dataclass(slots=True)
class _NewState:
    registry: EntityRegistry
    archetypes: list[Archetype]
    storages: dict[type, ComponentStorage]
    resources: list[tuple[type, Any, dict[str, Any] | None]]
    skipped: set[str]


def _decode_rows(spec: ComponentSpec, encoded: Any, n: int, codec: SnapshotCodec | None, where: str) -> dict[str, Any]:
    if codec is None:
        raise SnapshotError(
            f"component {spec.name} holds Python objects: register its codec with "
            f"world.register_codec({spec.name}, encode=..., decode=...) before restoring"
        )
    if not isinstance(encoded, list) or len(encoded) != n:
        raise SnapshotError(f"snapshot metadata: {where} must list {n} encoded {spec.name} values")
    cols: dict[str, Any] = {f.name: f.empty(n) for f in spec.fields}
    for r, data in enumerate(encoded):
        try:
            value = codec.decode(data)
        except Exception as exc:  # user code: report which value broke, whatever it raised
            raise SnapshotError(f"codec of {spec.name} failed to decode {where}[{r}]: {exc!r}") from exc
        if not isinstance(value, spec.type):
            raise SnapshotError(f"codec of {spec.name} decoded a {type(value).__name__}, expected {spec.name}")
        try:
            fields = spec.values_of(value)
        except EcsError as exc:
            raise SnapshotError(f"codec of {spec.name} decoded a bad value at {where}[{r}]: {exc}") from exc
        for name, v in fields.items():
            cols[name][r] = v
    return cols


def _check_components(world: World, meta: dict[str, Any]) -> None:
    listed = _get(meta, "components", list, "snapshot")
    snap: dict[str, tuple[str, list[tuple[str, str, tuple[int, ...]]]]] = {}
    for i, c in enumerate(listed):
        where = f"components[{i}]"
        name = _get(c, "name", str, where)
        fields = []
        for j, f in enumerate(_get(c, "fields", list, where)):
            shape = _get(f, "shape", list, f"{where}.fields[{j}]")
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
                raise SnapshotError(f"snapshot metadata: {where}.fields[{j}].shape must list ints")
            fields.append((_get(f, "name", str, f"{where}.fields[{j}]"), _get(f, "dtype", str, where), tuple(shape)))
        if name in snap:
            raise SnapshotError(f"snapshot lists component {name} twice")
        snap[name] = (_get(c, "storage", str, where), fields)
    ours = {
        world.spec(t).name: (world.storage_kind(t), [(f.name, f.dtype.str, f.shape) for f in world.spec(t).fields])
        for t in world.components
    }
    only_snap = sorted(set(snap) - set(ours))
    only_world = sorted(set(ours) - set(snap))
    if only_snap or only_world:
        raise SnapshotError(
            f"snapshot does not fit world {world.name!r}: components only in the snapshot: {only_snap}, "
            f"only in the world: {only_world}"
        )
    for name, (kind, fields) in ours.items():
        s_kind, s_fields = snap[name]
        if s_kind != kind:
            raise SnapshotError(f"component {name}: the snapshot stores it in {s_kind!r}, this world in {kind!r}")
        if s_fields != fields:
            raise SnapshotError(
                f"component {name}: the snapshot's fields {_fields_text(s_fields)} differ from this world's "
                f"{_fields_text(fields)}"
            )


def _fields_text(fields: list[tuple[str, str, tuple[int, ...]]]) -> str:
    return "(" + ", ".join(f"{n}: {d}{list(s) if s else ''}" for n, d, s in fields) + ")"


def _build(world: World, snap: WorldSnapshot) -> _NewState:
    """Validate ``snap`` against ``world`` and build the new state beside the old one."""
    meta = snap._meta
    _check_format(meta)
    _check_components(world, meta)
    arrays = _Arrays(snap._arrays)
    codecs = _CODECS.get(world, {})

    # registry
    reg_meta = _get(meta, "registry", dict, "snapshot")
    size = _get(reg_meta, "size", int, "registry")
    n_free = _get(reg_meta, "free", int, "registry")
    if not 0 <= size <= 1 << INDEX_BITS or not 0 <= n_free <= size:
        raise SnapshotError(f"snapshot registry sizes are out of range (size {size}, free {n_free})")
    generation = arrays.get("registry/generation", np.uint32, (size,))
    aid = arrays.get("registry/archetype", np.int32, (size,))
    row = arrays.get("registry/row", np.int32, (size,))
    free = arrays.get("registry/free", np.int64, (n_free,))
    if size and int(generation.max()) > GENERATION_MASK:
        slot = int(np.argmax(generation > GENERATION_MASK))
        raise SnapshotError(f"registry slot {slot} has generation {int(generation[slot])}, beyond 31 bits")

    # archetype signatures and their columns
    listed = _get(meta, "archetypes", list, "snapshot")
    if not listed:
        raise SnapshotError("snapshot lists no archetypes (the empty archetype 0 is always present)")
    n_arch = len(listed)
    bad = (aid < DEAD) | (aid >= n_arch)
    if bad.any():
        slot = int(np.argmax(bad))
        raise SnapshotError(f"registry slot {slot} names archetype {int(aid[slot])}, but there are {n_arch}")
    seen: set[frozenset[type]] = set()
    archs: list[Archetype] = []
    tables: list[tuple[NDArray[np.int64], dict[type, Mapping[str, Any]]]] = []
    for i, entry in enumerate(listed):
        where = f"archetypes[{i}]"
        names = _get(entry, "components", list, where)
        length = _get(entry, "length", int, where)
        if length < 0:
            raise SnapshotError(f"snapshot metadata: {where}.length is negative")
        types = []
        for n in names:
            ctype = world._names.get(n) if isinstance(n, str) else None
            if ctype is None:
                raise SnapshotError(f"snapshot archetype {i} names {n!r}, which is not a component of this world")
            types.append(ctype)
        type_set = frozenset(types)
        if len(type_set) != len(types):
            raise SnapshotError(f"snapshot archetype {i} lists a component twice: {names}")
        if type_set in seen:
            raise SnapshotError(f"snapshot has two archetypes with components {sorted(names)}")
        if i == 0 and type_set:
            raise SnapshotError("snapshot archetype 0 must be the empty archetype")
        seen.add(type_set)
        ordered = tuple(sorted(types, key=world._order.__getitem__))
        stored = tuple(world.spec(t) for t in ordered if world.storage_kind(t) == _ARCHETYPE)
        ents = arrays.get(f"archetype/{i}/entities", np.int64, (length,))
        objects = entry.get("objects", {})
        if not isinstance(objects, dict):
            raise SnapshotError(f"snapshot metadata: {where}.objects must be an object")
        wanted = {s.name for s in stored if s.is_object}
        if set(objects) != wanted:
            raise SnapshotError(f"snapshot metadata: {where}.objects has {sorted(objects)}, expected {sorted(wanted)}")
        values: dict[type, Mapping[str, Any]] = {}
        for s in stored:
            if s.is_object:
                values[s.type] = _decode_rows(s, objects[s.name], length, codecs.get(s.type), f"{where}.{s.name}")
            else:
                values[s.type] = {
                    f.name: arrays.get(f"archetype/{i}/{s.name}/{f.name}", f.dtype, (length, *f.shape))
                    for f in s.fields
                }
        archs.append(Archetype(i, ordered, stored, world.chunk_rows))
        tables.append((ents, values))

    # registry <-> tables: every live slot sits in exactly one in-range row holding its own id
    live = aid != DEAD
    live_idx = np.flatnonzero(live).astype(np.int64)
    lengths = np.array([len(t[0]) for t in tables], dtype=np.int64)
    total = int(lengths.sum())
    if _get(meta, "entities", int, "snapshot") != len(live_idx):
        raise SnapshotError(f"snapshot says {meta['entities']} entities but its registry holds {len(live_idx)}")
    if total != len(live_idx):
        raise SnapshotError(f"registry holds {len(live_idx)} live entities but the archetype tables hold {total} rows")
    la = aid[live_idx].astype(np.int64)
    lr = row[live_idx].astype(np.int64)
    out_of_range = (lr < 0) | (lr >= lengths[la])
    if out_of_range.any():
        k = int(np.argmax(out_of_range))
        raise SnapshotError(
            f"registry slot {int(live_idx[k])}: row {int(lr[k])} is outside archetype {int(la[k])} "
            f"({int(lengths[la[k]])} rows)"
        )
    if total:
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pos = offsets[la] + lr
        counts = np.bincount(pos, minlength=total)
        if (counts != 1).any():
            k = int(np.flatnonzero(counts[pos] > 1)[0])
            raise SnapshotError(f"two live entities share row {int(lr[k])} of archetype {int(la[k])}")
        held = np.concatenate([t[0] for t in tables])[pos]
        expect = (generation[live_idx].astype(np.int64) << INDEX_BITS) | live_idx
        wrong = held != expect
        if wrong.any():
            k = int(np.argmax(wrong))
            raise SnapshotError(
                f"archetype {int(la[k])} row {int(lr[k])} holds {describe(int(held[k]))} "
                f"but the registry has {describe(int(expect[k]))} there"
            )
    # free list: exactly the dead slots, each once (allocation order is the list's order)
    if n_free:
        if int(free.min()) < 0 or int(free.max()) >= size:
            raise SnapshotError(f"the free list holds a slot outside the registry (size {size})")
        if len(np.unique(free)) != n_free:
            raise SnapshotError("the free list holds a slot twice")
        if live[free].any():
            slot = int(free[np.argmax(live[free])])
            raise SnapshotError(f"the free list holds slot {slot}, which is alive")
    if n_free != size - len(live_idx):
        raise SnapshotError(f"the free list has {n_free} slots but {size - len(live_idx)} slots are dead")

    # side storages
    side_meta = _get(meta, "side", dict, "snapshot")
    side_values: dict[type, tuple[NDArray[np.int64], Mapping[str, Any]]] = {}
    expected_side = set()
    for ctype in world.components:
        kind = world.storage_kind(ctype)
        if kind == _ARCHETYPE:
            continue
        spec = world.spec(ctype)
        holders = np.flatnonzero(_membership(archs, ctype)[aid]).astype(np.int64)
        idx = arrays.get(f"side/{spec.name}/indices", np.int64, (len(holders),))
        if not np.array_equal(idx, holders):
            raise SnapshotError(f"snapshot array 'side/{spec.name}/indices' does not list the holders of {spec.name}")
        if spec.is_object:
            expected_side.add(spec.name)
            entry = _get(side_meta, spec.name, dict, "side")
            vals: Mapping[str, Any] = _decode_rows(
                spec, entry.get("objects"), len(holders), codecs.get(ctype), f"side.{spec.name}.objects"
            )
        else:
            vals = {
                f.name: arrays.get(f"side/{spec.name}/{f.name}", f.dtype, (len(holders), *f.shape)) for f in spec.fields
            }
        side_values[ctype] = (holders, vals)
    if set(side_meta) != expected_side:
        raise SnapshotError(f"snapshot metadata: side has {sorted(side_meta)}, expected {sorted(expected_side)}")

    resources, skipped = _decode_resources(world, meta, arrays, codecs)
    arrays.check_all_used()

    # Everything is valid: build the new tables, storages and registry (the world is untouched).
    for arch, (ents, values) in zip(archs, tables, strict=True):
        arch.append(ents, values)
    storages: dict[type, ComponentStorage] = {}
    for ctype in world.components:
        spec = world.spec(ctype)
        kind = world.storage_kind(ctype)
        if kind == _ARCHETYPE:
            # counts its holders from the world's tables, which restore replaces in place
            storages[ctype] = ArchetypeStorage(spec, world._locate, lambda: world._archetypes)
            continue
        try:
            store = world._factories[kind](spec)
            store.insert(*side_values[ctype])
        except EcsError as exc:
            raise SnapshotError(
                f"component {spec.name}: its {kind!r} storage refused the snapshot's values: {exc}"
            ) from exc
        storages[ctype] = store
    registry = EntityRegistry()
    registry.load_state({"generation": generation, "archetype": aid, "row": row, "free": free})
    return _NewState(registry, archs, storages, resources, skipped)


def _decode_resources(
    world: World, meta: dict[str, Any], arrays: _Arrays, codecs: Mapping[type, SnapshotCodec]
) -> tuple[list[tuple[type, Any, dict[str, Any] | None]], set[str]]:
    known: dict[str, type] = {_type_name(np.random.Generator): np.random.Generator}
    known.update({_type_name(t): t for t in codecs})
    known.update({_type_name(t): t for t in world.resources})
    out: list[tuple[type, Any, dict[str, Any] | None]] = []
    seen: set[str] = set()
    for i, entry in enumerate(_get(meta, "resources", list, "snapshot")):
        where = f"resources[{i}]"
        tname = _get(entry, "type", str, where)
        kind = _get(entry, "kind", str, where)
        key = known.get(tname)
        if key is None:
            raise SnapshotError(
                f"snapshot resource {tname} is neither held by world {world.name!r} nor has a codec; "
                "add the resource or register its codec before restoring"
            )
        if tname in seen:
            raise SnapshotError(f"snapshot lists resource {tname} twice")
        seen.add(tname)
        what = f"resource {key.__qualname__}"
        state: dict[str, Any] | None = None
        if kind == "codec":
            codec = codecs.get(key)
            if codec is None:
                raise SnapshotError(f"{what} was saved with a codec; register it with world.register_codec first")
            try:
                value = codec.decode(entry.get("value"))
            except Exception as exc:  # user code: whatever it raised becomes a SnapshotError
                raise SnapshotError(f"codec of {what} failed to decode it: {exc!r}") from exc
        elif kind == "generator":
            raw = _get(entry, "value", dict, where)
            cls = _BIT_GENERATORS.get(str(raw.get("bit_generator")))
            if cls is None:
                raise SnapshotError(f"{what}: unknown bit generator {raw.get('bit_generator')!r}")
            try:
                state = _bitgen_state_in(raw)
                bitgen = cls()
                bitgen.state = state
            except (TypeError, ValueError, KeyError, OverflowError) as exc:
                raise SnapshotError(f"{what}: bad random generator state: {exc!r}") from None
            value = np.random.Generator(bitgen)
        elif kind == "ndarray":
            name = _get(entry, "array", str, where)
            src = arrays._arrays.get(name)
            if src is None:
                raise SnapshotError(f"snapshot is missing array {name!r}")
            value = arrays.get(name, src.dtype, src.shape).copy()
        elif kind == "dataclass":
            if not dataclasses.is_dataclass(key):
                raise SnapshotError(f"{what} was saved as a dataclass but is not one here")
            fields = _decode_fields(_get(entry, "fields", dict, where), arrays, what)
            try:
                value = key(**fields)
            except (TypeError, ValueError) as exc:
                raise SnapshotError(f"{what}: cannot rebuild it from its saved fields: {exc}") from None
        elif kind == "json":
            value = entry.get("value")
        else:
            raise SnapshotError(f"snapshot metadata: {where} has unknown kind {kind!r}")
        if not isinstance(value, key):
            raise SnapshotError(f"{what}: the snapshot gives a {type(value).__name__}")
        out.append((key, value, state))
    skipped = _get(meta, "skipped_resources", list, "snapshot")
    if not all(isinstance(s, str) for s in skipped):
        raise SnapshotError("snapshot metadata: skipped_resources must list type names")
    return out, set(skipped)


def _decode_fields(saved: dict[str, Any], arrays: _Arrays, what: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for fname, enc in saved.items():
        if not isinstance(enc, dict) or len(enc) != 1:
            raise SnapshotError(f"snapshot metadata: field {fname!r} of {what} is malformed")
        ((how, data),) = enc.items()
        if how == "json":
            fields[fname] = data
        elif how == "tuple" and isinstance(data, list):
            fields[fname] = _tuples(data)
        elif how == "array" and isinstance(data, str):
            src = arrays._arrays.get(data)
            if src is None:
                raise SnapshotError(f"snapshot is missing array {data!r}")
            fields[fname] = arrays.get(data, src.dtype, src.shape).copy()
        else:
            raise SnapshotError(f"snapshot metadata: field {fname!r} of {what} is malformed")
    return fields


def restore_snapshot(world: World, snap: WorldSnapshot) -> None:
    """Replace ``world``'s state with ``snap``'s after validating all of it (see the module docstring)."""
    if not isinstance(snap, WorldSnapshot):
        raise SnapshotError(f"restore: expected a WorldSnapshot, got {type(snap).__name__}")
    world._guard("restore")
    try:
        new = _build(world, snap)
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        # A safety net for metadata shaped in ways the checks above did not foresee.
        raise SnapshotError(f"snapshot does not fit world {world.name!r}: {type(exc).__name__}: {exc}") from exc

    # The swap: nothing below can fail. Containers are updated in place, because schedulers
    # hold references to them (system contexts read world._resources directly).
    world.registry = new.registry
    world._archetypes[:] = new.archetypes
    world._root = new.archetypes[0]
    world._by_set.clear()
    world._by_types.clear()
    world._by_set.update({a.type_set: a for a in new.archetypes})
    world._edges.clear()
    world._query_cache.clear()  # cached archetype lists point at the old tables
    world._storages.update(new.storages)
    res = world._resources
    kept = {k: v for k, v in res.items() if _type_name(k) in new.skipped}
    restored: dict[type, Any] = {}
    for key, value, state in new.resources:
        current = res.get(key)
        if (
            state is not None
            and isinstance(current, np.random.Generator)
            and type(current.bit_generator) is type(value.bit_generator)
        ):
            # Keep the generator object game code may hold; rewind its state instead.
            current.bit_generator.state = state
            restored[key] = current
        else:
            restored[key] = value
    res.clear()
    res.update(restored)
    res.update(kept)
