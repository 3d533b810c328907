"""Our XML launch files: only the supported subset, installed executables, declared parameters."""

import importlib
from pathlib import Path

import pytest

from av_perception.entry_points import CONSOLE_SCRIPTS
from av_perception.launch_xml import load_launch
from av_perception.node_configs import config_class, NODE_CONFIGS
from av_perception.params import field_specs, load_param_yaml

LAUNCH_DIR = Path(__file__).resolve().parents[2] / 'launch'
LAUNCH_FILES = sorted(LAUNCH_DIR.glob('*.launch.xml'))
ROS_BUILTIN_PARAMETERS = {'use_sim_time'}


def plans():
    """Yield (file name, plan) for every launch file with its default arguments."""
    for path in LAUNCH_FILES:
        yield path.name, load_launch(path, {'bag': '/tmp/some_bag'} if 'replay' in path.name
                                     else {})


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=[p.name for p in LAUNCH_FILES])
def test_every_launch_file_loads_with_its_defaults(path):
    plan = load_launch(path, {'bag': '/tmp/some_bag'} if 'replay' in path.name else {})
    assert plan.processes, f'{path.name} starts nothing'
    for process in plan.processes:
        if process.package:
            assert process.executable in CONSOLE_SCRIPTS


@pytest.mark.parametrize('name,plan', list(plans()), ids=[p.name for p in LAUNCH_FILES])
def test_nodes_get_only_parameters_they_declare(name, plan):
    for process in plan.processes:
        if not process.package:
            continue
        assert process.executable in NODE_CONFIGS, f'{process.executable}: no config class'
        declared = {f.name for f in field_specs(config_class(process.executable))}
        given = {key for key, _ in process.params}
        for file in process.param_files:
            given |= set(load_param_yaml(file, process.node_name))
        undeclared = given - declared - ROS_BUILTIN_PARAMETERS
        assert not undeclared, f'{name}: {process.name} gets undeclared {sorted(undeclared)}'


@pytest.mark.parametrize('name,plan', list(plans()), ids=[p.name for p in LAUNCH_FILES])
def test_remapped_private_topics_exist_in_the_node(name, plan):
    support = Path(importlib.import_module('av_perception.ros.node_support').__file__)
    for process in plan.processes:
        if not process.package:
            continue
        module = importlib.import_module(CONSOLE_SCRIPTS[process.executable].split(':')[0])
        source = Path(module.__file__).read_text() + support.read_text()
        for topic, _ in process.remaps:
            if topic.startswith('~/'):
                leaf = topic.rsplit('/', 1)[-1]
                assert f"'{topic}'" in source or f"'{leaf}'" in source, \
                    f'{name}: {process.name} has no topic {topic}'


def test_pipeline_sets_large_data_and_respawns_every_node():
    plan = load_launch(LAUNCH_DIR / 'perception.launch.xml')
    assert {p.executable for p in plan.processes} == {
        'lane_detector', 'object_detector', 'temporal_controller'}
    for process in plan.processes:
        assert dict(process.env)['FASTDDS_BUILTIN_TRANSPORTS'] == 'LARGE_DATA'
        assert process.respawn
    only_lanes = load_launch(LAUNCH_DIR / 'perception.launch.xml',
                             {'run_detector': 'false', 'run_controller': 'false',
                              'camera_image': '/front/image'})
    assert [p.executable for p in only_lanes.processes] == ['lane_detector']
    assert ('~/input/image', '/front/image') in only_lanes.processes[0].remaps


def test_controller_reads_the_detectors_boxes_and_the_camera_info():
    plan = load_launch(LAUNCH_DIR / 'perception.launch.xml', {'camera_info': '/front/info'})
    nodes = {p.executable: dict(p.remaps) for p in plan.processes}
    detector_output = nodes['object_detector']['~/output/detections']
    assert nodes['temporal_controller']['~/input/detections'] == detector_output
    assert nodes['temporal_controller']['~/input/camera_info'] == '/front/info'


def test_replay_uses_our_player_or_ros2_bag():
    ours = load_launch(LAUNCH_DIR / 'replay.launch.xml', {'bag': '/data/drive'})
    names = [p.name for p in ours.processes]
    assert 'bag_player' in names and 'output_recorder' in names
    player = next(p for p in ours.processes if p.name == 'bag_player')
    assert ('bag', '/data/drive') in player.params and ('clock', 'true') in player.params
    theirs = load_launch(LAUNCH_DIR / 'replay.launch.xml',
                         {'bag': '/data/drive', 'use_ros2_bag': 'true'})
    assert 'bag_player' not in [p.name for p in theirs.processes]
    ros2_bag = next(p for p in theirs.processes if p.name == 'ros2_bag_play')
    assert ros2_bag.command[:4] == ('ros2', 'bag', 'play', '/data/drive')
    for process in ours.processes:
        if process.package:
            assert ('use_sim_time', 'true') in process.params or process.name == 'bag_player'
