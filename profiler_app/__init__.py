"""ecs-profiler: a desktop profiler for ecs schedulers, built on imgui-bundle.

It reads recorded trace files and follows live streams (the schema of ``ecs.trace``) and
shows a frame graph, per-tick timelines, a contention heatmap, queue depths, statistics and a
comparison of two captures. Start it with ``ecs-profiler run.trace.jsonl.gz`` or
``ecs-profiler --connect 127.0.0.1:7777``; the guide is ``docs/profiler.md``.

Layout of the package (a GUI is one state object plus draw functions):

* ``_data``: plain functions behind the views (level of detail, binning, statistics,
  contention, queue depths, compare, the live rolling window), tested without a window;
* ``_loader``, ``_live``, ``_replay``: background loading, the live connection, replay;
* ``_state``: the one :class:`ProfilerState`;
* ``_views``: ``draw_*(state)`` functions; ``_app``: the window, docking, menus.

It imports only the trace schema and readers from ``ecs`` (never the scheduler), and ``ecs``
never imports it.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``ecs-profiler`` (see :mod:`profiler_app.__main__`)."""
    from .__main__ import main as _main

    return _main(argv)
