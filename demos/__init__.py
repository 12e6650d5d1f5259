"""Runnable demos of the ecs scheduler: ``python -m demos.boids``, ``demos.particles``, ``demos.asteroids``.

Each module exposes ``create_scheduler(seed=0, **options)`` (a fresh world and scheduler, no
window; what ``ecs-trace run demos.boids:create_scheduler`` calls) and ``main(argv)``. See
``docs/engine.md`` for the flags.
"""
