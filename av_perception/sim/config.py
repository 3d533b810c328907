"""Simulator configuration: one validated frozen dataclass and the named presets.

Fields given as ``*_range`` pairs are drawn per seed (uniformly, integers inclusive), so one
preset yields many different-looking but reproducible drives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from av_perception.params import ConfigError, parameter, validate

MARKINGS = ('solid_white', 'dashed_white', 'solid_yellow', 'dashed_yellow', 'double_yellow',
            'none')


class SimulationError(ValueError):
    """The simulator was asked for something it cannot do; the message names the value."""


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated world, its camera, traffic and expert driver."""

    # road geometry
    road_length_m: float = parameter(
        6000.0, 'length of the generated road; the drive must end before it', low=500.0,
        high=100000.0)
    num_lanes_range: tuple = parameter(
        (2, 3), 'number of lanes in the ego direction, drawn per seed (min, max)', low=1,
        high=4)
    oncoming_lanes: int = parameter(
        0, 'lanes for oncoming traffic left of the centre marking (two-way road)', low=0,
        high=1)
    ego_lane: str = parameter(
        'random', 'which ego-direction lane the ego vehicle drives in',
        choices=('rightmost', 'leftmost', 'random'))
    lane_width_range_m: tuple = parameter(
        (3.5, 3.75), 'lane width drawn per seed (min, max), metres', low=2.5, high=4.5)
    max_curvature: float = parameter(
        0.0, 'largest curvature of arcs (1/m); 0 gives a straight road', low=0.0, high=0.02)
    curve_fraction: float = parameter(
        0.0, 'fraction of the road length that is curved (arcs and clothoids)', low=0.0,
        high=1.0)
    shoulder_width_m: float = parameter(
        2.0, 'paved shoulder outside the edge lines, metres', low=0.0, high=5.0)
    # markings
    left_edge_marking: str = parameter(
        'solid_yellow', 'marking at the left edge of the ego-direction lanes (the centre '
        'line of a two-way road)', choices=MARKINGS)
    lane_marking: str = parameter(
        'dashed_white', 'marking between lanes of the same direction', choices=MARKINGS)
    right_edge_marking: str = parameter(
        'solid_white', 'marking at the right road edge', choices=MARKINGS)
    marking_wear: float = parameter(
        0.15, 'fraction of marking length that is worn (faded)', low=0.0, high=1.0)
    marking_missing: float = parameter(
        0.0, 'fraction of marking length that is missing entirely', low=0.0, high=0.9)
    # appearance
    surface: str = parameter(
        'asphalt', 'road surface material', choices=('asphalt', 'concrete', 'random'))
    time_of_day: str = parameter(
        'day', 'lighting: day, or dusk or night with the ego headlights on',
        choices=('day', 'dusk', 'night'))
    brightness_range: tuple = parameter(
        (0.9, 1.1), 'global brightness gain drawn per seed (min, max)', low=0.2, high=2.0)
    contrast_range: tuple = parameter(
        (0.9, 1.1), 'global contrast gain drawn per seed (min, max)', low=0.2, high=2.0)
    noise_sigma: float = parameter(
        2.5, 'standard deviation of per-pixel sensor noise (grey levels)', low=0.0, high=40.0)
    shadows_per_100m: float = parameter(
        0.0, 'mean number of tree/pole/building shadows across the road per 100 m', low=0.0,
        high=50.0)
    haze_visibility_m: float = parameter(
        900.0, 'distance at which haze hides about 2/3 of the contrast', low=50.0,
        high=100000.0)
    trees_per_100m: float = parameter(
        0.6, 'mean number of roadside trees per 100 m (besides those casting shadows)',
        low=0.0, high=50.0)
    delineator_spacing_m: float = parameter(
        0.0, 'spacing of the white delineator posts beside both road edges (0: none)',
        low=0.0, high=500.0)
    motion_blur_px: int = parameter(
        0, 'vertical motion blur kernel length in pixels (0: off)', low=0, high=31)
    # camera
    hfov_deg: float = parameter(65.0, 'horizontal field of view', low=20.0, high=120.0)
    camera_height_m: float = parameter(
        1.4, 'camera height above the road', low=0.3, high=5.0)
    camera_pitch_deg: float = parameter(
        4.0, 'downward pitch of the camera (positive looks down)', low=-5.0, high=30.0)
    camera_x_m: float = parameter(
        1.6, 'camera position ahead of the rear axle (vehicle frame origin)', low=-3.0,
        high=5.0)
    distortion: tuple = parameter(
        (0.0, 0.0, 0.0, 0.0, 0.0), 'plumb_bob lens distortion (k1, k2, p1, p2, k3)', low=-1.0,
        high=1.0)
    max_render_distance_m: float = parameter(
        250.0, 'road surface and objects are drawn up to this distance', low=30.0,
        high=1000.0)
    # traffic
    vehicles_per_km: float = parameter(
        0.0, 'vehicles per km and lane travelling in the ego direction', low=0.0, high=80.0)
    oncoming_per_km: float = parameter(
        0.0, 'vehicles per km in the oncoming lane', low=0.0, high=80.0)
    truck_fraction: float = parameter(
        0.2, 'fraction of vehicles that are trucks', low=0.0, high=1.0)
    pedestrians_per_km: float = parameter(
        0.0, 'pedestrians per km standing or walking beside the road', low=0.0, high=200.0)
    traffic_speed_range_mps: tuple = parameter(
        (22.0, 30.0), 'cruise speed of other vehicles (min, max)', low=0.0, high=60.0)
    min_visible_fraction: float = parameter(
        0.25, 'objects less visible than this (occluded) are left out of the ground truth',
        low=0.0, high=1.0)
    # ego vehicle
    wheelbase_m: float = parameter(2.7, 'ego wheelbase', low=1.0, high=6.0)
    max_steering_deg: float = parameter(
        30.0, 'largest front-wheel angle', low=1.0, high=60.0)
    max_steering_rate_deg_s: float = parameter(
        60.0, 'largest front-wheel angle rate', low=1.0, high=720.0)
    max_accel_mps2: float = parameter(2.5, 'largest acceleration', low=0.1, high=10.0)
    max_decel_mps2: float = parameter(7.0, 'largest braking deceleration', low=0.1, high=12.0)
    # expert driver
    speed_limit_mps: float = parameter(
        27.0, 'cruise speed of the expert on straight road', low=1.0, high=60.0)
    max_lateral_accel_mps2: float = parameter(
        2.0, 'curve speed: the expert keeps v^2 * curvature below this', low=0.3, high=10.0)
    lookahead_time_s: float = parameter(
        0.9, 'pure pursuit lookahead distance per unit speed', low=0.1, high=5.0)
    lookahead_min_m: float = parameter(
        6.0, 'shortest pure pursuit lookahead distance', low=1.0, high=50.0)
    follow_time_gap_s: float = parameter(
        2.0, 'time gap the expert keeps to a lead vehicle in its lane', low=0.5, high=5.0)
    perturbation_rate_hz: float = parameter(
        0.0, 'mean rate of DAgger-style perturbations (the drive leaves the lane centre, the '
        'expert label shows the recovery); 0: off', low=0.0, high=2.0)
    perturbation_offset_m: float = parameter(
        0.4, 'largest lateral offset a perturbation aims for', low=0.0, high=1.5)
    perturbation_duration_s: float = parameter(
        1.5, 'how long one perturbation lasts before the expert recovers', low=0.1, high=10.0)
    steering_noise_deg: float = parameter(
        0.0, 'standard deviation of low-pass filtered noise added to the executed steering '
        '(the expert label stays clean)', low=0.0, high=5.0)

    def __post_init__(self) -> None:
        """Validate every field, then the pairs and cross-field rules."""
        validate(self)
        for name in ('num_lanes_range', 'lane_width_range_m', 'brightness_range',
                     'contrast_range', 'traffic_speed_range_mps'):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise ConfigError(f'SimConfig.{name}={value!r}: must be (min, max)')
        if any(isinstance(v, float) for v in self.num_lanes_range):
            raise ConfigError(f'SimConfig.num_lanes_range={self.num_lanes_range!r}: integers')
        if len(self.distortion) != 5:
            raise ConfigError(f'SimConfig.distortion={self.distortion!r}: needs 5 values')
        if self.oncoming_lanes and self.num_lanes_range[1] > 3:
            raise ConfigError(f'SimConfig.num_lanes_range={self.num_lanes_range!r}: at most 3 '
                              'lanes per direction on a two-way road')
        if self.curve_fraction > 0 and self.max_curvature <= 0:
            raise ConfigError(f'SimConfig.max_curvature={self.max_curvature!r}: must be > 0 '
                              'when curve_fraction > 0')


_HIGHWAY: dict[str, Any] = {'vehicles_per_km': 2.5, 'delineator_spacing_m': 80.0,
                            'num_lanes_range': (2, 4)}

PRESETS: dict[str, dict[str, Any]] = {
    'highway_straight': dict(_HIGHWAY),
    'highway_curvy': dict(_HIGHWAY, max_curvature=1 / 450, curve_fraction=0.7,
                          speed_limit_mps=25.0),
    'rural_curvy': {
        'num_lanes_range': (1, 1), 'oncoming_lanes': 1, 'lane_width_range_m': (3.0, 3.5),
        'max_curvature': 1 / 110, 'curve_fraction': 0.75, 'shoulder_width_m': 0.4,
        'left_edge_marking': 'double_yellow', 'marking_wear': 0.3, 'marking_missing': 0.05,
        'speed_limit_mps': 20.0, 'max_lateral_accel_mps2': 2.2, 'oncoming_per_km': 4.0,
        'pedestrians_per_km': 4.0, 'traffic_speed_range_mps': (13.0, 18.0),
        'haze_visibility_m': 600.0, 'max_render_distance_m': 180.0, 'lookahead_min_m': 5.0,
        'ego_lane': 'rightmost', 'trees_per_100m': 4.0, 'delineator_spacing_m': 50.0},
    'shadows': dict(_HIGHWAY, surface='concrete', max_curvature=1 / 600, curve_fraction=0.5,
                    shadows_per_100m=6.0, brightness_range=(0.95, 1.08),
                    contrast_range=(1.0, 1.15)),
    'dusk': dict(_HIGHWAY, time_of_day='dusk', max_curvature=1 / 500, curve_fraction=0.5,
                 noise_sigma=5.0, haze_visibility_m=500.0,
                 brightness_range=(0.95, 1.05), speed_limit_mps=24.0),
    'night': dict(_HIGHWAY, time_of_day='night', max_curvature=1 / 500, curve_fraction=0.5,
                  noise_sigma=6.0, haze_visibility_m=400.0, brightness_range=(1.0, 1.1),
                  speed_limit_mps=22.0, marking_wear=0.05),
    'traffic': {
        'num_lanes_range': (3, 3), 'ego_lane': 'random', 'vehicles_per_km': 14.0,
        'truck_fraction': 0.25, 'pedestrians_per_km': 12.0, 'max_curvature': 1 / 400,
        'curve_fraction': 0.4, 'speed_limit_mps': 16.0,
        'traffic_speed_range_mps': (8.0, 15.0), 'lookahead_min_m': 5.0},
}


def preset_names() -> tuple[str, ...]:
    """Return the names of the built-in presets."""
    return tuple(PRESETS)


def preset_config(name: str, **overrides: Any) -> SimConfig:
    """Return the configuration of a named preset, optionally with some fields replaced."""
    try:
        values: Mapping[str, Any] = PRESETS[name]
    except KeyError:
        raise SimulationError(f'unknown preset {name!r}; known: {list(PRESETS)}') from None
    return replace(SimConfig(**values), **overrides)
