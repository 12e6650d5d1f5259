"""Structured logging through the standard library.

The scheduler and systems log through plain :mod:`logging` loggers:

* ``ecs.scheduler`` - failures the error policy let through (a system raised and the group
  went on);
* ``ecs.system.NAME`` - ``ctx.logger`` inside each system;
* ``ecs.groups`` - per-group results, when a :class:`LoggingObserver` is attached.

Two formatters turn records, with their ``extra`` fields, into machine-readable lines:
:class:`JsonFormatter` (JSON lines with GELF 1.1 fields, which Graylog ingests as they are)
and :class:`KeyValueFormatter` (``ts=... level=info logger=ecs.groups msg="..." tick=12
group=physics``, logfmt style). :func:`configure_logging` wires one to a stream::

    configure_logging("json", level=logging.DEBUG)
    sched.add_observer(LoggingObserver(every=60))   # one line per group per second at 60 Hz

Nothing is formatted when a level is off: the observer asks ``isEnabledFor`` before it builds
anything, and passes arguments, not f-strings, so the message is only rendered by a handler.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Final

from .._summary import GroupSummary, SchedulerObserver, TickSummary
from ..scheduler import GroupResult

__all__ = ["JsonFormatter", "KeyValueFormatter", "LoggingObserver", "configure_logging"]

_ERRORED: Final = GroupResult.ERRORED

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_GELF_KEY: Final = re.compile(r"[^\w.\-]")
# A value goes bare when it is printable and has no space, quote, equals sign or backslash.
_KV_BARE: Final = re.compile(r"[^\s\"=\\\x00-\x1f\x7f-\x9f]+")


def _syslog_level(levelno: int) -> int:
    """Map a logging level to the syslog severity GELF wants (2 critical ... 7 debug)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record got through ``extra=`` (in the order they were given)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class LoggingObserver(SchedulerObserver):
    """Logs each work group's result, every ``every``-th tick, with structured fields.

    Each record carries ``extra`` fields ``tick``, ``group``, ``mode``, ``result``,
    ``duration_ms`` (the time the systems ran; for async groups without the queue wait),
    ``entities``, ``commands`` and ``error`` (None unless it failed); async groups add
    ``worker`` and ``queue_wait_ms``. Results are logged at ``level``; errored groups at
    ``error_level`` on every tick, whatever ``every`` says. ``logger`` is a logger or a
    name (default ``ecs.groups``). A tick's groups are logged when the tick ends, in the
    order they finished.
    """

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        level: int = logging.DEBUG,
        error_level: int = logging.WARNING,
        every: int = 1,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        self.logger = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger or "ecs.groups")
        self.level = level
        self.error_level = error_level
        self.every = every

    def on_tick(self, summary: TickSummary) -> None:
        # Listening to whole ticks, not to each group, lets the scheduler keep group runs as
        # compact records; with both levels off nothing else runs, not even their expansion.
        # Only failures are logged on the ticks between every-th ones, and when only the error
        # level is on (a logger at WARNING): then just the failed groups are expanded.
        logger = self.logger
        if summary.tick % self.every == 0 and logger.isEnabledFor(self.level):
            for group in summary.groups:
                self.log_group(group)
        elif logger.isEnabledFor(self.error_level):
            for group in summary.errored_groups:
                self.log_group(group)

    def log_group(self, summary: GroupSummary) -> None:
        """Log one group's summary (called for each group of each observed tick)."""
        result = summary.result
        if result is _ERRORED:
            level = self.error_level
        elif summary.tick % self.every:
            return
        else:
            level = self.level
        logger = self.logger
        if not logger.isEnabledFor(level):  # the cheap exit: nothing below runs when it is off
            return
        ms = round(summary.run_ns / 1e6, 4)
        extra: dict[str, Any] = {
            "tick": summary.tick,
            "group": summary.group,
            "mode": summary.mode,
            "result": result.value,
            "duration_ms": ms,
            "entities": summary.entities,
            "commands": summary.commands,
            "error": summary.error,
        }
        if summary.worker is not None:
            extra["worker"] = summary.worker
            extra["queue_wait_ms"] = round(summary.queue_wait_ns / 1e6, 4)
        if summary.error is not None:
            logger.log(
                level,
                "tick %d: group %s %s in %.3f ms (system %s: %s)",
                summary.tick,
                summary.group,
                result.value,
                ms,
                summary.error_system,
                summary.error,
                extra=extra,
            )
        else:
            logger.log(
                level, "tick %d: group %s %s in %.3f ms", summary.tick, summary.group, result.value, ms, extra=extra
            )


def _plain(value: Any) -> Any:
    """A JSON-safe scalar: numbers and strings as they are, anything else as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with GELF 1.1 fields.

    ``{"version": "1.1", "host": ..., "short_message": ..., "timestamp": 1732600000.123,
    "level": 6, "_logger": "ecs.groups", "_tick": 12, "_group": "physics", ...}``: the
    mandatory GELF fields, ``full_message`` when there is a traceback, the syslog level
    number, and every ``extra`` field as an underscore-prefixed additional field (values
    that are neither numbers nor strings become strings; None is left out). Graylog's GELF
    inputs and JSON extractors read these lines unchanged; ``static_fields`` adds fields to
    every line (``{"service": "game-server"}`` gives ``"_service": "game-server"``).
    """

    def __init__(self, *, host: str | None = None, static_fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if static_fields is not None and not isinstance(static_fields, Mapping):
            raise TypeError(f"static_fields must map field names to values, got {static_fields!r}")
        self.host = host if host is not None else socket.gethostname()
        self.static_fields = {self._key(k): _plain(v) for k, v in (static_fields or {}).items()}

    @staticmethod
    def _key(name: str) -> str:
        key = "_" + _GELF_KEY.sub("_", name)
        return "_id_" if key == "_id" else key  # GELF reserves _id

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "version": "1.1",
            "host": self.host,
            "short_message": record.getMessage(),
            "timestamp": round(record.created, 6),
            "level": _syslog_level(record.levelno),
        }
        full = []
        if record.exc_info:
            full.append(self.formatException(record.exc_info))
        elif record.exc_text:
            full.append(record.exc_text)
        if record.stack_info:
            full.append(self.formatStack(record.stack_info))
        if full:
            out["full_message"] = "\n".join(full)
        out["_logger"] = record.name
        out["_level_name"] = record.levelname
        out["_thread"] = record.threadName
        out["_file"] = record.pathname
        out["_line"] = record.lineno
        out.update(self.static_fields)
        for k, v in extra_fields(record).items():
            if v is not None:
                out[self._key(k)] = _plain(v)
        return _line_safe(json.dumps(out, ensure_ascii=False, separators=(",", ":")))


def _line_safe(text: str) -> str:
    """Escape the separators JSON leaves raw but ``str.splitlines`` (and some log shippers) split on."""
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")
    return text


def _kv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if _KV_BARE.fullmatch(text):  # fullmatch: '$' would accept a trailing newline
        return text
    # Quoted values are JSON strings: every logfmt reader and every JSON parser can unquote them.
    return _line_safe(json.dumps(text, ensure_ascii=False))


class KeyValueFormatter(logging.Formatter):
    """``key=value`` lines (logfmt): ``ts=... level=info logger=ecs.groups msg="..." tick=12 group=physics``.

    ``ts`` is UTC ISO-8601 with milliseconds; values with spaces, quotes, ``=`` or control
    characters are written as JSON strings (double quotes, backslash escapes), so every line
    splits unambiguously and stays one line.
    ``extra`` fields follow in the order given; None values are left out; a traceback goes
    in ``exc`` with its newlines escaped.
    """

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={_kv_value(record.name)}",
            f"msg={_kv_value(record.getMessage())}",
        ]
        for k, v in extra_fields(record).items():
            if v is not None:
                parts.append(f"{k}={_kv_value(v)}")
        if record.exc_info:
            parts.append(f"exc={_kv_value(self.formatException(record.exc_info))}")
        if record.stack_info:
            parts.append(f"stack={_kv_value(self.formatStack(record.stack_info))}")
        return " ".join(parts)


_FORMATTERS: Final = {"json": JsonFormatter, "kv": KeyValueFormatter}


def configure_logging(
    format: str = "json",
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    *,
    logger: str | None = None,
) -> logging.Handler:
    """Send ``logger`` (default: the root logger) to ``stream`` (default stderr) as JSON or key=value.

    ``format`` is ``"json"`` (GELF fields, see :class:`JsonFormatter`) or ``"kv"``. Calling
    it again replaces the handler it installed before instead of adding a second one.
    Returns the handler.
    """
    factory = _FORMATTERS.get(format)
    if factory is None:
        raise ValueError(f"unknown log format {format!r}; expected one of {sorted(_FORMATTERS)}")
    target = logging.getLogger(logger)
    for old in list(target.handlers):
        if getattr(old, "_ecs_configured", False):
            target.removeHandler(old)
            old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(factory())
    handler._ecs_configured = True  # type: ignore[attr-defined]  # marks the handler this function owns
    target.addHandler(handler)
    target.setLevel(level)
    return handler
