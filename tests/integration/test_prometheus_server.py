"""A real Prometheus server scrapes our /metrics endpoints on loopback and reports our numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import ecs
from ecs.trace import prometheus_observer, serve_debug

from .conftest import Prometheus

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_the_observer_endpoint(
    start_prometheus: Callable[..., Prometheus], make_scheduler: Callable[..., ecs.Scheduler]
) -> None:
    observer, endpoint = prometheus_observer()
    try:
        prom = start_prometheus({"ecs": [f"127.0.0.1:{endpoint.port}"]})
        with make_scheduler(observer) as sched:
            sched.run(25, 1 / 60)
        prom.wait_for_value('ecs_ticks_total{job="ecs"}', 25)
        prom.wait_for_value("ecs_tick_duration_seconds_count", 25)
        # the manual clock makes every tick exactly 3 ms: the histogram's sum is in seconds
        assert prom.value("ecs_tick_duration_seconds_sum") == pytest.approx(25 * 0.003)
        assert prom.value('ecs_group_duration_seconds_count{group="physics",mode="sync"}') == 25
        assert prom.value('ecs_group_errors_total{group="sparks",system="fizzle"}') == 1
        assert prom.value("ecs_entities") == 20
        assert prom.value('up{job="ecs"}') == 1
        assert prom.targets_up()
    finally:
        endpoint.close()


def test_prometheus_scrapes_the_debug_endpoint(
    start_prometheus: Callable[..., Prometheus], make_scheduler: Callable[..., ecs.Scheduler]
) -> None:
    sched = make_scheduler()
    debug = serve_debug(sched)
    try:
        prom = start_prometheus({"game": [f"127.0.0.1:{debug.port}"]})
        sched.run(12, 1 / 60)
        prom.wait_for_value('ecs_ticks_total{job="game"}', 12)
        assert prom.value('ecs_group_duration_seconds_count{group="physics"}') == 12
    finally:
        debug.close()
        sched.close()
