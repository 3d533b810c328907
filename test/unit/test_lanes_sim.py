"""The detector on short simulator drives (skipped when the simulator is not available)."""

import numpy as np
import pytest

from av_perception.lanes import CameraModel, LaneDetector, LaneDetectorConfig
from av_perception.lanes.tusimple import ABSENT, score_frame

sim = pytest.importorskip('av_perception.sim')


@pytest.mark.parametrize('preset', ['highway_curvy', 'shadows'])
def test_short_drive_meets_the_accuracy_targets(preset):
    simulator = sim.Simulator(preset, seed=4)
    obs = simulator.reset()
    info = obs.camera_info
    config = simulator.config
    detector = LaneDetector(
        LaneDetectorConfig(camera_height_m=config.camera_height_m,
                           camera_pitch_deg=config.camera_pitch_deg,
                           camera_x_m=config.camera_x_m),
        CameraModel.from_camera_info(info.width, info.height, info.k, info.d,
                                     info.distortion_model, info.p))
    accuracies, offset_errors = [], []
    for index in range(40):
        estimate = detector.process(obs.image, obs.stamp_ns)
        if index % 4 == 3:
            truth = obs.truth
            gt = [[float(x) if np.isfinite(x) and 0 <= x < info.width else ABSENT for x in xs]
                  for xs in (truth.left_x, truth.right_x)]
            rows = list(truth.h_samples)
            accuracies.append(score_frame(estimate.ego_rows(rows), gt, rows).accuracy)
            offset_errors.append(abs(estimate.lateral_offset_m - truth.lateral_offset_m))
        obs = simulator.step(None)
    assert np.mean(accuracies) >= 0.95
    assert np.median(offset_errors) <= 0.10
