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
debs=(libgl1-mesa-dri libglx-mesa0 libegl1 libegl-mesa0 libgles2)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: not root, cannot install ${missing[*]}; a window may fail to open (headless runs need none)" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# Install (editable) unless this checkout is already installed with its extras.
if ! { [ -x .venv/bin/ecs-trace ] && .venv/bin/python -c 'import arcade, imgui_bundle, opentelemetry.sdk' 2>/dev/null; }; then
  echo "installing the package into .venv (engine, profiler and telemetry extras)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[engine,profiler,telemetry]' 2>&1 \
    | grep -v '^WARNING: Location' || true
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
