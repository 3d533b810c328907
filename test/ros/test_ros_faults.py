"""Faults at the ROS level: bad models, time jumps, bad parameter updates, each node alive."""

from __future__ import annotations

from pathlib import Path
import shutil

import numpy as np
import pytest

from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
from av_perception.sim import Simulator

INPUT = (64, 64)
REPO_MODELS = Path(__file__).resolve().parents[2] / 'models'


def _statuses(diagnostics, node_name: str) -> list:
    return [s for m in diagnostics.messages() for s in m.status if s.name == f'/{node_name}']


def _values(status) -> dict:
    return {kv.key: kv.value for kv in status.values}


def _truncated(path):
    good = make_constant_model(path.with_name('good.onnx'),
                               yolox_output_for_boxes([(8, 8, 40, 40)], [2], [0.9], INPUT),
                               INPUT)
    path.write_bytes(good.read_bytes()[:200])
    return path


def _wrong_shape(path):
    return make_constant_model(path, np.zeros((1, 7), np.float32), INPUT)


def _all_nan(path):
    output = yolox_output_for_boxes([(8, 8, 40, 40)], [2], [0.9], INPUT)
    return make_constant_model(path, np.full_like(output, np.nan), INPUT,
                               metadata={'format': 'yolox'})


@pytest.mark.parametrize('make_model,words', [
    (_truncated, 'cannot load'),
    (_wrong_shape, 'output'),
    (_all_nan, 'NaN'),
], ids=['truncated', 'wrong-output-shape', 'all-nan-output'])
def test_bad_detector_models_fail_configure_and_the_node_stays_alive(
        make_model, words, wait_until, tmp_path, ros_node, collect, processes):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from sensor_msgs.msg import Image
    from av_perception.ros.qos import output_qos
    model = make_model(tmp_path / 'bad.onnx')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    name = f'detector_{make_model.__name__.strip("_")}'
    node = processes('av_perception.ros.object_detector', '-p', f'model_path:={model}',
                     '-r', f'__node:={name}', '-r', '~/input/image:=/bad_model/image')
    assert wait_until(lambda: any(s.level == DiagnosticStatus.ERROR
                                  for s in _statuses(diagnostics, name)), 20.0)
    status = _statuses(diagnostics, name)[-1]
    assert 'model not loaded' in status.message and 'bad.onnx' in status.message
    assert words.lower() in status.message.lower(), status.message
    # unconfigured: it subscribes to nothing, serves nothing, but it is alive and reporting
    images = ros_node.create_publisher(Image, '/bad_model/image', output_qos())
    assert images.get_subscription_count() == 0
    count = len(diagnostics.messages())
    assert wait_until(lambda: len(diagnostics.messages()) > count + 1, 5.0)
    assert node.poll() is None


@pytest.fixture(scope='module')
def highway_frames():
    """Return 12 simulator frames of a straight highway."""
    sim = Simulator('highway_straight', seed=4)
    return [sim.step().image for _ in range(12)]


def _image(frame, sec: int, nanosec: int = 0):
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import bgr_to_image_msg
    header = Header(frame_id='camera')
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return bgr_to_image_msg(frame, header)


def test_controller_model_emitting_nan_commands_stop_with_an_error(
        wait_until, highway_frames, tmp_path, ros_node, collect, processes):
    import onnx
    from onnx import numpy_helper
    from ackermann_msgs.msg import AckermannDriveStamped
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from sensor_msgs.msg import Image
    from av_perception.ros.qos import output_qos
    model_dir = tmp_path / 'nan_controller'
    shutil.copytree(REPO_MODELS / 'controller', model_dir)
    temporal = onnx.load(str(model_dir / 'temporal.onnx'))
    for index, tensor in enumerate(temporal.graph.initializer):  # every weight NaN
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32:
            temporal.graph.initializer[index].CopyFrom(
                numpy_helper.from_array(np.full_like(values, np.nan), tensor.name))
    onnx.save(temporal, str(model_dir / 'temporal.onnx'))
    commands = collect(AckermannDriveStamped, '/nan_ctl/command')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node = processes('av_perception.ros.temporal_controller', '-p', f'model_dir:={model_dir}',
                     '-p', 'input_qos_reliability:=reliable', '-p', 'input_qos_depth:=10',
                     '-r', '__node:=nan_controller', '-r', '~/input/image:=/nan_ctl/image',
                     '-r', '~/output/command:=/nan_ctl/command')
    images = ros_node.create_publisher(Image, '/nan_ctl/image', output_qos())
    assert wait_until(lambda: images.get_subscription_count() >= 1, 20.0)
    # /diagnostics is volatile: wait until the node's periodic status reaches us (its writer
    # matched our reader), so the error published at the first frame cannot be lost
    assert wait_until(lambda: _statuses(diagnostics, 'nan_controller'), 20.0)
    for index, frame in enumerate(highway_frames[:4]):
        images.publish(_image(frame, 100, index * 50_000_000))

    def answers():
        return [m for m in commands.messages() if m.header.frame_id == 'camera']
    assert wait_until(lambda: len(answers()) == 4, 10.0)
    assert all(m.drive.speed == 0.0 and m.drive.steering_angle == 0.0 for m in answers())
    assert wait_until(lambda: any(s.level == DiagnosticStatus.ERROR
                                  for s in _statuses(diagnostics, 'nan_controller')), 5.0)
    errors = [s for s in _statuses(diagnostics, 'nan_controller')
              if s.level == DiagnosticStatus.ERROR]
    assert any('nan' in s.message.lower() for s in errors), [s.message for s in errors]
    assert node.poll() is None


def test_time_jump_back_resets_lanes_tracks_and_history(
        wait_until, highway_frames, tmp_path, ros_node, collect, processes):
    """A bag loop: stamps jump back; every node counts it and starts its state over."""
    from ackermann_msgs.msg import AckermannDriveStamped
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    from nav_msgs.msg import Path as PathMsg
    from av_perception.ros.qos import output_qos
    model = make_constant_model(
        tmp_path / 'car.onnx',
        yolox_output_for_boxes([(100, 150, 200, 250)], [2], [0.9], (416, 416)), (416, 416),
        metadata={'format': 'yolox'})
    lanes = collect(PathMsg, '/jump/lanes')
    detections = collect(Detection2DArray, '/jump/detections')
    commands = collect(AckermannDriveStamped, '/jump/command')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    common = ['-p', 'input_qos_reliability:=reliable', '-p', 'input_qos_depth:=20',
              '-r', '~/input/image:=/jump/image']
    nodes = [
        processes('av_perception.ros.lane_detector', *common, '-r', '__node:=jump_lanes',
                  '-r', '~/output/center_line:=/jump/lanes'),
        processes('av_perception.ros.object_detector', *common, '-r', '__node:=jump_detector',
                  '-p', f'model_path:={model}', '-p', 'tracking_enabled:=true',
                  '-p', 'processing_thread:=false',
                  '-r', '~/output/detections:=/jump/detections'),
        processes('av_perception.ros.temporal_controller', *common, '-r', '__node:=jump_ctl',
                  '-p', 'frame_timeout_s:=5.0', '-r', '~/output/command:=/jump/command')]
    images = ros_node.create_publisher(Image, '/jump/image', output_qos(20))
    assert wait_until(lambda: images.get_subscription_count() >= 3, 30.0)
    # 6 frames at t = 200.0 .. 200.25 s, then the bag loops back to t = 100 s: 6 frames more
    stamps = [(200, i * 50_000_000) for i in range(6)] + [(100, i * 50_000_000)
                                                          for i in range(6)]
    for (sec, nanosec), frame in zip(stamps, highway_frames):
        images.publish(_image(frame, sec, nanosec))
        # one frame at a time, so that every node sees every frame, in order

        def answered(sec=sec, nanosec=nanosec):
            return all(any(m.header.stamp.sec == sec and m.header.stamp.nanosec == nanosec
                           for m in outputs.messages())
                       for outputs in (lanes, detections, commands))
        assert wait_until(answered, 10.0), (sec, nanosec)
    # each node saw the stamps go back once: it counted the jump and started its state over
    # (lane tracks, the tracker's ids, the controller's frame history)

    def jumps(node_name):
        found = _statuses(diagnostics, node_name)
        return int(_values(found[-1]).get('time_jumps', 0)) if found else 0
    for node_name in ('jump_lanes', 'jump_detector', 'jump_ctl'):
        assert wait_until(lambda: jumps(node_name) == 1, 5.0), node_name
    last_ctl = _values(_statuses(diagnostics, 'jump_ctl')[-1])
    assert int(last_ctl['context_frames']) <= 6  # the history restarted at the jump
    assert all(node.poll() is None for node in nodes)


def test_bad_parameter_updates_are_rejected_with_the_reason(wait_until, ros_node, processes):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    node = processes('av_perception.ros.lane_detector', '-r', '__node:=param_lanes')
    client = ros_node.create_client(SetParameters, '/param_lanes/set_parameters')
    assert client.wait_for_service(timeout_sec=20.0)

    def set_parameter(name, value):
        kind = ParameterType.PARAMETER_STRING if isinstance(value, str) else \
            ParameterType.PARAMETER_DOUBLE
        parameter = Parameter(name=name, value=ParameterValue(
            type=kind, string_value=value if isinstance(value, str) else '',
            double_value=value if isinstance(value, float) else 0.0))
        future = client.call_async(SetParameters.Request(parameters=[parameter]))
        assert wait_until(future.done, 10.0)
        return future.result().results[0]
    # in range on its own, but no longer consistent with the others: our validation says why
    inconsistent = set_parameter('lane_width_min_m', 5.0)
    assert not inconsistent.successful
    assert 'lane_width_m=3.6: must lie strictly between lane_width_min_m=5.0' in \
        inconsistent.reason, inconsistent.reason
    out_of_range = set_parameter('camera_pitch_deg', 75.0)
    assert not out_of_range.successful and out_of_range.reason
    read_only = set_parameter('input_qos_reliability', 'reliable')
    assert not read_only.successful and 'read-only' in read_only.reason
    accepted = set_parameter('lane_width_min_m', 2.6)
    assert accepted.successful, accepted.reason
    assert node.poll() is None
    ros_node.destroy_client(client)
