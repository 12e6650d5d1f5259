"""argparse ``type=`` helpers shared by every command line of the project.

``ecs-trace``, the demos and ``ecs-profiler`` refuse a bad option the same way: argparse's
usage error (exit 2) naming the option and the value, before anything starts. Each helper
raises :class:`argparse.ArgumentTypeError`, which argparse prefixes with the option name.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable

from ..trace._net import parse_address

__all__ = ["address_arg", "count_arg", "image_problem", "number_arg", "output_problem"]


def count_arg(least: int) -> Callable[[str], int]:
    """A whole number >= ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
        return value

    return parse


def number_arg(low: float = 0.0, high: float = math.inf, *, low_open: bool = True) -> Callable[[str], float]:
    """A finite number in ``(low, high]`` (``low_open=False``: ``[low, high]``); NaN never passes."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value > low if low_open else value >= low
        if not (above and value <= high and math.isfinite(value)):
            if high == math.inf:
                raise argparse.ArgumentTypeError(f"must be a number > {low:g}, got {text}")
            bound = "from" if not low_open else "above"
            raise argparse.ArgumentTypeError(f"must be a number {bound} {low:g} to {high:g}, got {text}")
        return value

    return parse


def address_arg(*, connect: bool = False) -> Callable[[str], str]:
    """``[HOST:]PORT`` as :func:`ecs.trace._net.parse_address` reads it; the text is kept as given."""

    def parse(text: str) -> str:
        try:
            parse_address(text, connect=connect)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def output_problem(path: str, *, make_parent: bool = False) -> str | None:
    """Why ``path`` cannot be written as an output file, or None when it can.

    Checked before a run starts, so a typo costs nothing: the path must not be a directory,
    its directory must exist (``make_parent``: is created, as an image save does anyway), and
    the file must open for appending, which changes nothing in an existing file; a file made
    by the check is removed again. Only trying tells: root passes ``os.access`` everywhere,
    and /proc exists but refuses new files.
    """
    if os.path.isdir(path):
        return f"{path} is a directory; give a file name"
    parent = os.path.dirname(os.path.abspath(path))
    if make_parent:
        try:
            os.makedirs(parent, exist_ok=True)
        except (OSError, ValueError) as exc:
            return f"cannot make the directory {parent}: {getattr(exc, 'strerror', None) or exc}"
    elif not os.path.isdir(parent):
        return f"the directory {parent} does not exist"
    existed = os.path.lexists(path)
    try:
        with open(path, "ab"):
            pass
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        return f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}"
    if not existed:
        with contextlib.suppress(OSError):
            os.remove(path)
    return None


def image_problem(path: str) -> str | None:
    """Why ``path`` cannot take a screenshot (an image type Pillow cannot write), or None."""
    from PIL import Image

    if Image.registered_extensions().get(os.path.splitext(path)[1].lower()) in Image.SAVE:
        return None
    return f"{path!r} does not end in an image type that can be written; use .png (or .jpg, .bmp)"
