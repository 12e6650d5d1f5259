"""Structured logging (ecs/trace/_logging.py): the observer, the JSON/GELF and key=value formatters."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ecs
from ecs.trace import JsonFormatter, KeyValueFormatter, LoggingObserver, configure_logging

MS = 1_000_000


@ecs.component
class Crate:
    mass: ecs.f32


def timed(name: str, clock: ecs.ManualClock, ns: int) -> ecs.System:
    @ecs.system(name=name, reads=(Crate,))
    def run(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=ns)
        ctx.commands.spawn(Crate(mass=1.0))

    return run


@ecs.system(reads=(Crate,))
def wobbly(ctx: ecs.ExecutionContext) -> None:
    ctx.logger.info("wobbling on tick %d", ctx.tick)
    if ctx.tick == 1:
        raise ValueError("tipped over")


class Records(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A fresh logger per test (named after it), not propagating to the root."""
    log = logging.getLogger(f"test.logging.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)


def build(clock: ecs.ManualClock, observer: ecs.SchedulerObserver) -> ecs.Scheduler:
    world = ecs.World(components=[Crate])
    b = ecs.SchedulerBuilder(world, clock=clock, workers=1)
    b.add_group("physics", [timed("push", clock, 2 * MS)])
    b.add_group("shaky", [wobbly], priority=1)
    b.add_observer(observer)
    return b.build()


@pytest.fixture(autouse=True)
def quiet_scheduler(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="ecs.scheduler")


# -- the observer -----------------------------------------------------------------------------------
def test_each_group_result_is_logged_with_structured_fields(logger: logging.Logger) -> None:
    handler = Records()
    logger.addHandler(handler)
    with build(ecs.ManualClock(), LoggingObserver(logger)) as sched:
        sched.run(2, 1 / 60)
    recs = handler.records
    assert [(r.tick, r.group, r.result) for r in recs] == [  # type: ignore[attr-defined]
        (0, "physics", "executed"),
        (0, "shaky", "executed"),
        (1, "physics", "executed"),
        (1, "shaky", "errored"),
    ]
    first = recs[0]
    assert first.levelno == logging.DEBUG
    assert first.getMessage() == "tick 0: group physics executed in 2.000 ms"
    expected = {"mode": "sync", "duration_ms": 2.0, "commands": 1, "entities": 0, "error": None}
    assert vars(first).items() >= expected.items()
    failed = recs[3]
    assert failed.levelno == logging.WARNING
    assert failed.error == "ValueError: tipped over"  # type: ignore[attr-defined]
    assert failed.getMessage().endswith("(system wobbly: ValueError: tipped over)")


def test_every_thins_routine_lines_but_never_errors(logger: logging.Logger) -> None:
    handler = Records()
    logger.addHandler(handler)
    with build(ecs.ManualClock(), LoggingObserver(logger, every=3, level=logging.INFO)) as sched:
        sched.run(7, 1 / 60)
    seen = [(r.tick, r.group, r.levelno) for r in handler.records]  # type: ignore[attr-defined]
    routine = [(t, g) for t, g, lvl in seen if lvl == logging.INFO]
    assert routine == [(0, "physics"), (0, "shaky"), (3, "physics"), (3, "shaky"), (6, "physics"), (6, "shaky")]
    assert [(t, g) for t, g, lvl in seen if lvl == logging.WARNING] == [(1, "shaky")]


def test_async_groups_add_worker_and_queue_wait(logger: logging.Logger) -> None:
    handler = Records()
    logger.addHandler(handler)

    @ecs.system(reads=(Crate,), async_allowed=True)
    def weigh(ctx: ecs.ExecutionContext) -> None:
        pass

    b = ecs.SchedulerBuilder(ecs.World(components=[Crate]), workers=1)
    b.add_group("scales", [weigh], mode=ecs.Mode.ASYNC)
    b.add_observer(LoggingObserver(logger))
    with b.build() as sched:
        sched.tick(1 / 60)
    (rec,) = handler.records
    assert rec.mode == "async" and rec.worker == 0  # type: ignore[attr-defined]
    assert rec.queue_wait_ms >= 0  # type: ignore[attr-defined]


def test_nothing_is_built_or_formatted_when_the_level_is_off(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger.setLevel(logging.ERROR)  # debug results and warning errors are both off

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a record was built although the level is disabled")

    monkeypatch.setattr(logger, "_log", must_not_run)
    with build(ecs.ManualClock(), LoggingObserver(logger)) as sched:
        sched.run(3, 1 / 60)


def test_a_logger_at_warning_logs_failures_and_expands_only_the_failed_groups(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual production setting: routine results off, failures on."""
    logger.setLevel(logging.WARNING)
    handler = Records()
    logger.addHandler(handler)
    expanded: list[str] = []
    real_expand = ecs.TickSummary._expand

    def counting_expand(self: ecs.TickSummary, pos: int, r: tuple[int, ...]) -> ecs.GroupSummary:
        g = real_expand(self, pos, r)
        expanded.append(f"{g.tick}:{g.group}")
        return g

    monkeypatch.setattr(ecs.TickSummary, "_expand", counting_expand)
    with build(ecs.ManualClock(), LoggingObserver(logger)) as sched:
        sched.run(4, 1 / 60)
    assert [(r.tick, r.group, r.levelno) for r in handler.records] == [(1, "shaky", logging.WARNING)]  # type: ignore[attr-defined]
    assert expanded == ["1:shaky"]


def test_the_logger_can_be_given_by_name_and_defaults_to_ecs_groups() -> None:
    assert LoggingObserver().logger.name == "ecs.groups"
    assert LoggingObserver("game.results").logger is logging.getLogger("game.results")
    with pytest.raises(ValueError, match="every"):
        LoggingObserver(every=0)


def test_the_scheduler_and_systems_log_through_named_stdlib_loggers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="ecs.scheduler")
    with build(ecs.ManualClock(), ecs.SchedulerObserver()) as sched:
        sched.run(2, 1 / 60)
    names = {r.name for r in caplog.records}
    assert {"ecs.scheduler", "ecs.system.wobbly"} <= names
    failure = next(r for r in caplog.records if r.name == "ecs.scheduler")
    assert failure.levelno == logging.WARNING and "tipped over" in failure.getMessage()


# -- JSON / GELF ----------------------------------------------------------------------------------------
def record(
    msg: str = "hello %s", args: tuple[Any, ...] = ("world",), level: int = logging.INFO, **extra: Any
) -> logging.LogRecord:
    rec = logging.LogRecord("ecs.groups", level, "/src/game.py", 42, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_the_gelf_fields() -> None:
    fmt = JsonFormatter(host="game-01", static_fields={"service": "arena", "id": 7})
    rec = record(tick=12, group="physics", duration_ms=0.25, error=None, late=True, tags=["a", "b"])
    line = fmt.format(rec)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["version"] == "1.1"
    assert doc["host"] == "game-01"
    assert doc["short_message"] == "hello world"
    assert doc["timestamp"] == pytest.approx(rec.created)
    assert doc["level"] == 6
    assert doc["_logger"] == "ecs.groups" and doc["_line"] == 42 and doc["_file"] == "/src/game.py"
    assert doc["_tick"] == 12 and doc["_group"] == "physics" and doc["_duration_ms"] == 0.25
    assert "_error" not in doc  # None is left out
    assert doc["_late"] == "true" and doc["_tags"] == "['a', 'b']"  # GELF values are numbers or strings
    assert doc["_service"] == "arena" and doc["_id_"] == 7  # GELF reserves _id
    assert "full_message" not in doc


@pytest.mark.parametrize(
    ("level", "syslog"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3), (logging.CRITICAL, 2), (5, 7)],
)
def test_json_levels_are_syslog_numbers(level: int, syslog: int) -> None:
    assert json.loads(JsonFormatter(host="h").format(record(level=level)))["level"] == syslog


def test_json_puts_the_traceback_in_full_message() -> None:
    try:
        raise KeyError("lost")
    except KeyError:
        rec = logging.LogRecord("x", logging.ERROR, "f.py", 1, "failed", (), sys.exc_info())
    doc = json.loads(JsonFormatter(host="h").format(rec))
    assert doc["short_message"] == "failed"
    assert "Traceback" in doc["full_message"] and "KeyError: 'lost'" in doc["full_message"]


def test_json_field_names_are_made_gelf_safe() -> None:
    doc = json.loads(JsonFormatter(host="h").format(record(**{"queue wait/ms": 3, "nan": float("nan")})))
    assert doc["_queue_wait_ms"] == 3
    assert doc["_nan"] == "nan"  # JSON has no NaN


@given(st.text(), st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), st.text() | st.integers()))
def test_json_lines_are_single_valid_json_objects_for_any_text(msg: str, extra: dict[str, Any]) -> None:
    extra = {k: v for k, v in extra.items() if k not in vars(record())}
    line = JsonFormatter(host="h").format(record(msg, (), **extra))
    assert len(line.splitlines()) == 1
    doc = json.loads(line)
    assert doc["short_message"] == msg
    for k, v in extra.items():
        assert doc["_id_" if k == "id" else "_" + k] == v  # GELF reserves _id


# -- key=value -----------------------------------------------------------------------------------------
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def parse_kv(line: str) -> dict[str, str]:
    """A logfmt reader: quoted values are JSON strings."""
    return {key: json.loads(raw) if raw.startswith('"') else raw for key, raw in _PAIR.findall(line)}


def test_key_value_lines_read_like_logfmt() -> None:
    rec = record(tick=12, group="physics", duration_ms=0.25, error=None, late=False, note="two words")
    line = KeyValueFormatter().format(rec)
    assert re.match(r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info logger=ecs.groups ", line)
    assert line.endswith(' msg="hello world" tick=12 group=physics duration_ms=0.25 late=false note="two words"')
    assert "error=" not in line


def test_key_value_escapes_the_traceback() -> None:
    try:
        raise KeyError("lost")
    except KeyError:
        rec = logging.LogRecord("x", logging.ERROR, "f.py", 1, "failed", (), sys.exc_info())
    line = KeyValueFormatter().format(rec)
    assert "\n" not in line
    assert "Traceback" in parse_kv(line)["exc"]


@example(msg="0\n", note="")  # a trailing newline once slipped through unquoted
@given(st.text(), st.text())
def test_key_value_values_round_trip_for_any_text(msg: str, note: str) -> None:
    line = KeyValueFormatter().format(record(msg, (), note=note))
    assert len(line.splitlines()) == 1
    parsed = parse_kv(line)
    assert parsed["msg"] == msg
    assert parsed["note"] == note


# -- configure_logging ------------------------------------------------------------------------------------
def test_configure_logging_writes_json_or_kv_and_replaces_its_own_handler(logger: logging.Logger) -> None:
    out = io.StringIO()
    first = configure_logging("json", level=logging.DEBUG, stream=out, logger=logger.name)
    logger.debug("as %s", "json", extra={"tick": 1})
    second = configure_logging("kv", level=logging.INFO, stream=out, logger=logger.name)
    logger.debug("dropped: below INFO")
    logger.info("as kv", extra={"tick": 2})
    assert first not in logger.handlers and second in logger.handlers
    json_line, kv_line = out.getvalue().splitlines()
    assert json.loads(json_line)["_tick"] == 1
    assert parse_kv(kv_line)["msg"] == "as kv" and parse_kv(kv_line)["tick"] == "2"


def test_configure_logging_defaults_to_the_root_logger() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        handler = configure_logging("kv", level="WARNING", stream=io.StringIO())
        assert handler in root.handlers and root.level == logging.WARNING
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert root.handlers == handlers


def test_configure_logging_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="'xml'"):
        configure_logging("xml")


def test_end_to_end_json_lines_from_a_running_scheduler(logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("json", level=logging.DEBUG, stream=out, logger=logger.name)
    with build(ecs.ManualClock(), LoggingObserver(logger)) as sched:
        sched.run(2, 1 / 60)
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["_tick"], d["_group"], d["_result"], d["level"]) for d in docs] == [
        (0, "physics", "executed", 7),
        (0, "shaky", "executed", 7),
        (1, "physics", "executed", 7),
        (1, "shaky", "errored", 4),
    ]
    assert docs[3]["_error"] == "ValueError: tipped over"


def test_json_formatter_static_fields_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="static_fields must map field names to values, got 5"):
        JsonFormatter(static_fields=5)  # type: ignore[arg-type]
