"""``ecs-trace run``: build a scheduler from a factory, run it under the recorder, summarise.

A factory is any callable ``factory(seed=..., **options) -> ecs.Scheduler`` that builds a
fresh world and scheduler without opening a window; every demo exposes one as
``demos.<name>:create_scheduler``, and ``MODULE`` alone means ``MODULE:create_scheduler``.
The current directory is importable, as with ``python -m``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from .._errors import EcsError
from ..scheduler import Scheduler
from ..trace import LiveStreamServer, TraceRecorder, export_chrome, load_trace
from . import _report
from ._args import output_problem

__all__ = ["UsageError", "check_output_path", "load_factory", "parse_options", "run_command"]

DEFAULT_FACTORY = "create_scheduler"


class UsageError(Exception):
    """Something on the command line cannot be used (reported without a traceback)."""


@contextlib.contextmanager
def _cwd_importable() -> Iterator[None]:
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(cwd)


def load_factory(target: str) -> Callable[..., Any]:
    """``"pkg.module:factory"`` (or ``"pkg.module"`` for ``create_scheduler``) -> the callable."""
    module_name, _, attr = target.partition(":")
    attr = attr or DEFAULT_FACTORY
    if not module_name:
        raise UsageError(f"no module in {target!r}; expected MODULE[:FACTORY]")
    with _cwd_importable():
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise UsageError(f"cannot import {module_name!r}: no such module") from None
            raise
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no {attr!r}") from None
    if not callable(obj):
        raise UsageError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``["n=100", "name=boids"]`` -> ``{"n": 100, "name": "boids"}`` (JSON values where they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--option {item!r}: expected KEY=VALUE with KEY a Python identifier")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


class _Profile:
    """cProfile or pyinstrument around the ticks, written where ``--profile-out`` says."""

    def __init__(self, kind: str | None, path: str | None) -> None:
        self.kind = kind
        self.path = path or ("ecs-trace.prof" if kind == "cprofile" else "ecs-trace.pyinstrument.html")
        self._prof: Any = None
        if kind == "cprofile":
            import cProfile

            self._prof = cProfile.Profile()
        elif kind == "pyinstrument":
            try:
                from pyinstrument import Profiler
            except ImportError:
                raise UsageError("--profile pyinstrument needs pyinstrument (pip install pyinstrument)") from None
            self._prof = Profiler(interval=0.001)

    def start(self) -> None:
        if self.kind == "cprofile":
            self._prof.enable()
        elif self.kind == "pyinstrument":
            self._prof.start()

    def stop(self) -> str | None:
        """Stop and write the profile; returns the path written (None when not profiling)."""
        if self.kind == "cprofile":
            self._prof.disable()
            self._prof.dump_stats(self.path)  # marshal-based pstats, readable with `python -m pstats`
            return self.path
        if self.kind == "pyinstrument":
            self._prof.stop()
            if self.path.endswith(".html"):
                text = self._prof.output_html()
            elif self.path.endswith(".json"):
                from pyinstrument.renderers import SpeedscopeRenderer

                text = self._prof.output(SpeedscopeRenderer())
            else:
                text = self._prof.output_text(unicode=False, color=False)
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
            return self.path
        return None


def _progress(total: int, err: IO[str]) -> Any:
    """A rich progress bar when stderr is a terminal, else None."""
    if not err.isatty():
        return None
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich is in the dev environment
        return None
    from rich.console import Console

    progress = Progress(console=Console(file=err), transient=True)
    progress.start()
    progress.add_task("ticks", total=total)
    return progress


def _run_ticks(sched: Scheduler, ticks: int, dt: float, err: IO[str]) -> tuple[int, str | None]:
    """Tick ``ticks`` times; returns (ticks run, failure text or None)."""
    bar = _progress(ticks, err)
    done = 0
    try:
        for done in range(1, ticks + 1):
            sched.tick(dt)
            if bar is not None and done % 16 == 0:
                bar.update(bar.task_ids[0], completed=done)
    except EcsError as exc:
        return done - 1, f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        return done - 1, "interrupted"
    finally:
        if bar is not None:
            bar.stop()
    return done, None


def _check_numbers(args: argparse.Namespace) -> str | None:
    """What is wrong with the numeric options, before a factory builds anything."""
    if args.ticks < 0:
        return "--ticks must be >= 0"
    if args.seed < 0:
        return f"--seed must be >= 0, got {args.seed}"
    if not (math.isfinite(args.dt) and args.dt >= 0):
        return f"--dt must be a finite number of seconds >= 0, got {args.dt}"
    if not (math.isfinite(args.stream_wait) and args.stream_wait >= 0):
        return f"--stream-wait must be a finite number of seconds >= 0, got {args.stream_wait}"
    return None


def check_output_path(option: str, path: str) -> str | None:
    """What stops ``path`` (given as ``option``) from being written, or None when it can be."""
    problem = output_problem(path)
    return None if problem is None else f"{option}: {problem}"


def _check_outputs(args: argparse.Namespace, profile: _Profile) -> str | None:
    """The first output option that cannot be written (see :func:`check_output_path`)."""
    paths = [("--out", args.out), ("--chrome", args.chrome)]
    if profile.kind is not None:
        option = "--cprofile" if args.cprofile else "--profile-out"
        paths.append((option, profile.path))
    for option, path in paths:
        if path is not None:
            problem = check_output_path(option, path)
            if problem is not None:
                return problem
    return None


def run_command(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ..trace._net import parse_address
    from ._main import PROBLEM, UNUSABLE

    try:
        factory = load_factory(args.target)
        options = parse_options(args.option)
        if args.cprofile:
            args.profile, args.profile_out = "cprofile", args.cprofile
        profile = _Profile(args.profile, args.profile_out)
        stream = parse_address(args.stream) if args.stream else None
        metrics = parse_address(args.metrics) if args.metrics else None
    except (UsageError, ValueError) as exc:
        print(f"ecs-trace run: {exc}", file=err)
        return UNUSABLE
    problem = _check_numbers(args)
    if problem is not None:
        print(f"ecs-trace run: {problem}", file=err)
        return UNUSABLE
    problem = _check_outputs(args, profile)
    if problem is not None:
        print(f"ecs-trace run: {problem}", file=err)
        return UNUSABLE
    try:
        sched = factory(seed=args.seed, **options)
    except Exception:  # noqa: BLE001 - the user's factory failed: show them its traceback
        print(f"ecs-trace run: the factory {args.target} raised:", file=err)
        traceback.print_exc(file=err)
        return PROBLEM
    if not isinstance(sched, Scheduler):
        print(f"ecs-trace run: {args.target} returned {type(sched).__name__}, not an ecs.Scheduler", file=err)
        return UNUSABLE

    with tempfile.TemporaryDirectory(prefix="ecs-trace-") as tmp, contextlib.ExitStack() as stack:
        path = args.out or os.path.join(tmp, "run.trace.jsonl.gz")
        failure: str | None = None
        try:
            recorder = TraceRecorder(path)
            sched.add_observer(recorder)
            if stream is not None:
                try:
                    # naming a host on the command line is the consent a non-loopback bind needs
                    server = LiveStreamServer(*stream, allow_remote=":" in args.stream)
                except (OSError, ValueError) as exc:
                    print(f"ecs-trace run: cannot serve the live stream: {exc}", file=err)
                    return UNUSABLE
                sched.add_observer(server)
                print(f"streaming on {server.address}", file=out, flush=True)
                deadline = time.monotonic() + args.stream_wait
                while server.stats.clients == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
            if metrics is not None:
                try:
                    from ..trace import prometheus_observer

                    observer, endpoint = prometheus_observer(metrics[1], metrics[0], allow_remote=":" in args.metrics)
                except (ImportError, OSError, ValueError) as exc:
                    print(f"ecs-trace run: cannot serve metrics: {exc}", file=err)
                    return UNUSABLE
                stack.callback(endpoint.close)
                sched.add_observer(observer)
                print(f"metrics on {endpoint.url}", file=out, flush=True)
            t0 = time.perf_counter()
            profile.start()
            ran, failure = _run_ticks(sched, args.ticks, args.dt, err)
            try:
                written = profile.stop()
            except OSError as exc:  # checked up front, but the disk may have filled up since
                print(f"ecs-trace run: cannot write the profile {profile.path}: {exc}", file=err)
                written, failure = None, failure or "the profile could not be written"
            seconds = time.perf_counter() - t0
        finally:
            sched.close()
        try:
            with open(path, "rb") as f:
                data = load_trace(f)
            chrome = export_chrome(path, args.chrome) if args.chrome else None
        except (EcsError, OSError, ValueError) as exc:
            print(f"ecs-trace run: the run finished but its output could not be written or read: {exc}", file=err)
            return PROBLEM
        if args.json:
            run_info = {
                "target": args.target,
                "ticks": ran,
                "seconds": seconds,
                "out": args.out,
                "chrome": args.chrome,
                "profile": written,
                "failure": failure,
            }
            json.dump({"run": run_info, "summary": _report.summary_dict(data, args.out or "(temporary)")}, out)
            print(file=out)
        else:
            print(f"ran {ran} ticks of {args.target} in {seconds:.3f} s", file=out)
            if failure:
                print(f"stopped early: {failure}", file=out)
            if args.out:
                print(f"trace: {args.out}", file=out)
            if chrome is not None:
                print(f"chrome trace: {args.chrome} ({chrome.events} events)", file=out)
            if written:
                print(f"profile: {written}", file=out)
            _report.print_summary(data, args.out or "(temporary)", out, plain=args.plain)
    return PROBLEM if failure else 0
