"""Configuration dataclasses: validation, parameter files, and the player/recorder configs."""

from dataclasses import dataclass, replace

import pytest

from av_perception.bag.playback import (load_qos_overrides, PlaybackSchedule, PlayerConfig,
                                        qos_from_recorded, QosSpec, RecorderConfig, remap_table)
from av_perception.bag.writer import offered_qos
from av_perception.params import (ConfigError, from_mapping, load_config, load_param_yaml,
                                  parameter, to_mapping, validate)


@dataclass(frozen=True)
class Example:
    rate: float = parameter(1.0, 'Rate.', low=0.1, high=10.0)
    count: int = parameter(3, 'Count.', low=0)
    mode: str = parameter('a', 'Mode.', choices=('a', 'b'))
    flag: bool = parameter(False, 'Flag.')
    names: tuple = parameter((), 'Names.', item_type=str)
    gains: tuple = parameter((1.0, 2.0), 'Gains.', low=0.0)

    def __post_init__(self):
        validate(self)


@pytest.mark.parametrize('change,message', [
    ({'rate': 0.0}, r'Example.rate=0.0: must be >= 0.1'),
    ({'rate': 11}, r'Example.rate=11.0: must be <= 10.0'),
    ({'rate': float('nan')}, r'Example.rate=nan: must not be NaN'),
    ({'rate': 'fast'}, r"Example.rate='fast': must be a number"),
    ({'count': 2.5}, r'Example.count=2.5: must be an integer'),
    ({'count': True}, r'Example.count=True: must be an integer'),
    ({'mode': 'c'}, r"Example.mode='c': must be one of \['a', 'b'\]"),
    ({'flag': 1}, r'Example.flag=1: must be a bool'),
    ({'names': ('x', 3)}, r'every element must be a str'),
    ({'names': 'x'}, r"Example.names='x': must be a list"),
    ({'gains': (1.0, -1.0)}, r'must be >= 0.0'),
])
def test_bad_values_name_field_value_and_rule(change, message):
    with pytest.raises(ConfigError, match=message):
        replace(Example(), **change)


def test_ints_become_floats_and_lists_become_tuples():
    config = from_mapping(Example, {'rate': 2, 'gains': [1, 2], 'names': ['a']})
    assert config.rate == 2.0 and isinstance(config.rate, float)
    assert config.gains == (1.0, 2.0) and config.names == ('a',)
    assert to_mapping(config)['gains'] == [1.0, 2.0]


def test_unknown_keys_are_rejected():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['rat'\]"):
        from_mapping(Example, {'rat': 2.0})


def test_parameter_file_sections_merge_and_nested_keys_flatten(tmp_path):
    path = tmp_path / 'p.yaml'
    path.write_text('/**:\n  ros__parameters:\n    rate: 2.0\n    count: 1\n'
                    'node_a:\n  ros__parameters:\n    count: 5\n'
                    'other:\n  ros__parameters:\n    mode: b\n')
    assert load_param_yaml(path, 'node_a') == {'rate': 2.0, 'count': 5}
    config = load_config(Example, path, {'flag': True, 'mode': None}, node_name='node_a')
    assert (config.rate, config.count, config.flag, config.mode) == (2.0, 5, True, 'a')
    path.write_text('/**:\n  nothing: 1\n')
    with pytest.raises(ConfigError, match='has no ros__parameters'):
        load_param_yaml(path)
    with pytest.raises(ConfigError, match='cannot read parameter file'):
        load_param_yaml(tmp_path / 'missing.yaml')


def test_tuple_parameter_needs_an_item_type():
    with pytest.raises(TypeError, match='needs item_type'):
        parameter((), 'no type')


def test_player_config_checks(tmp_path):
    with pytest.raises(ConfigError, match='PlayerConfig.rate=0.0'):
        PlayerConfig(rate=0.0)
    with pytest.raises(ConfigError, match="remap 'a=b'"):
        PlayerConfig(remap=('a=b',))
    with pytest.raises(ConfigError, match='no bag given'):
        PlayerConfig().validate_for_playing()
    with pytest.raises(ConfigError, match='no such file or directory'):
        PlayerConfig(bag=str(tmp_path / 'x')).validate_for_playing()
    assert remap_table(['/a:=/b', ' /c := /d ']) == {'/a': '/b', '/c': '/d'}


def test_recorder_config_checks(tmp_path):
    with pytest.raises(ConfigError, match="RecorderConfig.storage='rosbag'"):
        RecorderConfig(storage='rosbag')
    with pytest.raises(ConfigError, match='no output bag'):
        RecorderConfig().validate_for_recording()
    (tmp_path / 'exists').mkdir()
    with pytest.raises(ConfigError, match='exists already'):
        RecorderConfig(output=str(tmp_path / 'exists')).validate_for_recording()
    RecorderConfig(output=str(tmp_path / 'exists'), overwrite=True).validate_for_recording()


def test_schedule_maps_bag_time_to_wall_time():
    schedule = PlaybackSchedule(bag_start_ns=5_000_000_000, rate=2.0, wall_start=100.0)
    assert schedule.due(5_000_000_000) == 100.0
    assert schedule.due(7_000_000_000) == pytest.approx(101.0)
    assert schedule.bag_time(101.0) == 7_000_000_000
    schedule.restart(7_000_000_000, 200.0)
    assert schedule.due(9_000_000_000) == pytest.approx(201.0)
    with pytest.raises(ConfigError, match='must be > 0'):
        PlaybackSchedule(0, 0.0, 0.0)


def test_played_qos_follows_the_recorded_publishers():
    reliable, best_effort = offered_qos(True, False, 5), offered_qos(False, False, 1)
    latched = offered_qos(True, True, 1)
    assert qos_from_recorded([]) == QosSpec()
    assert qos_from_recorded([reliable]) == QosSpec('reliable', 'volatile', 5)
    assert qos_from_recorded([reliable, best_effort]).reliability == 'best_effort'
    assert qos_from_recorded([latched]).durability == 'transient_local'
    assert qos_from_recorded([latched, reliable]).durability == 'volatile'


def test_qos_override_file(tmp_path):
    path = tmp_path / 'qos.yaml'
    path.write_text('/camera/image_raw:\n  reliability: best_effort\n  depth: 2\n'
                    '/map:\n  durability: transient_local\n')
    overrides = load_qos_overrides(path)
    assert overrides['/camera/image_raw'] == QosSpec('best_effort', 'volatile', 2)
    assert overrides['/map'] == QosSpec('reliable', 'transient_local', 10)
    path.write_text('/x:\n  reliablity: reliable\n')
    with pytest.raises(ConfigError, match=r"unknown keys \['reliablity'\]"):
        load_qos_overrides(path)
    path.write_text('/x:\n  reliability: sometimes\n')
    with pytest.raises(ConfigError, match="QoS reliability 'sometimes'"):
        load_qos_overrides(path)
