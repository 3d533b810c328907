"""Speed governor: box bottoms on the road, the ego corridor, headway cap, rate limits, hold."""

import math

from control_fixtures import EPOCH_NS, make_onnx_controller, synthetic_drive_frames
import numpy as np
import pytest

from av_perception.control.config import TemporalControllerConfig
from av_perception.control.controller import TemporalController
from av_perception.control.governor import (DetectionFrame, ground_objects, GroundObject,
                                            headway_speed, in_path, LaneCorridor, path_offset,
                                            SpeedGovernor, SpeedGovernorConfig)
from av_perception.detection.results import Detection
from av_perception.lanes.camera import CameraModel
from av_perception.lanes.geometry import GroundProjection
from av_perception.params import ConfigError
from av_perception.sim.camera import PinholeCamera

PERIOD = 50_000_000  # 20 Hz
SIZE = (640, 360)
# the simulator's camera, an independent implementation of the projection
SIM_CAMERA = PinholeCamera.from_fov(640, 360, 65.0, 1.4, 4.0, 1.6)
CAMERA = CameraModel(640, 360, tuple(SIM_CAMERA.k_matrix.ravel()))
PROJECTION = GroundProjection.from_mounting(CAMERA, 1.4, math.radians(4.0), x_m=1.6)
CONFIG = SpeedGovernorConfig()  # defaults: the simulator's car


def car_box(x_rear, y_centre, width=1.8, length=4.5, height=1.5, class_id=2, score=0.8):
    """Return the detection of a road-aligned cuboid (rear at x_rear) seen by the sim camera."""
    xs, ys = (x_rear, x_rear + length), (y_centre - width / 2, y_centre + width / 2)
    corners = np.array([(x, y, z) for x in xs for y in ys for z in (0.0, height)])
    pixels, depth = SIM_CAMERA.project(corners)
    assert np.all(depth > 0)
    x1, y1 = np.clip(pixels.min(axis=0), 0, None)
    x2, y2 = np.minimum(pixels.max(axis=0), SIZE)
    return Detection(class_id, 'car', score, (float(x1), float(y1), float(x2), float(y2)))


def frame(index, *detections):
    return DetectionFrame(EPOCH_NS + index * PERIOD, tuple(detections))


def drive(governor, speeds, detection_frames, steering=0.0):
    """Run the governor over frames 0..n-1; return the governed speeds."""
    out = []
    for index, (speed, detections) in enumerate(zip(speeds, detection_frames)):
        result = governor.limit(speed, steering, EPOCH_NS + index * PERIOD, SIZE, detections)
        out.append(result)
    return out


def test_box_bottom_distance_matches_the_camera_geometry():
    # ground points projected by the simulator's camera come back through our projection
    ground = np.array([[8.0, 0.0], [15.0, 1.2], [30.0, -2.0], [55.0, 3.5]])
    pixels, _ = SIM_CAMERA.project(np.column_stack([ground, np.zeros(len(ground))]))
    np.testing.assert_allclose(PROJECTION.image_to_ground(pixels), ground, atol=1e-6)
    # a car straight ahead: distance of its rear, lateral extent = its width (its roof, above
    # the pitched camera, is nearer to the image plane and widens the box by under 2 cm)
    for x_rear in (8.0, 20.0, 45.0):
        (obj,) = ground_objects([car_box(x_rear, 0.2)], PROJECTION, 1.6)
        assert obj.x_m == pytest.approx(x_rear, abs=1e-6)
        assert (obj.y_right_m, obj.y_left_m) == pytest.approx((0.2 - 0.9, 0.2 + 0.9), abs=0.02)


def test_obliquely_seen_cars_beside_the_lane_stay_outside_the_corridor():
    # adjacent-lane cars and trucks show their side: the far front corner is the inner box
    # edge; taken at the near distance it would reach into the ego lane
    for x_rear, length, class_id in ((6.0, 4.5, 2), (12.0, 4.5, 2), (7.0, 12.0, 7),
                                     (25.0, 12.0, 7)):
        for side in (1.0, -1.0):
            box = car_box(x_rear, side * 3.5, width=2.5 if class_id == 7 else 1.8,
                          length=length, height=3.8 if class_id == 7 else 1.5,
                          class_id=class_id)
            naive = PROJECTION.image_to_ground(np.array([[box.bbox_xyxy[2 if side > 0 else 0],
                                                          box.bbox_xyxy[3]]]))[0, 1]
            (obj,) = ground_objects([box], PROJECTION, 1.6)
            inner = obj.y_right_m if side > 0 else -obj.y_left_m
            assert inner > CONFIG.corridor_half_width_m + 0.2, (x_rear, length, side, obj)
            assert inner <= 3.5 - (1.25 if class_id == 7 else 0.9) + 1e-6  # never optimistic
            if x_rear < 10:  # what the naive bottom corner would have said
                assert abs(naive) < inner
            assert not in_path([obj], 0.0, CONFIG.corridor_half_width_m, 60.0)
            # the same car in the ego lane is in the path
            box = car_box(x_rear, 0.3 * side, width=1.8, length=length, class_id=class_id)
            assert in_path(ground_objects([box], PROJECTION, 1.6), 0.0,
                           CONFIG.corridor_half_width_m, 60.0)


def test_a_car_called_a_truck_gets_a_cars_width_from_its_box_height():
    # a car 3.5 m right, 11 m ahead: with a truck's 2.6 m its inner side would be in the ego
    # lane; its box is 1.5 m tall, so it is car-sized
    box = car_box(11.0, -2.9, class_id=7)
    (obj,) = ground_objects([box], PROJECTION, 1.6)
    assert obj.y_left_m == pytest.approx(-2.9 - 0.9 + 2.0, abs=0.05)  # outer edge + 2 m
    assert not in_path([obj], 0.0, CONFIG.corridor_half_width_m, 60.0)
    tall = car_box(11.0, -2.9, width=1.8, height=3.8, class_id=7)
    (obj,) = ground_objects([tall], PROJECTION, 1.6)
    # a truck's width (its roof, 2.4 m above the pitched camera, widens the box by 0.16 m)
    assert obj.y_left_m == pytest.approx(-2.9 - 0.9 + 2.6, abs=0.2)


def test_a_car_alongside_cut_by_the_image_side_is_not_in_the_path():
    # rear 1 m ahead of the camera: its box runs off the left image edge and the bottom
    box = car_box(3.0, 3.5)
    assert box.bbox_xyxy[0] == 0.0
    (obj,) = ground_objects([box], PROJECTION, 1.6)
    assert obj.y_left_m == math.inf and obj.y_right_m > CONFIG.corridor_half_width_m
    assert not in_path([obj], 0.0, CONFIG.corridor_half_width_m, 60.0)


def test_class_score_and_horizon_filters():
    person = Detection(0, 'person', 0.9, car_box(15.0, 0.0).bbox_xyxy)
    weak = Detection(2, 'car', 0.1, car_box(25.0, 0.0).bbox_xyxy)
    sky = Detection(33, 'kite', 0.9, (100.0, 20.0, 150.0, 60.0))  # bottom above the horizon
    objects = ground_objects([person, weak, sky], PROJECTION, 1.6, None, 0.3)
    assert [o.detection for o in objects] == [person]
    assert ground_objects([person, weak], PROJECTION, 1.6, (2,), 0.0)[0].detection == weak


def test_implausible_boxes_and_non_obstacle_classes_are_dropped():
    # a straddling box 4 m wide at its distance (a patch of road called a car)
    wide = Detection(2, 'car', 0.9, (0.0, 144.0, 633.0, 360.0))
    assert ground_objects([wide], PROJECTION, 1.6) == []
    # by default road texture called a kite or a surfboard is no obstacle; a car called a boat
    # or a bench is
    governor = SpeedGovernor(CONFIG, CAMERA)
    box = car_box(15.0, 0.0).bbox_xyxy
    found = [Detection(class_id, name, 0.9, box) for class_id, name in
             ((33, 'kite'), (37, 'surfboard'), (8, 'boat'), (13, 'bench'))]
    in_path_names = [o.detection.class_name for o in governor.in_path_objects(found, SIZE, 0.0)]
    assert in_path_names == ['boat', 'bench']
    every_class = SpeedGovernor(SpeedGovernorConfig(detection_class_ids=(-1,)), CAMERA)
    assert len(every_class.in_path_objects(found, SIZE, 0.0)) == 4


def test_in_path_follows_the_steering_arc():
    assert float(path_offset(0.0, 0.01)) == 0.0
    assert float(path_offset(20.0, 0.01)) == pytest.approx(100 - math.sqrt(100**2 - 20**2))
    assert float(path_offset(20.0, -0.01)) < 0 and float(path_offset(50.0, 0.0)) == 0.0
    det = Detection(2, 'car', 0.9, (0, 0, 1, 1))
    ahead_left = GroundObject(40.0, 3.0, 4.8, det)  # a car 3.9 m left, 40 m ahead
    assert not in_path([ahead_left], 0.0, 1.3, 60.0)
    # turning left with radius 200 m, the path is 4 m left at 40 m: the car is in it
    assert in_path([ahead_left], 1 / 200, 1.3, 60.0) == [ahead_left]
    assert not in_path([ahead_left], -1 / 200, 1.3, 60.0)
    assert not in_path([ahead_left], 1 / 200, 1.3, 30.0)  # beyond max range
    near = GroundObject(10.0, -0.5, 0.5, det)
    assert in_path([ahead_left, near], 1 / 200, 1.3, 60.0) == [near, ahead_left]


def test_lane_corridor_fits_the_centre_line_and_continues_it_smoothly():
    xs = np.linspace(5.0, 30.0, 26)
    lane = LaneCorridor.from_points(7, xs, 0.3 - 0.01 * xs + 0.002 * xs**2)
    assert lane.stamp_ns == 7 and (lane.x_near_m, lane.x_far_m) == (5.0, 30.0)
    np.testing.assert_allclose(lane.coefficients, (0.3, -0.01, 0.002), atol=1e-9)
    inside = np.array([5.0, 12.5, 30.0])
    np.testing.assert_allclose(lane.centre(inside), 0.3 - 0.01 * inside + 0.002 * inside**2)
    # value and slope continue across both ends (no jump where the data stops)
    for end, sign in ((5.0, -1.0), (30.0, 1.0)):
        step = 1e-4
        inner = lane.centre(end - sign * step)
        outer = lane.centre(end + sign * step)
        slope = 2 * 0.002 * end - 0.01
        assert float(outer - inner) == pytest.approx(sign * 2 * step * slope, rel=1e-3)
    # beyond the far end: the circle of the curvature there, not the runaway parabola
    slope = 2 * 0.002 * 30 - 0.01
    curvature = 2 * 0.002 / (1 + slope**2) ** 1.5
    far = float(lane.centre(60.0))
    expected = float(lane.centre(30.0)) + slope * 30 + float(path_offset(30.0, curvature))
    assert far == pytest.approx(expected)
    assert far < 0.3 - 0.01 * 60 + 0.002 * 60**2  # the parabola bends away faster
    # before the near end: straight on
    assert float(lane.centre(0.0)) == pytest.approx(
        float(lane.centre(5.0)) - 5.0 * (2 * 0.002 * 5 - 0.01))


def test_lane_corridor_refuses_too_little_or_non_finite_data():
    assert LaneCorridor.from_points(0, [5.0, 10.0], [0.0, 0.1]) is None  # two points
    assert LaneCorridor.from_points(0, [5.0, 6.0, 7.0, 8.0], [0.0] * 4) is None  # 3 m long
    assert LaneCorridor.from_points(0, [], []) is None
    with_nan = LaneCorridor.from_points(0, [5.0, 10.0, np.nan, 20.0], [0.0, 0.1, 0.2, 0.4])
    assert with_nan is not None and with_nan.x_far_m == 20.0
    assert LaneCorridor.from_curve(0, (0.0, 0.0, math.nan), (5.0, 30.0)) is None
    assert LaneCorridor.from_curve(0, (0.0, 0.0, 0.0), (30.0, 5.0)) is None
    assert LaneCorridor.from_curve(3, (0.1, 0.0, 0.001), (5.0, 30.0)).coefficients == \
        (0.1, 0.0, 0.001)


def test_entering_a_curve_the_lane_corridor_ignores_the_car_straight_ahead_in_the_next_lane():
    # the road bends left ahead (radius 250 m); 40 m ahead, straight on, a car in the lane to
    # the right: the steering arc (still straight) holds it, the lane's centre line does not
    xs = np.linspace(6.0, 30.0, 25)
    lane = LaneCorridor.from_points(EPOCH_NS, xs, xs**2 / 500)
    det = Detection(2, 'car', 0.9, (0, 0, 1, 1))
    right_lane = GroundObject(40.0, -0.9, 0.9, det)
    ego_lane = GroundObject(40.0, 40.0**2 / 500 - 0.9, 40.0**2 / 500 + 0.9, det)
    assert in_path([right_lane, ego_lane], 0.0, 1.2, 60.0) == [right_lane]
    assert in_path([right_lane, ego_lane], 0.0, 1.2, 60.0, lane=lane) == [ego_lane]
    # in the governor, with the same car as a detection of the simulated camera
    box = car_box(40.0, 0.0)
    speeds, frames = [20.0] * 10, [frame(i, box) for i in range(10)]
    straight = drive(SpeedGovernor(CONFIG, CAMERA), speeds, frames)
    assert straight[-1].limited and straight[-1].corridor == 'steering'
    governor = SpeedGovernor(CONFIG, CAMERA)
    following = [governor.limit(20.0, 0.0, f.stamp_ns, SIZE, f,
                                LaneCorridor.from_points(f.stamp_ns, xs, xs**2 / 500))
                 for f in frames]
    assert all(not r.limited and r.in_path == 0 and r.corridor == 'lane' for r in following)


def test_near_the_car_the_corridor_stays_on_the_steering_arc_and_blends_into_the_lane():
    # the lane centre 3 m to the left everywhere, the car steering straight on
    lane = LaneCorridor.from_points(0, [5.0, 15.0, 30.0], [3.0, 3.0, 3.0])
    det = Detection(2, 'car', 0.9, (0, 0, 1, 1))

    def centred(x, y):
        return GroundObject(x, y - 0.1, y + 0.1, det)
    blend = (10.0, 25.0)
    # up to 10 m: the arc (centre 0); from 25 m: the lane (centre 3); halfway: 1.5
    for x, centre in ((5.0, 0.0), (10.0, 0.0), (17.5, 1.5), (25.0, 3.0), (50.0, 3.0)):
        inside = centred(x, centre + 1.25)   # 1.15 m from the centre: in (half width 1.2)
        outside = centred(x, centre + 1.35)  # 1.25 m: out
        assert in_path([inside, outside], 0.0, 1.2, 60.0, lane=lane, blend_m=blend) == \
            [inside], x
    with pytest.raises(ConfigError, match='lane_blend_end_m'):
        SpeedGovernorConfig(lane_blend_start_m=30.0, lane_blend_end_m=20.0)


def test_a_stale_or_disabled_lane_leaves_the_corridor_on_the_steering():
    xs = np.linspace(6.0, 30.0, 25)
    box = car_box(40.0, 0.0)
    old_lane = LaneCorridor.from_points(EPOCH_NS - 10**9, xs, xs**2 / 500)  # 1 s old
    governor = SpeedGovernor(CONFIG, CAMERA)
    results = [governor.limit(20.0, 0.0, EPOCH_NS + i * PERIOD, SIZE, frame(i, box), old_lane)
               for i in range(5)]
    assert results[-1].limited and results[-1].corridor == 'steering'
    off = SpeedGovernor(SpeedGovernorConfig(corridor_from_lane=False), CAMERA)
    fresh = [off.limit(20.0, 0.0, EPOCH_NS + i * PERIOD, SIZE, frame(i, box),
                       LaneCorridor.from_points(EPOCH_NS + i * PERIOD, xs, xs**2 / 500))
             for i in range(5)]
    assert fresh[-1].limited and fresh[-1].corridor == 'steering'
    assert off.usable_lane(None, EPOCH_NS) is None
    # a centre line passing 3.5 m beside the car is the next lane (a wrong fit), not ours
    governor = SpeedGovernor(CONFIG, CAMERA)
    beside = LaneCorridor.from_points(EPOCH_NS, xs, 3.5 + xs**2 / 500)
    assert governor.usable_lane(beside, EPOCH_NS) is None
    assert governor.usable_lane(LaneCorridor.from_points(EPOCH_NS, xs, 0.9 + xs * 0.0),
                                EPOCH_NS) is not None
    wider = SpeedGovernor(SpeedGovernorConfig(lane_max_offset_m=4.0), CAMERA)
    assert wider.usable_lane(beside, EPOCH_NS) is beside
    # a fit at 14 degrees to the car (a shadow's edge): not the lane the car drives along
    skewed = LaneCorridor.from_points(EPOCH_NS, xs, 1.0 - 0.3 * xs + 0.0045 * xs**2)
    assert skewed.heading_at(0.0) == pytest.approx(-0.3 + 2 * 0.0045 * 6.0)
    assert governor.usable_lane(skewed, EPOCH_NS) is None
    assert SpeedGovernor(SpeedGovernorConfig(lane_max_heading_deg=20.0, lane_max_offset_m=2.0),
                         CAMERA).usable_lane(skewed, EPOCH_NS) is skewed


def test_headway_cap_is_the_speed_whose_time_gap_is_the_gap():
    for speed in (0.0, 5.0, 15.0, 30.0):
        assert headway_speed(5.0 + 1.8 * speed, 1.8, 5.0) == pytest.approx(speed)
    assert headway_speed(3.0, 1.8, 5.0) == 0.0


def test_no_detections_leave_the_speed_unchanged():
    governor = SpeedGovernor(CONFIG, CAMERA)
    speeds = list(np.linspace(10, 20, 30))
    for result in drive(governor, speeds, [None] * 30):
        assert not result.limited and not result.detections_used and result.lead_state == ''
    assert [r.speed_mps for r in drive(governor, speeds, [None] * 30)] == speeds
    # empty detections, stale detections, detections with the governor switched off
    stale = DetectionFrame(EPOCH_NS - 10**9, (car_box(8.0, 0.0),))
    results = drive(SpeedGovernor(CONFIG, CAMERA), speeds, [frame(i) for i in range(30)])
    results += drive(SpeedGovernor(CONFIG, CAMERA), speeds, [stale] * 30)
    off = SpeedGovernor(SpeedGovernorConfig(governor_enabled=False), CAMERA)
    results += drive(off, speeds, [frame(i, car_box(8.0, 0.0)) for i in range(30)])
    assert [r.speed_mps for r in results] == speeds * 3


def test_a_lead_caps_the_speed_after_min_hits_and_keeps_the_headway():
    governor = SpeedGovernor(CONFIG, CAMERA)
    gap = 5.0 + 1.8 * 10.0  # the headway gap of 10 m/s
    box = car_box(CONFIG.ego_front_m + gap, 0.0)
    results = drive(governor, [10.0] * 3 + [16.0] * 60, [frame(i, box) for i in range(63)])
    assert results[0].lead_state == 'tentative' and not results[0].limited
    assert results[1].lead_state == 'measured' and results[1].lead_gap_m == pytest.approx(gap)
    # at 10 m/s the cap is not below the wanted speed: no cap
    assert not results[2].limited and results[2].speed_mps == 10.0
    # at 16 m/s the cap holds it at 10 m/s (engaging from 10 m/s: no rate limit needed)
    assert all(r.speed_mps == pytest.approx(10.0) for r in results[3:])


def test_cap_falls_and_rises_within_its_rate_limits_and_stops_when_too_close():
    config = SpeedGovernorConfig(lead_hold_s=0.2)
    governor = SpeedGovernor(config, CAMERA)
    far = car_box(config.ego_front_m + 5.0 + 1.8 * 15.0, 0.0)   # cap 15 m/s
    near = car_box(config.ego_front_m + 5.0 + 1.8 * 5.0, 0.0)   # cap 5 m/s
    frames = [frame(i, far) for i in range(4)] + [frame(i, near) for i in range(4, 60)]
    frames += [frame(i) for i in range(60, 200)]  # the lead is gone
    results = drive(governor, [20.0] * len(frames), frames)
    speeds = np.array([r.speed_mps for r in results])
    dt = PERIOD / 1e9
    assert speeds[0] == 20.0 and speeds[1] == pytest.approx(20.0 - 6.0 * dt)  # second hit
    steps = np.diff(speeds)
    assert steps.min() >= -config.speed_cap_decel_mps2 * dt - 1e-9
    assert steps.max() <= config.speed_cap_accel_mps2 * dt + 1e-9
    # falling at 6 m/s^2 the whole way: a nearer object keeps the lead confirmed
    assert speeds[4] == pytest.approx(20.0 - 4 * 6.0 * dt)
    assert speeds[59] == pytest.approx(5.0)
    held = [r.lead_state for r in results[60:64]]
    assert held == ['held'] * 4 and results[64].lead_state == ''
    assert speeds[-1] == pytest.approx(5.0 + (200 - 64) * 1.5 * dt) and np.all(speeds <= 20.0)
    # a gap under stop_gap_m stops at once, whatever the rate limit
    stop = SpeedGovernor(config, CAMERA)
    too_close = car_box(config.ego_front_m + 1.5, 0.0)
    results = drive(stop, [15.0] * 3, [frame(i, too_close) for i in range(3)])
    assert [r.speed_mps for r in results] == [15.0, 0.0, 0.0]


def test_a_lost_lead_is_held_closing_no_faster_than_the_ego_and_never_stops_the_car():
    # an oncoming truck seen in the corridor (on a curve), closing at 30 m/s, then gone
    config = SpeedGovernorConfig(lead_hold_s=0.5)
    governor = SpeedGovernor(config, CAMERA)
    dt = PERIOD / 1e9
    frames = [frame(i, car_box(config.ego_front_m + 8.0 - 30.0 * dt * i, 0.0, length=12.0,
                               class_id=7)) for i in range(4)] + [frame(i) for i in range(4, 20)]
    results = drive(governor, [12.0] * 20, frames)
    assert [r.lead_state for r in results[:4]] == ['tentative'] + ['measured'] * 3
    held = results[4:14]
    assert all(r.lead_state == 'held' for r in held) and results[14].lead_state == ''
    gaps = np.array([r.lead_gap_m for r in results[3:14]])
    assert np.all(np.diff(gaps) >= -results[3].speed_mps * dt - 1e-9)  # the ego's speed bound
    assert min(gaps) < config.stop_gap_m  # the held guess is under the stop gap, yet
    speeds = np.array([r.speed_mps for r in results])
    assert np.all(np.diff(speeds) >= -config.speed_cap_decel_mps2 * dt - 1e-9)  # no stop
    assert speeds.min() > 8.0


def test_single_frame_false_positive_is_ignored():
    governor = SpeedGovernor(CONFIG, CAMERA)
    ghost = car_box(10.0, 0.0)
    frames = [frame(0), frame(1, ghost)] + [frame(i) for i in range(2, 20)]
    assert all(r.speed_mps == 15.0 for r in drive(governor, [15.0] * 20, frames))


def test_same_detections_twice_are_one_measurement_and_reset_forgets():
    governor = SpeedGovernor(CONFIG, CAMERA)
    detections = frame(0, car_box(15.0, 0.0))
    results = drive(governor, [15.0] * 5, [detections] * 5)
    assert all(r.lead_state == 'tentative' for r in results)  # one detection frame = one hit
    governor.reset()
    assert governor.limit(15.0, 0.0, EPOCH_NS, SIZE, None).lead_state == ''


def test_pinhole_default_and_scaled_camera_info():
    # without a camera model: the pinhole of camera_horizontal_fov_deg (the simulator's 65 deg)
    governor = SpeedGovernor(CONFIG)
    np.testing.assert_allclose(governor.projection(640, 360).homography, PROJECTION.homography)
    # a camera_info at another resolution is scaled to the image size
    governor.set_camera(CameraModel(1280, 720, tuple((SIM_CAMERA.k_matrix * [[2], [2], [1]])
                                                     .ravel())))
    np.testing.assert_allclose(governor.projection(640, 360).homography, PROJECTION.homography)


def test_config_validation():
    with pytest.raises(ConfigError, match='time_headway_s'):
        SpeedGovernorConfig(time_headway_s=0.0)
    with pytest.raises(ConfigError, match='detection_class_ids'):
        TemporalControllerConfig(detection_class_ids=())
    with pytest.raises(ConfigError, match='detection_class_ids'):
        TemporalControllerConfig(detection_class_ids=(-3,))


def test_controller_applies_the_governor_to_the_model_speed(tmp_path):
    model_dir = make_onnx_controller(tmp_path / 'lstm', history_length=4)
    images = synthetic_drive_frames(6, seed=1, size=SIZE)[0]
    config = TemporalControllerConfig(steering_limit_rad=0.0)  # straight path
    free = TemporalController.from_dir(model_dir, config)
    governed = TemporalController.from_dir(model_dir, config)
    governed.governor.set_camera(CAMERA)
    stop = car_box(config.ego_front_m + 1.5, 0.0)  # 1.5 m ahead of the bumper
    for index, image in enumerate(images):
        stamp = EPOCH_NS + index * PERIOD
        a = free.step(image, stamp)
        b = governed.step(image, stamp, detections=DetectionFrame(stamp, (stop,)))
        assert b.command.steering_angle == a.command.steering_angle
        assert a.governor is not None and not a.governor.limited
        if index == 0:
            assert b.command.speed == a.command.speed and b.governor.lead_state == 'tentative'
        else:
            assert b.command.speed == 0.0 and b.governor.lead_gap_m == pytest.approx(1.5)
