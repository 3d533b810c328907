"""ament_python package definition of av_perception."""

from glob import glob
import os
import runpy

from setuptools import find_packages, setup

PACKAGE = 'av_perception'

# Executables for `ros2 run av_perception <name>`, from the one table the launch runner and its
# tests also read (read as a file: setup.py must not import the package).
CONSOLE_SCRIPTS = runpy.run_path(os.path.join(PACKAGE, 'entry_points.py'))['CONSOLE_SCRIPTS']


def data_tree(target: str, source: str) -> list:
    """Return data_files entries installing every file below ``source`` into share/."""
    entries = []
    for directory, _, files in os.walk(source):
        paths = [os.path.join(directory, f) for f in files if not f.endswith('.pyc')]
        if paths:
            entries.append((os.path.join('share', PACKAGE, target,
                                         os.path.relpath(directory, source)), paths))
    return entries


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['detection/*.txt']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.xml')),
    ] + data_tree('config', 'config') + data_tree('models', 'models')
      + data_tree('interfaces', 'tools/interfaces'),
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='av_perception maintainers',
    maintainer_email='maintainers@av-perception.dev',
    description='Camera perception for ROS 2: lanes, objects, temporal control, bags.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [f'{name} = {target}' for name, target in CONSOLE_SCRIPTS.items()],
    },
)
