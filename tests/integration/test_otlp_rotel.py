"""Spans and metrics sent with otlp_observer arrive at a real OTLP receiver (rotel's collector)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

import ecs
from ecs.trace import otlp_observer

from .conftest import Rotel

pytestmark = pytest.mark.integration


def test_rotel_receives_our_spans_and_metrics(rotel: Rotel, make_scheduler: Callable[..., ecs.Scheduler]) -> None:
    observer = otlp_observer(
        rotel.endpoint, export_interval=0.2, headers={"x-ecs-test": "1"}, service_name="ecs-integration"
    )
    with make_scheduler(observer) as sched:
        sched.run(3, 1 / 60)
    observer.shutdown()
    out = rotel.wait_for(
        "Name           : ecs.tick",
        "Name           : ecs.group:physics",
        "Name           : ecs.system:collide",
        "-> Name: ecs.ticks",
        "-> Name: ecs.tick.duration",
        "-> Name: ecs.group.duration",
        "-> Name: ecs.group.errors",
    )
    assert "-> service.name: Str(ecs-integration)" in out
    # span attributes and the error status of the failing group
    assert "-> ecs.group: Str(physics)" in out
    assert "-> ecs.result: Str(errored)" in out
    assert "Status code    : STATUS_CODE_ERROR" in out
    assert "Status message : RuntimeError: fizzled on tick 1" in out
    # three ticks: three tick spans, and a ticks counter that reached 3
    assert len(re.findall(r"Name\s+: ecs\.tick\n", out)) == 3
    assert "Unit: s" in out


def test_rotel_receives_metrics_only_when_spans_are_off(
    rotel: Rotel, make_scheduler: Callable[..., ecs.Scheduler]
) -> None:
    observer = otlp_observer(rotel.endpoint, spans=False, export_interval=0.2)
    with make_scheduler(observer) as sched:
        sched.run(2, 1 / 60)
    observer.shutdown()
    out = rotel.wait_for("-> Name: ecs.group.duration")
    assert "ResourceSpans" not in out
