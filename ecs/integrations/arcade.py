"""The arcade engine plugin: fixed ticks from the game loop, and entities drawn from numpy columns.

Attach a scheduler to any arcade Window or View, without subclassing anything::

    import arcade
    from ecs.integrations.arcade import NumpySpriteRenderer, SchedulerDriver

    window = arcade.Window(1280, 720, "my game")
    driver = SchedulerDriver(sched, rate_hz=60, max_catch_up=5)
    driver.attach(window)                 # on_update now ticks the scheduler at a fixed 60 Hz
    renderer = NumpySpriteRenderer(window.ctx, shape="circle", size=3.0)

    @window.event
    def on_draw() -> None:
        window.clear()
        pos, prev = gather_positions(world)          # numpy (N, 2) arrays
        renderer.draw(pos, previous=prev, alpha=driver.alpha)

    arcade.run()

**The loop.** arcade calls ``on_update(delta_time)`` once per frame with the real time since
the last one. The driver feeds it to its :class:`~ecs.integrations.FixedTimestep`, runs the
ticks that are owed (each exactly ``1 / rate_hz`` of game time, at most ``max_catch_up`` per
frame; dropped time is counted and marked in traces), and leaves drawing to the app, which
reads :attr:`SchedulerDriver.alpha` to interpolate. ``P`` pauses and resumes, ``.`` (period)
steps one tick while paused; pass ``pause_key=None`` / ``step_key=None`` to free those keys.

**Attaching** pushes the driver's handlers onto the window's event stack (a View's window,
for a View: then they act only while that View is the current one). ``detach()`` removes
exactly those handlers and nothing else. pyglet holds handlers weakly: keep a reference to
the driver for as long as it should run.

**Headless windows.** With ``ARCADE_HEADLESS=1`` (EGL, no X server), ``arcade.run()`` calls
the window's own ``on_update``/``on_draw`` methods directly and never dispatches events, so
pushed handlers (the driver's included) would not run. :func:`run_window` is ``arcade.run()``
for both cases: the normal pyglet loop with a display, and an event-dispatching loop without.

**The render bridge.** :class:`NumpySpriteRenderer` draws N copies of one small mesh with a
single instanced draw call. Each frame it writes the position column (and, if given, the
previous positions, angles, colours and scales) into GPU buffers with one ``buffer.write``
each, and the vertex shader interpolates ``mix(previous, position, alpha)``: no per-entity
Python code anywhere, so 50k moving entities cost a few memcpys and one draw call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, final

import arcade
import numpy as np
import pyglet.app
from arcade.gl import BufferDescription
from numpy.typing import NDArray

from .._checks import is_finite_real, is_int
from ._fixed import FixedTimestep, advance_scheduler, check_real_dt

if TYPE_CHECKING:
    from arcade.gl import Buffer, Geometry, Program

    from ..scheduler import Scheduler

__all__ = ["NumpySpriteRenderer", "SchedulerDriver", "mesh", "run_window"]


@final
class SchedulerDriver:
    """Runs a scheduler at a fixed rate from an arcade Window's or View's ``on_update``.

    ``max_ticks`` stops ticking after that many ticks (the window keeps drawing): a demo
    run with ``--ticks N`` or a test that needs an exact count uses it.

    Arguments are checked here, not on the first frame: ``rate_hz`` and ``max_catch_up`` as
    :class:`~ecs.integrations.FixedTimestep` checks them, ``max_ticks`` an int >= 0 or None,
    the keys ints or None (ValueError naming the argument; TypeError for a scheduler that is
    not one).
    """

    __slots__ = (
        "__weakref__",
        "_view",
        "_window",
        "frames",
        "max_ticks",
        "pause_key",
        "real_time",
        "scheduler",
        "step_key",
        "ticks",
        "timestep",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        rate_hz: float = 60.0,
        max_catch_up: int = 5,
        *,
        pause_key: int | None = arcade.key.P,
        step_key: int | None = arcade.key.PERIOD,
        max_ticks: int | None = None,
    ) -> None:
        if not callable(getattr(scheduler, "tick", None)):
            raise TypeError(f"SchedulerDriver: scheduler must be an ecs.Scheduler, got {type(scheduler).__name__}")
        if max_ticks is not None and (not is_int(max_ticks) or max_ticks < 0):
            raise ValueError(f"SchedulerDriver: max_ticks must be an int >= 0 or None, got {max_ticks!r}")
        for name, key in (("pause_key", pause_key), ("step_key", step_key)):
            if key is not None and not is_int(key):
                raise ValueError(f"SchedulerDriver: {name} must be an arcade key code (int) or None, got {key!r}")
        self.scheduler = scheduler
        self.timestep = FixedTimestep(rate_hz, max_catch_up)
        self.pause_key = pause_key
        self.step_key = step_key
        self.max_ticks = max_ticks
        self._window: arcade.Window | None = None
        self._view: arcade.View | None = None
        #: Ticks run through this driver.
        self.ticks = 0
        #: ``on_update`` calls handled (frames).
        self.frames = 0
        #: Real seconds fed to the timestep (sum of ``delta_time``).
        self.real_time = 0.0

    def __repr__(self) -> str:
        where = "detached" if self._window is None else ("view" if self._view is not None else "window")
        return f"SchedulerDriver({self.timestep!r}, ticks={self.ticks}, {where})"

    # -- attach / detach ---------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self._window is not None

    def attach(self, target: arcade.Window | arcade.View) -> SchedulerDriver:
        """Start driving ticks from ``target``'s updates; returns the driver (for chaining)."""
        if self._window is not None:
            raise RuntimeError("SchedulerDriver.attach: already attached; detach() first")
        if isinstance(target, arcade.View):
            window = target.window
            if window is None:
                raise RuntimeError("SchedulerDriver.attach: this View has no window yet; create the Window first")
            self._view = target
        elif isinstance(target, arcade.Window):
            window = target
        else:
            raise TypeError(f"SchedulerDriver.attach: expected an arcade Window or View, got {type(target).__name__}")
        window.push_handlers(on_update=self.on_update, on_key_press=self.on_key_press)
        self._window = window
        return self

    def detach(self) -> None:
        """Remove the driver's handlers; the window's own handlers are left as they were."""
        window = self._window
        if window is None:
            return
        window.remove_handler("on_update", self.on_update)
        window.remove_handler("on_key_press", self.on_key_press)
        self._window = None
        self._view = None

    def _active(self) -> bool:
        if self._view is None:
            return True
        return self._window is not None and self._window.current_view is self._view

    # -- event handlers (public so an app may also call them from its own handlers) -----------
    def on_update(self, delta_time: float) -> None:
        """Advance the fixed timestep by ``delta_time`` real seconds and run the ticks owed.

        A ``delta_time`` that is negative, NaN or not a number raises ValueError before
        anything is counted (``frames`` and ``real_time`` stay as they were).
        """
        if not self._active():
            return
        # checked before counting: a NaN added to real_time would stay there for good
        check_real_dt("SchedulerDriver.on_update: delta_time", delta_time)
        self.frames += 1
        self.real_time += delta_time
        limit = None if self.max_ticks is None else self.max_ticks - self.ticks
        self.ticks += advance_scheduler(self.scheduler, self.timestep, delta_time, limit=limit)

    def on_key_press(self, symbol: int, modifiers: int) -> bool | None:
        """``pause_key`` toggles pause, ``step_key`` runs one tick while paused."""
        if not self._active():
            return None
        if self.pause_key is not None and symbol == self.pause_key:
            self.timestep.toggle_pause()
            return True
        if self.step_key is not None and symbol == self.step_key:
            self.timestep.step_once()
            return True
        return None

    # -- controls -----------------------------------------------------------------------------
    @property
    def alpha(self) -> float:
        """Interpolation fraction for drawing this frame (see :attr:`FixedTimestep.alpha`)."""
        return self.timestep.alpha

    @property
    def paused(self) -> bool:
        return self.timestep.paused

    @property
    def finished(self) -> bool:
        """True once ``max_ticks`` ticks ran (always False without ``max_ticks``)."""
        return self.max_ticks is not None and self.ticks >= self.max_ticks

    def pause(self) -> None:
        self.timestep.pause()

    def resume(self) -> None:
        self.timestep.resume()

    def step_once(self) -> None:
        self.timestep.step_once()


def run_window(window: arcade.Window, *, until: Callable[[], bool] | None = None) -> int:
    """Run ``window`` until it closes, ``arcade.exit()`` is called, or ``until()`` is true.

    With a display this is ``arcade.run()``. In arcade's headless mode it is a loop that
    *dispatches* ``on_update`` and ``on_draw`` (so pushed handlers run, unlike in
    ``arcade.run()``), with real frame times, and flips the EGL surface. Returns the frames
    run by the headless loop (0 for the pyglet loop, which does not count them).
    """
    if not isinstance(window, arcade.Window):
        raise TypeError(f"run_window: window must be an arcade Window, got {type(window).__name__}")
    if until is not None and not callable(until):
        raise TypeError(f"run_window: until must be callable, got {type(until).__name__}")

    def check(_dt: float) -> None:
        if until is not None and until():
            arcade.exit()

    if not window.headless:
        window.push_handlers(on_update=check)
        try:
            arcade.run()
        finally:
            window.remove_handler("on_update", check)
        return 0
    loop = pyglet.app.event_loop
    loop.has_exit = False
    frames = 0
    dt = 1 / 60  # the first frame, as a real window's first update would see
    last = time.perf_counter()
    while not window.closed and not loop.has_exit and not (until is not None and until()):
        window.dispatch_event("on_update", dt)
        window.dispatch_event("on_draw")
        window.dispatch_events()
        if not window.closed:
            window.flip()
        frames += 1
        now = time.perf_counter()
        dt, last = now - last, now
    return frames


# -- the render bridge ------------------------------------------------------------------------------

_VERTEX_SHADER: Final = """
#version 330

uniform WindowBlock {
    mat4 projection;
    mat4 view;
} window;

#define HAS_MESH 1
#define HAS_PREV 0
#define HAS_ANGLE 0
#define HAS_COLOR 0
#define HAS_SCALE 0

uniform float u_size;
uniform float u_alpha;
uniform vec4 u_color;

#if HAS_MESH
in vec2 in_vert;
#endif
in vec2 in_pos;
#if HAS_PREV
in vec2 in_prev;
#endif
#if HAS_ANGLE
in float in_angle;
#endif
#if HAS_COLOR
in vec4 in_color;
#endif
#if HAS_SCALE
in float in_scale;
#endif

out vec4 v_color;

void main() {
    vec2 p = in_pos;
#if HAS_PREV
    p = mix(in_prev, in_pos, u_alpha);
#endif
#if HAS_MESH
    vec2 v = in_vert * u_size;
#if HAS_SCALE
    v *= in_scale;
#endif
#if HAS_ANGLE
    float c = cos(in_angle);
    float s = sin(in_angle);
    v = vec2(c * v.x - s * v.y, s * v.x + c * v.y);
#endif
#else
    vec2 v = vec2(0.0);
#endif
    gl_Position = window.projection * window.view * vec4(p + v, 0.0, 1.0);
#if HAS_COLOR
    v_color = in_color;
#else
    v_color = u_color;
#endif
}
"""

_FRAGMENT_SHADER: Final = """
#version 330
in vec4 v_color;
out vec4 f_color;
void main() {
    f_color = v_color;
}
"""

#: a circle finer than this is invisible at any size a sprite has, and costs vertices per entity
_MAX_SEGMENTS: Final = 1024
#: when the context cannot say which GL point sizes it supports (GL only guarantees 1)
_FALLBACK_POINT_SIZES: Final = (1.0, 64.0)

#: name -> (per-instance buffer format, components, numpy dtype)
_ATTRS: Final = {
    "pos": ("2f", 2, np.float32),
    "prev": ("2f", 2, np.float32),
    "angle": ("1f", 1, np.float32),
    "color": ("4f1", 4, np.uint8),
    "scale": ("1f", 1, np.float32),
}


def mesh(shape: str, segments: int = 12) -> NDArray[np.float32]:
    """Triangle-list vertices (M, 2) of a unit shape centred on the origin.

    ``"circle"`` (radius 1, ``segments`` sides), ``"square"`` (side 2), ``"triangle"`` (an
    arrow pointing along +x, for things with a heading), ``"diamond"``. (The renderer's
    ``"points"`` shape has no mesh: it draws one GL point per entity.)
    """
    if shape == "circle":
        if not is_int(segments) or not 3 <= segments <= _MAX_SEGMENTS:
            raise ValueError(
                f"mesh: a circle needs at least 3 segments (an int, at most {_MAX_SEGMENTS}), got {segments!r}"
            )
        a = np.linspace(0.0, 2.0 * np.pi, segments + 1)
        rim = np.stack([np.cos(a), np.sin(a)], axis=1)
        tris = np.empty((segments, 3, 2))
        tris[:, 0] = 0.0
        tris[:, 1] = rim[:-1]
        tris[:, 2] = rim[1:]
        return tris.reshape(-1, 2).astype(np.float32)
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, -1], [1, 1], [-1, 1]], dtype=np.float32)
    if shape == "triangle":
        return np.array([[1.0, 0.0], [-0.7, 0.6], [-0.7, -0.6]], dtype=np.float32)
    if shape == "diamond":
        return np.array([[1, 0], [0, 1], [-1, 0], [1, 0], [-1, 0], [0, -1]], dtype=np.float32)
    raise ValueError(f"mesh: unknown shape {shape!r}; expected circle, square, triangle or diamond")


#: the draw() argument each column comes from, for error messages
_ARGUMENT: Final = {"pos": "positions", "prev": "previous", "angle": "angles", "color": "colors", "scale": "scales"}


def _column(name: str, values: Any, n: int | None) -> NDArray[Any]:
    """``values`` as a C-contiguous array of the attribute's dtype and shape, copied only if needed.

    ``n`` is the row count the column must have (None: any, for the positions that set it).
    Per frame, so the checks are O(1) (dtype kind and shape), except for colours given in a
    wider integer type than uint8, whose range is checked as they are converted anyway.
    """
    _, comps, dtype = _ATTRS[name]
    arg = _ARGUMENT[name]
    arr = np.asarray(values)
    kinds = "iu" if name == "color" else "iuf"
    if arr.dtype.kind not in kinds:
        got = f"dtype {arr.dtype}" if isinstance(values, np.ndarray) else type(values).__name__
        # a float colour is ambiguous (0-1 or 0-255?) and a cast to uint8 would hide it
        what = "integers 0-255 (uint8)" if name == "color" else "numbers"
        raise ValueError(f"NumpySpriteRenderer.draw: {arg} must be an array of {what}, got {got}")
    rows = arr.shape[0] if n is None and arr.ndim else n
    widths = (3, 4) if name == "color" else (comps,)
    ok = arr.shape[:1] == (rows,) and (arr.shape[1:] == () if comps == 1 else arr.ndim == 2 and arr.shape[1] in widths)
    if not ok:
        shape = "(N,)" if comps == 1 else ("(N, 4) or (N, 3)" if name == "color" else "(N, 2)")
        rows_note = "" if n is None else f" with N={n} (as many rows as positions)"
        raise ValueError(f"NumpySpriteRenderer.draw: {arg} must be an {shape} array{rows_note}, got shape {arr.shape}")
    if name == "color":
        if arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(
                f"NumpySpriteRenderer.draw: colors must be 0-255, got values from {arr.min()} to {arr.max()}"
            )
        if arr.shape[1] == 3:
            arr = np.concatenate([arr.astype(np.uint8, copy=False), np.full((len(arr), 1), 255, np.uint8)], axis=1)
    return np.ascontiguousarray(arr, dtype=dtype)


def _check_size(ctx: Any, size: Any, points: bool) -> float:
    if not is_finite_real(size) or size <= 0:
        raise ValueError(f"NumpySpriteRenderer: size must be a finite number > 0, got {size!r}")
    if points:
        # GL refuses (GL_INVALID_VALUE) point sizes outside what the driver supports
        try:
            low, high = (float(v) for v in ctx.info.POINT_SIZE_RANGE)
        except (AttributeError, TypeError, ValueError):
            low, high = _FALLBACK_POINT_SIZES
        if size > high:
            raise ValueError(
                f"NumpySpriteRenderer: size of a point must be at most {high:g} pixels here "
                f"(the GL point size range is {low:g}-{high:g}), got {size!r}"
            )
    return float(size)


def _check_color(color: Any) -> tuple[int, int, int, int]:
    try:
        parts = tuple(color)
    except TypeError:
        parts = ()
    if len(parts) not in (3, 4) or not all(is_int(c) and 0 <= c <= 255 for c in parts):
        raise ValueError(f"NumpySpriteRenderer: color must be 3 or 4 ints 0-255 (RGB or RGBA), got {color!r}")
    r, g, b, *a = (int(c) for c in parts)
    return (r, g, b, a[0] if a else 255)


def _check_shape(shape: Any, segments: Any) -> NDArray[np.float32]:
    if not is_int(segments) or not 3 <= segments <= _MAX_SEGMENTS:
        raise ValueError(f"NumpySpriteRenderer: segments must be an int from 3 to {_MAX_SEGMENTS}, got {segments!r}")
    if isinstance(shape, str):
        return mesh(shape, segments)
    arr = np.asarray(shape)
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] != 2 or not arr.size or len(arr) % 3:
        raise ValueError(
            "NumpySpriteRenderer: shape must be a mesh name or (M, 2) triangle vertices with M a positive "
            f"multiple of 3, got {type(shape).__name__} of shape {arr.shape}"
        )
    verts = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(verts).all():
        raise ValueError("NumpySpriteRenderer: shape vertices must be finite numbers")
    return verts


@final
class NumpySpriteRenderer:
    """Draws N instances of one mesh from numpy columns with a single instanced draw call.

    ``ctx`` is the window's ``arcade.ArcadeContext`` (``window.ctx``). ``shape`` names a
    built-in :func:`mesh` or is an (M, 2) array of triangle-list vertices in units of
    ``size`` pixels. ``color`` (RGBA 0-255) is used when ``draw`` gets no colours.
    Buffers grow by doubling, so a changing entity count reallocates rarely.

    ``shape="points"`` draws each entity as one square GL point ``size`` pixels wide: one
    vertex instead of six or more, about 3x faster on a software rasteriser (Mesa llvmpipe)
    for 100k sparks, but with no angle or per-entity scale.

    Everything is checked here, before any GPU buffer is made: ``size`` must be a finite
    number > 0 (for points, no larger than the context's ``POINT_SIZE_RANGE``), ``color``
    3 or 4 ints 0-255, ``capacity`` an int >= 0, ``segments`` an int from 3 to 1024, and an
    array ``shape`` (M, 2) finite numbers with M a positive multiple of 3; anything else
    raises ValueError naming the argument.
    """

    __slots__ = ("_buffers", "_capacity", "_geometry", "_programs", "color", "ctx", "draws", "points", "size")

    def __init__(
        self,
        ctx: arcade.ArcadeContext,
        *,
        shape: str | NDArray[Any] = "circle",
        size: float = 4.0,
        color: tuple[int, int, int] | tuple[int, int, int, int] = (255, 255, 255, 255),
        capacity: int = 1024,
        segments: int = 12,
    ) -> None:
        if not callable(getattr(ctx, "buffer", None)):
            got = type(ctx).__name__
            raise TypeError(f"NumpySpriteRenderer: ctx must be an arcade context (window.ctx), got {got}")
        points = isinstance(shape, str) and shape == "points"
        size = _check_size(ctx, size, points)
        rgba = _check_color(color)
        if not is_int(capacity) or capacity < 0:
            raise ValueError(f"NumpySpriteRenderer: capacity must be an int >= 0, got {capacity!r}")
        verts = None if points else _check_shape(shape, segments)
        self.ctx = ctx
        self.size = size
        self.color = rgba
        self.points = points
        self._capacity = max(16, int(capacity))
        self._buffers: dict[str, Buffer] = {
            name: ctx.buffer(reserve=self._capacity * comps * np.dtype(dtype).itemsize, usage="stream")
            for name, (_, comps, dtype) in _ATTRS.items()
        }
        content = [
            BufferDescription(self._buffers[name], fmt, [f"in_{name}"], instanced=not self.points)
            for name, (fmt, _, _) in _ATTRS.items()
        ]
        if verts is not None:
            content.insert(0, BufferDescription(ctx.buffer(data=verts.tobytes()), "2f", ["in_vert"]))
        self._geometry: Geometry = ctx.geometry(content, mode=ctx.POINTS if self.points else ctx.TRIANGLES)
        self._programs: dict[tuple[bool, bool, bool, bool], Program] = {}
        #: Instanced draw calls issued.
        self.draws = 0

    @property
    def capacity(self) -> int:
        """Instances the GPU buffers hold before they grow."""
        return self._capacity

    def _program(self, flags: tuple[bool, bool, bool, bool]) -> Program:
        prog = self._programs.get(flags)
        if prog is None:
            names = ("HAS_PREV", "HAS_ANGLE", "HAS_COLOR", "HAS_SCALE")
            defines = {k: "1" if on else "0" for k, on in zip(names, flags, strict=True)}
            defines["HAS_MESH"] = "0" if self.points else "1"
            prog = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER, defines=defines)
            self._programs[flags] = prog
        return prog

    def _reserve(self, n: int) -> None:
        if n <= self._capacity:
            return
        cap = self._capacity
        while cap < n:
            cap *= 2
        for name, (_, comps, dtype) in _ATTRS.items():
            self._buffers[name].orphan(size=cap * comps * np.dtype(dtype).itemsize)
        self._capacity = cap

    def draw(
        self,
        positions: NDArray[Any],
        *,
        previous: NDArray[Any] | None = None,
        alpha: float = 1.0,
        angles: NDArray[Any] | None = None,
        colors: NDArray[Any] | None = None,
        scales: NDArray[Any] | None = None,
    ) -> int:
        """Draw one instance per row of ``positions`` (N, 2), in window (or camera) coordinates.

        ``previous`` (N, 2) with ``alpha`` draws at ``previous + alpha * (positions -
        previous)``; ``angles`` (N,) are radians counter-clockwise; ``colors`` (N, 4) or
        (N, 3) are 0-255 (uint8); ``scales`` (N,) multiply ``size``. Returns N.
        """
        if self.points and (angles is not None or scales is not None):
            raise ValueError("NumpySpriteRenderer.draw: points have no angle or scale; use a mesh shape")
        if previous is not None and not is_finite_real(alpha):
            raise ValueError(f"NumpySpriteRenderer.draw: alpha must be a finite number, got {alpha!r}")
        pos = _column("pos", positions, None)
        n = len(pos)
        if n == 0:
            return 0
        self._reserve(n)
        columns = {"pos": pos}
        if previous is not None:
            columns["prev"] = _column("prev", previous, n)
        if angles is not None:
            columns["angle"] = _column("angle", angles, n)
        if colors is not None:
            columns["color"] = _column("color", colors, n)
        if scales is not None:
            columns["scale"] = _column("scale", scales, n)
        for name, arr in columns.items():
            # arcade hands the memory to OpenGL through ctypes, which wants a writable buffer:
            # read-only views (a query's read-only columns) are copied, everything else is not.
            self._buffers[name].write((arr if arr.flags.writeable else arr.copy()).data)
        flags = (previous is not None, angles is not None, colors is not None, scales is not None)
        prog = self._program(flags)
        # Unused uniforms are compiled out of a variant, and setting one would raise.
        if not self.points:
            prog["u_size"] = self.size
        if flags[0]:
            prog["u_alpha"] = float(alpha)
        if not flags[2]:
            prog["u_color"] = tuple(c / 255.0 for c in self.color)
        self.ctx.enable(self.ctx.BLEND)
        if self.points:
            saved = self.ctx.point_size
            self.ctx.point_size = self.size
            try:
                self._geometry.render(prog, vertices=n)
            finally:  # a failed draw must not leave its point size to every later one
                self.ctx.point_size = saved
        else:
            self._geometry.render(prog, instances=n)
        self.draws += 1
        return n
