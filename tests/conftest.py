"""Shared fixtures: fresh worlds and component types for every test (no global state)."""

from __future__ import annotations

import os

# GUI and engine tests need a display; the test command provides Xvfb. When run without one
# (a developer's plain `pytest`), fall back to arcade's headless EGL mode.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("ARCADE_HEADLESS", "1")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
