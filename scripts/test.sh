#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, then lints, type-checks
# and runs pytest (GUI tests included) under a virtual X screen with a branch-coverage gate.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: a virtual screen with Mesa for GUI tests, and Prometheus for the
# metrics integration test. Installed only when missing, and only as root.
# shellcheck source=scripts/_setup.sh
. scripts/_setup.sh
install_debs xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libegl-mesa0 libgles2 prometheus

[ -x .venv/bin/python ] || python3 -m venv .venv
pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
pip_quiet .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[all]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# pytest exits 5 when it collected no tests: that must fail CI, not pass it.
set +e
xvfb-run -a -s '-screen 0 1280x720x24' \
  .venv/bin/python -m pytest -p no:cacheprovider --timeout=300 \
  --cov --cov-report=term --cov-fail-under=85 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
