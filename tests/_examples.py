"""How many examples a property test draws: its own figure, times ``HYPOTHESIS_SCALE``.

The test command runs each property test's figure with fixed seeds (the "repeatable" profile
in conftest.py). To hunt for new failures, draw fresh examples and more of them::

    HYPOTHESIS_PROFILE=explore HYPOTHESIS_SCALE=20 ./scripts/test.sh tests/test_snapshot.py
"""

from __future__ import annotations

import os


def examples(n: int) -> int:
    """``n`` scaled by the ``HYPOTHESIS_SCALE`` environment variable (default 1)."""
    return max(1, round(n * float(os.environ.get("HYPOTHESIS_SCALE", "1"))))
