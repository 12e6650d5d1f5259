"""The arcade plugin in a real window (Xvfb under the test command, EGL without a display).

Frames are pumped by hand: an ``on_update`` event is dispatched with a chosen frame time,
so the fixed timestep sees exact, repeatable real time. Pictures are read back with
``arcade.get_image`` and checked by counting blobs of the entity colour.
"""

from __future__ import annotations

from collections.abc import Iterator

import arcade
import numpy as np
import pytest
from numpy.typing import NDArray

import ecs
from ecs.integrations import DROP_MARK
from ecs.integrations.arcade import NumpySpriteRenderer, SchedulerDriver, mesh, run_window
from ecs.testing import ManualClock, RecordingObserver

pytestmark = pytest.mark.gui

W, H = 320, 240


@ecs.component
class Counter:
    value: ecs.i64


@ecs.system(writes=(Counter,))
def count_up(ctx: ecs.ExecutionContext) -> None:
    for b in ctx.query(Counter):
        b[Counter].value += 1


@pytest.fixture(scope="module")
def window() -> Iterator[arcade.Window]:
    win = arcade.Window(W, H, "ecs arcade tests", visible=False)
    yield win
    win.close()


@pytest.fixture
def sched() -> Iterator[ecs.Scheduler]:
    world = ecs.World(components=[Counter])
    world.spawn(Counter(value=0))
    builder = ecs.SchedulerBuilder(world, clock=ManualClock(), workers=1)
    builder.add_group("count", [count_up])
    with builder.build() as s:
        yield s


def ticks_of(sched: ecs.Scheduler) -> int:
    return int(sched.world.column(Counter, "value")[1][0])


def update(window: arcade.Window, dt: float) -> None:
    """One frame's update, delivered the way pyglet delivers it (through the event queue)."""
    window.dispatch_event("on_update", dt)
    window.dispatch_events()


def key(window: arcade.Window, symbol: int) -> None:
    window.dispatch_event("on_key_press", symbol, 0)
    window.dispatch_events()


# -- picture helpers ---------------------------------------------------------------------------------
def snapshot(window: arcade.Window) -> NDArray[np.uint8]:
    """The window as an (H, W, 3) array with row 0 at the bottom (arcade's y axis)."""
    return np.asarray(arcade.get_image(0, 0, W, H))[::-1, :, :3].copy()


def blobs(mask: NDArray[np.bool_]) -> list[tuple[int, float, float]]:
    """Connected components (4-neighbour) of a mask: (pixels, mean x, mean y) each."""
    seen = np.zeros_like(mask)
    out = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        stack = [(int(y0), int(x0))]
        seen[y0, x0] = True
        pts = []
        while stack:
            y, x = stack.pop()
            pts.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        arr = np.array(pts)
        out.append((len(pts), float(arr[:, 1].mean()), float(arr[:, 0].mean())))
    return out


def grid(n_x: int = 5, n_y: int = 4) -> NDArray[np.float32]:
    xs, ys = np.meshgrid(np.arange(n_x) * 60.0 + 40, np.arange(n_y) * 55.0 + 35)
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def red(img: NDArray[np.uint8]) -> NDArray[np.bool_]:
    return (img[:, :, 0] > 150) & (img[:, :, 1] < 80) & (img[:, :, 2] < 80)


# -- the driver -------------------------------------------------------------------------------------------
def test_attaching_to_a_window_ticks_at_the_fixed_rate(window: arcade.Window, sched: ecs.Scheduler) -> None:
    driver = SchedulerDriver(sched, rate_hz=60).attach(window)
    try:
        for _ in range(10):
            update(window, 1 / 60)
        assert ticks_of(sched) == 10
        update(window, 0.025)  # 1.5 ticks of real time: one tick, half a tick carried
        assert ticks_of(sched) == 11
        assert driver.alpha == pytest.approx(0.5, abs=1e-3)
        assert driver.frames == 11
        assert driver.real_time == pytest.approx(10 / 60 + 0.025)
        assert "window" in repr(driver)
    finally:
        driver.detach()


def test_detach_removes_only_the_drivers_handlers(window: arcade.Window, sched: ecs.Scheduler) -> None:
    seen: list[float] = []

    def app_update(dt: float) -> None:
        seen.append(dt)

    window.push_handlers(on_update=app_update)
    try:
        driver = SchedulerDriver(sched).attach(window)
        assert driver.attached
        update(window, 1 / 60)
        driver.detach()
        driver.detach()  # twice is harmless
        assert not driver.attached
        update(window, 1 / 60)
        assert ticks_of(sched) == 1
        assert seen == [1 / 60, 1 / 60]  # the app's own handler kept running
        assert "detached" in repr(driver)
    finally:
        window.remove_handler("on_update", app_update)


def test_a_driver_attaches_once(window: arcade.Window, sched: ecs.Scheduler) -> None:
    driver = SchedulerDriver(sched).attach(window)
    try:
        with pytest.raises(RuntimeError, match="already attached"):
            driver.attach(window)
        with pytest.raises(TypeError, match="Window or View"):
            SchedulerDriver(sched).attach(object())  # type: ignore[arg-type]
    finally:
        driver.detach()


def test_the_catch_up_cap_protects_a_slow_frame_and_marks_the_drop(window: arcade.Window) -> None:
    world = ecs.World(components=[Counter])
    world.spawn(Counter(value=0))
    rec = RecordingObserver()
    builder = ecs.SchedulerBuilder(world, clock=ManualClock(), workers=1)
    builder.add_group("count", [count_up])
    builder.add_observer(rec)
    with builder.build() as s:
        driver = SchedulerDriver(s, rate_hz=60, max_catch_up=4).attach(window)
        try:
            update(window, 0.51)  # a half-second hitch: 30 ticks owed
            assert ticks_of(s) == 4
            assert driver.timestep.dropped_steps == 26
            assert [m[1] for m in rec.marks] == [DROP_MARK]
        finally:
            driver.detach()


def test_pause_and_step_keys(window: arcade.Window, sched: ecs.Scheduler) -> None:
    driver = SchedulerDriver(sched).attach(window)
    try:
        key(window, arcade.key.P)
        assert driver.paused
        update(window, 1.0)
        assert ticks_of(sched) == 0
        key(window, arcade.key.PERIOD)
        update(window, 1 / 60)
        assert ticks_of(sched) == 1
        key(window, arcade.key.P)
        assert not driver.paused
        update(window, 1 / 60)
        assert ticks_of(sched) == 2
        key(window, arcade.key.Q)  # other keys pass through untouched
        assert driver.on_key_press(arcade.key.Q, 0) is None
    finally:
        driver.detach()


def test_keys_can_be_freed_and_controls_called_directly(window: arcade.Window, sched: ecs.Scheduler) -> None:
    driver = SchedulerDriver(sched, pause_key=None, step_key=None).attach(window)
    try:
        key(window, arcade.key.P)
        assert not driver.paused
        driver.pause()
        update(window, 0.1)
        driver.step_once()
        update(window, 0.0)
        driver.resume()
        update(window, 1 / 60)
        assert ticks_of(sched) == 2
    finally:
        driver.detach()


def test_max_ticks_stops_exactly(window: arcade.Window, sched: ecs.Scheduler) -> None:
    driver = SchedulerDriver(sched, max_ticks=7).attach(window)
    try:
        assert not driver.finished
        for _ in range(5):
            update(window, 0.05)  # three ticks owed per frame
        assert ticks_of(sched) == 7
        assert driver.finished
    finally:
        driver.detach()


def test_a_view_drives_ticks_only_while_it_is_shown(window: arcade.Window, sched: ecs.Scheduler) -> None:
    game, menu = arcade.View(window), arcade.View(window)
    window.show_view(menu)
    driver = SchedulerDriver(sched).attach(game)
    try:
        update(window, 1 / 60)
        key(window, arcade.key.P)
        assert ticks_of(sched) == 0
        assert not driver.paused
        window.show_view(game)
        update(window, 1 / 60)
        assert ticks_of(sched) == 1
        assert "view" in repr(driver)
    finally:
        driver.detach()
        window.show_view(menu)


def test_a_view_without_a_window_is_refused(sched: ecs.Scheduler, window: arcade.Window) -> None:
    view = arcade.View(window)
    view.window = None
    with pytest.raises(RuntimeError, match="no window"):
        SchedulerDriver(sched).attach(view)


# -- the render bridge -----------------------------------------------------------------------------------
def test_twenty_entities_draw_as_twenty_blobs(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="circle", size=6, color=(255, 0, 0))
    window.clear(color=(0, 0, 0, 255))
    assert renderer.draw(grid()) == 20
    img = snapshot(window)
    found = blobs(red(img))
    assert len(found) == 20
    centres = np.array(sorted((round(x), round(y)) for _, x, y in found))
    expected = np.array(sorted((round(x), round(y)) for x, y in grid()))
    np.testing.assert_allclose(centres, expected, atol=1.5)
    assert all(90 <= n <= 130 for n, _, _ in found)  # about pi * 6^2 pixels each


def test_per_entity_colours_reach_the_pixels(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="square", size=5)
    pos = grid(4, 1)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)
    window.clear(color=(0, 0, 0, 255))
    renderer.draw(pos, colors=colours)
    img = snapshot(window)
    for (x, y), c in zip(pos.astype(int), colours, strict=True):
        np.testing.assert_array_equal(img[y, x], c)


def test_previous_positions_are_interpolated_by_alpha(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="square", size=4, color=(255, 0, 0))
    cur = np.array([[200.0, 120.0]], dtype=np.float32)
    prev = np.array([[100.0, 60.0]], dtype=np.float32)
    for alpha, expected in ((0.0, prev[0]), (0.25, [125, 75]), (1.0, cur[0])):
        window.clear(color=(0, 0, 0, 255))
        renderer.draw(cur, previous=prev, alpha=alpha)
        (found,) = blobs(red(snapshot(window)))
        assert found[1] == pytest.approx(expected[0], abs=1.0)
        assert found[2] == pytest.approx(expected[1], abs=1.0)


def test_angles_turn_and_scales_grow_the_mesh(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="triangle", size=20, color=(255, 0, 0))
    pos = np.array([[80.0, 120.0], [240.0, 120.0]], dtype=np.float32)
    window.clear(color=(0, 0, 0, 255))
    renderer.draw(pos, angles=np.array([0.0, np.pi]), scales=np.array([1.0, 1.5]))
    left, right = sorted(blobs(red(snapshot(window))), key=lambda b: b[1])
    # The arrow's mass sits behind its tip: facing +x it lies left of its position, facing -x right of it.
    assert left[1] < 80 - 1
    assert right[1] > 240 + 1
    assert right[0] == pytest.approx(left[0] * 1.5**2, rel=0.1)


def test_points_are_one_vertex_each(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="points", size=3, color=(255, 0, 0))
    window.clear(color=(0, 0, 0, 255))
    renderer.draw(grid(), previous=grid(), alpha=0.5)
    assert len(blobs(red(snapshot(window)))) == 20
    with pytest.raises(ValueError, match="no angle or scale"):
        renderer.draw(grid(), angles=np.zeros(20))


def test_buffers_grow_for_more_entities(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="square", size=1, capacity=16)
    rng = np.random.default_rng(0)
    many = (rng.random((50_000, 2)) * [W, H]).astype(np.float32)
    window.clear(color=(0, 0, 0, 255))
    assert renderer.draw(many) == 50_000
    assert renderer.capacity >= 50_000
    assert renderer.draw(np.zeros((0, 2), np.float32)) == 0
    lit = snapshot(window).max(axis=2) > 0
    assert lit.mean() > 0.5  # 50k squares cover most of a 320 x 240 window
    assert renderer.draws == 1


def test_read_only_columns_are_accepted(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="circle", size=4, color=(255, 0, 0))
    pos = grid()
    pos.flags.writeable = False
    window.clear(color=(0, 0, 0, 255))
    renderer.draw(pos)
    assert len(blobs(red(snapshot(window)))) == 20


def test_bad_inputs_are_refused_by_name(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx)
    with pytest.raises(ValueError, match="colors|color"):
        renderer.draw(grid(), colors=np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="triangle vertices"):
        NumpySpriteRenderer(window.ctx, shape=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="unknown shape"):
        mesh("hexagon")
    with pytest.raises(ValueError, match="3 segments"):
        mesh("circle", segments=2)


@pytest.mark.parametrize("shape", ["circle", "square", "triangle", "diamond"])
def test_meshes_are_triangle_lists_around_the_origin(shape: str) -> None:
    verts = mesh(shape)
    assert verts.dtype == np.float32
    assert verts.shape[1] == 2
    assert len(verts) % 3 == 0
    assert np.abs(verts).max() <= 1.0 + 1e-6


def test_run_window_dispatches_to_pushed_handlers_until_told_to_stop(
    window: arcade.Window, sched: ecs.Scheduler
) -> None:
    """In arcade's headless mode arcade.run() bypasses pushed handlers; run_window does not."""
    driver = SchedulerDriver(sched).attach(window)
    draws: list[int] = []

    def on_draw() -> None:
        draws.append(1)
        if len(draws) == 3:
            arcade.exit()

    window.push_handlers(on_draw=on_draw)
    try:
        run_window(window, until=lambda: driver.ticks >= 1 and len(draws) >= 2)
        assert len(draws) >= 2
        assert driver.frames >= 2
    finally:
        window.remove_handler("on_draw", on_draw)
        driver.detach()


# -- bad input: refused up front, by name, with nothing changed ------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shape": "points", "size": -3}, "size must be a finite number > 0, got -3"),  # once a GLException at draw
        ({"shape": "points", "size": 0}, "size must be a finite number > 0, got 0"),
        ({"shape": "points", "size": 1e9}, "size of a point must be at most .* got 1000000000.0"),
        ({"size": float("nan")}, "size .* got nan"),
        ({"size": "big"}, "size .* got 'big'"),
        ({"color": (1, 2)}, r"color must be 3 or 4 ints 0-255 .* got \(1, 2\)"),  # once failed only at draw
        ({"color": (300, 0, 0)}, r"color .* got \(300, 0, 0\)"),
        ({"color": (0.5, 0, 0)}, r"color .* got \(0.5, 0, 0\)"),
        ({"color": None}, "color .* got None"),
        ({"capacity": "big"}, "capacity must be an int >= 0, got 'big'"),
        ({"segments": "12"}, "segments must be an int from 3 to 1024, got '12'"),
        ({"segments": 10**7}, "segments .* got 10000000"),
        ({"shape": np.zeros((0, 2))}, r"shape must be a mesh name or \(M, 2\) triangle vertices"),
        ({"shape": None}, "shape must be .* got NoneType"),
        ({"shape": np.full((3, 2), np.nan)}, "shape vertices must be finite"),
    ],
)
def test_a_renderer_refuses_bad_options_at_construction(
    window: arcade.Window, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NumpySpriteRenderer(window.ctx, **options)  # type: ignore[arg-type]
    assert window.ctx.point_size == 1.0
    with pytest.raises(TypeError, match="ctx must be an arcade context"):
        NumpySpriteRenderer(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.draw(None), r"positions must be an array of numbers, got NoneType"),  # once: "has no len()"
        (lambda r: r.draw(np.float32(3)), r"positions must be an \(N, 2\) array, got shape \(\)"),
        (lambda r: r.draw(np.zeros((4, 3))), r"positions must be an \(N, 2\) array, got shape \(4, 3\)"),
        (lambda r: r.draw(np.array([["a", "b"]])), "positions must be an array of numbers, got dtype <U1"),
        (lambda r: r.draw(np.zeros((2, 2), complex)), "positions .* got dtype complex128"),
        (lambda r: r.draw(grid(), previous=grid()[:3]), r"previous must be an \(N, 2\) array with N=20"),
        (lambda r: r.draw(grid(), previous=grid(), alpha="x"), "alpha must be a finite number, got 'x'"),
        (lambda r: r.draw(grid(), colors=np.full((20, 4), 300)), "colors must be 0-255, got values from 300"),  # was 44
        (lambda r: r.draw(grid(), colors=np.full((20, 3), -1)), "colors must be 0-255, got values from -1"),  # was 255
        (lambda r: r.draw(grid(), colors=np.full((20, 4), 0.5)), r"colors must be an array of integers 0-255"),  # was 0
        (lambda r: r.draw(grid(), colors=(255, 0, 0)), r"colors must be an \(N, 4\) or \(N, 3\) array"),
    ],
)
def test_draw_refuses_columns_that_are_not_what_they_say(window: arcade.Window, call: object, message: str) -> None:
    renderer = NumpySpriteRenderer(window.ctx)
    with pytest.raises(ValueError, match=message):
        call(renderer)  # type: ignore[operator]
    assert renderer.draws == 0


def test_colours_in_range_draw_in_any_integer_type(window: arcade.Window) -> None:
    renderer = NumpySpriteRenderer(window.ctx, shape="circle", size=4)
    window.clear(color=(0, 0, 0, 255))
    assert renderer.draw(grid(), colors=np.tile(np.array([255, 0, 0], np.int64), (20, 1))) == 20
    assert len(blobs(red(snapshot(window)))) == 20


def test_a_failed_points_draw_restores_the_point_size(window: arcade.Window, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = window.ctx
    before = ctx.point_size
    bad = NumpySpriteRenderer(ctx, shape="points", size=7)

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the GPU said no")

    monkeypatch.setattr(bad._geometry, "render", fail)
    with pytest.raises(RuntimeError, match="GPU said no"):
        bad.draw(grid())
    assert ctx.point_size == before  # once left at the failed renderer's size for every later draw
    assert NumpySpriteRenderer(ctx, shape="points", size=2).draw(grid()) == 20


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_hz": "60"}, "rate_hz .* got '60'"),
        ({"rate_hz": 2e6}, "rate_hz .* got 2000000.0"),
        ({"max_ticks": "5"}, "max_ticks must be an int >= 0 or None, got '5'"),
        ({"max_ticks": -5}, "max_ticks .* got -5"),
        ({"pause_key": "p"}, "pause_key must be an arcade key code"),
    ],
)
def test_a_driver_refuses_bad_options_at_construction(
    sched: ecs.Scheduler, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SchedulerDriver(sched, **options)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scheduler must be an ecs.Scheduler, got NoneType"):
        SchedulerDriver(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("delta_time", [float("nan"), -1.0, float("inf"), "0.1", None])
def test_a_bad_frame_time_changes_nothing(window: arcade.Window, sched: ecs.Scheduler, delta_time: object) -> None:
    driver = SchedulerDriver(sched, rate_hz=60).attach(window)
    try:
        driver.on_update(0.02)
        before = (driver.frames, driver.real_time, driver.ticks, driver.alpha)
        with pytest.raises(ValueError, match="on_update: delta_time must be a finite number"):
            driver.on_update(delta_time)  # type: ignore[arg-type]
        assert (driver.frames, driver.real_time, driver.ticks, driver.alpha) == before  # once frames+1, NaN time
        driver.on_update(1 / 60)
        assert driver.frames == before[0] + 1 and ticks_of(sched) == driver.ticks
    finally:
        driver.detach()


def test_run_window_refuses_what_is_not_a_window() -> None:
    with pytest.raises(TypeError, match="window must be an arcade Window, got NoneType"):
        run_window(None)  # type: ignore[arg-type]
