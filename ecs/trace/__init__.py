"""Observability: the trace event schema, trace files and their readers.

See ``docs/trace-format.md`` for the format and ``docs/observability.md`` for the guide.
"""

from ._chrome import ChromeExport as ChromeExport
from ._chrome import export_chrome as export_chrome
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
from ._stats import GroupStat as GroupStat
from ._stats import SystemStat as SystemStat
from ._stats import TickStat as TickStat
from ._stats import group_stats as group_stats
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
    "PHASES",
    "PHASE_FIELDS",
    "RESULTS",
    "SCHEMA",
    "SYSTEM_FIELDS",
    "SYSTEM_RESULTS",
    "VERSION",
    "ChromeExport",
    "Encoder",
    "GroupStat",
    "LiveStreamClient",
    "LiveStreamServer",
    "StreamStats",
    "SystemStat",
    "TickStat",
    "TraceBuilder",
    "TraceData",
    "TraceReader",
    "TraceRecorder",
    "data_tail",
    "export_chrome",
    "group_stats",
    "load_trace",
    "open_binary",
    "system_stats",
    "tick_stats",
]
