"""Kinematic bicycle model of the ego vehicle (reference point: centre of the rear axle)."""

from __future__ import annotations

from dataclasses import dataclass, replace
import math

EGO_LENGTH_M = 4.6
EGO_WIDTH_M = 1.85
EGO_REAR_OVERHANG_M = 0.95  # rear bumper behind the rear axle


@dataclass(frozen=True)
class VehicleState:
    """Pose and motion of the ego vehicle in the world frame.

    ``x``, ``y``: rear-axle centre (m); ``yaw``: heading (rad, counter-clockwise from +x);
    ``speed`` (m/s, forward); ``steering_angle``: front-wheel angle (rad, positive left).
    """

    x: float
    y: float
    yaw: float
    speed: float
    steering_angle: float


@dataclass(frozen=True)
class BicycleLimits:
    """Actuator limits of the kinematic bicycle model."""

    wheelbase: float
    max_steering: float
    max_steering_rate: float
    max_accel: float
    max_decel: float
    speed_gain: float = 1.5  # 1/s: first-order response of speed to the commanded speed


def step_bicycle(state: VehicleState, steering_cmd: float, speed_cmd: float, dt: float,
                 limits: BicycleLimits) -> VehicleState:
    """Advance the kinematic bicycle model by ``dt`` seconds.

    The steering angle moves towards the command at most at the rate limit and stays within
    the steering limit; the speed follows the command as a first-order lag bounded by the
    acceleration and deceleration limits and never goes negative. Position is integrated
    exactly along the circular arc for the (constant over ``dt``) steering angle.
    """
    target = min(max(steering_cmd, -limits.max_steering), limits.max_steering)
    max_change = limits.max_steering_rate * dt
    steering = state.steering_angle + min(max(target - state.steering_angle, -max_change),
                                          max_change)
    accel = min(max(limits.speed_gain * (speed_cmd - state.speed), -limits.max_decel),
                limits.max_accel)
    speed_end = max(0.0, state.speed + accel * dt)
    distance = 0.5 * (state.speed + speed_end) * dt
    curvature = math.tan(steering) / limits.wheelbase
    dyaw = distance * curvature
    if abs(dyaw) < 1e-9:
        mid = state.yaw
        x = state.x + distance * math.cos(mid)
        y = state.y + distance * math.sin(mid)
    else:
        x = state.x + (math.sin(state.yaw + dyaw) - math.sin(state.yaw)) / curvature
        y = state.y - (math.cos(state.yaw + dyaw) - math.cos(state.yaw)) / curvature
    return replace(state, x=x, y=y, yaw=state.yaw + dyaw, speed=speed_end,
                   steering_angle=steering)
