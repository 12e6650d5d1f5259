"""What every demo shares: the command line, the headless loop, the window, the HUD.

A demo module provides a :class:`Demo` (its name, ``create_scheduler`` factory, extra
command-line options, and a ``make_scene`` that builds its drawing code for a window) and
calls ``main(DEMO)``. Everything else lives here:

* ``--headless`` runs without a window and without importing arcade at all (a plain loop from
  :mod:`ecs.integrations.headless`), so it works on a server with no X and no GL;
* ``--ticks N`` stops after N ticks (windowed runs keep going until closed when it is absent);
* ``--seed S`` seeds every random draw (numpy Generators only; the wall clock never enters
  the simulation, whose ``dt`` is fixed at ``1 / --rate``);
* ``--record FILE`` writes a trace (:class:`ecs.trace.TraceRecorder`);
* ``--stream [HOST:]PORT`` serves the live stream (:class:`ecs.trace.LiveStreamServer`);
* ``--hash`` prints ``world.state_hash()`` as the last line of output.

Mistakes on the command line are argparse usage errors (exit status 2) before the game starts;
what can only be known when it starts (a ``--stream`` port already in use) is one line on
stderr and exit status 1, never a traceback.

The HUD shows, per work group, the average time it took over the last ticks, as reported to
a :class:`GroupTimes` observer: the same numbers a trace records.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import ecs
from ecs.cli._args import address_arg, count_arg, image_problem, number_arg, output_problem
from ecs.integrations import MAX_RATE_HZ, MIN_RATE_HZ
from ecs.integrations.headless import run_fixed
from ecs.trace._net import parse_address as _parse_address

if TYPE_CHECKING:
    import arcade

    from ecs.integrations.arcade import SchedulerDriver

__all__ = [
    "Demo",
    "DemoWindow",
    "GroupTimes",
    "Scene",
    "StartError",
    "build_parser",
    "count_arg",
    "fraction_arg",
    "main",
    "open_window",
    "parse_address",
    "run_headless",
]

DEFAULT_HEADLESS_TICKS: Final = 600
DEFAULT_BUDGET_MS: Final = 16.7
WINDOW_SIZE: Final = (1280, 720)
_EMA: Final = 0.1  # weight of the newest tick in the HUD's moving averages


# -- observation for the HUD ----------------------------------------------------------------------
class GroupTimes(ecs.SchedulerObserver):
    """Moving averages of tick and per-group times (ms), and failure counts, for a HUD.

    Async groups are timed by how long they ran on their worker (``run_ns``), not by how
    long they waited in the queue.
    """

    def __init__(self) -> None:
        self.group_ms: dict[str, float] = {}
        self.modes: dict[str, str] = {}
        self.last_result: dict[str, str] = {}
        self.tick_ms = 0.0
        self.ticks = 0
        self.entities = 0
        self.errors = 0
        self.retries = 0

    def on_start(self, info: ecs.SchedulerInfo) -> None:
        for g in info.groups:
            self.group_ms.setdefault(g.name, 0.0)
            self.modes[g.name] = g.mode

    def on_group(self, summary: ecs.GroupSummary) -> None:
        self.last_result[summary.group] = summary.result.value
        if summary.result in (ecs.GroupResult.EXECUTED, ecs.GroupResult.ERRORED):
            ns = summary.run_ns if summary.mode == "async" else summary.duration_ns
            old = self.group_ms.get(summary.group, 0.0)
            self.group_ms[summary.group] = ns / 1e6 if self.ticks == 0 else old + _EMA * (ns / 1e6 - old)
        if summary.result is ecs.GroupResult.ERRORED:
            self.errors += 1
        if summary.retried:
            self.retries += 1

    def on_tick(self, summary: ecs.TickSummary) -> None:
        ms = summary.duration_ns / 1e6
        self.tick_ms = ms if self.ticks == 0 else self.tick_ms + _EMA * (ms - self.tick_ms)
        self.ticks += 1
        self.entities = summary.entities

    def lines(self) -> list[str]:
        """The HUD's text: one line for the tick, one per group."""
        out = [f"tick {self.ticks}  {self.tick_ms:6.2f} ms  entities {self.entities}"]
        for name, ms in self.group_ms.items():
            mode = self.modes.get(name, "?")
            result = self.last_result.get(name, "-")
            out.append(f"  {name:<12} {mode:<5} {ms:6.2f} ms  {result}")
        if self.errors or self.retries:
            out.append(f"  errors {self.errors}  retries {self.retries}")
        return out


# -- the demo description --------------------------------------------------------------------------
class Scene(Protocol):
    """A demo's drawing and input code for one window (built by ``Demo.make_scene``)."""

    def draw(self, alpha: float) -> None: ...

    def on_key_press(self, symbol: int, modifiers: int) -> None: ...

    def on_key_release(self, symbol: int, modifiers: int) -> None: ...

    def hud_lines(self) -> list[str]: ...


@dataclass(frozen=True)
class Demo:
    """How the shared runner builds and shows one demo."""

    name: str
    title: str
    create_scheduler: Callable[..., ecs.Scheduler]
    make_scene: Callable[[ecs.Scheduler, arcade.Window, SchedulerDriver], Scene]
    #: Adds the demo's own command-line options to the parser.
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda _parser: None
    #: Turns parsed arguments into keyword options for ``create_scheduler``.
    options: Callable[[argparse.Namespace], dict[str, Any]] = lambda _args: {}
    #: Called once per headless run before the ticks (e.g. turn the autopilot on).
    prepare_headless: Callable[[ecs.Scheduler], None] = lambda _sched: None
    keys: tuple[str, ...] = field(default=())


def build_parser(demo: Demo) -> argparse.ArgumentParser:
    """The common options plus the demo's own."""
    parser = argparse.ArgumentParser(prog=f"python -m demos.{demo.name}", description=demo.title)
    parser.add_argument("--headless", action="store_true", help="no window: run the simulation only (no X needed)")
    parser.add_argument(
        "--ticks",
        type=count_arg(0),
        default=None,
        help=f"stop after N ticks (headless default {DEFAULT_HEADLESS_TICKS}; windowed: run until closed)",
    )
    parser.add_argument("--seed", type=count_arg(0), default=0, help="seed of every random draw (default 0)")
    parser.add_argument(
        "--rate",
        type=_rate_arg,
        default=60.0,
        help=f"ticks per second of game time, {MIN_RATE_HZ:g} to {MAX_RATE_HZ:g} (default 60)",
    )
    parser.add_argument("--record", metavar="FILE", help="record a trace (.trace.jsonl or .trace.jsonl.gz)")
    parser.add_argument(
        "--stream", metavar="[HOST:]PORT", type=_address_arg, help="serve the live trace stream for ecs-profiler"
    )
    parser.add_argument(
        "--hitches",
        metavar="DIR",
        help="keep the last 600 ticks in memory and write a trace to DIR around each tick over --budget-ms",
    )
    parser.add_argument(
        "--budget-ms", type=_positive_arg, default=None, help="with --hitches: the tick budget in ms (default 16.7)"
    )
    parser.add_argument("--hash", action="store_true", help="print the final world state hash as the last line")
    parser.add_argument(
        "--realtime", action="store_true", help="headless: pace ticks to real time (implied by --stream)"
    )
    parser.add_argument("--screenshot", metavar="PNG", help="windowed with --ticks: save the last frame and exit")
    parser.add_argument("--workers", type=count_arg(1), default=None, help="worker threads for async groups")
    demo.add_arguments(parser)
    return parser


class StartError(Exception):
    """Something only knowable once the game starts (a port in use): one line for the player."""


_positive_arg = number_arg()
#: an argparse ``type``: a probability, a number from 0 to 1
fraction_arg = number_arg(0.0, 1.0, low_open=False)
_address_arg = address_arg()


def _rate_arg(text: str) -> float:
    # the bounds every driver accepts: a rate argparse let through must not fail in FixedTimestep
    value = _positive_arg(text)
    if not MIN_RATE_HZ <= value <= MAX_RATE_HZ:
        raise argparse.ArgumentTypeError(
            f"must be from {MIN_RATE_HZ:g} to {MAX_RATE_HZ:g} ticks per second, got {text}"
        )
    return value


def _check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that would fail only after the game started, or be silently ignored."""
    for flag, path in (("--record", args.record), ("--screenshot", args.screenshot)):
        if path is None:
            continue
        problem = (image_problem(path) if flag == "--screenshot" else None) or output_problem(path)
        if problem:
            parser.error(f"{flag}: {problem}")
    if args.hitches is not None:
        try:
            os.makedirs(args.hitches, exist_ok=True)
        except OSError as exc:
            parser.error(f"--hitches: cannot use {args.hitches} as a directory: {exc.strerror or exc}")
    elif args.budget_ms is not None:
        parser.error("--budget-ms only applies with --hitches DIR")
    if args.budget_ms is None:
        args.budget_ms = DEFAULT_BUDGET_MS
    if args.screenshot and args.headless:
        parser.error("--screenshot draws a window frame; it cannot be used with --headless")
    if args.screenshot and args.ticks is None:
        parser.error("--screenshot needs --ticks N (the frame after tick N is saved)")


def parse_address(text: str) -> tuple[str, int]:
    """``"9000"`` -> ("127.0.0.1", 9000); ``"0.0.0.0:9000"`` -> ("0.0.0.0", 9000).

    The library's reading of an address (``ecs.trace._net.parse_address``), with its
    ValueError turned into argparse's usage error.
    """
    try:
        return _parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _attach_outputs(sched: ecs.Scheduler, args: argparse.Namespace, out: Callable[[str], None]) -> None:
    if args.record:
        from ecs.trace import TraceRecorder

        try:
            recorder = TraceRecorder(args.record)
        except OSError as exc:  # checked at parse time; the disk may still have changed its mind
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartError(f"--record: cannot write {args.record}: {reason}") from None
        sched.add_observer(recorder)
        out(f"recording trace to {args.record}")
    if args.hitches:
        from ecs.trace import FlightRecorder

        flight = FlightRecorder(args.hitches, budget_ms=args.budget_ms)
        sched.add_observer(flight)
        args.flight = flight
        out(f"writing a trace to {args.hitches}/ around each tick over {args.budget_ms:g} ms")
    if args.stream:
        from ecs.trace import LiveStreamServer

        host, port = parse_address(args.stream)
        # Naming a host on the command line is the explicit consent a non-loopback bind needs;
        # a bare port always means 127.0.0.1.
        explicit = ":" in args.stream
        try:
            server = LiveStreamServer(host, port, allow_remote=explicit)
        except OSError as exc:  # a port in use: only knowable by trying
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartError(f"--stream: cannot listen on {host}:{port}: {reason}") from None
        sched.add_observer(server)
        out(f"live stream on {server.address} (connect with: ecs-profiler --connect {server.address})")


def make_scheduler(demo: Demo, args: argparse.Namespace) -> ecs.Scheduler:
    options = demo.options(args)
    if args.workers is not None:
        options["workers"] = args.workers
    return demo.create_scheduler(seed=args.seed, **options)


# -- headless ----------------------------------------------------------------------------------------
def run_headless(demo: Demo, args: argparse.Namespace, out: Callable[[str], None] = print) -> str:
    """Run the demo with no window; returns the final state hash."""
    ticks = DEFAULT_HEADLESS_TICKS if args.ticks is None else args.ticks
    with make_scheduler(demo, args) as sched:
        _attach_outputs(sched, args, out)
        demo.prepare_headless(sched)
        t0 = time.perf_counter()
        # A live stream is for watching: pace it to real time, or a profiler sees it only in a blur.
        ran = run_fixed(sched, ticks, args.rate, realtime=args.realtime or bool(args.stream))
        wall = time.perf_counter() - t0
        sched.wait_idle()
        digest = sched.world.state_hash()
        per_tick = wall / ran * 1e3 if ran else 0.0
        out(
            f"{demo.name}: {ran} ticks in {wall:.2f} s ({per_tick:.2f} ms/tick), "
            f"{len(sched.world)} entities, game time {sched.elapsed:.2f} s"
        )
    return digest


# -- windowed ----------------------------------------------------------------------------------------
class DemoWindow:
    """An arcade window showing one demo: driver, scene, HUD, and the ``--ticks`` stop."""

    def __init__(self, demo: Demo, sched: ecs.Scheduler, args: argparse.Namespace, *, visible: bool = True) -> None:
        import arcade

        from ecs.integrations.arcade import SchedulerDriver

        self.arcade = arcade
        self.demo = demo
        self.sched = sched
        self.args = args
        self.times = GroupTimes()
        sched.add_observer(self.times)
        width, height = WINDOW_SIZE
        self.window = arcade.Window(width, height, demo.title, visible=visible, update_rate=1 / 120, draw_rate=1 / 120)
        self.window.background_color = arcade.color.BLACK
        self.driver = SchedulerDriver(sched, rate_hz=args.rate, max_ticks=args.ticks)
        self.driver.attach(self.window)
        self.scene = demo.make_scene(sched, self.window, self.driver)
        self.window.push_handlers(
            on_draw=self.on_draw, on_key_press=self.on_key_press, on_key_release=self.on_key_release
        )
        self.frames = 0
        self.screenshot: str | None = args.screenshot
        self._hud_text: list[arcade.Text] = []
        self._hud_at = -1.0
        self._fps = 0.0
        self._fps_frames = 0
        self._fps_t0 = time.perf_counter()
        self.closed = False
        self.show_hud = True

    def on_draw(self) -> None:
        self.window.clear()
        self.scene.draw(self.driver.alpha)
        if self.show_hud:
            self._draw_hud()
        self.frames += 1
        if self.driver.finished:
            if self.screenshot:
                # RGB: the framebuffer alpha is not part of the picture (it would show as transparency).
                self.arcade.get_image().convert("RGB").save(self.screenshot)
            self.arcade.exit()

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol == self.arcade.key.ESCAPE:
            self.arcade.exit()
            return
        if symbol == self.arcade.key.F1:
            self.show_hud = not self.show_hud
            return
        self.scene.on_key_press(symbol, modifiers)

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        self.scene.on_key_release(symbol, modifiers)

    def hud_lines(self) -> list[str]:
        state = "PAUSED (P resume, . step)" if self.driver.paused else "P pause  F1 hide HUD"
        head = f"{self.demo.title}   {self._fps:5.1f} fps   {state}"
        return [head, *self.times.lines(), *self.scene.hud_lines(), *self.demo.keys]

    def _draw_hud(self) -> None:
        arcade = self.arcade
        now = time.perf_counter()
        self._fps_frames += 1
        if now - self._fps_t0 >= 0.5:
            self._fps = self._fps_frames / (now - self._fps_t0)
            self._fps_frames = 0
            self._fps_t0 = now
        # Re-laying out text is the HUD's only real cost: refresh it a few times a second.
        if now - self._hud_at >= 0.25 or not self._hud_text:
            self._hud_at = now
            lines = self.hud_lines()
            while len(self._hud_text) < len(lines):
                y = self.window.height - 18 - 16 * len(self._hud_text)
                self._hud_text.append(
                    arcade.Text("", 10, y, arcade.color.LIGHT_GREEN, 11, font_name=("Courier New", "monospace"))
                )
            for text, line in zip(self._hud_text, [*lines, *[""] * len(self._hud_text)], strict=False):
                if text.text != line:
                    text.text = line
        width = max((len(t.text) for t in self._hud_text), default=0) * 7.3 + 20
        used = sum(1 for t in self._hud_text if t.text)
        top = self.window.height
        arcade.draw_lrbt_rectangle_filled(0, width, top - 10 - 16 * used, top, (0, 0, 0, 215))
        for text in self._hud_text:
            text.draw()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.driver.detach()
            self.window.close()


def open_window(demo: Demo, sched: ecs.Scheduler, args: argparse.Namespace, *, visible: bool = True) -> DemoWindow:
    """Build the demo's window around an existing scheduler (tests drive it frame by frame)."""
    return DemoWindow(demo, sched, args, visible=visible)


def run_windowed(demo: Demo, args: argparse.Namespace, out: Callable[[str], None] = print) -> str:
    from ecs.integrations.arcade import run_window

    with make_scheduler(demo, args) as sched:
        _attach_outputs(sched, args, out)
        win = open_window(demo, sched, args)
        try:
            run_window(win.window)
        finally:
            win.close()
        sched.wait_idle()
        out(f"{demo.name}: {win.driver.ticks} ticks, {win.frames} frames drawn, {len(sched.world)} entities")
        return sched.world.state_hash()


def main(demo: Demo, argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the demo; the state hash, if asked for, is printed last."""
    parser = build_parser(demo)
    args = parser.parse_args(argv)
    _check_paths(parser, args)
    try:
        if args.headless:
            digest = run_headless(demo, args)
        else:
            if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
                # No display: arcade can still draw off-screen through EGL (Mesa).
                os.environ.setdefault("ARCADE_HEADLESS", "1")
            digest = run_windowed(demo, args)
    except StartError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.flush()
    flight = getattr(args, "flight", None)
    if flight is not None and flight.error is not None:
        # The recorder keeps the game running through I/O errors; the player still hears of it.
        print(f"--hitches: writing hitch traces failed: {flight.error}", file=sys.stderr, flush=True)
    if args.hash:
        print(digest, flush=True)
    return 0
