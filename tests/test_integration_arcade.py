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
