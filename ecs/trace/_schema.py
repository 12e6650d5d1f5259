"""The trace event schema: one format for trace files, the live stream and the profiler.

A trace is newline-delimited JSON (UTF-8), one object per line, each with a ``"type"``.
Files ending in ``.gz`` are gzip-compressed. The full reference, with examples, is
``docs/trace-format.md``; this module is its executable form.

Line kinds:

``header``  (first line, exactly once) the schema name and version, the world, the clock, the
            groups, systems, components and resources, the worker count, and the field
            order of the compact records below.
``tick``    one per tick: its start/end/dt/entity count, and *inside it* the tick's group
            records (each with its system records), phase records and counters. Records are
            positional arrays whose field order the header's ``fields`` gives, which keeps a
            100k-tick trace small and fast to parse.
``mark``    a host-defined mark (``sched.mark("level loaded", level=3)``).
``end``     written when the recorder closes cleanly; a file without it was cut short (a
            crash), and every complete line before the cut is still valid.

Timestamps are integer nanoseconds of the scheduler's clock (``header.units == "ns"``).
Group, system, result and phase names are indices into the header's tables.

Versioning: ``version`` is ``[major, minor]``. A minor bump only appends fields (to objects or
to the end of positional records) or adds line types; readers ignore what they do not know.
A reader refuses a *newer major* version with :class:`~ecs.TraceFormatError`.

Reading: every reader takes the header through :func:`check_header`, which also refuses a
header whose fields or table entries have the wrong types, naming the field
(``trace header: groups[0].order must be an int, got list``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._errors import TraceFormatError
from .._summary import GROUP_FIELDS as _GROUP_FIELDS
from .._summary import GROUP_LATE, GROUP_RETRIED, GroupSummary, PhaseSummary, SystemTimes
from .._summary import PHASE_FIELDS as _PHASE_FIELDS
from .._summary import PHASES as _PHASES

if TYPE_CHECKING:
    from .._summary import SchedulerInfo, TickSummary

__all__ = [
    "ERROR_FIELDS",
    "GROUP_FIELDS",
    "GROUP_LATE",
    "GROUP_RETRIED",
    "PHASES",
    "PHASE_FIELDS",
    "RESULTS",
    "SCHEMA",
    "SYSTEMS_LAYOUT",
    "SYSTEM_FIELDS",
    "SYSTEM_RESULTS",
    "SYSTEM_RESULT_FIELDS",
    "VERSION",
    "Encoder",
    "check_header",
    "line_encoder",
]

SCHEMA: Final = "ecs-trace"
VERSION: Final = (1, 1)

#: Group results, in code order (``GroupResult`` values).
RESULTS: Final = ("executed", "skipped_empty", "skipped_interval", "errored", "still_running", "dropped")
#: System results, in code order.
SYSTEM_RESULTS: Final = ("executed", "errored", "skipped_interval")
#: Phases, in code order.
PHASES: Final = _PHASES

#: Field order of a group record (an array of ints) in a tick line's ``groups``; the
#: scheduler keeps group runs in exactly this form (see ``ecs._summary``).
GROUP_FIELDS: Final = _GROUP_FIELDS
#: Layout of a record in a tick line's ``systems``: the systems of one group run, as
#: ``[group_pos, first_system, t0, t1, ..., tn]``. System ``k`` of the record is
#: ``header.systems[first_system + k]`` and ran from ``t_k`` to ``t_{k+1}``.
SYSTEMS_LAYOUT: Final = ("group_pos", "first_system", "times...")
#: Field order of a record in a tick line's ``system_results`` (only systems that did not
#: simply execute, or were retried).
SYSTEM_RESULT_FIELDS: Final = ("group_pos", "k", "result", "flags")
#: Columns of ``TraceData.systems`` (one row per system run, as loaded).
SYSTEM_FIELDS: Final = (
    "group_row",  # row of its group in TraceData.groups
    "system",  # index into header.systems
    "start",
    "end",
    "result",  # index into SYSTEM_RESULTS
    "flags",  # bit 0 retried
)
#: Field order of a phase record (an array of ints) in a tick line's ``phases``; the
#: scheduler keeps phases in exactly this form (see ``ecs._summary``).
PHASE_FIELDS: Final = _PHASE_FIELDS
#: Field order of an error record in a tick line's ``errors``.
ERROR_FIELDS: Final = (
    "group_pos",  # position of the group record in ``groups``
    "k",  # the system's position in its group run, or -1 for a group-level error
    "text",  # "ExceptionType: message"
)

SYSTEM_RETRIED: Final = 1
TICK_ABORTED: Final = 1

_RESULT_CODE: Final = {name: i for i, name in enumerate(RESULTS)}
_SYSTEM_RESULT_CODE: Final = {name: i for i, name in enumerate(SYSTEM_RESULTS)}
_PHASE_CODE: Final = {name: i for i, name in enumerate(PHASES)}
_ERR: Final = 1
_SKIP: Final = 2


class Encoder:
    """Turns scheduler summaries into schema objects (plain dicts ready for JSON).

    One encoder per scheduler header: it keeps the name -> index tables.
    """

    def __init__(self, info: SchedulerInfo) -> None:
        self.info = info
        self.group_index = {g.name: i for i, g in enumerate(info.groups)}
        self.system_index = {s.name: i for i, s in enumerate(info.systems)}
        # Systems are listed group by group, so a group's systems have consecutive indices.
        self._first: dict[tuple[str, ...], int] = {}
        for g in info.groups:
            if g.systems and g.systems[0] in self.system_index:
                self._first[tuple(g.systems)] = self.system_index[g.systems[0]]
        #: by position in info.groups: index of the group's first system, or None
        self._first_of = [self._first.get(tuple(g.systems)) for g in info.groups]

    def header(self, **extra: Any) -> dict[str, Any]:
        info = self.info
        out: dict[str, Any] = {
            "type": "header",
            "schema": SCHEMA,
            "version": list(VERSION),
            "world": info.world,
            "clock": info.clock,
            "units": "ns",
            "start_ns": info.start_ns,
            "created_unix": time.time(),
            "workers": info.workers,
            "system_sampling": {"every": info.system_sampling[0], "above_ns": info.system_sampling[1]},
            "groups": [
                {
                    "name": g.name,
                    "mode": g.mode,
                    "priority": g.priority,
                    "order": g.order,
                    "systems": list(g.systems),
                    "reads": list(g.reads),
                    "writes": list(g.writes),
                    "interval": g.interval,
                    "error_policy": g.error_policy,
                    "queue_limit": g.queue_limit,
                    "timeout_ns": g.timeout_ns,
                    "allow_writes": g.allow_writes,
                }
                for g in info.groups
            ],
            "systems": [
                {
                    "name": s.name,
                    "group": s.group,
                    "reads": list(s.reads),
                    "writes": list(s.writes),
                    "async_allowed": s.async_allowed,
                    "interval": s.interval,
                }
                for s in info.systems
            ],
            "components": [
                {"name": c.name, "storage": c.storage, "fields": [[n, d, list(sh)] for n, d, sh in c.fields]}
                for c in info.components
            ],
            "resources": list(info.resources),
            "results": list(RESULTS),
            "system_results": list(SYSTEM_RESULTS),
            "phases": list(PHASES),
            "fields": {
                "group": list(GROUP_FIELDS),
                "systems": list(SYSTEMS_LAYOUT),
                "system_result": list(SYSTEM_RESULT_FIELDS),
                "phase": list(PHASE_FIELDS),
                "error": list(ERROR_FIELDS),
            },
        }
        out.update(extra)
        return out

    def _encode_extra(
        self,
        pos: int,
        gi: int,
        extra: tuple[SystemTimes | None, str | None, str | None],
        systems: list[list[int]],
        results: list[list[int]],
        errors: list[list[Any]],
    ) -> None:
        """A group record's system times and error (see TickSummary's extras)."""
        times, error, error_system = extra
        reported = False
        if times is not None:
            first = self._first_of[gi]
            if first is not None:
                reported = self._encode_times(pos, first, times, systems, results, errors)
        if error is not None and not reported:
            errors.append([pos, self._k_of(gi, error_system), error])

    def _k_of(self, gi: int, system: str | None) -> int:
        """Position of ``system`` in group ``gi`` (-1: not one of its systems).

        Names the failing system of a run whose systems were not timed (no system record).
        """
        names = self.info.groups[gi].systems if 0 <= gi < len(self.info.groups) else ()
        return names.index(system) if system in names else -1

    @staticmethod
    def _encode_times(
        pos: int,
        first: int,
        st: SystemTimes,
        systems: list[list[int]],
        results: list[list[int]],
        errors: list[list[Any]],
    ) -> bool:
        """Append one group run's raw system times; True when it reported an error."""
        if not st.codes:
            return False
        rec = [pos, first]
        rec += st.times
        systems.append(rec)
        codes = st.codes
        if st.retried or st.errors or _ERR in codes or _SKIP in codes:
            for k, code in enumerate(codes):
                retried = bool(st.retried and k in st.retried)
                if code or retried:
                    results.append([pos, k, code, SYSTEM_RETRIED if retried else 0])
        if st.errors:
            for k, text in st.errors.items():
                errors.append([pos, k, text])
            return True
        return False

    @staticmethod
    def phase(p: PhaseSummary) -> list[int]:
        return [_PHASE_CODE.get(p.phase, -1), p.start_ns, p.end_ns, p.commands, p.spawned, p.destroyed, p.stale]

    def tick(self, t: TickSummary, counters: dict[str, float] | None = None) -> dict[str, Any]:
        """A whole tick line: the tick, its groups, their systems, phases, errors, counters."""
        gidx = self.group_index
        groups: list[Any] = []  # int lists or GROUP_FIELDS tuples
        systems: list[list[int]] = []
        results: list[list[int]] = []
        errors: list[list[Any]] = []
        items = t._items
        extras = t._extras
        if GroupSummary not in map(type, items):
            groups = items  # type: ignore[assignment]  # records only: written as they are
            items = ()
            # (system records must follow group order: readers index them by group row)
            for pos in sorted(extras) if extras else ():
                self._encode_extra(pos, groups[pos][0], extras[pos], systems, results, errors)
        for pos, g in enumerate(items):
            if not isinstance(g, GroupSummary):
                groups.append(g)  # a record (GROUP_FIELDS)
                extra = extras.get(pos)
                if extra is not None:
                    self._encode_extra(pos, g[0], extra, systems, results, errors)
                continue
            flags = (GROUP_RETRIED if g.retried else 0) | (GROUP_LATE if g.late else 0)
            groups.append(
                [
                    gidx.get(g.group, -1),
                    g.tick,
                    g.start_ns,
                    g.end_ns,
                    _RESULT_CODE[g.result.value],
                    g.entities,
                    g.commands,
                    g.queue_wait_ns,
                    g.run_ns,
                    g.queue_depth,
                    -1 if g.worker is None else g.worker,
                    flags,
                ]
            )
            st = g.systems
            reported = False
            if isinstance(st, SystemTimes):
                first = self._first.get(st.names)
                if first is not None and st.codes:
                    reported = self._encode_times(pos, first, st, systems, results, errors)
                    st = ()
            for k, s in enumerate(st):  # generic path: any sequence of SystemTiming, one record each
                systems.append([pos, self.system_index.get(s.name, -1), s.start_ns, s.end_ns])
                code = _SYSTEM_RESULT_CODE.get(s.result, 0)
                if code or s.retried:
                    results.append([pos, k, code, SYSTEM_RETRIED if s.retried else 0])
                if s.error is not None:
                    errors.append([pos, k, s.error])
                    reported = True
            if g.error is not None and not reported:
                errors.append([pos, self._k_of(gidx.get(g.group, -1), g.error_system), g.error])
        phases: Sequence[Sequence[int]] = t._phase_items  # type: ignore[assignment]
        if phases and PhaseSummary in map(type, phases):  # someone listened to phases: objects
            phases = [self.phase(p) if isinstance(p, PhaseSummary) else p for p in phases]
        ctr: dict[str, float] = {"entities": t.entities}
        if t.queue_depths:
            for name, depth in t.queue_depths.items():
                ctr[f"queue_depth/{name}"] = depth
        if counters:
            ctr.update(counters)
        return {
            "type": "tick",
            "tick": t.tick,
            "start": t.start_ns,
            "end": t.end_ns,
            "dt": t.dt,
            "entities": t.entities,
            "flags": TICK_ABORTED if t.aborted else 0,
            "groups": groups,
            "systems": systems,
            "system_results": results,
            "phases": phases,  # records, written as they are
            "errors": errors,
            "counters": ctr,
            "in_flight": [gidx.get(n, -1) for n in t.in_flight] if t.in_flight else [],
        }

    @staticmethod
    def mark(tick: int, name: str, t_ns: int, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "mark", "tick": tick, "t": t_ns, "name": name, "data": data}

    @staticmethod
    def end(ticks: int, dropped: int = 0) -> dict[str, Any]:
        return {"type": "end", "ticks": ticks, "dropped": dropped}


def line_encoder() -> Callable[[Any], bytes]:
    """``obj -> bytes``: one JSON line ending in a newline, for trace files and the live stream.

    orjson when installed (about 5x faster than the standard library, which matters on the
    game thread), else ``json``. Values JSON cannot hold (numpy scalars in mark data, odd
    objects) are written as their ``.item()`` or ``repr``: a trace never fails a game.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - exercised without the profiler/telemetry extras
        enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default).encode
        return lambda obj: enc(obj).encode("utf-8") + b"\n"
    opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    dumps = orjson.dumps

    def encode(obj: Any) -> bytes:
        try:
            return dumps(obj, default=_default, option=opts)
        except TypeError:
            # orjson refuses ints past 64 bits without asking ``default``: write those (and
            # only those) as text rather than lose the line (readers parse with orjson too).
            return dumps(_wide_ints_as_text(obj), default=_default, option=opts)

    return encode


def _default(obj: Any) -> Any:
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    return repr(obj)


def _wide_ints_as_text(obj: Any) -> Any:
    """``obj`` with every int beyond 64 bits replaced by its decimal text (containers copied)."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj if -(2**63) <= obj < 2**64 else str(obj)
    if isinstance(obj, dict):
        return {k: _wide_ints_as_text(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_wide_ints_as_text(v) for v in obj]
    return obj


# -- reading a header --------------------------------------------------------------------------------------
# Every reader (files, bulk loading, the live stream, the profiler) takes its header from
# check_header, so the code after it may rely on the types below instead of guarding each use.

#: Checks one header value at ``path`` (``"groups[2].order"``); raises TraceFormatError.
_Check = Callable[[Any, str], None]

_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_JSON_KINDS: Final = {type(None): "null", bool: "bool", int: "int", float: "float", str: "string", list: "list"}


def _kind(value: Any) -> str:
    """The JSON kind of a decoded value, for messages (``"list"``, ``"object"``, ``"null"`` ...)."""
    return "object" if isinstance(value, dict) else _JSON_KINDS.get(type(value), type(value).__name__)


def _bad(path: str, what: str, value: Any) -> TraceFormatError:
    return TraceFormatError(f"trace header: {path} must be {what}, got {_kind(value)}")


def _scalar(what: str, ok: Callable[[Any], bool]) -> _Check:
    def check(value: Any, path: str) -> None:
        if not ok(value):
            raise _bad(path, what, value)

    return check


def _int(value: Any, path: str) -> None:
    # bool is an int subclass in Python but not in JSON; times and counts go into int64 columns
    if type(value) is not int:
        raise _bad(path, "an int", value)
    if not _I64_MIN <= value <= _I64_MAX:
        raise TraceFormatError(f"trace header: {path} must be an int that fits in 64 bits")


_STR: Final = _scalar("a string", lambda v: type(v) is str)
_STR_OR_NULL: Final = _scalar("a string or null", lambda v: v is None or type(v) is str)
_BOOL: Final = _scalar("a bool", lambda v: type(v) is bool)
_NUMBER: Final = _scalar("a number", lambda v: type(v) in (int, float))
_NUMBER_OR_NULL: Final = _scalar("a number or null", lambda v: v is None or type(v) in (int, float))


def _list_of(item: _Check) -> _Check:
    def check(value: Any, path: str) -> None:
        if type(value) is not list:
            raise _bad(path, "a list", value)
        for i, v in enumerate(value):
            item(v, f"{path}[{i}]")

    return check


def _record(*items: _Check) -> _Check:
    """A positional array of at least ``len(items)`` values (a newer minor version may append)."""

    def check(value: Any, path: str) -> None:
        if type(value) is not list or len(value) < len(items):
            raise _bad(path, f"a list of {len(items)} values", value)
        for i, (v, item) in enumerate(zip(value, items, strict=False)):
            item(v, f"{path}[{i}]")

    return check


def _object(fields: dict[str, _Check]) -> _Check:
    """An object whose known fields, when present, pass their checks; other fields are ignored
    (a newer minor version adds them) and missing ones are left to the readers' defaults."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _bad(path, "an object", value)
        for name, field_check in fields.items():
            if name in value:
                field_check(value[name], f"{path}.{name}" if path else name)

    return check


_NAMES: Final = _list_of(_STR)
_GROUP: Final = _object(
    {
        "name": _STR,
        "mode": _STR,
        "priority": _int,
        "order": _int,
        "systems": _NAMES,
        "reads": _NAMES,
        "writes": _NAMES,
        "interval": _STR_OR_NULL,
        "error_policy": _STR,
        "queue_limit": _int,
        "timeout_ns": _int,
        "allow_writes": _BOOL,
    }
)
_SYSTEM: Final = _object(
    {
        "name": _STR,
        "group": _STR,
        "reads": _NAMES,
        "writes": _NAMES,
        "async_allowed": _BOOL,
        "interval": _STR_OR_NULL,
    }
)
_COMPONENT: Final = _object({"name": _STR, "storage": _STR, "fields": _list_of(_record(_STR, _STR, _list_of(_int)))})
_HEADER: Final = _object(
    {
        "world": _STR,
        "clock": _STR,
        "units": _STR,
        "start_ns": _int,
        "created_unix": _NUMBER,
        "workers": _int,
        "system_sampling": _object({"every": _int, "above_ns": _int}),
        "groups": _list_of(_GROUP),
        "systems": _list_of(_SYSTEM),
        "components": _list_of(_COMPONENT),
        "resources": _NAMES,
        "results": _NAMES,
        "system_results": _NAMES,
        "phases": _NAMES,
        "fields": _object(dict.fromkeys(("group", "systems", "system_result", "phase", "error"), _NAMES)),
        "stream": _object({"status_interval": _NUMBER}),
        "flight": _object({"reason": _STR, "tick": _int, "budget_ms": _NUMBER_OR_NULL}),
    }
)


def check_header(obj: Any) -> dict[str, Any]:
    """``obj`` (a decoded first line) as a header this reader can use, else TraceFormatError.

    Refused: anything but an ``ecs-trace`` header, a header without a valid ``version`` or of
    a newer major version, one without its ``groups`` and ``systems`` tables, and one where a
    field of ``docs/trace-format.md`` has the wrong type, in the header itself or in any entry
    of its tables. The message names the field::

        trace header: systems[3].group must be a string, got list

    A documented field may be absent (readers then use a default, as for a 1.0 trace without
    ``system_sampling``); fields this version does not know are ignored. So a header that
    passes has the documented types wherever it has a value, and readers can rely on them.
    A header is read once per file or connection: the check costs nothing that matters.
    """
    if not isinstance(obj, dict) or obj.get("type") != "header" or obj.get("schema") != SCHEMA:
        raise TraceFormatError(f"not an {SCHEMA} file: the first record is not an {SCHEMA} header")
    version = obj.get("version")
    if not isinstance(version, list) or len(version) < 2 or not all(isinstance(v, int) for v in version[:2]):
        raise TraceFormatError(f"{SCHEMA} header has no valid version: {version!r}")
    if version[0] > VERSION[0]:
        raise TraceFormatError(
            f"this trace uses {SCHEMA} schema {version[0]}.{version[1]}, newer than this reader "
            f"({VERSION[0]}.{VERSION[1]}); upgrade ecs to read it"
        )
    for key in ("groups", "systems"):
        if not isinstance(obj.get(key), list):
            raise TraceFormatError(f"{SCHEMA} header lacks its {key!r} table")
    _HEADER(obj, "")
    return obj
