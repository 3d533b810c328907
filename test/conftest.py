"""Shared test setup: an isolated ROS 2 domain per test run and access to the shared assets."""

import os
from pathlib import Path
import threading
import time

import pytest

# Every test process gets its own DDS domain so parallel runs never cross-talk; discovery stays
# on this host; large images need FastDDS' LARGE_DATA transport. Set before rclpy is imported.
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 200))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
os.environ.pop('ROS_PYTHON_CHECK_FIELDS', None)

REPO_ROOT = Path(__file__).resolve().parent.parent


def require_asset(*parts: str) -> Path:
    """Return the path of a shared asset or skip the test with the reason."""
    from av_perception.assets import asset_path, ASSETS_ENV
    path = asset_path(*parts)
    if not path.exists():
        pytest.skip(f'shared asset {path} not available (set {ASSETS_ENV} to its folder)')
    return path


@pytest.fixture(scope='session')
def asset():
    """Return :func:`require_asset` (a test asks for a shared asset, or is skipped)."""
    return require_asset


@pytest.fixture
def repo_root() -> Path:
    """Return the repository root."""
    return REPO_ROOT


@pytest.fixture(scope='module')
def ros_node():
    """Provide an rclpy node spun in a background thread for the whole test module."""
    rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    from rclpy.executors import SingleThreadedExecutor
    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'test_probe_{os.getpid()}', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown(timeout_sec=2.0)
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    thread.join(timeout=2.0)


def _wait_until(predicate, timeout: float) -> bool:
    """Return once ``predicate()`` holds (True) or ``timeout`` seconds passed (False).

    For graph state that no callback signals (discovery, a process's diagnostics): checked
    every 50 ms.
    """
    event = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        event.wait(0.05)
    return True


@pytest.fixture
def wait_until():
    """Provide :func:`_wait_until` (predicate, timeout) -> bool."""
    return _wait_until
