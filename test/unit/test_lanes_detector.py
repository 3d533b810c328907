"""The lane detector on synthetic frames with exact ground truth."""

import dataclasses
import math

import cv2
import numpy as np
import pytest

from av_perception.lanes import LaneDetector, LaneError, render_birdseye, render_overlay
from av_perception.lanes.estimate import ABSENT
from av_perception.lanes.synthetic import render_road_scene, RoadScene

OFFSET_TOLERANCE_M = 0.05
HEADING_TOLERANCE_RAD = math.radians(0.3)


def detect(scene: RoadScene, **overrides):
    """Render one scene and run a fresh detector with the scene's own camera and mounting."""
    image, truth = render_road_scene(scene)
    detector = LaneDetector(scene.detector_config(**overrides), scene.camera())
    return detector.process(image, 0), truth, detector, image


def truth_columns(scene: RoadScene, coefficients, rows):
    """Return the true image column of a boundary at each row (NaN outside its extent)."""
    xs = np.geomspace(4.0, 40.0, 400)
    pixels = scene.projection().ground_to_image(
        np.column_stack([xs, coefficients[0] + coefficients[1] * xs + coefficients[2] * xs ** 2]))
    order = np.argsort(pixels[:, 1])
    v, u = pixels[order, 1], pixels[order, 0]
    return np.where((rows >= v[0]) & (rows <= v[-1]), np.interp(rows, v, u), np.nan)


@pytest.mark.parametrize('offset, heading_deg', [(0.0, 0.0), (0.35, 1.0), (-0.5, -1.5)])
def test_straight_lane_offset_heading_curvature(offset, heading_deg):
    scene = RoadScene(lateral_offset_m=offset, heading_error_rad=math.radians(heading_deg))
    estimate, truth, _, _ = detect(scene)
    assert estimate.valid and not estimate.left.inferred and not estimate.right.inferred
    assert estimate.lateral_offset_m == pytest.approx(truth.lateral_offset_m,
                                                      abs=OFFSET_TOLERANCE_M)
    assert estimate.heading_error_rad == pytest.approx(truth.heading_error_rad,
                                                       abs=HEADING_TOLERANCE_RAD)
    assert abs(estimate.curvature_per_m) < 3e-4
    assert estimate.lane_width_m == pytest.approx(3.6, abs=0.1)
    assert 0.5 < estimate.confidence <= 1.0


@pytest.mark.parametrize('curvature', [1 / 250, -1 / 250, 1 / 600])
def test_curved_lane_curvature(curvature):
    scene = RoadScene(curvature_per_m=curvature, lateral_offset_m=0.2)
    estimate, truth, _, _ = detect(scene)
    assert estimate.valid
    assert estimate.curvature_per_m == pytest.approx(curvature, rel=0.12)
    assert estimate.lateral_offset_m == pytest.approx(0.2, abs=OFFSET_TOLERANCE_M)
    assert estimate.heading_error_rad == pytest.approx(0.0, abs=HEADING_TOLERANCE_RAD)
    # the metric boundaries follow the true ones over the view
    xs = np.linspace(6.0, 35.0, 8)
    left = truth.left[0] + truth.left[1] * xs + truth.left[2] * xs ** 2
    assert np.abs(estimate.left.lateral_at(xs) - left).max() < 0.15


def test_pixel_boundaries_match_the_true_image_columns():
    scene = RoadScene(lateral_offset_m=0.3, curvature_per_m=1 / 400)
    estimate, truth, _, _ = detect(scene)
    rows = np.arange(200, 360, 10)
    predicted = np.array(estimate.ego_rows(rows))
    for side, coefficients in ((0, truth.left), (1, truth.right)):
        expected = truth_columns(scene, coefficients, rows)
        inside = np.isfinite(expected) & (expected >= 0) & (expected < scene.width)
        assert np.all(predicted[side][inside] >= 0)
        assert np.abs(predicted[side][inside] - expected[inside]).max() < 4.0
    # rows above the vanishing point never get a boundary
    assert estimate.ego_rows([5])[0] == [ABSENT]


def test_light_concrete_yellow_line_and_shadows():
    scene = RoadScene(road_grey=185.0, lateral_offset_m=-0.2,
                      shadows=((7.0, 9.5, 0.4), (14.0, 18.0, 0.45), (26.0, 27.0, 0.5)))
    estimate, truth, _, _ = detect(scene)
    assert estimate.valid and not estimate.left.inferred
    assert estimate.lateral_offset_m == pytest.approx(-0.2, abs=0.08)


def test_worn_paint_is_still_found():
    scene = RoadScene(paint_contrast=0.35, right_marking='solid', lateral_offset_m=0.1)
    estimate, _, _, _ = detect(scene)
    assert estimate.valid
    assert estimate.lateral_offset_m == pytest.approx(0.1, abs=OFFSET_TOLERANCE_M)


def test_one_visible_boundary_infers_the_other_with_lower_confidence():
    scene = RoadScene(right_marking='none', lateral_offset_m=0.2)
    estimate, truth, _, _ = detect(scene)
    assert not estimate.left.inferred and estimate.right.inferred
    assert estimate.right.confidence < estimate.left.confidence
    assert estimate.right.lateral_at(15.0) == pytest.approx(
        truth.right[0] + 15.0 * truth.right[1], abs=0.15)
    assert estimate.valid  # still a usable lane: the inferred side is confident enough


def test_no_markings_gives_no_lane():
    scene = RoadScene(left_marking='none', right_marking='none')
    estimate, _, _, _ = detect(scene)
    assert not estimate.valid and not estimate.left.present and not estimate.right.present
    assert math.isnan(estimate.lateral_offset_m) and estimate.confidence == 0.0
    assert estimate.ego_rows([300, 350]) == [[ABSENT, ABSENT], [ABSENT, ABSENT]]


def test_lens_distortion_is_undone():
    scene = RoadScene(distortion=(-0.22, 0.05, 0.0, 0.0, 0.0), lateral_offset_m=0.3,
                      curvature_per_m=1 / 500)
    estimate, truth, _, _ = detect(scene)
    assert estimate.valid
    assert estimate.lateral_offset_m == pytest.approx(0.3, abs=OFFSET_TOLERANCE_M)
    assert estimate.curvature_per_m == pytest.approx(1 / 500, rel=0.2)


def test_four_point_bev_calibration():
    scene = RoadScene(lateral_offset_m=0.25, heading_error_rad=math.radians(0.5))
    ground = np.array([[8.0, 1.8], [30.0, 1.8], [8.0, -1.8], [30.0, -1.8]])
    image_points = scene.projection().ground_to_image(ground)
    estimate, truth, _, _ = detect(
        scene, ground_points_image_px=tuple(image_points.ravel().tolist()),
        ground_points_m=tuple(ground.ravel().tolist()),
        ground_points_image_size=(scene.width, scene.height))
    assert estimate.valid
    assert estimate.lateral_offset_m == pytest.approx(0.25, abs=OFFSET_TOLERANCE_M)
    assert estimate.heading_error_rad == pytest.approx(truth.heading_error_rad,
                                                       abs=HEADING_TOLERANCE_RAD)


def test_pitch_error_is_estimated_from_lane_parallelism():
    scene = RoadScene(camera_pitch_deg=3.8, lateral_offset_m=0.3, right_marking='solid')
    estimate, _, _, _ = detect(scene, camera_pitch_deg=3.0)
    assert math.degrees(estimate.pitch_offset_rad) == pytest.approx(0.8, abs=0.1)
    assert estimate.lateral_offset_m == pytest.approx(0.3, abs=OFFSET_TOLERANCE_M)
    assert abs(estimate.curvature_per_m) < 5e-4
    plain, _, _, _ = detect(scene, camera_pitch_deg=3.0, estimate_pitch=False)
    assert plain.pitch_offset_rad == 0.0


def test_image_size_changes_and_new_camera_models():
    scene = RoadScene(lateral_offset_m=0.3)
    small, _ = render_road_scene(scene)
    big, _ = render_road_scene(scene.replace(width=1280, height=720))
    detector = LaneDetector(scene.detector_config(), scene.camera())
    first = detector.process(small, 0)
    second = detector.process(big, 40_000_000)  # intrinsics scale with the image
    assert second.image_size == (1280, 720)
    assert second.lateral_offset_m == pytest.approx(first.lateral_offset_m, abs=0.05)
    view = detector.birdseye
    detector.set_camera(scene.replace(horizontal_fov_deg=70.0).camera())
    assert detector.birdseye is None  # rebuilt at the next frame
    detector.process(big, 80_000_000)
    assert detector.birdseye is not view
    with pytest.raises(LaneError, match='CameraModel'):
        detector.set_camera('camera.yaml')


@pytest.mark.parametrize('image, message', [
    (None, 'numpy array'),
    ([[0, 1], [2, 3]], 'numpy array'),
    (np.zeros((360, 640, 3), np.float32), 'dtype float32'),
    (np.zeros((360, 640, 2), np.uint8), 'shape'),
    (np.zeros((0, 0, 3), np.uint8), 'at least'),
    (np.zeros((20, 640, 3), np.uint8), 'at least'),
])
def test_bad_images_raise_a_clear_error(image, message):
    detector = LaneDetector(RoadScene().detector_config())
    with pytest.raises(LaneError, match=message):
        detector.process(image, 0)


def test_grey_and_bgra_images_are_accepted():
    image, _ = render_road_scene(RoadScene(left_colour='white'))
    detector = LaneDetector(RoadScene().detector_config(), RoadScene().camera())
    assert detector.process(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 0).valid
    assert detector.process(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), 1).valid


def test_estimate_is_frozen_and_its_arrays_read_only():
    estimate, _, _, _ = detect(RoadScene())
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate.lateral_offset_m = 0.0
    with pytest.raises(ValueError):
        estimate.left.points_m[0, 0] = 1.0
    points = estimate.center.points_m
    assert points.shape[1] == 2 and np.all(np.diff(points[:, 0]) > 0)
    assert estimate.center.points_px.shape[1] == 2


def test_overlay_and_birdseye_drawings():
    estimate, _, detector, image = detect(RoadScene())
    before = image.copy()
    overlay = render_overlay(image, estimate, detector.last_debug)
    assert np.array_equal(image, before)  # the input is not drawn on
    assert overlay.shape == image.shape and not np.array_equal(overlay, image)
    view = render_birdseye(detector.last_debug, estimate)
    assert view.shape == detector.last_debug.bev.shape
    empty = render_overlay(image, detect(RoadScene(left_marking='none',
                                                   right_marking='none'))[0])
    assert empty.shape == image.shape
