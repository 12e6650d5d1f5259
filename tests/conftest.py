"""Shared fixtures: fresh worlds and component types for every test (no global state)."""

from __future__ import annotations

import os

from hypothesis import settings

# GUI and engine tests need a display; the test command provides Xvfb. When run without one
# (a developer's plain `pytest`), fall back to arcade's headless EGL mode.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("ARCADE_HEADLESS", "1")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


# Property tests run the same examples on every run of the test command, so a pass stays a
# pass (each test's seed comes from its name). Exploring new examples is a separate, explicit
# act: `HYPOTHESIS_PROFILE=explore ./scripts/test.sh -k ...` draws fresh ones each run, and
# HYPOTHESIS_SCALE=10 runs ten times as many (see tests/_examples.py).
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
