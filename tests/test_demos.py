"""The three demos: their simulations headless, their command line, and their windows."""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import ecs
from demos import _common, asteroids, boids, particles
from ecs.integrations import run_fixed
from ecs.testing import RecordingObserver
from ecs.trace import LiveStreamClient, load_trace
from tests.test_integration_arcade import blobs

ROOT = Path(__file__).resolve().parents[1]
DEMOS = {"boids": boids, "particles": particles, "asteroids": asteroids}


def run_cli(module: object, argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert module.main(argv) == 0  # type: ignore[attr-defined]
    return capsys.readouterr().out.strip().splitlines()


# -- boids ----------------------------------------------------------------------------------------------
def test_boids_stay_on_screen_at_legal_speeds_and_the_analysis_reports() -> None:
    with boids.create_scheduler(seed=3, count=2000, workers=1) as sched:
        run_fixed(sched, 200)
        sched.wait_idle()
        world = sched.world
        assert len(world) == 2000
        params = world.resource(boids.FlockParams)
        _, xy = world.column(boids.Position, "xy")
        _, prev = world.column(boids.Position, "prev")
        _, vel = world.column(boids.Velocity, "xy")
        assert (xy >= 0).all()
        assert (xy[:, 0] < params.width).all()
        assert (xy[:, 1] < params.height).all()
        speed = np.hypot(vel[:, 0], vel[:, 1])
        assert speed.min() >= params.min_speed - 1e-3
        assert speed.max() <= params.max_speed + 1e-3
        # prev is shifted with every wrap, so drawing never streaks across the screen
        assert np.abs(xy - prev).max() <= params.max_speed / 60 + 1e-3
        stats = world.resource(boids.FlockStats)
        assert stats.tick >= 190
        assert len(stats.density) == 2000
        assert stats.max_neighbours >= stats.mean_neighbours > 0
        assert len(stats.hotspots) == 5
        assert sched.stats["analysis"].runs >= 190


def test_a_lone_boid_keeps_its_heading() -> None:
    params = boids.FlockParams()
    xy = np.array([[100.0, 100.0]], dtype=np.float32)
    vel = np.array([[80.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(boids.steer_flock(xy, vel, params, 1 / 60), vel, atol=1e-4)


def test_neighbours_align_and_crowded_boids_separate() -> None:
    params = boids.FlockParams(separation=0.0, cohesion=0.0)
    xy = np.array([[100.0, 100.0], [105.0, 100.0]], dtype=np.float32)
    vel = np.array([[80.0, 0.0], [0.0, 80.0]], dtype=np.float32)
    new = boids.steer_flock(xy, vel, params, 1 / 60)
    assert new[0, 1] > 0  # turning toward the other's heading
    assert new[1, 0] > 0
    apart = boids.FlockParams(align=0.0, cohesion=0.0)
    still = np.array([[80.0, 0.0], [80.0, 0.0]], dtype=np.float32)
    new = boids.steer_flock(xy, still, apart, 1 / 60)
    assert new[0, 0] < new[1, 0]  # the left one is pushed left, the right one right


def test_the_grid_sums_neighbours_across_the_wrap_around_edge() -> None:
    params = boids.FlockParams(width=200.0, height=200.0, cell=20.0)
    xy = np.array([[1.0, 100.0], [199.0, 100.0]], dtype=np.float32)  # adjacent across the edge
    grid = boids.build_grid(xy, params)
    assert (grid.block_count[grid.cell] == 2).all()


def test_boids_refuse_an_empty_flock() -> None:
    with pytest.raises(ValueError, match="count"):
        boids.create_scheduler(count=0)


# -- particles -----------------------------------------------------------------------------------------
def test_particles_churn_every_tick_around_a_steady_population() -> None:
    rec = RecordingObserver()
    with particles.create_scheduler(seed=2, count=20_000, workers=1) as sched:
        sched.add_observer(rec)
        run_fixed(sched, 150)
        sched.wait_idle()
        flushes = [p for p in rec.phases if p.phase == "flush"]
        assert len(flushes) == 150
        assert all(p.spawned > 0 for p in flushes)
        assert sum(p.destroyed > 0 for p in flushes) >= 145
        assert 17_000 <= len(sched.world) <= 23_000
        _, xy = sched.world.column(particles.Position, "xy")
        assert (xy[:, 1] >= 0).all()  # the floor bounces
        stats = sched.world.resource(particles.ParticleStats)
        assert sum(stats.per_source) == pytest.approx(len(sched.world), rel=0.1)
        assert 0 < stats.mean_age < 2.0


def test_dense_and_archetype_storage_simulate_the_same_world() -> None:
    hashes = {}
    for storage in particles.STORAGES:
        with particles.create_scheduler(seed=5, count=5000, storage=storage, workers=1) as sched:
            assert sched.world.storage_kind(particles.Life) == storage
            run_fixed(sched, 60)
            sched.wait_idle()
            hashes[storage] = sched.world.state_hash()
    assert hashes["dense"] == hashes["archetype"]


def test_particles_refuse_an_unknown_storage() -> None:
    with pytest.raises(ValueError, match="storage"):
        particles.create_scheduler(storage="sparse-ish")


# -- asteroids -----------------------------------------------------------------------------------------
def game_of(sched: ecs.Scheduler) -> asteroids.Game:
    return sched.world.single(asteroids.Game)[1]


def test_the_autopilot_plays_scores_and_faults_are_retried() -> None:
    rec = RecordingObserver()
    with asteroids.create_scheduler(seed=1, autopilot=True, workers=1) as sched:
        sched.add_observer(rec)
        run_fixed(sched, 900)
        sched.wait_idle()
        game = game_of(sched)
        assert game.score > 0
        assert game.wave >= 1
        retried = [g for g in rec.groups if g.group == "rules" and g.retried]
        assert len(retried) >= 10
        assert sched.stats["rules"].retries == len(retried)
        assert sched.world.resource(asteroids.Threat).tick >= 0


def test_without_faults_nothing_is_retried() -> None:
    with asteroids.create_scheduler(seed=1, autopilot=True, fault_rate=0.0, workers=1) as sched:
        run_fixed(sched, 300)
        assert sched.stats["rules"].retries == 0
        assert sched.stats["rules"].errors == 0


def test_faults_are_a_pure_function_of_seed_tick_and_attempt() -> None:
    plan = asteroids.FaultPlan(seed=4, rate=0.5)
    first = [plan.fails(t, 0) for t in range(200)]
    assert first == [plan.fails(t, 0) for t in range(200)]
    assert 60 < sum(first) < 140
    assert sum(plan.fails(t, 1) for t in range(200)) < sum(first)  # retries fail ten times less often
    assert not asteroids.FaultPlan(rate=0.0).fails(3, 0)


def crash_into_ship(sched: ecs.Scheduler) -> None:
    """Put a small rock right on the ship."""
    world = sched.world
    (at,) = [b[asteroids.Body].xy[0].copy() for b in world.query(asteroids.Body, with_=(asteroids.Ship,))]
    world.spawn(
        asteroids.Body(xy=at, prev=at, angle=0.0, radius=14.0),
        asteroids.Motion(vel=(0.0, 0.0), spin=0.0),
        asteroids.Rock(size=1, shape=0),
    )


def test_crashes_cost_lives_end_the_game_and_restart_brings_it_back() -> None:
    with asteroids.create_scheduler(seed=2, fault_rate=0.0, workers=1) as sched:
        run_fixed(sched, 160)  # past the starting invulnerability
        for lives_left in (2, 1, 0):
            crash_into_ship(sched)
            run_fixed(sched, 1)
            assert game_of(sched).lives == lives_left
            assert sched.world.count(asteroids.Ship) == 0
            run_fixed(sched, int(asteroids.RESPAWN_DELAY * 60) + 160)
        assert game_of(sched).over
        assert sched.world.count(asteroids.Ship) == 0
        sched.commands.set_resource(asteroids.Controls(restart=True))
        run_fixed(sched, 2)
        game = game_of(sched)
        assert (game.over, game.lives, game.score) == (False, asteroids.LIVES, 0)
        assert sched.world.count(asteroids.Ship) == 1


def test_bullets_break_rocks_into_smaller_ones_and_score() -> None:
    with asteroids.create_scheduler(seed=3, fault_rate=0.0, workers=1) as sched:
        run_fixed(sched, 1)  # the first wave
        world = sched.world
        ids, sizes = world.column(asteroids.Rock, "size")
        big = int(ids[0])
        at = world.get(big, asteroids.Body).xy
        world.spawn(
            asteroids.Body(xy=at, prev=at, angle=0.0, radius=2.0),
            asteroids.Motion(vel=(0.0, 0.0), spin=0.0),
            asteroids.Bullet(ttl=1.0),
        )
        before = len(sizes)
        run_fixed(sched, 1)
        assert not world.is_alive(big)
        _, after = world.column(asteroids.Rock, "size")
        assert len(after) == before + 1  # one big rock became two medium ones
        assert game_of(sched).score == asteroids.ROCK_POINTS[3]
        assert world.count(asteroids.Bullet) == 0
        assert world.count(asteroids.Spark) > 0


def test_the_autopilot_turns_toward_the_nearest_rock_and_fires_when_aligned() -> None:
    size = np.array([1280.0, 720.0], dtype=np.float32)
    ship = np.array([640.0, 360.0], dtype=np.float32)
    still = np.zeros(2, dtype=np.float32)
    rocks = np.array([[900.0, 360.0], [100.0, 700.0]], dtype=np.float32)
    zero = np.zeros((2, 2), dtype=np.float32)
    radii = np.array([20.0, 20.0], dtype=np.float32)
    facing_up = asteroids.autopilot(ship, np.pi / 2, still, rocks, zero, radii, size)
    assert facing_up.right and not facing_up.left and not facing_up.fire
    facing_it = asteroids.autopilot(ship, 0.0, still, rocks, zero, radii, size)
    assert facing_it.fire
    none = asteroids.autopilot(ship, 0.0, still, np.zeros((0, 2), np.float32), zero[:0], radii[:0], size)
    assert none == asteroids.Controls(autopilot=True)


def test_rewind_restores_the_world_of_seconds_ago() -> None:
    with asteroids.create_scheduler(seed=6, autopilot=True, workers=1) as sched:
        rewinder = asteroids.Rewinder(sched, every=30, keep=10.0)
        assert rewinder.rewind() is None  # nothing kept yet
        hashes = {}
        for _ in range(8):
            rewinder.capture()
            hashes[sched.tick_count] = sched.world.state_hash()
            rewinder.capture()  # too soon: no second snapshot
            run_fixed(sched, 30)
        assert len(rewinder.history) == 8
        tick = rewinder.rewind(seconds=3.0)
        assert tick == 240 - 180
        assert sched.world.state_hash() == hashes[tick]
        assert [h[0] for h in rewinder.history] == [0, 30, 60]
        assert rewinder.rewinds == 1
        assert sched.world.resource(asteroids.Controls).autopilot  # input survives the rewind


# -- determinism and the command line ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "extra"),
    [("boids", ["--count", "3000"]), ("particles", ["--count", "10000"]), ("asteroids", [])],
)
def test_the_same_seed_gives_the_same_hash_and_another_seed_another(
    name: str, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    module = DEMOS[name]
    first = run_cli(module, ["--headless", "--ticks", "200", "--seed", "1", "--hash", *extra], capsys)
    again = run_cli(module, ["--headless", "--ticks", "200", "--seed", "1", "--hash", *extra], capsys)
    other = run_cli(module, ["--headless", "--ticks", "200", "--seed", "2", "--hash", *extra], capsys)
    assert len(first[-1]) == 32
    assert first[-1] == again[-1]
    assert first[-1] != other[-1]
    assert first[0].startswith(f"{name}: 200 ticks")


def test_python_dash_m_prints_the_same_hash_last_in_separate_processes() -> None:
    def run(seed: int) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "demos.boids", "--headless", "--ticks", "200", "--seed", str(seed), "--hash"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, "DISPLAY": ""},  # headless means no display is needed
        )
        return out.stdout.strip().splitlines()[-1]

    first, second, other = run(1), run(1), run(2)
    assert first == second
    assert first != other


def test_record_writes_a_trace_of_every_tick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.trace.jsonl.gz"
    lines = run_cli(particles, ["--headless", "--ticks", "40", "--count", "3000", "--record", str(path)], capsys)
    assert any(str(path) in line for line in lines)
    data = load_trace(path)
    assert len(data) == 40
    assert data.complete


def test_hitches_writes_a_trace_around_each_tick_over_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a budget no tick can meet: tick 0 is a hitch, written 60 ticks later; tick 61 the next,
    # written when the run ends with the ticks there are
    args = ["--headless", "--ticks", "80", "--count", "3000", "--hitches", str(tmp_path), "--budget-ms", "0.000001"]
    lines = run_cli(particles, args, capsys)
    assert any(f"writing a trace to {tmp_path}/ around each tick over 1e-06 ms" in line for line in lines)
    files = sorted(tmp_path.glob("hitch-*.trace.jsonl.gz"))
    assert [f.name for f in files] == ["hitch-00000000.trace.jsonl.gz", "hitch-00000061.trace.jsonl.gz"]
    first, second = load_trace(files[0]), load_trace(files[1])
    assert first.complete and [int(t) for t in first.tick] == list(range(61))
    assert second.complete and [int(t) for t in second.tick] == list(range(80))
    assert first.header["flight"] == {"reason": "hitch", "tick": 0, "budget_ms": 0.000001}


def test_stream_serves_the_live_trace(capsys: pytest.CaptureFixture[str]) -> None:
    args = _common.build_parser(boids.DEMO).parse_args(["--stream", "0"])
    with boids.create_scheduler(seed=0, count=500, workers=1) as sched:
        _common._attach_outputs(sched, args, print)
        (server,) = [o for o in sched.observers if type(o).__name__ == "LiveStreamServer"]
        assert "live stream on 127.0.0.1:" in capsys.readouterr().out
        client = LiveStreamClient("127.0.0.1", server.port, timeout=10)
        try:
            assert client.header["type"] == "header"
            run_fixed(sched, 3)
            ticks = []
            for event in client:
                if event.get("type") == "tick":
                    ticks.append(event)
                if len(ticks) == 3:
                    break
            assert len(ticks) == 3
        finally:
            client.close()


def test_stream_addresses_parse() -> None:
    assert _common.parse_address("9000") == ("127.0.0.1", 9000)
    assert _common.parse_address("0.0.0.0:9001") == ("0.0.0.0", 9001)
    assert _common.parse_address(":9002") == ("127.0.0.1", 9002)
    with pytest.raises(argparse.ArgumentTypeError, match="HOST"):
        _common.parse_address("nine")
    with pytest.raises(argparse.ArgumentTypeError, match="range"):
        _common.parse_address("70000")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--screenshot", "x.png"], "--screenshot needs --ticks"),
        (["--headless", "--ticks", "20", "--screenshot", "x.png"], "cannot be used with --headless"),
        (["--headless", "--ticks", "-1"], "--ticks: must be >= 0, got -1"),
        (["--headless", "--seed", "-1"], "--seed: must be >= 0"),
        (["--headless", "--rate", "0"], "--rate: must be a number > 0, got 0"),
        (["--headless", "--rate", "nan"], "--rate: must be a number > 0"),
        (["--headless", "--workers", "0"], "--workers: must be >= 1"),
        (["--headless", "--stream", "notaport"], "argument --stream: not an address: 'notaport'"),
        (["--headless", "--stream", "99999"], "argument --stream: port out of range in '99999': 99999"),
        (["--headless", "--record", "/nonexistent/x.trace.jsonl"], "the directory /nonexistent does not exist"),
        (["--headless", "--record", "/tmp"], "/tmp is a directory"),
        (["--headless", "--hitches", "/proc/nope"], "--hitches: cannot use /proc/nope"),
        (["--headless", "--budget-ms", "5"], "--budget-ms only applies with --hitches"),
        (["--headless", "--hitches", "out", "--budget-ms", "-1"], "--budget-ms: must be a number > 0"),
        # each of these was a traceback once, some of them after the game had started
        (["--headless", "--ticks", "2", "--count", "0"], "--count: must be >= 1, got 0"),
        (["--headless", "--ticks", "2", "--count", "-3"], "--count: must be >= 1, got -3"),
        (["--headless", "--stream", "a..b:0"], "argument --stream: not a host name in 'a..b:0'"),
        (["--headless", "--record", "/proc/x.jsonl"], "--record: cannot write /proc/x.jsonl"),
        (["--headless", "--rate", "1e-300"], "--rate: must be from 1e-06 to 1e+06 ticks per second, got 1e-300"),
        (["--ticks", "2", "--rate", "2e6"], "--rate: must be from 1e-06 to 1e+06 ticks per second, got 2e6"),
        (["--ticks", "2", "--screenshot", "shot.xyz"], "--screenshot: 'shot.xyz' does not end in an image type"),
    ],
)
def test_bad_command_lines_get_a_usage_error_before_the_game_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        boids.main(argv)
    assert exit_info.value.code == 2  # argparse's usage error, not a traceback
    err = capsys.readouterr().err
    assert "usage: python -m demos.boids" in err and message in err


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        (particles, ["--headless", "--ticks", "2", "--count", "0"], "--count: must be >= 1, got 0"),
        (
            asteroids,
            ["--headless", "--ticks", "2", "--fault-rate", "nan"],
            "--fault-rate: must be a number from 0 to 1",
        ),
        (asteroids, ["--headless", "--ticks", "2", "--fault-rate", "-1"], "--fault-rate: .* got -1"),
        (asteroids, ["--headless", "--ticks", "2", "--fault-rate", "inf"], "--fault-rate: .* got inf"),
    ],
)
def test_each_demo_checks_its_own_options(
    module: object, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)  # type: ignore[attr-defined]
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("rate", [math.nan, -0.1, 1.5, "0.1"])
def test_the_asteroids_factory_refuses_a_fault_rate_that_is_no_probability(rate: object) -> None:
    with pytest.raises(ValueError, match="fault_rate must be a number from 0 to 1"):
        asteroids.create_scheduler(seed=0, fault_rate=rate, workers=1)  # type: ignore[arg-type]


def test_a_checked_record_path_still_records(tmp_path: Path) -> None:
    out = tmp_path / "probe.trace.jsonl"
    assert boids.main(["--headless", "--ticks", "0", "--count", "5", "--record", str(out)]) == 0
    assert out.exists()  # written by the recorder, not left empty by the check
    assert load_trace(out).header["type"] == "header"


def test_a_port_in_use_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = boids.main(["--headless", "--ticks", "2", "--count", "5", "--stream", str(port)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.strip() == f"python -m demos.boids: --stream: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_recorder_that_cannot_open_at_start_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ecs.trace

    def refuse(path: str, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(ecs.trace, "TraceRecorder", refuse)  # the disk changed its mind after the check
    out = tmp_path / "x.trace.jsonl"
    assert boids.main(["--headless", "--ticks", "2", "--count", "5", "--record", str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"python -m demos.boids: --record: cannot write {out}: Permission denied"


def test_each_factory_follows_the_ecs_trace_convention() -> None:
    for module in DEMOS.values():
        sched = module.create_scheduler(seed=0, workers=1)  # type: ignore[attr-defined]
        try:
            assert isinstance(sched, ecs.Scheduler)
            assert sched.tick_count == 0
            assert len(sched.plan.groups) >= 2
            assert any(g.is_async for g in sched.plan.groups)
        finally:
            sched.close()


# -- the windows ---------------------------------------------------------------------------------------
def open_demo(module: object, argv: list[str], **options: object) -> _common.DemoWindow:
    demo: _common.Demo = module.DEMO  # type: ignore[attr-defined]
    args = _common.build_parser(demo).parse_args(argv)
    sched = demo.create_scheduler(seed=args.seed, workers=1, **options)
    return _common.open_window(demo, sched, args, visible=False)


def pump(win: _common.DemoWindow, frames: int, dt: float = 1 / 60) -> None:
    for _ in range(frames):
        win.window.dispatch_event("on_update", dt)
        win.window.dispatch_event("on_draw")
        win.window.dispatch_events()


def picture(win: _common.DemoWindow) -> NDArray[np.uint8]:
    import arcade

    return np.asarray(arcade.get_image())[:, :, :3].copy()


@pytest.fixture
def closing() -> Iterator[list[_common.DemoWindow]]:
    opened: list[_common.DemoWindow] = []
    yield opened
    for win in opened:
        win.close()
        win.sched.close()


@pytest.mark.gui
def test_the_boids_window_draws_every_agent(closing: list[_common.DemoWindow]) -> None:
    win = open_demo(boids, ["--seed", "4"], count=20)
    closing.append(win)
    win.show_hud = False
    win.scene.show_hotspots = False  # type: ignore[attr-defined]
    pump(win, 30)
    img = picture(win)
    lit = img.max(axis=2) > 40
    assert len(blobs(lit)) == 20  # twenty separate triangles
    assert win.driver.ticks == 30
    assert win.times.ticks == 30


@pytest.mark.gui
@pytest.mark.parametrize(
    ("name", "options"),
    [("boids", {"count": 3000}), ("particles", {"count": 5000}), ("asteroids", {"autopilot": True})],
)
def test_each_window_shows_its_world_and_a_hud(
    name: str, options: dict[str, object], closing: list[_common.DemoWindow]
) -> None:
    win = open_demo(DEMOS[name], ["--ticks", "45"], **options)
    closing.append(win)
    pump(win, 50)
    assert win.driver.ticks == 45
    assert win.driver.finished
    img = picture(win)
    lit = img.max(axis=2) > 40
    assert lit[200:, :].mean() > 0.0005  # the world, below the HUD, is drawn
    assert lit[:100, :400].mean() > 0.01  # the HUD text
    lines = win.hud_lines()
    assert any("ms" in line for line in lines)
    for group in win.sched.plan.groups:
        assert any(group.name in line for line in lines)


@pytest.mark.gui
def test_asteroids_takes_keys_rewinds_and_toggles(closing: list[_common.DemoWindow]) -> None:
    import arcade

    win = open_demo(asteroids, ["--seed", "1", "--fault-rate", "0"])
    closing.append(win)
    scene: asteroids.AsteroidsScene = win.scene  # type: ignore[assignment]
    world = win.sched.world
    pump(win, 20)
    for symbol in (arcade.key.UP, arcade.key.SPACE, arcade.key.LEFT):
        win.window.dispatch_event("on_key_press", symbol, 0)
    pump(win, 10)
    controls = world.resource(asteroids.Controls)
    assert controls.thrust and controls.fire and controls.left
    assert world.count(asteroids.Bullet) >= 1
    win.window.dispatch_event("on_key_release", arcade.key.SPACE, 0)
    win.window.dispatch_event("on_key_press", arcade.key.T, 0)
    pump(win, 60)
    assert world.resource(asteroids.Controls).autopilot
    assert not world.resource(asteroids.Controls).fire
    win.window.dispatch_event("on_key_press", arcade.key.R, 0)
    pump(win, 1, dt=0.0)
    assert scene.rewinder.rewinds == 1
    assert any("rewinds 1" in line for line in win.hud_lines())
    win.window.dispatch_event("on_key_press", arcade.key.F1, 0)
    pump(win, 1)
    assert not win.show_hud


@pytest.mark.gui
def test_asteroids_shows_game_over(closing: list[_common.DemoWindow]) -> None:
    win = open_demo(asteroids, [])
    closing.append(win)
    world = win.sched.world
    eid = world.single(asteroids.Game)[0]
    world.set(eid, replace(world.get(eid, asteroids.Game), lives=0, over=True))
    world.destroy(world.single(asteroids.Ship)[0])
    pump(win, 2)
    assert "GAME OVER" in win.scene.big.text  # type: ignore[attr-defined]


@pytest.mark.gui
def test_a_windowed_run_saves_a_screenshot_and_prints_the_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "shot.png"
    lines = run_cli(
        boids, ["--ticks", "20", "--count", "500", "--screenshot", str(png), "--hash", "--workers", "1"], capsys
    )
    assert lines[-2].startswith("boids: 20 ticks")
    assert len(lines[-1]) == 32
    from PIL import Image

    with Image.open(png) as img:
        assert img.size == _common.WINDOW_SIZE
        assert np.asarray(img)[:, :, :3].max() > 0
