"""``ecs-profiler [FILE ...] [--connect HOST:PORT] [--frames N --screenshot OUT.png] [--view NAME]``.

Also ``python -m profiler_app``. See ``docs/profiler.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ecs.cli._args import address_arg, count_arg, image_problem, number_arg, output_problem

from ._state import VIEWS, ProfilerState

__all__ = ["main", "parse_args"]

#: larger than any screen or GL framebuffer this app can open
MAX_WINDOW_SIDE = 16384


def _window_size(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 1280x720, got {text!r}")
    if not (1 <= w <= MAX_WINDOW_SIDE and 1 <= h <= MAX_WINDOW_SIDE):
        parser.error(f"--size: width and height must be from 1 to {MAX_WINDOW_SIDE} pixels, got {text!r}")
    return w, h


def _check_screenshot(parser: argparse.ArgumentParser, path: str) -> None:
    """Refuse a screenshot path that would fail only after the frames were rendered."""
    problem = image_problem(path) or output_problem(path, make_parent=True)
    if problem:
        parser.error(f"--screenshot: {problem}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ecs-profiler",
        description="Profile ecs schedulers: recorded trace files or a live stream, as timelines, "
        "contention heatmaps, queue depths and statistics.",
    )
    parser.add_argument(
        "files", nargs="*", help="trace files to open (.jsonl or .jsonl.gz); two or more can be compared"
    )
    parser.add_argument(
        "--connect",
        metavar="HOST:PORT",
        type=address_arg(connect=True),
        help="follow a scheduler's live stream (ecs.trace.LiveStreamServer)",
    )
    parser.add_argument(
        "--capacity", type=count_arg(1), default=10_000, help="live mode: ticks kept in the rolling window (10000)"
    )
    parser.add_argument(
        "--budget", type=number_arg(), default=None, help="frame budget in ms for the frame graph (16.6)"
    )
    parser.add_argument("--replay", action="store_true", help="replay the first file as if it were live")
    parser.add_argument("--view", choices=sorted(VIEWS), help="the view in front at start")
    parser.add_argument("--frames", type=count_arg(1), help="render N frames (after the data is loaded), then exit")
    parser.add_argument("--screenshot", metavar="OUT.png", help="with --frames: write the last frame as a PNG")
    parser.add_argument("--size", default="1280x720", help="window size WxH (1280x720)")
    parser.add_argument(
        "--no-settings", action="store_true", help="neither read nor write the saved layout and settings"
    )
    args = parser.parse_args(argv)
    if args.screenshot and not args.frames:
        parser.error("--screenshot needs --frames N (how many frames to render first)")
    args.window_size = _window_size(parser, args.size)
    if args.screenshot:
        _check_screenshot(parser, args.screenshot)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ecs-profiler``; returns the process exit code."""
    args = parse_args(argv)
    from ._app import DEFAULT_SETTINGS, build_runner_params, run_app, save_png

    state = ProfilerState(live_capacity=max(100, args.capacity), focus_view=args.view)
    if args.budget is not None:
        state.budget_ms = args.budget
    for i, path in enumerate(args.files):
        state.open_file(path, for_compare=i > 0)
    if args.connect:
        state.connect(args.connect)
    if args.replay and args.files:

        def start_replay_when_loaded(st: ProfilerState) -> None:
            if st.replay is None and st.captures and not st.jobs and st.mode == "file":
                st.start_replay()

        on_frame = start_replay_when_loaded
    else:
        on_frame = None
    settings = None if args.no_settings or args.frames else DEFAULT_SETTINGS
    params = build_runner_params(
        state, settings=settings, window_size=args.window_size, frames=args.frames, on_frame=on_frame
    )
    run_app(state, params)
    if args.screenshot:
        w, h = save_png(args.screenshot)
        print(f"wrote {args.screenshot} ({w}x{h})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
