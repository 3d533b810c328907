"""Simulator configuration: presets, validation, parameter file, API edge cases."""

from pathlib import Path

import numpy as np
import pytest

from av_perception.params import ConfigError, field_specs, load_config, load_param_yaml
from av_perception.sim import (DriveCommand, preset_config, preset_names, SimConfig,
                               SimulationError, Simulator)
from av_perception.sim.road import build_road

PARAM_FILE = Path(__file__).resolve().parents[2] / 'config' / 'simulator.yaml'


def test_required_presets_exist_and_are_valid():
    names = preset_names()
    for name in ('highway_straight', 'highway_curvy', 'rural_curvy', 'shadows', 'dusk',
                 'traffic'):
        assert name in names
        assert isinstance(preset_config(name), SimConfig)
    assert preset_config('dusk').time_of_day == 'dusk'
    assert preset_config('traffic', noise_sigma=0.0).noise_sigma == 0.0
    with pytest.raises(SimulationError, match='nowhere'):
        preset_config('nowhere')


@pytest.mark.parametrize('field, value, rule', [
    ('lane_width_range_m', (3.8, 3.0), 'min, max'),
    ('hfov_deg', 5.0, '>= 20'),
    ('surface', 'gravel', 'one of'),
    ('num_lanes_range', (1, 9), '<= 4'),
    ('distortion', (0.1, 0.0), '5 values'),
    ('curve_fraction', 0.5, 'max_curvature'),
])
def test_bad_values_raise_naming_the_field(field, value, rule):
    with pytest.raises(ConfigError, match=rule) as err:
        SimConfig(**{field: value})
    assert field in str(err.value) or 'max_curvature' in str(err.value)


def test_parameter_file_lists_exactly_the_config_fields_with_their_defaults():
    values = load_param_yaml(PARAM_FILE)
    assert set(values) == {f.name for f in field_specs(SimConfig)}
    assert load_config(SimConfig, PARAM_FILE) == SimConfig()
    text = PARAM_FILE.read_text()
    for field in field_specs(SimConfig):  # every parameter has a comment above it
        before = text.split(f'    {field.name}:')[0].rstrip().splitlines()[-1]
        assert before.strip().startswith('#'), field.name


def test_roads_respect_the_configured_ranges():
    config = preset_config('rural_curvy')
    for seed in range(5):
        road = build_road(config, np.random.default_rng(seed))
        assert 3.0 <= road.lane_width <= 3.5
        assert road.num_lanes == 1 and road.oncoming_lanes == 1
        assert np.max(np.abs(road.curvature)) <= config.max_curvature + 1e-12
        assert road.markings[1].kind == 'double_yellow'
        assert road.length >= config.road_length_m
        # heading is continuous: the chained segments join without kinks
        assert np.max(np.abs(np.diff(road.heading))) < config.max_curvature * 0.25 + 1e-9
    straight = build_road(preset_config('highway_straight'), np.random.default_rng(0))
    assert np.all(straight.curvature == 0.0)


def test_simulator_arguments_are_checked():
    with pytest.raises(SimulationError, match='fps'):
        Simulator('highway_straight', seed=0, fps=0)
    with pytest.raises(SimulationError, match='size'):
        Simulator('highway_straight', seed=0, size=(10, 5))
    with pytest.raises(SimulationError, match='preset'):
        Simulator(42, seed=0)
    sim = Simulator('highway_straight', seed=0, size=(200, 100), h_samples=[60, 80, 99],
                    render=False)
    obs = sim.step(DriveCommand(0.0, 20.0))
    assert obs.image is None
    assert list(obs.truth.h_samples) == [60, 80, 99]
    assert np.all(np.isfinite(obs.truth.left_x)) and np.all(np.isfinite(obs.truth.right_x))
    assert sim.step(render=True).image.shape == (100, 200, 3)
