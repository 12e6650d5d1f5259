"""``python -m ecs.cli ...`` is ``ecs-trace ...``."""

from . import main

raise SystemExit(main())
