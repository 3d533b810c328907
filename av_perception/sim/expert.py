"""Expert driver: pure pursuit on the lane centre with a curve- and gap-aware speed.

Optional DAgger-style perturbations make the executed drive leave the centre and recover.
"""

from __future__ import annotations

import math

import numpy as np

from av_perception.control_types import DriveCommand
from av_perception.sim.config import SimConfig
from av_perception.sim.road import Road
from av_perception.sim.vehicle import EGO_LENGTH_M, EGO_REAR_OVERHANG_M, VehicleState

PREVIEW_TIME_S = 4.0  # curvature preview horizon of the speed profile


class ExpertDriver:
    """Computes clean expert commands and, for data collection, perturbed executed commands.

    The clean command is the label: what the expert does in the current state. When
    perturbations are on, the executed command steers towards a laterally shifted target for a
    while, so the recorded drive contains off-centre states whose labels are corrections.
    """

    def __init__(self, config: SimConfig, road: Road, rng: np.random.Generator,
                 dt: float) -> None:
        """Keep the configuration, the road and a private random stream."""
        self.config = config
        self.road = road
        self.rng = rng
        self.dt = dt
        self.lane = road.ego_lane
        self._offset_target = 0.0
        self._offset_left_s = 0.0
        self._offset = 0.0
        self._noise = 0.0

    def command(self, state: VehicleState, s: float, lead: tuple[float, float] | None,
                lateral_shift: float = 0.0) -> DriveCommand:
        """Pure pursuit on the ego lane centre (shifted left by ``lateral_shift`` metres)."""
        cfg = self.config
        speed = max(state.speed, 1.0)
        lookahead = max(cfg.lookahead_min_m, cfg.lookahead_time_s * speed)
        d = self.road.lane_center_d(self.lane) + lateral_shift
        tx, ty = self.road.point_at(s + lookahead, d)
        dx, dy = float(tx) - state.x, float(ty) - state.y
        cos_y, sin_y = math.cos(state.yaw), math.sin(state.yaw)
        local_x = dx * cos_y + dy * sin_y
        local_y = -dx * sin_y + dy * cos_y
        dist2 = max(local_x * local_x + local_y * local_y, 1e-6)
        steering = math.atan(2.0 * cfg.wheelbase_m * local_y / dist2)
        limit = math.radians(cfg.max_steering_deg)
        steering = min(max(steering, -limit), limit)
        return DriveCommand(steering, self.target_speed(state, s, lead))

    def target_speed(self, state: VehicleState, s: float,
                     lead: tuple[float, float] | None) -> float:
        """Speed limit, curve speed over the preview horizon, and gap keeping to ``lead``."""
        cfg = self.config
        horizon = max(30.0, PREVIEW_TIME_S * state.speed)
        preview = np.arange(s, s + horizon, 2.0)
        curvature = float(np.max(np.abs(self.road.curvature_at(preview))))
        speed = cfg.speed_limit_mps
        if curvature > 1e-6:
            speed = min(speed, math.sqrt(cfg.max_lateral_accel_mps2 / curvature))
        if lead is not None:
            rear_s, lead_speed = lead
            front_s = s + EGO_LENGTH_M - EGO_REAR_OVERHANG_M
            gap = rear_s - front_s
            wanted = 5.0 + cfg.follow_time_gap_s * state.speed
            speed = min(speed, max(0.0, lead_speed + 0.35 * (gap - wanted)))
        return float(speed)

    def executed_command(self, state: VehicleState, s: float,
                         lead: tuple[float, float] | None) -> DriveCommand:
        """Return the command the expert executes: clean, or perturbed for training data."""
        cfg = self.config
        if cfg.perturbation_rate_hz > 0.0:
            if self._offset_left_s <= 0.0:
                self._offset_target = 0.0
                if self.rng.random() < cfg.perturbation_rate_hz * self.dt:
                    self._offset_target = float(self.rng.uniform(-1.0, 1.0)) \
                        * cfg.perturbation_offset_m
                    self._offset_left_s = cfg.perturbation_duration_s
            else:
                self._offset_left_s -= self.dt
            # ease towards the target so the drift is smooth, like a distracted driver
            self._offset += (self._offset_target - self._offset) * min(1.0, 1.5 * self.dt)
        command = self.command(state, s, lead, self._offset)
        if cfg.steering_noise_deg > 0.0:
            alpha = min(1.0, 2.0 * self.dt)  # about 0.5 s correlation time
            self._noise += alpha * (float(self.rng.normal(0.0, 1.0)) - self._noise)
            noise = math.radians(cfg.steering_noise_deg) * self._noise / math.sqrt(alpha / 2)
            command = DriveCommand(command.steering_angle + noise, command.speed)
        return command
