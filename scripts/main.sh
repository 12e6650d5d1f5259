#!/usr/bin/env bash
# The flagship demo (boids: 10,000 flocking agents, a synchronized movement group and an async
# analysis group). With a display it opens a window (P pauses, . steps, Esc quits). Without one
# it runs headless for 600 ticks (10 s of game time, a few seconds of real time), records a trace
# to out/boids.trace.jsonl.gz and prints its summary. Extra arguments go to the demo
# (python -m demos.boids --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

# Mesa's OpenGL/EGL drivers for the window (software rendering works without a GPU).
# Installed only when missing, and only as root.
# shellcheck source=scripts/_setup.sh
. scripts/_setup.sh
install_debs libgl1-mesa-dri libglx-mesa0 libegl1 libegl-mesa0 libgles2

[ -x .venv/bin/python ] || python3 -m venv .venv
# Install (editable) unless this checkout is already installed with its extras.
if ! { [ -x .venv/bin/ecs-trace ] && .venv/bin/python -c 'import arcade, imgui_bundle, opentelemetry.sdk' 2>/dev/null; }; then
  echo "installing the package into .venv (engine, profiler and telemetry extras)"
  pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[engine,profiler,telemetry]'
fi

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/python -m demos.boids "$@"
fi

mkdir -p out
trace=out/boids.trace.jsonl.gz
echo "no display: running the boids demo headless for 600 ticks, recording $trace"
.venv/bin/python -m demos.boids --headless --ticks 600 --record "$trace" "$@"
echo
.venv/bin/ecs-trace summary "$trace"
echo
echo "open the trace in the profiler: .venv/bin/ecs-profiler $trace"
