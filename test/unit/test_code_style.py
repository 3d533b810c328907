"""The ament linters a ROS 2 package runs in `colcon test`: flake8 (99 columns) and pep257.

flake8 runs with ament_flake8's rules as set in setup.cfg (the same file editors read).
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT / name) for name in ('av_perception', 'test', 'benchmarks', 'tools', 'setup.py')
         if (ROOT / name).exists()]


@pytest.mark.linter
def test_flake8():
    ament_flake8 = pytest.importorskip('ament_flake8.main')
    rc, errors = ament_flake8.main_with_errors(argv=['--config', str(ROOT / 'setup.cfg')] + PATHS)
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    """PEP 257 proper (summary on the first line); public API of the package documented."""
    ament_pep257 = pytest.importorskip('ament_pep257.main')
    package = [p for p in PATHS if p.endswith('av_perception')]
    rest = [p for p in PATHS if not p.endswith('av_perception')]
    # paths first: --add-ignore takes every argument after it
    rc_package = ament_pep257.main(argv=[*package, '--convention', 'pep257',
                                         '--add-ignore', 'D105', 'D107'])
    rc_rest = ament_pep257.main(argv=[*rest, '--convention', 'pep257', '--add-ignore', 'D100',
                                      'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107'])
    assert rc_package == 0 and rc_rest == 0, 'pep257 errors, see the output above'
