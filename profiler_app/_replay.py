"""Replay mode: play a recorded capture back as if it were live.

:class:`ReplayClock` maps real time to a position in the capture using the ticks' own
timestamps, so a replay at speed 1 shows hitches as long as they really were. The views then
draw ticks ``[0, position)`` of the capture, exactly as they draw a live window. Pure logic:
the GUI calls :meth:`ReplayClock.advance` once per frame with the frame's duration::

    clock = ReplayClock(capture.data.tick_start)
    clock.play()
    clock.advance(1 / 60)        # -> position after 1/60 s of trace time
    clock.speed = 4.0            # faster
    clock.seek(500)              # scrub
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_SPEED", "MIN_SPEED", "ReplayClock"]

MIN_SPEED = 0.05
MAX_SPEED = 100.0


class ReplayClock:
    """Position (a count of ticks shown, 1..n) in a capture, driven by real time at ``speed``."""

    def __init__(self, tick_start_ns: NDArray[np.int64], speed: float = 1.0) -> None:
        starts = np.asarray(tick_start_ns, dtype=np.int64)
        if len(starts) == 0:
            raise ValueError("cannot replay an empty capture")
        # Tick timestamps normally increase; a trace stitched from several runs may not, and a
        # running maximum keeps the position monotonic in time either way.
        self._starts = np.maximum.accumulate(starts)
        self.n = len(starts)
        self._speed = 1.0
        self.speed = speed
        self.playing = False
        self.position = 1
        self._t = float(self._starts[0])

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._speed = float(min(MAX_SPEED, max(MIN_SPEED, value)))

    @property
    def at_end(self) -> bool:
        return self.position >= self.n

    def play(self) -> None:
        """Start (or restart from the beginning, when at the end)."""
        if self.at_end:
            self.seek(1)
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def seek(self, position: int) -> int:
        """Show the first ``position`` ticks (clamped to 1..n); playback continues from there."""
        self.position = int(min(self.n, max(1, position)))
        self._t = float(self._starts[self.position - 1])
        return self.position

    def advance(self, real_seconds: float) -> int:
        """Move ``real_seconds * speed`` of trace time forward when playing; stops at the end."""
        if self.playing and real_seconds > 0:
            self._t += real_seconds * self._speed * 1e9
            reached = int(np.searchsorted(self._starts, self._t, side="right"))
            self.position = min(self.n, max(1, reached))
            if self.at_end:
                self.playing = False
        return self.position
