"""The detector on the shared real frames (skipped without ../shared/assets)."""

import glob

import cv2
import numpy as np
import pytest

from av_perception.lanes import calibrate_chessboard, LaneDetector, LaneDetectorConfig
from av_perception.lanes.presets import load_camera_preset
from av_perception.lanes.tusimple import (default_h_samples, evaluate,
                                          lanes_from_instance_mask)
from av_perception.params import from_mapping

pytestmark = pytest.mark.assets


def detector_for(preset_name: str) -> LaneDetector:
    preset = load_camera_preset(preset_name)
    return LaneDetector(from_mapping(LaneDetectorConfig, preset.detector_overrides),
                        preset.camera)


def test_tusimple_ego_boundaries_meet_the_targets(asset):
    root = asset('lanes', 'tusimple_lanenet', 'training_data_example')
    detector = detector_for('tusimple')
    gt, pred = [], []
    for mask_path in sorted((root / 'gt_instance_image').glob('*.png')):
        name = f'image/{mask_path.name}'
        rows = default_h_samples(720)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        gt.append({'raw_file': name, 'h_samples': rows,
                   'lanes': lanes_from_instance_mask(mask, rows)})
        detector.reset()
        estimate = detector.process(cv2.imread(str(root / name)), 0)
        pred.append({'raw_file': name, 'lanes': estimate.ego_rows(rows)})
    assert len(gt) == 6
    score = evaluate(pred, gt, ego_only=True)
    assert score.accuracy >= 0.90
    assert score.false_positive <= 0.10


def test_udacity_advanced_frames_all_have_a_plausible_lane(asset):
    paths = sorted(glob.glob(str(asset('lanes', 'udacity_advanced', 'test_images') / '*.jpg')))
    assert len(paths) == 8
    detector = detector_for('udacity_advanced')
    for path in paths:  # includes the light concrete bridge frames test1, test4, test5
        detector.reset()
        estimate = detector.process(cv2.imread(path), 0)
        assert estimate.valid, path
        assert 3.2 < estimate.lane_width_m < 4.2, path
        assert abs(estimate.lateral_offset_m) < 0.8, path
        assert abs(estimate.curvature_per_m) < 1 / 150, path


def test_udacity_video_has_a_lane_in_every_frame(asset):
    capture = cv2.VideoCapture(str(asset('lanes', 'udacity_p1', 'solidWhiteRight.mp4')))
    detector = detector_for('udacity_p1')
    offsets = []
    for index in range(60):
        ok, frame = capture.read()
        assert ok
        estimate = detector.process(frame, index * 40_000_000)
        assert estimate.valid, index
        offsets.append(estimate.lateral_offset_m)
    capture.release()
    assert np.abs(np.diff(offsets)).max() < 0.1  # steady, no jumps between frames


def test_calibration_of_the_udacity_camera(asset):
    paths = sorted(glob.glob(str(asset('lanes', 'udacity_advanced', 'camera_cal') / '*.jpg')))
    result = calibrate_chessboard(((p, cv2.imread(p)) for p in paths), (9, 6))
    k, d = result.camera.k, result.camera.d
    assert len(result.used_images) >= 15 and result.rms_px < 1.5
    assert 1100 < k[0, 0] < 1200 and -0.3 < d[0] < -0.2
