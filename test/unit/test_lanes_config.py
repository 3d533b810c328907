"""Detector configuration: validation, the parameter file and the camera presets."""

import pytest

from av_perception.lanes import LaneDetector
from av_perception.lanes.config import LaneDetectorConfig, LaneDetectorNodeConfig
from av_perception.lanes.errors import LaneError
from av_perception.lanes.presets import load_camera_preset, preset_names, presets_dir
from av_perception.params import ConfigError, field_specs, from_mapping, load_param_yaml


def test_parameter_file_lists_exactly_the_node_config_fields_with_defaults():
    values = load_param_yaml(presets_dir().parent / 'lane_detector.param.yaml')
    assert set(values) == {f.name for f in field_specs(LaneDetectorNodeConfig)}
    assert from_mapping(LaneDetectorNodeConfig, values) == LaneDetectorNodeConfig()


def test_node_config_splits_into_the_detector_config():
    node = LaneDetectorNodeConfig(camera_height_m=1.3, output_frame='base_footprint')
    detector = node.detector_config()
    assert type(detector) is LaneDetectorConfig and detector.camera_height_m == 1.3
    assert {f.name for f in field_specs(LaneDetectorNodeConfig)} - {
        f.name for f in field_specs(LaneDetectorConfig)} == {
        'input_qos_reliability', 'input_qos_depth', 'compressed_input', 'output_frame'}
    with pytest.raises(ConfigError, match='input_qos_reliability'):
        LaneDetectorNodeConfig(input_qos_reliability='sometimes')
    with pytest.raises(ConfigError, match='output_frame'):
        LaneDetectorNodeConfig(output_frame=' ')


@pytest.mark.parametrize('values, field', [
    ({'camera_height_m': 0.0}, 'camera_height_m'),
    ({'window_count': 2}, 'window_count'),
    ({'smoothing': 'fast'}, 'smoothing'),
    ({'lane_width_m': 5.0}, 'lane_width_m'),  # outside (min, max) widths
    ({'bev_far_m': 5.0, 'bev_near_m': 4.0}, 'bev_far_m'),
    ({'bev_half_width_m': 3.0}, 'bev_half_width_m'),
    ({'bev_lateral_resolution_m': 0.1}, 'bev_lateral_resolution_m'),
    ({'ground_points_image_px': (1.0, 2.0, 3.0, 4.0)}, 'ground_points'),
    ({'ground_points_image_size': (640, 0)}, 'ground_points_image_size'),
    ({'ground_points_m': (1.0,) * 8, 'ground_points_image_px': (1.0,) * 10}, 'ground_points_m'),
])
def test_bad_values_are_rejected_naming_the_field(values, field):
    with pytest.raises(ConfigError, match=field):
        LaneDetectorConfig(**values)


def test_every_shipped_preset_builds_a_detector():
    names = preset_names()
    assert {'tusimple', 'udacity_advanced', 'udacity_p1'} <= set(names)
    for name in names:
        preset = load_camera_preset(name)
        config = from_mapping(LaneDetectorConfig, preset.detector_overrides)
        detector = LaneDetector(config, preset.camera)
        if preset.camera is not None:
            view = detector.birdseye_for(preset.camera.width, preset.camera.height)
            assert view.valid.any()


def test_preset_errors(tmp_path):
    with pytest.raises(LaneError, match='neither a file nor a preset'):
        load_camera_preset('no_such_camera')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('lane_detector: [1, 2]\n')
    with pytest.raises(LaneError, match='must be a mapping'):
        load_camera_preset(bad)
    plain = tmp_path / 'plain.yaml'
    plain.write_text('lane_detector:\n  camera_height_m: 1.3\n')
    preset = load_camera_preset(plain)
    assert preset.camera is None and preset.detector_overrides == {'camera_height_m': 1.3}
