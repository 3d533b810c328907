"""Open-loop evaluation: predictions through the graphs and the error report."""

import math

from control_fixtures import EPOCH_NS, make_onnx_controller, synthetic_drive_frames
import numpy as np
import pytest

from av_perception.control.controller import TemporalController
from av_perception.control.evaluation import open_loop_report, predict_drive
from av_perception.control.preprocess import crop_and_resize


def test_report_against_the_constant_baseline():
    steering = np.array([0.0, 0.1, -0.1, 0.2])
    speed = np.array([10.0, 12.0, np.nan, 14.0])
    predicted = np.stack([steering + 0.01, np.nan_to_num(speed, nan=0.0) + 1.0], axis=1)
    report = open_loop_report(predicted, steering, speed, baseline_steering=0.05)
    assert report.steering_rmse_rad == pytest.approx(0.01)
    assert report.baseline_steering_rmse_rad == pytest.approx(
        math.sqrt(np.mean((steering - 0.05) ** 2)))
    assert report.steering_rmse_ratio == pytest.approx(0.01 / report.baseline_steering_rmse_rad)
    assert report.speed_rmse_mps == pytest.approx(1.0)  # NaN labels are left out
    assert report.baseline_speed_mps == pytest.approx(12.0)
    no_speed = open_loop_report(predicted, steering, np.full(4, np.nan))
    assert no_speed.to_dict()['speed_rmse_mps'] is None
    assert no_speed.baseline_steering_rad == pytest.approx(np.mean(steering))


def test_batched_prediction_equals_the_online_controller(tmp_path):
    directory = make_onnx_controller(tmp_path / 'm', history_length=3)
    frames = synthetic_drive_frames(20, seed=4)[0]
    stamps = EPOCH_NS + np.arange(20) * 50_000_000
    stamps[12:] -= 10 * 50_000_000  # a time jump back resets both the same way
    controller = TemporalController.from_dir(directory)
    online = [controller.step(f, int(s)) for f, s in zip(frames, stamps)]
    pixels = np.stack([crop_and_resize(f, controller.model.metadata.input) for f in frames])
    batched = predict_drive(controller.model, pixels, stamps_ns=stamps, batch_size=7)
    assert np.allclose(batched[:, 0], [r.raw_steering_rad for r in online], atol=1e-6)
    assert np.allclose(batched[:, 1], [r.raw_speed_mps for r in online], atol=1e-5)
