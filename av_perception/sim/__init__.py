"""Deterministic forward-camera driving simulator (pure Python, numpy and OpenCV).

Typical use::

    from av_perception.sim import Simulator
    sim = Simulator('highway_curvy', seed=3)
    obs = sim.reset()
    for _ in range(200):
        obs = sim.step(None)          # None: the expert drives; or a DriveCommand
    print(sim.metrics())
"""

from av_perception.control_types import DriveCommand
from av_perception.sim.camera import CameraInfo, PinholeCamera
from av_perception.sim.config import preset_config, preset_names, SimConfig, SimulationError
from av_perception.sim.simulator import (DriveMetrics, EPOCH_NS, GroundTruth,
                                         GroundTruthObject, Observation, Simulator)

__all__ = [
    'CameraInfo', 'DriveCommand', 'DriveMetrics', 'EPOCH_NS', 'GroundTruth',
    'GroundTruthObject', 'Observation', 'PinholeCamera', 'preset_config', 'preset_names',
    'SimConfig', 'SimulationError', 'Simulator',
]
