"""argparse ``type=`` helpers shared by every command line of the project.

``ecs-trace``, the demos and ``ecs-profiler`` refuse a bad option the same way: argparse's
usage error (exit 2) naming the option and the value, before anything starts. Each helper
raises :class:`argparse.ArgumentTypeError`, which argparse prefixes with the option name.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..trace._net import parse_address

__all__ = ["address_arg", "count_arg", "number_arg"]


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
