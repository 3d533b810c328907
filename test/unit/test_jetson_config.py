"""config/jetson.param.yaml reaches the nodes through the launch files, and says what it should."""

from pathlib import Path

from av_perception.launch_xml import load_launch
from av_perception.node_configs import config_class
from av_perception.params import field_specs, from_mapping, load_param_yaml
from av_perception.providers import TENSORRT

REPO = Path(__file__).resolve().parents[2]
JETSON = REPO / 'config' / 'jetson.param.yaml'
PIPELINE = REPO / 'launch' / 'perception.launch.xml'


def node_parameters(process) -> dict:
    """Merge a process's parameter files as ROS does: later files override earlier ones."""
    values = {}
    for file in process.param_files:
        values.update(load_param_yaml(file, process.node_name))
    values.update(dict(process.params))
    return values


def test_jetson_true_applies_the_jetson_file_over_every_node_file():
    plan = load_launch(PIPELINE, {'jetson': 'true'})
    assert {p.executable for p in plan.processes} == {
        'lane_detector', 'object_detector', 'temporal_controller'}
    for process in plan.processes:
        base = REPO / 'config' / f'{process.executable}.param.yaml'
        assert [Path(f) for f in process.param_files] == [base, JETSON]
        declared = {f.name for f in field_specs(config_class(process.executable))}
        assert set(node_parameters(process)) - declared <= {'use_sim_time'}
    detector = next(p for p in plan.processes if p.executable == 'object_detector')
    values = node_parameters(detector)
    assert values['providers'][0] == TENSORRT and values['trt_fp16'] is True
    assert (values['input_width'], values['input_height']) == (416, 416)
    assert values['score_threshold'] == load_param_yaml(
        REPO / 'config' / 'object_detector.param.yaml', 'object_detector')['score_threshold']
    controller = next(p for p in plan.processes if p.executable == 'temporal_controller')
    assert node_parameters(controller)['providers'][0] == TENSORRT


def test_default_launch_keeps_the_node_files_alone():
    plan = load_launch(PIPELINE)
    for process in plan.processes:
        base = REPO / 'config' / f'{process.executable}.param.yaml'
        assert [Path(f) for f in process.param_files] == [base, base]


def test_a_single_node_launch_file_takes_the_overlay_directly():
    plan = load_launch(REPO / 'launch' / 'object_detector.launch.xml',
                       {'overlay_param_file': str(JETSON)})
    (process,) = plan.processes
    assert node_parameters(process)['warmup_runs'] == load_param_yaml(
        JETSON, 'object_detector')['warmup_runs']


def test_every_section_validates_as_a_node_configuration():
    for node in ('object_detector', 'temporal_controller'):
        cls = config_class(node)
        merged = {**load_param_yaml(REPO / 'config' / f'{node}.param.yaml', node),
                  **load_param_yaml(JETSON, node)}
        config = from_mapping(cls, merged)
        options = config.execution_provider_options()
        assert options.trt_fp16 and options.trt_engine_cache and options.trt_timing_cache


def test_replay_forwards_the_jetson_switch():
    plan = load_launch(REPO / 'launch' / 'replay.launch.xml',
                       {'bag': '/data/drive', 'jetson': 'true'})
    detector = next(p for p in plan.processes if p.executable == 'object_detector')
    assert Path(detector.param_files[-1]) == JETSON


def test_systemd_unit_starts_the_jetson_graph_and_escapes_shell_variables():
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(REPO / 'deploy' / 'av-perception.service')
    service = unit['Service']
    assert 'perception.launch.xml jetson:=true' in service['ExecStart']
    assert unit['Install']['WantedBy'] == 'multi-user.target'
    assert service['KillSignal'] == 'SIGINT'  # ros2 launch shuts the nodes down cleanly
    for key in ('ExecStart', 'ExecStartPre'):
        # systemd expands $NAME itself: a variable meant for bash must be written $$NAME
        assert '$' not in service[key].replace('$$', ''), key
    lines = (REPO / 'deploy' / 'av-perception.service').read_text().splitlines()
    assert 'Environment=AV_PERCEPTION_MODEL_CACHE=/var/lib/av_perception/models' in lines
    assert 'StateDirectory=av_perception' in lines


def test_dockerfile_says_it_was_not_built_and_uses_paths_that_exist():
    text = (REPO / 'docker' / 'Dockerfile.jetson').read_text()
    assert 'NOT BUILT' in text
    assert 'jetson:=true' in text and "'numpy<2'" in text
    assert 'src/av_perception/tools/interfaces' in text
    for package in ('vision_msgs', 'ackermann_msgs'):
        assert package in text
        assert (REPO / 'tools' / 'interfaces' / package / 'package.xml').is_file()
