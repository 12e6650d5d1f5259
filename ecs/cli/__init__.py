"""The ``ecs-trace`` command line tool (see :mod:`ecs.cli._main` and ``ecs-trace --help``).

``main(argv)`` runs it in-process and returns the exit code, so scripts and tests can call it
without a subprocess::

    from ecs.cli import main

    code = main(["summary", "run.trace.jsonl.gz", "--json"])
"""

from ._main import main as main

__all__ = ["main"]
