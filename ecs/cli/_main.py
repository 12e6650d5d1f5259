"""The ``ecs-trace`` command: record, summarise, export, validate, compare and tail traces.

::

    ecs-trace run demos.boids:create_scheduler --ticks 600 --dt 0.016 --out run.trace.jsonl.gz
    ecs-trace summary run.trace.jsonl.gz            # tables per group and system (--json, --plain)
    ecs-trace export run.trace.jsonl.gz --chrome run.json   # Perfetto UI / speedscope
    ecs-trace validate run.trace.jsonl.gz           # exit 0 intact, 1 damaged but readable, 2 unreadable
    ecs-trace diff before.trace.jsonl.gz after.trace.jsonl.gz
    ecs-trace tail 127.0.0.1:7777 --ticks 100       # one line per tick of a live stream

Damaged traces never produce a traceback: the command says what is wrong and, when a
readable prefix exists, works on that prefix. Exit codes: 0 success, 1 the command ran but
found a problem (damage, errors, a timeout), 2 the input could not be used at all.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from .._errors import EcsError
from ..trace import TraceData, export_chrome, group_stats, load_trace
from ..trace._net import parse_address
from ..trace._schema import GROUP_FIELDS, RESULTS, SYSTEM_FIELDS
from . import _report

__all__ = ["build_parser", "main", "trace_problems"]

OK, PROBLEM, UNUSABLE = 0, 1, 2


def _load(path: str, err: IO[str]) -> TraceData | None:
    """Load a trace, or print why it cannot be read (returns None)."""
    try:
        with open(path, "rb") as f:  # opened here so that it is closed however loading ends
            return load_trace(f)
    except (EcsError, OSError, ValueError) as exc:
        print(f"ecs-trace: cannot read {path}: {exc}", file=err)
        return None


def _print_warnings(data: TraceData, path: str, err: IO[str]) -> None:
    if data.warnings:
        print(f"ecs-trace: {path} is damaged; using what could be read:", file=err)
        for w in data.warnings:
            print(f"  - {w}", file=err)


# -- commands --------------------------------------------------------------------------------------------
def _cmd_summary(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    data = _load(args.file, err)
    if data is None:
        return UNUSABLE
    _print_warnings(data, args.file, err)
    if args.json:
        json.dump(_report.summary_dict(data, args.file), out, indent=1)
        print(file=out)
    else:
        _report.print_summary(data, args.file, out, plain=args.plain)
    return OK


def _cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    target = args.chrome or args.output
    if args.format != "chrome":  # pragma: no cover - argparse restricts the choices
        raise AssertionError(args.format)
    if not target:
        print("ecs-trace export: say where to write: --chrome OUT.json (or --format chrome -o OUT.json)", file=err)
        return UNUSABLE
    try:
        result = export_chrome(args.file, target, slice_args=not args.speedscope)
    except (EcsError, OSError, ValueError) as exc:
        print(f"ecs-trace: cannot export {args.file}: {exc}", file=err)
        return UNUSABLE
    for w in result.warnings:
        print(f"ecs-trace: warning: {w}", file=err)
    print(f"wrote {result.events} events ({result.ticks} ticks) to {target}", file=out)
    return OK


def trace_problems(data: TraceData) -> list[str]:
    """Everything wrong with a loaded trace: the reader's warnings plus consistency checks."""
    problems = list(data.warnings)
    results = data.groups[:, GROUP_FIELDS.index("result")]
    bad = int(((results < 0) | (results >= len(RESULTS))).sum())
    if bad:
        problems.append(f"{bad} group records have an unknown result code")
    systems = data.systems[:, SYSTEM_FIELDS.index("system")]
    bad = int(((systems < 0) | (systems >= len(data.system_names))).sum())
    if bad:
        problems.append(f"{bad} system records name a system the header does not list")
    if len(data) > 1:
        back = np.flatnonzero(np.diff(data.tick) <= 0)
        if back.size:
            problems.append(f"tick numbers do not increase after tick {int(data.tick[back[0]])}")
    return problems


def _cmd_validate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    data = _load(args.file, err)
    if data is None:
        return UNUSABLE
    problems = trace_problems(data)
    if problems:
        print(f"{args.file}: damaged; {len(data)} ticks readable", file=out)
        for p in problems:
            print(f"  - {p}", file=out)
        return PROBLEM
    print(
        f"{args.file}: ok; {len(data)} ticks, {len(data.groups)} group records, {len(data.systems)} system records",
        file=out,
    )
    return OK


def _cmd_diff(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    a = _load(args.a, err)
    b = _load(args.b, err)
    if a is None or b is None:
        return UNUSABLE
    _print_warnings(a, args.a, err)
    _print_warnings(b, args.b, err)
    ga, gb = group_stats(a), group_stats(b)
    if args.json:
        json.dump({"a": args.a, "b": args.b, "headers": _report.DIFF_HEADERS, "rows": _report.diff_rows(ga, gb)}, out)
        print(file=out)
    else:
        print(f"A = {args.a} ({len(a)} ticks)\nB = {args.b} ({len(b)} ticks)", file=out)
        _report.print_table("groups, A vs B", _report.DIFF_HEADERS, _report.diff_rows(ga, gb), out, args.plain)
    return OK


def _tick_line(ev: dict[str, Any], names: list[str]) -> str | None:
    """One line for a tick event of a live stream (None if it is malformed)."""
    try:
        ms = (int(ev["end"]) - int(ev["start"])) / 1e6
        parts = [f"tick {int(ev['tick']):>7}  {ms:8.3f} ms  entities {int(ev.get('entities', 0))}"]
        gi, si, ei, ri = (GROUP_FIELDS.index(k) for k in ("group", "start", "end", "result"))
        for g in ev.get("groups") or ():
            name = names[g[gi]] if 0 <= g[gi] < len(names) else f"group{g[gi]}"
            result = RESULTS[g[ri]] if 0 <= g[ri] < len(RESULTS) else "?"
            if result == "executed":
                parts.append(f"{name} {(g[ei] - g[si]) / 1e6:.3f}")
            elif result != "skipped_interval":
                parts.append(f"{name} {result}")
        if ev.get("errors"):
            parts.append(f"errors {len(ev['errors'])}")
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return "  ".join(parts)


def _cmd_tail(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ..trace import LiveStreamClient
    from ..trace._stream import MAX_INTERVAL

    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_INTERVAL):
        limit = f"{MAX_INTERVAL:g}"
        print(f"ecs-trace tail: --timeout must be a number of seconds > 0 and <= {limit}, got {args.timeout}", file=err)
        return UNUSABLE
    if args.ticks is not None and args.ticks < 1:
        print(f"ecs-trace tail: --ticks must be >= 1, got {args.ticks}", file=err)
        return UNUSABLE
    try:
        host, port = parse_address(args.address, connect=True)
    except ValueError as exc:
        print(f"ecs-trace tail: {exc}", file=err)
        return UNUSABLE
    try:
        client = LiveStreamClient(host, port, timeout=args.timeout, client_name="ecs-trace tail")
    except (EcsError, OSError, ValueError) as exc:  # ValueError: a host name idna cannot encode ("a..b")
        print(f"ecs-trace tail: cannot follow {host}:{port}: {exc}", file=err)
        return UNUSABLE
    names = [str(g.get("name", "?")) if isinstance(g, dict) else "?" for g in client.header["groups"]]
    print(f"following {client.address}: world {client.header.get('world', '?')!r}, groups {', '.join(names)}", file=out)
    ticks = 0
    last_dropped = 0
    try:
        with client:
            for ev in client:
                kind = ev["type"]
                if kind == "tick":
                    line = _tick_line(ev, names)
                    if line is None:
                        print("(a malformed tick line was skipped)", file=out)
                        continue
                    print(line, file=out, flush=True)
                    ticks += 1
                    if args.ticks is not None and ticks >= args.ticks:
                        break
                elif kind == "mark":
                    print(f"mark {ev.get('name')!r} at tick {ev.get('tick')} {ev.get('data') or ''}", file=out)
                elif kind == "stream":
                    dropped = ev.get("dropped")
                    if isinstance(dropped, int) and dropped > last_dropped:
                        print(f"(the server dropped {dropped - last_dropped} lines)", file=out)
                        last_dropped = dropped
                elif kind == "end":
                    print(f"end of stream after {ev.get('ticks', '?')} ticks", file=out)
    except TimeoutError:
        print(f"ecs-trace tail: {host}:{port} sent nothing for {args.timeout} s", file=err)
        return PROBLEM
    except OSError as exc:
        print(f"ecs-trace tail: connection lost: {exc}", file=err)
        return PROBLEM
    except EcsError as exc:  # the stream went bad after its header (a run of garbage lines)
        print(f"ecs-trace tail: {exc}", file=err)
        return PROBLEM
    if client.rejected or client.oversized:
        print(f"({client.rejected} malformed and {client.oversized} oversized lines were skipped)", file=err)
    return OK


def _cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._run import run_command

    return run_command(args, out, err)


# -- parser ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecs-trace",
        description="Record, summarise, export, validate, compare and follow ecs scheduler traces.",
        epilog="File format: docs/trace-format.md. Exit codes: 0 ok, 1 problem found, 2 unusable input.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a workload under the trace recorder and print its summary")
    r.add_argument("target", metavar="MODULE[:FACTORY]", help="e.g. demos.boids:create_scheduler")
    r.add_argument("--ticks", type=int, default=600, help="ticks to run (default 600)")
    r.add_argument("--dt", type=float, default=1 / 60, help="game seconds per tick (default 1/60)")
    r.add_argument("--seed", type=int, default=0, help="passed to the factory as seed= (default 0)")
    r.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra factory keyword (VALUE parsed as JSON when it can be); repeatable",
    )
    r.add_argument("--out", metavar="FILE", help="trace file to write (.gz compresses); default: a temporary file")
    r.add_argument("--chrome", metavar="FILE", help="also export Chrome Trace Event JSON here")
    r.add_argument("--stream", metavar="[HOST:]PORT", help="also serve the live stream (port 0 picks one)")
    r.add_argument(
        "--stream-wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for a stream client"
    )
    r.add_argument(
        "--metrics", metavar="[HOST:]PORT", help="also serve Prometheus /metrics (needs the telemetry extra)"
    )
    r.add_argument("--profile", choices=("cprofile", "pyinstrument"), help="profile the run")
    r.add_argument("--profile-out", metavar="FILE", help="profile output (.prof; pyinstrument: .html/.json/.txt)")
    r.add_argument("--cprofile", metavar="FILE", help="same as --profile cprofile --profile-out FILE")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument("--plain", action="store_true", help="plain-text tables even when rich is installed")
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("summary", help="tick, group and system statistics of a trace")
    s.add_argument("file")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--plain", action="store_true", help="plain-text tables even when rich is installed")
    s.set_defaults(func=_cmd_summary)

    e = sub.add_parser("export", help="convert a trace (Chrome Trace Event JSON for Perfetto and speedscope)")
    e.add_argument("file")
    e.add_argument("--chrome", metavar="OUT", help="write Chrome Trace Event JSON (OUT.gz compresses)")
    e.add_argument("--format", choices=("chrome",), default="chrome", help="output format (default chrome)")
    e.add_argument("-o", "--output", metavar="OUT", help="output path (with --format)")
    e.add_argument(
        "--speedscope",
        action="store_true",
        help="leave args out of slices (speedscope merges frames by name and args); keep them for Perfetto",
    )
    e.set_defaults(func=_cmd_export)

    v = sub.add_parser("validate", help="check a trace: exit 0 intact, 1 damaged but readable, 2 unreadable")
    v.add_argument("file")
    v.set_defaults(func=_cmd_validate)

    d = sub.add_parser("diff", help="compare two traces group by group")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    d.add_argument("--json", action="store_true")
    d.add_argument("--plain", action="store_true")
    d.set_defaults(func=_cmd_diff)

    t = sub.add_parser("tail", help="follow a live stream, one line per tick")
    t.add_argument("address", metavar="[HOST:]PORT")
    t.add_argument("--ticks", type=int, help="stop after N ticks")
    t.add_argument("--timeout", type=float, default=5.0, help="give up after S seconds of silence (default 5)")
    t.set_defaults(func=_cmd_tail)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ecs-trace`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else UNUSABLE
    out, err = sys.stdout, sys.stderr
    try:
        code: int = args.func(args, out, err)
    except KeyboardInterrupt:
        print("ecs-trace: interrupted", file=err)
        return 130
    except BrokenPipeError:  # `ecs-trace tail ... | head`
        return OK
    return code
