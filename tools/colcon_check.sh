#!/usr/bin/env bash
# Build the package with colcon into a scratch workspace and check that launch files, config,
# models and interface definitions are installed into share/av_perception.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export VIRTUAL_ENV="$(cd "$VENV" && pwd)"
export PATH="$VIRTUAL_ENV/bin:$PATH"
WS=$(mktemp -d)
trap 'rm -rf "$WS"' EXIT
mkdir -p "$WS/src"
ln -s "$(pwd)" "$WS/src/av_perception"
(cd "$WS" && AMENT_PREFIX_PATH="$VIRTUAL_ENV" colcon --log-base log build \
  --base-paths src --packages-select av_perception > build.log 2>&1) \
  || { tail -40 "$WS/build.log"; exit 1; }
SHARE="$WS/install/av_perception/share/av_perception"
LIB="$WS/install/av_perception/lib/av_perception"
missing=0
for f in package.xml $(cd . && ls launch/*.xml config/*.yaml 2>/dev/null) \
         interfaces/vision_msgs/msg/Detection2DArray.msg \
         interfaces/ackermann_msgs/msg/AckermannDriveStamped.msg; do
  [ -e "$SHARE/$f" ] || { echo "colcon check: $SHARE/$f missing"; missing=1; }
done
for exe in $("$VENV/bin/python" -c 'import runpy
print(" ".join(runpy.run_path("av_perception/entry_points.py")["CONSOLE_SCRIPTS"]))'); do
  [ -x "$LIB/$exe" ] || { echo "colcon check: executable $LIB/$exe missing"; missing=1; }
done
[ -e "$WS/install/av_perception/share/ament_index/resource_index/packages/av_perception" ] \
  || { echo "colcon check: ament index marker missing"; missing=1; }
# the installed package imports and its installed typestore finds the interface definitions
(cd "$WS" && PYTHONPATH="$WS/install/av_perception/lib/python3.11/site-packages" \
  "$VIRTUAL_ENV/bin/python" - <<'PYEOF') || missing=1
import av_perception.bag.typestore as t, sys
dirs = t.interface_dirs()
assert any('share/av_perception/interfaces' in str(d) for d in dirs), dirs
PYEOF
[ "$missing" = 0 ] && echo "colcon check: build ok, share/av_perception and lib/av_perception complete"
exit $missing
