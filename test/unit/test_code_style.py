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
    ament_pep257 = pytest.importorskip('ament_pep257.main')
    rc = ament_pep257.main(argv=PATHS)
    assert rc == 0, 'pep257 errors, see the output above'
