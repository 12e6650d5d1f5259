"""The ecs-profiler command line: mistakes are usage errors before any window opens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler_app.__main__ import parse_args


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "0x0", "--frames", "2"], "--size: width and height must be from 1 to 16384"),  # once glfw
        (["--size=-5x10"], "--size: width and height .* got '-5x10'"),
        (["--size", "99999x10"], "--size: width and height"),
        (["--size", "big"], "--size must look like 1280x720"),
        (["--frames", "3", "--screenshot", "/tmp/x.xyz"], "--screenshot: '/tmp/x.xyz' does not end in an image type"),
        (["--frames", "3", "--screenshot", "/proc/x.png"], "--screenshot: cannot write /proc/x.png"),
        (["--frames", "0"], "argument --frames: must be >= 1, got 0"),
        (["--capacity", "-1"], "argument --capacity: must be >= 1, got -1"),
        (["--budget", "nan"], "argument --budget: must be a number > 0, got nan"),
        (["--connect", "a..b:1"], "argument --connect: not a host name in 'a..b:1'"),  # once a dead thread
        (["--connect", "here"], "argument --connect: not an address: 'here'"),
    ],
)
def test_bad_command_lines_get_a_usage_error_before_the_window_opens(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ecs-profiler" in err
    assert re.search(message, err), err


def test_a_directory_is_not_a_screenshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "shots.png"
    folder.mkdir()
    with pytest.raises(SystemExit):
        parse_args(["--frames", "1", "--screenshot", str(folder)])
    assert f"--screenshot: {folder} is a directory" in capsys.readouterr().err


def test_a_good_screenshot_path_is_checked_without_leaving_a_file(tmp_path: Path) -> None:
    out = tmp_path / "new" / "shot.png"
    args = parse_args(["--frames", "1", "--screenshot", str(out), "--size", "640x360"])
    assert args.window_size == (640, 360)
    assert not out.exists()  # the write probe cleans up after itself
