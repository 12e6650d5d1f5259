"""A damaged trace header: every reader refuses it with a message naming the field, or copes.

The header's tables (``groups``, ``systems``, ``components``) are what every later step looks
names, modes and run order up in. ``check_header`` (``ecs/trace/_schema.py``) is the one place
that decides whether a header can be used, so these tests mangle the header of a real
recording and check both outcomes: a :class:`~ecs.TraceFormatError` that says which entry
and field are wrong, or a trace that the statistics, the Chrome export and ``ecs-trace
summary`` all handle.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ecs
from ecs.cli import main
from ecs.trace import TraceRecorder, export_chrome, group_stats, load_trace, system_stats, tick_stats
from ecs.trace._schema import check_header

from ._examples import examples
from ._factories import create_scheduler


def recorded_trace() -> list[bytes]:
    """The lines of a small real trace: sync and async groups, an interval system, an error."""
    buf = io.BytesIO()
    sched = create_scheduler(seed=5, fail_at=(1,))
    sched.add_observer(TraceRecorder(buf))
    with sched:
        sched.run(4, 0.1)
        sched.mark("half way", n=2)
    return buf.getvalue().splitlines(keepends=True)


LINES = recorded_trace()
HEADER: dict[str, Any] = json.loads(LINES[0])


def with_header(header: dict[str, Any]) -> bytes:
    return json.dumps(header).encode() + b"\n" + b"".join(LINES[1:])


def mangled(change: Callable[[dict[str, Any]], object]) -> bytes:
    header = json.loads(LINES[0])
    change(header)
    return with_header(header)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


#: The cases of the fuzzing report: (change, what the message must say).
REPORTED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("systems[0] = 5", lambda h: h["systems"].__setitem__(0, 5), "systems[0] must be an object, got int"),
    ("groups[0] = []", lambda h: h["groups"].__setitem__(0, []), "groups[0] must be an object, got list"),
    (
        "groups[0].order = [1]",
        lambda h: h["groups"][0].__setitem__("order", [1]),
        "groups[0].order must be an int, got list",
    ),
]


def test_the_recorded_header_passes_and_is_returned_unchanged() -> None:
    assert check_header(json.loads(LINES[0])) == HEADER
    assert {"groups", "systems", "components", "system_sampling", "fields"} <= set(HEADER)


@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in REPORTED], ids=[n for n, _, _ in REPORTED])
def test_the_reported_headers_are_refused_naming_the_entry(change: Callable[..., object], message: str) -> None:
    with pytest.raises(ecs.TraceFormatError) as info:
        load_trace(io.BytesIO(mangled(change)))
    assert str(info.value) == f"trace header: {message}"


WRONG_TYPES: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda h: h["systems"][1].__setitem__("group", ["physics"]), "systems[1].group must be a string, got list"),
    (lambda h: h["groups"][2].__setitem__("name", 7), "groups[2].name must be a string, got int"),
    (lambda h: h["groups"][0]["systems"].__setitem__(1, None), "groups[0].systems[1] must be a string, got null"),
    (lambda h: h["groups"][0].__setitem__("allow_writes", 0), "groups[0].allow_writes must be a bool, got int"),
    (lambda h: h["groups"][0].__setitem__("queue_limit", True), "groups[0].queue_limit must be an int, got bool"),
    (lambda h: h["groups"][0].__setitem__("interval", 2), "groups[0].interval must be a string or null, got int"),
    (lambda h: h["components"][0].__setitem__("fields", [["xy"]]), "components[0].fields[0] must be a list of 3"),
    (lambda h: h["system_sampling"].__setitem__("every", "16"), "system_sampling.every must be an int, got string"),
    (lambda h: h.__setitem__("workers", [2]), "workers must be an int, got list"),
    (lambda h: h.__setitem__("phases", {"0": "apply"}), "phases must be a list, got object"),
]


@pytest.mark.parametrize(("change", "message"), WRONG_TYPES, ids=[m for _, m in WRONG_TYPES])
def test_a_field_of_the_wrong_type_is_refused_naming_it(change: Callable[..., object], message: str) -> None:
    with pytest.raises(ecs.TraceFormatError, match="^trace header: " + re.escape(message)):
        load_trace(io.BytesIO(mangled(change)))


def test_an_int_beyond_64_bits_is_refused() -> None:
    header = json.loads(LINES[0])
    header["groups"][0]["timeout_ns"] = 2**64
    with pytest.raises(ecs.TraceFormatError, match=r"groups\[0\]\.timeout_ns must be an int that fits in 64 bits"):
        check_header(header)


def test_missing_and_unknown_fields_are_not_damage() -> None:
    """A 1.0 header lacks fields 1.1 added; a newer minor version adds some: both load."""
    header = json.loads(LINES[0])
    del header["system_sampling"], header["groups"][0]["name"], header["systems"][0]["group"]
    header["groups"][1] = {}
    header["systems"][2]["gpu"] = {"queue": 3}
    data = load_trace(io.BytesIO(with_header(header)))
    assert data.warnings == [] and len(data) == len(LINES) - 3  # header, mark and end are not ticks
    assert data.group_names[:2] == ["group0", "group1"]
    assert system_stats(data)[0].group == "?"
    assert len(group_stats(data)) == len(header["groups"])


# -- any mangling: refused, or usable everywhere -----------------------------------------------------------
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)  # JSON cannot hold lone surrogates
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_TABLES = ("groups", "systems", "components")
#: Top-level fields a mangling may touch (type, schema and version have tests of their own).
_TOP = sorted(set(HEADER) - {"type", "schema", "version"})


@st.composite
def manglings(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """One to four changes to the header: an entry or a field of a table replaced by any JSON
    value (a known field's name most of the time) or deleted, or a top-level field replaced."""
    changes: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(_TABLES))
        i = draw(st.integers(0, len(HEADER[table]) - 1))
        known = sorted(HEADER[table][i])
        kind = draw(st.sampled_from(("entry", "field", "field", "delete", "top")))
        if kind == "entry":
            changes.append(("entry", table, i, draw(_JSON | st.dictionaries(st.sampled_from(known), _JSON))))
        elif kind == "field":
            changes.append(("field", table, i, draw(st.sampled_from(known) | _TEXT), draw(_JSON)))
        elif kind == "delete":
            changes.append(("delete", table, i, draw(st.sampled_from(known))))
        else:
            changes.append(("top", draw(st.sampled_from(_TOP)), draw(_JSON)))
    return changes


def apply(changes: list[tuple[Any, ...]]) -> dict[str, Any]:
    header = json.loads(LINES[0])
    for change in changes:
        kind, *where = change
        if kind == "top":
            header[where[0]] = where[1]
            continue
        table = header.get(where[0])
        if not isinstance(table, list) or where[1] >= len(table) or not isinstance(table[where[1]], dict):
            continue  # an earlier change replaced the table or the entry
        if kind == "entry":
            table[where[1]] = where[2]
        elif kind == "field":
            table[where[1]][where[2]] = where[3]
        else:
            table[where[1]].pop(where[2], None)
    return header


@settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(changes=manglings())
def test_a_mangled_header_is_refused_with_a_message_or_the_trace_is_usable(
    changes: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:  # one directory per example
        path = Path(tmp) / "mangled.trace.jsonl"
        path.write_bytes(with_header(apply(changes)))
        try:
            data = load_trace(path)
        except ecs.TraceFormatError as exc:
            assert str(exc).startswith("trace header: ") or "header lacks its" in str(exc), exc
            event("refused")
            for command in ("summary", "validate"):
                code, _, err = run_cli(command, str(path))
                assert code == 2 and str(exc) in err and "Traceback" not in err
            return
        event("usable")
        assert tick_stats(data).ticks == len(data)
        assert [g.name for g in group_stats(data)] == data.group_names
        assert [s.name for s in system_stats(data)] == data.system_names
        assert export_chrome(data, io.StringIO()).ticks == len(data)
        assert export_chrome(path, Path(tmp) / "out.json").ticks == len(data)
        for extra in ("--plain", "--json"):
            code, out, err = run_cli("summary", str(path), extra)
            assert code == 0 and out and "Traceback" not in err, err
