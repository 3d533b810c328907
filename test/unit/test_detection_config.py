"""Configuration of the detector/tracker and the object_detector parameter file."""

import dataclasses
from pathlib import Path

import pytest

from av_perception.detection.config import (DetectorConfig, MODEL_CACHE_ENV,
                                            ObjectDetectorConfig, TrackerConfig)
from av_perception.params import ConfigError, field_specs, load_config, load_param_yaml

PARAM_FILE = Path(__file__).resolve().parents[2] / 'config' / 'object_detector.param.yaml'


def test_param_file_lists_exactly_the_config_fields():
    keys = set(load_param_yaml(PARAM_FILE, 'object_detector'))
    fields = {f.name for f in field_specs(ObjectDetectorConfig)}
    assert keys == fields, (sorted(keys - fields), sorted(fields - keys))


def test_param_file_builds_a_valid_config_and_comments_every_parameter():
    config = load_config(ObjectDetectorConfig, PARAM_FILE, node_name='object_detector')
    assert config.model_path == 'yolox_nano.onnx'
    assert config.score_threshold == 0.3
    assert config.class_ids == (-1,)
    lines = PARAM_FILE.read_text().splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith('#') and not stripped.endswith(':'):
            assert lines[index - 1].strip().startswith('#'), f'no comment above {stripped!r}'


def test_combined_config_is_both_a_detector_and_a_tracker_config():
    config = ObjectDetectorConfig(score_threshold=0.4, track_max_age=5)
    assert isinstance(config, DetectorConfig) and isinstance(config, TrackerConfig)
    detector_fields = {f.name for f in dataclasses.fields(DetectorConfig)}
    tracker_fields = {f.name for f in dataclasses.fields(TrackerConfig)}
    assert detector_fields | tracker_fields < {f.name for f in dataclasses.fields(config)}


@pytest.mark.parametrize('cls, values, fragment', [
    (ObjectDetectorConfig, {'track_low_score': 0.6, 'track_high_score': 0.5}, 'track_low_score'),
    (TrackerConfig, {'track_low_score': 0.6, 'track_high_score': 0.5}, 'track_low_score'),
    (DetectorConfig, {'input_width': 320}, 'input_height'),
    (DetectorConfig, {'providers': ('CUDA',)}, "'CUDA'"),
    (DetectorConfig, {'providers': ()}, 'providers'),
    (DetectorConfig, {'class_ids': ()}, 'class_ids'),
    (DetectorConfig, {'score_threshold': 1.5}, 'score_threshold'),
    (DetectorConfig, {'model_format': 'yolov3'}, 'model_format'),
    (ObjectDetectorConfig, {'input_qos_reliability': 'sometimes'}, 'input_qos_reliability'),
])
def test_invalid_values_raise_config_error_naming_the_field(cls, values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        cls(**values)


def test_class_filter_and_cache_directories(monkeypatch, tmp_path):
    assert DetectorConfig().kept_class_ids() is None
    assert DetectorConfig(class_ids=(2, 7)).kept_class_ids() == frozenset({2, 7})
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / 'cache'))
    config = DetectorConfig()
    assert config.resolved_cache_dir() == tmp_path / 'cache'
    assert config.resolved_engine_cache_dir() == tmp_path / 'cache' / 'tensorrt'
    # The session options the detector loads with use the detector's own cache layout.
    options = DetectorConfig(model_cache_dir=str(tmp_path / 'm'), trt_fp16=False,
                             trt_workspace_mb=64).execution_provider_options()
    assert options.trt_engine_cache_path == str(tmp_path / 'm' / 'tensorrt')
    assert (options.trt_fp16, options.trt_workspace_bytes) == (False, 64 << 20)
    explicit = DetectorConfig(model_cache_dir=str(tmp_path / 'm'),
                              trt_engine_cache_path=str(tmp_path / 'e'))
    assert explicit.resolved_cache_dir() == tmp_path / 'm'
    assert explicit.resolved_engine_cache_dir() == tmp_path / 'e'
