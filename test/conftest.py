"""Shared test setup: an isolated ROS 2 domain per test run and access to the shared assets."""

import os
from pathlib import Path

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
