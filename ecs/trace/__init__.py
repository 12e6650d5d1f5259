"""Observability: the trace event schema, trace files and their readers.

See ``docs/trace-format.md`` for the format and ``docs/observability.md`` for the guide.
"""

from ._chrome import ChromeExport as ChromeExport
from ._chrome import export_chrome as export_chrome
from ._debug import DebugServer as DebugServer
from ._debug import serve_debug as serve_debug
from ._flight import FlightRecorder as FlightRecorder
from ._logging import JsonFormatter as JsonFormatter
from ._logging import KeyValueFormatter as KeyValueFormatter
from ._logging import LoggingObserver as LoggingObserver
from ._logging import configure_logging as configure_logging
from ._metrics import MetricsObserver as MetricsObserver
from ._metrics import otlp_observer as otlp_observer
from ._prometheus import PrometheusEndpoint as PrometheusEndpoint
from ._prometheus import prometheus_observer as prometheus_observer
from ._prometheus import serve_prometheus as serve_prometheus
from ._reader import MAX_LINE_BYTES as MAX_LINE_BYTES
from ._reader import TraceBuilder as TraceBuilder
from ._reader import TraceData as TraceData
from ._reader import TraceReader as TraceReader
from ._reader import data_tail as data_tail
from ._reader import load_trace as load_trace
from ._reader import open_binary as open_binary
from ._recorder import TraceRecorder as TraceRecorder
from ._schema import ERROR_FIELDS as ERROR_FIELDS
from ._schema import GROUP_FIELDS as GROUP_FIELDS
from ._schema import PHASE_FIELDS as PHASE_FIELDS
from ._schema import PHASES as PHASES
from ._schema import RESULTS as RESULTS
from ._schema import SCHEMA as SCHEMA
from ._schema import SYSTEM_FIELDS as SYSTEM_FIELDS
from ._schema import SYSTEM_RESULTS as SYSTEM_RESULTS
from ._schema import VERSION as VERSION
from ._schema import Encoder as Encoder
from ._stats import NOT_RUN_RESULTS as NOT_RUN_RESULTS
from ._stats import RAN_RESULTS as RAN_RESULTS
from ._stats import SKIPPED_RESULTS as SKIPPED_RESULTS
from ._stats import GroupStat as GroupStat
from ._stats import SystemStat as SystemStat
from ._stats import TickStat as TickStat
from ._stats import group_stats as group_stats
from ._stats import grouped_percentiles as grouped_percentiles
from ._stats import system_stats as system_stats
from ._stats import tick_stats as tick_stats
from ._stream import MAX_CONTROL_BYTES as MAX_CONTROL_BYTES
from ._stream import LiveStreamClient as LiveStreamClient
from ._stream import LiveStreamServer as LiveStreamServer
from ._stream import StreamStats as StreamStats

__all__ = [
    "ERROR_FIELDS",
    "GROUP_FIELDS",
    "MAX_CONTROL_BYTES",
    "MAX_LINE_BYTES",
    "NOT_RUN_RESULTS",
    "PHASES",
    "PHASE_FIELDS",
    "RAN_RESULTS",
    "RESULTS",
    "SCHEMA",
    "SKIPPED_RESULTS",
    "SYSTEM_FIELDS",
    "SYSTEM_RESULTS",
    "VERSION",
    "ChromeExport",
    "DebugServer",
    "Encoder",
    "FlightRecorder",
    "GroupStat",
    "JsonFormatter",
    "KeyValueFormatter",
    "LiveStreamClient",
    "LiveStreamServer",
    "LoggingObserver",
    "MetricsObserver",
    "PrometheusEndpoint",
    "StreamStats",
    "SystemStat",
    "TickStat",
    "TraceBuilder",
    "TraceData",
    "TraceReader",
    "TraceRecorder",
    "configure_logging",
    "data_tail",
    "export_chrome",
    "group_stats",
    "grouped_percentiles",
    "load_trace",
    "open_binary",
    "otlp_observer",
    "prometheus_observer",
    "serve_debug",
    "serve_prometheus",
    "system_stats",
    "tick_stats",
]
