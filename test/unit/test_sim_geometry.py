"""Camera geometry of the simulator and agreement of lane ground truth with rendered paint."""

import math

import cv2
import numpy as np
import pytest

from av_perception.sim import PinholeCamera, preset_config, preset_names, Simulator
from av_perception.sim.road import BoundaryMarking


def _camera(distortion=(0.0, 0.0, 0.0, 0.0, 0.0)):
    return PinholeCamera.from_fov(640, 360, 65.0, 1.4, 4.0, 1.6, distortion)


def test_known_points_project_where_the_pinhole_model_says():
    cam = _camera()
    f = 320.0 / math.tan(math.radians(32.5))
    assert cam.fx == pytest.approx(f) and cam.fy == pytest.approx(f)
    assert (cam.cx, cam.cy) == (320.0, 180.0)
    pitch = math.radians(4.0)
    # a ground point 20 m ahead of the camera, 2 m to the left
    forward, left = 20.0, 2.0
    z_cam = forward * math.cos(pitch) + 1.4 * math.sin(pitch)
    y_cam = -forward * math.sin(pitch) + 1.4 * math.cos(pitch)
    expected = (320.0 - f * left / z_cam, 180.0 + f * y_cam / z_cam)
    pixels, depth = cam.project(np.array([[1.6 + forward, left, 0.0]]))
    assert depth[0] == pytest.approx(z_cam)
    assert pixels[0] == pytest.approx(expected, abs=1e-9)
    # a point on the optical axis lands on the principal point; far points at the horizon
    axis = cam.position + 50.0 * np.array([math.cos(pitch), 0.0, -math.sin(pitch)])
    assert cam.project(axis[None, :])[0][0] == pytest.approx((320.0, 180.0))
    horizon = cam.project(np.array([[1e7, 0.0, 1.4]]))[0][0]
    assert horizon[1] == pytest.approx(cam.horizon_row, abs=1e-3)
    # behind the camera: no pixel
    assert np.all(np.isnan(cam.project(np.array([[-5.0, 0.0, 0.0]]))[0]))


@pytest.mark.parametrize('distortion', [(0.0, 0.0, 0.0, 0.0, 0.0),
                                        (-0.12, 0.03, 0.001, -0.002, 0.0)])
def test_projection_matches_opencv_project_points(distortion):
    cam = _camera(distortion)
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(5, 60, 50), rng.uniform(-10, 10, 50),
                       rng.uniform(0, 3, 50)], axis=1)
    ours, _ = cam.project(points)
    rvec, _ = cv2.Rodrigues(cam.rotation)
    tvec = -cam.rotation @ cam.position
    theirs, _ = cv2.projectPoints(points, rvec, tvec, cam.k_matrix, np.array(distortion))
    np.testing.assert_allclose(ours, theirs.reshape(-1, 2), atol=1e-6)


def test_ground_point_inverts_projection():
    cam = _camera()
    ground = np.array([[5.0, 1.0, 0.0], [12.0, -3.0, 0.0], [80.0, 6.0, 0.0]])
    pixels, _ = cam.project(ground)
    back = cam.ground_point(pixels[:, 0], pixels[:, 1])
    np.testing.assert_allclose(back, ground, atol=1e-9)
    sky = cam.ground_point(np.array([320.0]), np.array([cam.horizon_row - 5]))
    assert np.all(np.isnan(sky[:, :2]))


def test_camera_info_matches_intrinsics():
    sim = Simulator('highway_straight', seed=0, render=False)
    info = sim.camera_info
    assert (info.width, info.height, info.frame_id) == (640, 360, 'camera')
    k = np.array(info.k).reshape(3, 3)
    np.testing.assert_allclose(k, sim.camera.k_matrix)
    p = np.array(info.p).reshape(3, 4)
    np.testing.assert_allclose(p[:, :3], k)
    assert info.distortion_model == 'plumb_bob' and len(info.d) == 5
    assert info.r == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _paint_score(image, x, y, colour, half_gap):
    """How much the pixel at (x, y) looks like paint of ``colour`` next to its surroundings."""
    row = image[y].astype(np.int32)
    x = int(round(x))
    left = row[max(0, x - half_gap)]
    right = row[min(image.shape[1] - 1, x + half_gap)]
    centre = row[x]
    if colour == 'yellow':  # yellow stands out by chroma (on concrete it is darker)
        def chroma(bgr):
            return (bgr[1] + bgr[2]) / 2 - bgr[0]
        return chroma(centre) - max(chroma(left), chroma(right))
    # white: per cent brighter than the surface beside it (paint in shadow is darker too)
    side = max(left.mean(), right.mean())
    return 100.0 * (centre.mean() - side) / max(side, 20.0)


def _marking_checks(sim, obs, shift_m=0.0):
    """Score every visible painted ground-truth point within 35 m; return list of scores."""
    cam, road = sim.camera, sim.road
    truth = obs.truth
    state = obs.state
    boxes = [o.bbox_xyxy for o in truth.objects]
    scores = []
    for index, xs in enumerate(truth.lanes_x):
        marking: BoundaryMarking = road.markings[index]
        if marking.kind == 'none':
            continue
        for x, y in zip(xs, truth.h_samples):
            if not np.isfinite(x):
                continue
            ideal = cam.undistort_pixels(np.array([[x, y]], dtype=np.float64))
            ground = cam.ground_point(ideal[:, 0], ideal[:, 1])[0]
            if not np.isfinite(ground[0]) or ground[0] - cam.x_m > 35.0:
                continue
            c, s = math.cos(state.yaw), math.sin(state.yaw)
            wx = state.x + ground[0] * c - ground[1] * s
            wy = state.y + ground[0] * s + ground[1] * c
            s_road, _ = road.project(wx, wy, obs.road_s_m + ground[0])
            probe = np.array([s_road - 0.15, s_road, s_road + 0.15])
            if not np.all(marking.painted(probe)) or np.any(marking.wear(probe)):
                continue
            if any(b[0] - 3 <= x <= b[2] + 3 and b[1] - 3 <= y <= b[3] + 3 for b in boxes):
                continue
            metres_per_px = (ground[0] - cam.x_m) / cam.fx
            x_probe = x + shift_m / metres_per_px
            if not 2 <= x_probe <= cam.width - 3:
                continue
            gap = max(3, int(round(0.45 / metres_per_px)))
            # a double line has its two stripes 9 cm either side of the boundary
            offsets = (-0.09, 0.09) if marking.kind == 'double_yellow' else (0.0,)
            scores.append(max(_paint_score(obs.image, x_probe + o / metres_per_px, int(y),
                                           marking.colour_name, gap) for o in offsets))
    return scores


CASES = [(name, {}) for name in preset_names()] + [
    ('rural_curvy', {'distortion': (-0.15, 0.03, 0.0, 0.0, 0.0)})]


@pytest.mark.parametrize('name, overrides', CASES,
                         ids=[name + ('_distorted' if o else '') for name, o in CASES])
def test_ground_truth_lane_pixels_fall_on_rendered_paint(name, overrides):
    config = preset_config(name, noise_sigma=0.0, **overrides)
    sim = Simulator(config, seed=11, render=False)
    scores, shifted = [], []
    for _ in range(6):
        for _ in range(25):
            sim.step()
        obs = sim.step(render=True)
        scores += _marking_checks(sim, obs)
        shifted += _marking_checks(sim, obs, shift_m=0.7)
    assert len(scores) >= 30, f'too few checkable points: {len(scores)}'
    hits = np.mean(np.array(scores) > 18)
    assert hits >= 0.9, f'{name}: only {hits:.0%} of truth points look like paint'
    # the same check 0.7 m beside the truth finds road, so the check can fail
    assert np.mean(np.array(shifted) > 18) < 0.3
