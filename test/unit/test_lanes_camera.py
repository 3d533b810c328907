"""Camera model, camera_info YAML, undistortion and chessboard calibration (synthetic boards)."""

import math

import cv2
import numpy as np
import pytest
import yaml

from av_perception.lanes.camera import (calibrate_chessboard, CameraModel, EQUIDISTANT,
                                        find_chessboard, Undistorter)
from av_perception.lanes.errors import LaneError
from av_perception.lanes.synthetic import camera_rays, render_chessboard

K_640 = (500.0, 0.0, 322.0, 0.0, 502.0, 238.0, 0.0, 0.0, 1.0)


POSES = [
    ((0.10, -0.15, 0.02), (-0.13, -0.08, 0.55)),
    ((-0.25, 0.20, 0.10), (-0.16, -0.10, 0.60)),
    ((0.30, 0.25, -0.05), (-0.10, -0.12, 0.65)),
    ((-0.15, -0.30, 0.15), (-0.20, -0.05, 0.58)),
    ((0.35, -0.10, 0.30), (-0.12, -0.12, 0.62)),
    ((0.05, 0.35, -0.20), (-0.18, -0.06, 0.57)),
    ((-0.30, -0.05, -0.10), (-0.05, -0.15, 0.66)),
    ((0.20, 0.10, 0.40), (-0.14, -0.02, 0.52)),
]


@pytest.fixture(scope='module')
def distorted_camera():
    return CameraModel(640, 480, K_640, (-0.18, 0.05, 0.0, 0.0, 0.0), camera_name='truth')


@pytest.fixture(scope='module')
def board_views(distorted_camera):
    rays = camera_rays(distorted_camera)
    return [(f'view{i}', render_chessboard(distorted_camera, rays, r, t))
            for i, (r, t) in enumerate(POSES)]


def test_calibration_recovers_synthetic_intrinsics(board_views, distorted_camera):
    result = calibrate_chessboard(board_views, (9, 6), 0.03, camera_name='front')
    k, d = result.camera.k, result.camera.d
    assert len(result.used_images) == len(POSES) and not result.rejected_images
    assert result.rms_px < 0.3
    assert k[0, 0] == pytest.approx(500.0, rel=0.01)
    assert k[1, 1] == pytest.approx(502.0, rel=0.01)
    assert k[0, 2] == pytest.approx(322.0, abs=4.0)
    assert k[1, 2] == pytest.approx(238.0, abs=4.0)
    assert d[0] == pytest.approx(-0.18, abs=0.03)
    assert result.camera.camera_name == 'front'
    assert result.camera.projection_matrix  # P from getOptimalNewCameraMatrix(alpha=0)


def test_calibration_rejects_views_without_a_board(board_views):
    blank = np.full((480, 640, 3), 128, np.uint8)
    views = board_views[:3] + [('blank', blank)]
    result = calibrate_chessboard(views, (9, 6), 0.03)
    assert result.rejected_images == ('blank',)
    with pytest.raises(LaneError, match='found in 0 image'):
        calibrate_chessboard([('a', blank), ('b', blank), ('c', blank)], (9, 6))


def test_calibration_input_errors(board_views):
    with pytest.raises(LaneError, match='board'):
        calibrate_chessboard(board_views, (1, 6))
    with pytest.raises(LaneError, match='square_size_m'):
        calibrate_chessboard(board_views, (9, 6), square_size_m=0.0)
    with pytest.raises(LaneError, match='differs from the first image'):
        calibrate_chessboard([board_views[0], ('small', np.zeros((240, 320, 3), np.uint8))],
                             (9, 6))
    with pytest.raises(LaneError, match='not an image'):
        calibrate_chessboard([('x', np.zeros(0, np.uint8))], (9, 6))


def test_find_chessboard_on_grey_and_colour(board_views):
    corners = find_chessboard(board_views[0][1], (9, 6))
    assert corners is not None and corners.shape == (54, 1, 2)
    grey = cv2.cvtColor(board_views[0][1], cv2.COLOR_BGR2GRAY)
    assert np.allclose(find_chessboard(grey, (9, 6)), corners, atol=1e-3)


def test_camera_info_yaml_round_trip(tmp_path, distorted_camera):
    path = tmp_path / 'camera.yaml'
    distorted_camera.save_yaml(path)
    document = yaml.safe_load(path.read_text())
    # the layout ROS camera_calibration writes and camera_info_manager reads
    assert document['camera_matrix'] == {'rows': 3, 'cols': 3, 'data': list(K_640)}
    assert document['distortion_model'] == 'plumb_bob'
    assert document['distortion_coefficients']['cols'] == 5
    assert document['projection_matrix']['rows'] == 3
    assert document['rectification_matrix']['data'] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    loaded = CameraModel.load_yaml(path)
    assert loaded.camera_matrix == distorted_camera.camera_matrix
    assert loaded.distortion_coefficients == distorted_camera.distortion_coefficients
    assert (loaded.width, loaded.height, loaded.camera_name) == (640, 480, 'truth')


def test_camera_model_validation_names_the_bad_value(tmp_path):
    with pytest.raises(LaneError, match='width'):
        CameraModel(0, 480, K_640)
    with pytest.raises(LaneError, match='camera_matrix'):
        CameraModel(640, 480, K_640[:8])
    with pytest.raises(LaneError, match='fx and fy'):
        CameraModel(640, 480, (0.0,) + K_640[1:])
    with pytest.raises(LaneError, match='principal point'):
        CameraModel(640, 480, (500.0, 0.0, 900.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0))
    with pytest.raises(LaneError, match='distortion_model'):
        CameraModel(640, 480, K_640, distortion_model='kannala')
    with pytest.raises(LaneError, match='equidistant model needs 4'):
        CameraModel(640, 480, K_640, (0.1, 0.0, 0.0, 0.0, 0.0), EQUIDISTANT)
    with pytest.raises(LaneError, match='finite'):
        CameraModel(640, 480, K_640, (math.nan, 0.0, 0.0, 0.0, 0.0))
    bad = tmp_path / 'bad.yaml'
    bad.write_text('image_width: 640\n')
    with pytest.raises(LaneError, match='not a camera_info'):
        CameraModel.load_yaml(bad)
    with pytest.raises(LaneError, match='cannot read'):
        CameraModel.load_yaml(tmp_path / 'missing.yaml')


def test_scaled_intrinsics_follow_the_image_size(distorted_camera):
    half = distorted_camera.scaled(320, 240)
    assert half.k[0, 0] == pytest.approx(250.0) and half.k[1, 2] == pytest.approx(119.0)
    assert half.distortion_coefficients == distorted_camera.distortion_coefficients
    assert distorted_camera.scaled(640, 480) is distorted_camera
    with pytest.raises(LaneError, match='up to a scale'):
        distorted_camera.scaled(640, 360)


@pytest.mark.parametrize('model, coefficients', [
    ('plumb_bob', (-0.25, 0.08, 0.001, -0.002, 0.0)),
    ('equidistant', (0.05, -0.01, 0.002, 0.0)),
])
def test_distortion_round_trip(model, coefficients):
    camera = CameraModel(640, 480, K_640, coefficients, model)
    rng = np.random.default_rng(1)
    pixels = rng.uniform([20, 20], [620, 460], size=(200, 2))
    again = camera.distort_normalized(camera.undistort_pixels(pixels))
    assert np.abs(again - pixels).max() < 0.05


def test_undistorter_is_identity_without_distortion_and_straightens_lines(distorted_camera):
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    plain = CameraModel(640, 480, K_640)
    assert np.array_equal(Undistorter(plain).undistort(image)[5:-5, 5:-5],
                          image[5:-5, 5:-5])
    # a straight world line is curved by the lens; undistortion straightens it
    normalized = np.column_stack([np.linspace(-0.55, 0.55, 30), np.full(30, 0.35)])
    curved = distorted_camera.distort_normalized(normalized)
    undistorter = Undistorter(distorted_camera)
    canvas = np.zeros((480, 640), np.uint8)
    cv2.polylines(canvas, [np.round(curved).astype(np.int32).reshape(-1, 1, 2)], False, 255, 3)
    straight = undistorter.undistort(canvas)
    ys, xs = np.nonzero(straight > 128)
    fit = np.polyfit(xs, ys, 2)
    assert abs(fit[0]) < 2e-5  # no visible bow left
    with pytest.raises(LaneError, match='does not match'):
        undistorter.undistort(np.zeros((240, 320), np.uint8))
