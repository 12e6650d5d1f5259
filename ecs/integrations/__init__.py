"""Engine integrations: drive a scheduler from a game loop, a server clock or a plain loop.

* :class:`FixedTimestep` and :func:`advance_scheduler`: fixed ticks from variable frame
  times, with a catch-up cap, dropped-time reports and an interpolation fraction (no engine).
* :func:`run_fixed` and :class:`PygletClockDriver` (``ecs.integrations.headless``): headless
  loops for tests, tools and game servers (pyglet only for the clock driver).
* ``ecs.integrations.arcade``: :class:`~ecs.integrations.arcade.SchedulerDriver` attaches a
  scheduler to an arcade Window or View, and
  :class:`~ecs.integrations.arcade.NumpySpriteRenderer` draws entities straight from numpy
  columns. Import it explicitly; it needs the ``engine`` extra (arcade).

See ``docs/engine.md``.
"""

from ._fixed import DROP_MARK as DROP_MARK
from ._fixed import MAX_RATE_HZ as MAX_RATE_HZ
from ._fixed import MIN_RATE_HZ as MIN_RATE_HZ
from ._fixed import FixedTimestep as FixedTimestep
from ._fixed import advance_scheduler as advance_scheduler
from ._fixed import interpolate as interpolate
from .headless import PygletClockDriver as PygletClockDriver
from .headless import run_fixed as run_fixed

__all__ = [
    "DROP_MARK",
    "MAX_RATE_HZ",
    "MIN_RATE_HZ",
    "FixedTimestep",
    "PygletClockDriver",
    "advance_scheduler",
    "interpolate",
    "run_fixed",
]
