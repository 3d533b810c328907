"""Expert driver, bicycle model, closed-loop metrics (departures, collisions)."""

import math

import numpy as np
import pytest

from av_perception.control_types import DriveCommand
from av_perception.sim import preset_config, preset_names, SimulationError, Simulator
from av_perception.sim.vehicle import BicycleLimits, step_bicycle, VehicleState


@pytest.mark.parametrize('name', preset_names())
def test_expert_drives_two_km_without_departure_or_collision(name):
    sim = Simulator(name, seed=4, render=False)
    while sim.metrics().distance_m < 2000.0:
        sim.step()
    metrics = sim.metrics()
    assert metrics.lane_departures == 0
    assert metrics.collisions == 0
    assert metrics.max_abs_lateral_offset_m < 0.35
    assert metrics.mean_speed_mps > 5.0


def test_perturbations_leave_the_centre_and_labels_correct_back():
    config = preset_config('highway_curvy', perturbation_rate_hz=0.5,
                           perturbation_offset_m=0.4)
    sim = Simulator(config, seed=3, render=False)
    offsets, label_signs = [], []
    for _ in range(600):
        obs = sim.step()
        offset = obs.truth.lateral_offset_m
        offsets.append(offset)
        if abs(offset) > 0.2:
            # steering that points back to the centre: sign opposite to the offset, relative
            # to what the road's curvature needs
            curve = math.atan(sim.config.wheelbase_m * obs.truth.curvature)
            label_signs.append(np.sign(obs.expert.steering_angle - curve) == -np.sign(offset))
    offsets = np.abs(np.array(offsets))
    assert offsets.max() > 0.25, 'perturbations should move the car off the centre'
    assert len(label_signs) > 20 and np.mean(label_signs) > 0.9
    assert sim.metrics().lane_departures == 0


def test_lane_departure_is_counted_when_not_steering():
    sim = Simulator('rural_curvy', seed=1, render=False)
    while sim.road.curvature_at(sim.state.x) == 0.0 and sim.time_s < 30:
        sim.step()
    for _ in range(400):
        sim.step(DriveCommand(0.0, 15.0))
    metrics = sim.metrics()
    assert metrics.lane_departures >= 1
    assert metrics.max_abs_lateral_offset_m > 1.0


def test_rear_end_collision_is_counted():
    sim = Simulator('traffic', seed=4, render=False)
    lead = sim._traffic.lead_vehicle(sim.road.ego_lane, sim.state.x)
    assert lead is not None
    for _ in range(600):
        expert = sim.expert_command()
        sim.step(DriveCommand(expert.steering_angle, 30.0))  # keeps the lane, never brakes
        if sim.metrics().collisions:
            break
    assert sim.metrics().collisions == 1


def test_observation_truth_agrees_with_the_vehicle_state():
    sim = Simulator('highway_curvy', seed=2, render=False)
    for _ in range(200):
        obs = sim.step()
    truth = obs.truth
    # centre line passes the vehicle at the lateral offset, boundaries half a lane away
    assert truth.center_line[0, 0] == pytest.approx(0.0, abs=0.3)
    assert -truth.center_line[0, 1] == pytest.approx(truth.lateral_offset_m, abs=0.05)
    width = np.hypot(*(truth.left_boundary - truth.right_boundary).T)
    assert np.allclose(width, truth.lane_width_m, atol=0.05)
    assert truth.heading_error_rad == pytest.approx(
        -math.atan2(truth.center_line[1, 1] - truth.center_line[0, 1],
                    truth.center_line[1, 0] - truth.center_line[0, 0]), abs=0.01)
    assert sim.expert_command() == obs.expert


def test_bicycle_model_respects_limits_and_turns_on_the_right_circle():
    limits = BicycleLimits(2.7, math.radians(30), math.radians(60), 2.0, 6.0)
    state = VehicleState(0.0, 0.0, 0.0, 10.0, 0.0)
    state = step_bicycle(state, 1.0, 10.0, 0.1, limits)  # asks for 57 deg at once
    assert state.steering_angle == pytest.approx(math.radians(6.0))
    for _ in range(50):
        state = step_bicycle(state, 1.0, 10.0, 0.1, limits)
    assert state.steering_angle == pytest.approx(math.radians(30.0))
    # constant steering: the rear axle stays on a circle of radius wheelbase / tan(delta)
    radius = 2.7 / math.tan(math.radians(30.0))
    centre = (state.x - radius * math.sin(state.yaw), state.y + radius * math.cos(state.yaw))
    for _ in range(20):
        state = step_bicycle(state, 1.0, 10.0, 0.1, limits)
        assert math.hypot(state.x - centre[0], state.y - centre[1]) == pytest.approx(radius)
    slowed = step_bicycle(state, 1.0, 0.0, 0.1, limits)
    assert state.speed - slowed.speed == pytest.approx(0.6)  # decel limit 6 m/s^2


def test_bad_commands_and_end_of_road_raise():
    sim = Simulator(preset_config('highway_straight', road_length_m=600.0), seed=0,
                    render=False)
    with pytest.raises(SimulationError, match='command'):
        sim.step((0.1, 10.0))
    with pytest.raises(ValueError, match='steering_angle'):
        DriveCommand(float('nan'), 1.0)
    with pytest.raises(SimulationError, match='end of the road'):
        for _ in range(2000):
            sim.step()
