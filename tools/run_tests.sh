#!/usr/bin/env bash
# The whole suite as CI runs it: colcon build check, then unit, ros, system and launch tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
export PYTHONUNBUFFERED=1
echo "== colcon build check"
VENV=$VENV tools/colcon_check.sh
echo "== pytest"
exec "$PY" -m pytest test -q -p no:cacheprovider --durations=20 "$@"
