"""A fixed timestep: an accumulator the application owns.

Game logic is easiest to reason about, test and replay when every tick advances the same
amount of game time. Frames, though, arrive whenever the engine (or the operating system)
gets round to them. :class:`FixedTimestep` turns the variable real time between frames
into a whole number of fixed ticks, and says how far between two ticks the current frame
falls, so drawing can interpolate::

    ts = FixedTimestep(rate_hz=60, max_catch_up=5)

    def on_frame(real_dt: float) -> None:          # called by the game loop
        for _ in range(ts.advance(real_dt)):
            sched.tick(ts.dt)                      # always exactly 1/60 s of game time
        draw(alpha=ts.alpha)                       # 0 <= alpha < 1: position between ticks

or simply ``advance_scheduler(sched, ts, real_dt)``, which also reports dropped time.

**The spiral of death.** If one tick costs more real time than it simulates, each frame
owes more ticks than the last, and the game freezes trying to catch up. ``max_catch_up``
caps the ticks a single frame may run; time beyond the cap is *dropped* (the game runs
slower than real time rather than not at all). Dropped time is never silent: it is
counted in :attr:`FixedTimestep.dropped_seconds` and :attr:`~FixedTimestep.dropped_steps`,
and :func:`advance_scheduler` publishes a ``timestep_dropped`` mark to the scheduler's
observers (so it shows up in traces and the profiler).

**Exact arithmetic.** Time is kept in integer nanoseconds, so the books always balance:
``real time fed in == steps * dt + accumulator + dropped + paused``, exactly, after any
sequence of calls. Floating-point accumulators drift and eventually run one tick too many
or too few.

**Pause and step.** :meth:`~FixedTimestep.pause` stops ticks (real time fed in while
paused is counted in ``paused_seconds``, never turned into ticks later);
:meth:`~FixedTimestep.step_once` queues exactly one tick for the next ``advance``, for
frame-by-frame debugging.

Nothing here imports an engine: the arcade and pyglet drivers, and tests with a manual
clock, all use the same object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, final

import numpy as np
from numpy.typing import NDArray

from .._checks import is_finite_real, is_int

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["DROP_MARK", "MAX_RATE_HZ", "MIN_RATE_HZ", "FixedTimestep", "advance_scheduler", "interpolate"]

#: Name of the mark published when a frame's catch-up cap drops time.
DROP_MARK: Final = "timestep_dropped"

_NS: Final = 1_000_000_000
#: a longer real-time step than a year is a broken clock, not a slow frame
_MAX_ADVANCE_S: Final = 365 * 24 * 3600.0
_MAX_ADVANCE_NS: Final = int(_MAX_ADVANCE_S) * _NS
#: Tick rates every driver accepts (``rate_hz``): from one tick in about 11.6 days (beyond
#: that the fixed dt stops being a frame rate and ``1 / rate_hz`` soon overflows) to a
#: million ticks a second (a 1 us dt, the finest the nanosecond books keep meaningfully).
MIN_RATE_HZ: Final = 1e-6
MAX_RATE_HZ: Final = 1e6


def check_rate(where: str, rate_hz: Any) -> float:
    """``rate_hz`` as a float, or ValueError naming ``where`` unless it is a number in the driver range."""
    if not is_finite_real(rate_hz) or not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise ValueError(
            f"{where}: rate_hz must be a number of ticks per second from {MIN_RATE_HZ:g} to {MAX_RATE_HZ:g}, "
            f"got {rate_hz!r}"
        )
    return float(rate_hz)


def check_real_dt(where: str, real_dt: Any) -> None:
    """ValueError naming ``where`` unless ``real_dt`` is a real-time step a clock could produce.

    Per frame: one isinstance and one comparison chain (NaN fails every comparison).
    """
    if (
        not isinstance(real_dt, int | float | np.floating | np.integer)
        or isinstance(real_dt, bool)
        or not 0 <= real_dt <= _MAX_ADVANCE_S
    ):
        raise ValueError(f"{where} must be a finite number of seconds from 0 to {_MAX_ADVANCE_S:g}, got {real_dt!r}")


@final
class FixedTimestep:
    """Turns real frame times into a whole number of fixed-length ticks.

    ``rate_hz`` is ticks per second of game time (a number from :data:`MIN_RATE_HZ` to
    :data:`MAX_RATE_HZ`); ``max_catch_up`` the most ticks one :meth:`advance` may ask for (an
    int >= 1; the rest of the owed time is dropped and counted). Anything else is refused
    with a ValueError naming the argument.
    """

    __slots__ = (
        "_acc_ns",
        "_dt_ns",
        "_paused",
        "_pending_steps",
        "dropped_ns",
        "dropped_steps",
        "drops",
        "max_catch_up",
        "paused_ns",
        "rate_hz",
        "steps",
    )

    def __init__(self, rate_hz: float = 60.0, max_catch_up: int = 5) -> None:
        rate = check_rate("FixedTimestep", rate_hz)
        if not is_int(max_catch_up) or max_catch_up < 1:
            raise ValueError(f"FixedTimestep: max_catch_up must be an int >= 1, got {max_catch_up!r}")
        self.rate_hz = rate
        self.max_catch_up = int(max_catch_up)
        self._dt_ns = max(1, round(_NS / self.rate_hz))
        self._acc_ns = 0
        self._paused = False
        self._pending_steps = 0
        #: Ticks handed out by :meth:`advance` since creation.
        self.steps = 0
        #: Real time thrown away by the catch-up cap, in nanoseconds (see ``dropped_seconds``).
        self.dropped_ns = 0
        #: Whole ticks the cap refused to run.
        self.dropped_steps = 0
        #: How many calls to :meth:`advance` hit the cap.
        self.drops = 0
        #: Real time fed in while paused, in nanoseconds.
        self.paused_ns = 0

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running"
        return (
            f"FixedTimestep({self.rate_hz:g} Hz, cap {self.max_catch_up}, {state}, steps={self.steps}, "
            f"dropped={self.dropped_seconds:.3f} s)"
        )

    # -- time ----------------------------------------------------------------------------------
    @property
    def dt(self) -> float:
        """Game seconds one tick advances (``1 / rate_hz``, rounded to whole nanoseconds)."""
        return self._dt_ns / _NS

    @property
    def dt_ns(self) -> int:
        return self._dt_ns

    @property
    def accumulator(self) -> float:
        """Real seconds received but not yet turned into a tick (always ``< dt``)."""
        return self._acc_ns / _NS

    @property
    def alpha(self) -> float:
        """How far the present lies between the last tick and the next one, in [0, 1].

        Draw at ``previous + alpha * (current - previous)`` for motion that is smooth at any
        frame rate. While paused this is 1.0, so a paused game shows its latest state exactly.
        """
        if self._paused:
            return 1.0
        return self._acc_ns / self._dt_ns

    @property
    def dropped_seconds(self) -> float:
        """Real seconds the catch-up cap threw away since creation."""
        return self.dropped_ns / _NS

    @property
    def paused_seconds(self) -> float:
        return self.paused_ns / _NS

    # -- control -------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop handing out ticks; time fed in meanwhile is counted, not owed."""
        self._paused = True

    def resume(self) -> None:
        """Hand out ticks again, starting from the fraction accumulated before the pause."""
        self._paused = False

    def toggle_pause(self) -> bool:
        """Pause if running, resume if paused; returns the new ``paused`` state."""
        if self._paused:
            self.resume()
        else:
            self.pause()
        return self._paused

    def step_once(self) -> None:
        """Pause (if running) and queue exactly one tick for the next :meth:`advance`."""
        self._paused = True
        self._pending_steps += 1

    # -- the accumulator -------------------------------------------------------------------------
    def advance(self, real_dt: float) -> int:
        """Feed ``real_dt`` seconds of real time; return how many ticks to run now.

        Never more than ``max_catch_up``. Negative or non-finite times raise ValueError (a
        real clock never goes backwards; a NaN would poison the accumulator forever).
        """
        check_real_dt("FixedTimestep.advance: real_dt", real_dt)
        return self.advance_ns(round(real_dt * _NS))

    def advance_ns(self, real_ns: int) -> int:
        """:meth:`advance` with integer nanoseconds (exact; what a nanosecond clock gives).

        ``real_ns`` must be an int (numpy ints too) from 0 to a year's worth: a float, even
        a whole one, is refused, because a NaN or an infinity would poison the accumulator
        for good and a fraction of a nanosecond would unbalance the books.
        """
        if not is_int(real_ns) or not 0 <= real_ns <= _MAX_ADVANCE_NS:
            raise ValueError(
                f"FixedTimestep.advance_ns: real_ns must be an int from 0 to {_MAX_ADVANCE_NS}, got {real_ns!r}"
            )
        real_ns = int(real_ns)  # a numpy int64 would overflow the exact Python-int books
        if self._paused:
            self.paused_ns += real_ns
            n = min(self._pending_steps, self.max_catch_up)
            self._pending_steps -= n
            self.steps += n
            return n
        acc = self._acc_ns + real_ns
        n, acc = divmod(acc, self._dt_ns)
        if n > self.max_catch_up:
            extra = n - self.max_catch_up
            # Keep the fraction in the accumulator: the interpolation stays smooth and the
            # books balance (the dropped part is whole ticks).
            self.dropped_ns += extra * self._dt_ns
            self.dropped_steps += extra
            self.drops += 1
            n = self.max_catch_up
        self._acc_ns = acc
        self.steps += n
        return n

    def reset(self) -> None:
        """Forget the accumulated fraction and queued steps (after a level load, say)."""
        self._acc_ns = 0
        self._pending_steps = 0


def advance_scheduler(
    scheduler: Scheduler, timestep: FixedTimestep, real_dt: float, *, limit: int | None = None
) -> int:
    """Advance ``timestep`` by ``real_dt`` and run the ticks it asks for on ``scheduler``.

    Every tick advances exactly ``timestep.dt`` of game time. When the catch-up cap drops
    time and the scheduler has observers, a ``timestep_dropped`` mark (``seconds``,
    ``steps``, ``total_seconds``) is published before the ticks run. ``limit`` caps the
    ticks run by this call (a run that must stop at exactly N ticks); owed ticks beyond it
    are simply not run. Returns the number of ticks run.
    """
    if not isinstance(timestep, FixedTimestep):
        raise TypeError(f"advance_scheduler(scheduler, timestep, real_dt): timestep is a {type(timestep).__name__}")
    if not callable(getattr(scheduler, "tick", None)):
        raise TypeError(f"advance_scheduler(scheduler, timestep, real_dt): scheduler is a {type(scheduler).__name__}")
    if limit is not None and not is_int(limit):
        raise ValueError(f"advance_scheduler: limit must be an int or None, got {limit!r}")
    before_ns, before_steps = timestep.dropped_ns, timestep.dropped_steps
    n = timestep.advance(real_dt)
    if timestep.dropped_ns != before_ns and scheduler.observers:
        scheduler.mark(
            DROP_MARK,
            seconds=(timestep.dropped_ns - before_ns) / _NS,
            steps=timestep.dropped_steps - before_steps,
            total_seconds=timestep.dropped_seconds,
        )
    if limit is not None:
        n = max(0, min(n, limit))
    dt = timestep.dt
    for _ in range(n):
        scheduler.tick(dt)
    return n


def interpolate(
    previous: NDArray[Any], current: NDArray[Any], alpha: float, out: NDArray[Any] | None = None
) -> NDArray[Any]:
    """``previous + alpha * (current - previous)``, vectorised, float32 unless ``out`` says otherwise.

    The CPU counterpart of the render bridge's shader interpolation, for code that draws
    with something else.
    """
    try:
        prev = np.asarray(previous, dtype=np.float32)
        cur = np.asarray(current, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"interpolate: previous and current must be numeric arrays ({exc})") from None
    if prev.shape != cur.shape:
        raise ValueError(f"interpolate: previous has shape {prev.shape}, current {cur.shape}")
    if not is_finite_real(alpha):
        raise ValueError(f"interpolate: alpha must be a finite number, got {alpha!r}")
    if out is None:
        out = np.empty_like(cur)
    elif not isinstance(out, np.ndarray) or out.shape != cur.shape or out.dtype.kind != "f":
        raise ValueError(
            f"interpolate: out must be a float array of shape {cur.shape}, got "
            + (f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__)
        )
    np.subtract(cur, prev, out=out)
    out *= np.float32(alpha)
    out += prev
    return out
