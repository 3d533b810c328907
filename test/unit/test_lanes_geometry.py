"""Flat-ground geometry: projections, bird's-eye view, mounting and pitch estimation."""

import math

import cv2
import numpy as np
import pytest

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.errors import LaneError
from av_perception.lanes.geometry import (BirdsEyeView, estimate_mounting_from_lines,
                                          GroundProjection, mounting_rotation)
from av_perception.lanes.pitch import correct_ground_points, estimate_pitch_offset

CAMERA = CameraModel.pinhole(640, 360, 60.0)
DISTORTED = CameraModel(640, 360, CAMERA.camera_matrix, (-0.2, 0.04, 0.0, 0.0, 0.0))


def project_directly(camera, points, height, pitch, yaw=0.0, roll=0.0, x=0.0, y=0.0):
    """Project road points with cv2.projectPoints from an explicit camera pose."""
    rotation = mounting_rotation(pitch, yaw, roll)
    position = np.array([x, y, height])
    world = np.column_stack([points, np.zeros(len(points))])
    rvec, _ = cv2.Rodrigues(rotation)
    tvec = -rotation @ position
    pixels, _ = cv2.projectPoints(world, rvec, tvec, camera.k, camera.d)
    return pixels.reshape(-1, 2)


def test_mounting_rotation_axes():
    # level camera: forward is optical z, left is optical -x, up is optical -y
    rotation = mounting_rotation(0.0)
    assert np.allclose(rotation @ [1, 0, 0], [0, 0, 1])
    assert np.allclose(rotation @ [0, 1, 0], [-1, 0, 0])
    assert np.allclose(rotation @ [0, 0, 1], [0, -1, 0])
    # pitched down by 10 deg: the forward direction appears above the optical axis
    down = mounting_rotation(math.radians(10.0)) @ [1, 0, 0]
    assert down[1] < 0 and down[1] / down[2] == pytest.approx(-math.tan(math.radians(10.0)))


@pytest.mark.parametrize('camera', [CAMERA, DISTORTED], ids=['pinhole', 'plumb_bob'])
def test_ground_projection_matches_cv2_and_round_trips(camera):
    pose = {'height': 1.4, 'pitch': math.radians(4.0), 'yaw': math.radians(1.5),
            'roll': math.radians(0.5), 'x': 1.6, 'y': 0.2}
    projection = GroundProjection.from_mounting(camera, pose['height'], pose['pitch'],
                                                pose['yaw'], pose['roll'], pose['x'],
                                                pose['y'])
    points = np.array([[6.0, 1.8], [10.0, -1.7], [25.0, 0.0], [40.0, 2.0], [8.0, -3.0]])
    pixels = projection.ground_to_image(points)
    assert np.allclose(pixels, project_directly(camera, points, **pose), atol=1e-6)
    assert np.allclose(projection.image_to_ground(pixels), points, atol=1e-3)


def test_invisible_points_are_nan():
    projection = GroundProjection.from_mounting(DISTORTED, 1.4, math.radians(4.0))
    behind, sideways = [-5.0, 0.0], [3.0, 30.0]  # behind the camera; far outside the view
    pixels = projection.ground_to_image(np.array([behind, sideways, [10.0, 0.0]]))
    assert np.isnan(pixels[:2]).all() and np.isfinite(pixels[2]).all()
    sky = projection.image_to_ground(np.array([[320.0, 10.0]]))
    assert np.isnan(sky).all()
    assert projection.horizon_row() == pytest.approx(
        180.0 - CAMERA.k[1, 1] * math.tan(math.radians(4.0)), abs=1e-6)


def test_four_point_calibration_equals_the_mounting_it_came_from():
    mounted = GroundProjection.from_mounting(DISTORTED, 1.3, math.radians(3.0),
                                             math.radians(-1.0))
    ground = np.array([[8.0, 1.8], [30.0, 1.8], [8.0, -1.8], [30.0, -1.8]])
    pairs = GroundProjection.from_point_pairs(DISTORTED, mounted.ground_to_image(ground),
                                              ground)
    probe = np.array([[12.0, 0.3], [20.0, -2.5], [35.0, 1.0]])
    assert np.allclose(pairs.ground_to_image(probe), mounted.ground_to_image(probe), atol=1e-4)
    with pytest.raises(LaneError, match='need >= 4'):
        GroundProjection.from_point_pairs(CAMERA, ground[:3], ground[:3])


def test_projection_errors():
    with pytest.raises(LaneError, match='height'):
        GroundProjection.from_mounting(CAMERA, 0.0, 0.1)
    with pytest.raises(LaneError, match='singular'):
        GroundProjection(np.zeros((3, 3)), CAMERA)
    with pytest.raises(LaneError, match='3x3'):
        GroundProjection(np.eye(2), CAMERA)


def test_birdseye_view_puts_a_road_point_at_its_metric_pixel():
    projection = GroundProjection.from_mounting(DISTORTED, 1.5, math.radians(3.0))
    view = BirdsEyeView(projection, 3.0, 40.0, 4.0, 0.05, 0.25)
    rows, cols = view.shape
    assert cols == 160 and rows == int(math.ceil((40.0 - view.near_m) / 0.25))
    assert view.near_m > 3.0  # raised to the first road row the image shows
    # paint a dot in the raw image where (20 m, -1 m) is, find it in the view
    image = np.zeros((360, 640), np.uint8)
    u, v = projection.ground_to_image(np.array([[20.0, -1.0]]))[0]
    cv2.circle(image, (int(round(u)), int(round(v))), 2, 255, -1)
    top = view.warp(image).astype(np.float64)
    rows_, cols_ = np.mgrid[0:rows, 0:cols]
    # the dot covers ~2 m of road along x at 20 m (one image row is ~0.5 m): use its centroid
    row, col = (top * rows_).sum() / top.sum(), (top * cols_).sum() / top.sum()
    assert np.interp(row, np.arange(rows), view.x_of_row) == pytest.approx(20.0, abs=0.3)
    assert np.interp(col, np.arange(cols), view.y_of_col) == pytest.approx(-1.0, abs=0.05)
    expected = view.ground_to_view(np.array([[20.0, -1.0]]))[0]
    assert abs(expected[0] - col) <= 1 and abs(expected[1] - row) <= 1.5
    assert view.valid[int(row), int(col)] and not view.valid[-1, 0]  # near corner: off image


def test_birdseye_view_errors():
    projection = GroundProjection.from_mounting(CAMERA, 1.5, math.radians(3.0))
    with pytest.raises(LaneError, match='empty'):
        BirdsEyeView(projection, 3.0, 4.0, 4.0, 0.05, 0.25)
    looking_up = GroundProjection.from_mounting(CAMERA, 1.5, math.radians(-40.0))
    with pytest.raises(LaneError, match='does not see the road'):
        BirdsEyeView(looking_up, 3.0, 40.0, 4.0, 0.05, 0.25)
    with pytest.raises(LaneError, match='ignore_bottom_rows'):
        BirdsEyeView(projection, 3.0, 40.0, 4.0, 0.05, 0.25, ignore_bottom_rows=300)


def test_mounting_estimate_from_two_lane_lines():
    truth = {'pitch': 3.0, 'yaw': -1.2, 'height': 1.35}
    projection = GroundProjection.from_mounting(DISTORTED, truth['height'],
                                                math.radians(truth['pitch']),
                                                math.radians(truth['yaw']))
    left = projection.ground_to_image(np.array([[7.0, 1.85], [15.0, 1.85], [30.0, 1.85]]))
    right = projection.ground_to_image(np.array([[7.0, -1.85], [20.0, -1.85]]))
    estimate = estimate_mounting_from_lines(DISTORTED, left, right, 3.7)
    assert estimate['pitch_deg'] == pytest.approx(truth['pitch'], abs=0.01)
    assert estimate['yaw_deg'] == pytest.approx(truth['yaw'], abs=0.01)
    assert estimate['height_m'] == pytest.approx(truth['height'], abs=0.005)
    with pytest.raises(LaneError, match='parallel in the image'):
        estimate_mounting_from_lines(CAMERA, [[0, 300], [10, 200]], [[100, 300], [110, 200]],
                                     3.7)


def test_pitch_correction_maps_view_points_to_true_road_points():
    # the camera really looks 0.8 deg further down than configured
    true_pitch, configured = math.radians(4.3), math.radians(3.5)
    pose = (1.6, 0.0, 1.4)  # camera x, y, height
    true = GroundProjection.from_mounting(CAMERA, 1.4, true_pitch, x_m=1.6)
    assumed = GroundProjection.from_mounting(CAMERA, 1.4, configured, x_m=1.6)
    road = np.array([[8.0, 1.8], [20.0, -1.8], [35.0, 1.8]])
    view = assumed.image_to_ground(true.ground_to_image(road))
    xs, ys = correct_ground_points(view[:, 0], view[:, 1], true_pitch - configured, 0.0, pose)
    assert np.allclose(np.column_stack([xs, ys]), road, atol=1e-6)
    back = correct_ground_points(xs, ys, configured - true_pitch, 0.0, pose)
    assert np.allclose(np.column_stack(back), view, atol=1e-6)
    # the offset that makes two parallel lines parallel again is the pitch error
    line = np.linspace(8.0, 38.0, 12)
    sides = []
    for lateral in (1.8, -1.8):
        seen = assumed.image_to_ground(true.ground_to_image(
            np.column_stack([line, np.full_like(line, lateral)])))
        sides.append((seen[:, 0], seen[:, 1]))
    offset = estimate_pitch_offset(sides[0], sides[1], 0.0, pose)
    assert offset == pytest.approx(true_pitch - configured, abs=math.radians(0.02))
    assert estimate_pitch_offset((line[:2], line[:2]), sides[1], 0.0, pose) is None
