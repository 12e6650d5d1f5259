"""Argument checks shared by the declarations (systems, intervals, groups) and the tick.

``bool`` is an ``int`` to Python, but ``interval=Interval(ticks=True)`` or ``tick(dt=False)``
is always a mistake, so both helpers refuse it. numpy scalars pass; callers convert them to
plain Python numbers where they store them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeGuard

import numpy as np

__all__ = ["check_count", "fits_int64", "is_finite_real", "is_int"]


def is_int(value: Any) -> TypeGuard[int]:
    """An integer that is not a bool (``int`` or a numpy integer); also what may be an entity id."""
    # a tuple isinstance, not numbers.Integral: entity lookups call this on every get()
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_finite_real(value: Any) -> TypeGuard[float]:
    """A real number that is not a bool, NaN or infinite (and fits a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def fits_int64(value: int) -> bool:
    """True when the int ``value`` fits numpy's int64 (entity ids and counts live there)."""
    return -(2**63) <= value < 2**63


def check_count(owner: str, name: str, value: Any, low: int = 1) -> int:
    """``value`` as a plain int >= ``low``; TypeError (not an int) or ValueError naming ``owner.name``."""
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return int(value)
