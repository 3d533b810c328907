"""Classic lane detection: pure numpy + OpenCV, no ROS.

Typical use (what the ROS node does)::

    detector = LaneDetector(config, camera=CameraModel.load_yaml('camera.yaml'))
    estimate = detector.process(bgr_image, stamp_ns)     # -> LaneEstimate (frozen)
    debug_image = render_overlay(bgr_image, estimate)
"""

from av_perception.lanes.camera import (
    calibrate_chessboard, CalibrationResult, CameraModel, Undistorter)
from av_perception.lanes.config import LaneDetectorConfig, LaneDetectorNodeConfig
from av_perception.lanes.detector import LaneDetector
from av_perception.lanes.errors import LaneError
from av_perception.lanes.estimate import LaneCurve, LaneEstimate
from av_perception.lanes.geometry import BirdsEyeView, GroundProjection
from av_perception.lanes.overlay import render_birdseye, render_overlay

__all__ = [
    'BirdsEyeView', 'CalibrationResult', 'CameraModel', 'GroundProjection', 'LaneCurve',
    'LaneDetector', 'LaneDetectorConfig', 'LaneDetectorNodeConfig', 'LaneError', 'LaneEstimate',
    'Undistorter', 'calibrate_chessboard', 'render_birdseye', 'render_overlay',
]
