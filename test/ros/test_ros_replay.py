"""Lockstep replay: the launch file's nodes in one process, deterministic, every frame served."""

from __future__ import annotations

import json

import numpy as np
import pytest

from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
from av_perception.sim import Simulator
from av_perception.sim.export import record_drive

FRAMES = 12


@pytest.fixture(scope='module')
def sim_bag(tmp_path_factory):
    """Record a short simulated drive (images, camera_info, ground truth, expert)."""
    path = tmp_path_factory.mktemp('replay') / 'drive'
    record_drive(Simulator('traffic', seed=2), FRAMES, path)
    return path


@pytest.fixture(scope='module')
def constant_detector(tmp_path_factory):
    """Write a YOLOX-format model that always finds one car."""
    output = yolox_output_for_boxes([(100, 150, 200, 250)], [2], [0.9], (416, 416))
    return make_constant_model(tmp_path_factory.mktemp('model') / 'car.onnx', output,
                               (416, 416), metadata={'format': 'yolox'})


def replay(bag, model, mode='lockstep'):
    """Run a replay of lanes + detector and return the recording."""
    from av_perception.ros.replay import ReplayOptions, run_replay
    return run_replay(ReplayOptions(bag=str(bag), mode=mode, launch_arguments={
        'detector_model': str(model), 'run_controller': 'false'}))


def test_lockstep_serves_every_frame_deterministically(sim_bag, constant_detector, tmp_path):
    from av_perception.bag import BagReader
    from av_perception.cli.replay import write_outputs
    from av_perception.ros.replay import to_replay_data
    first = replay(sim_bag, constant_detector)
    assert len(first.frames) == FRAMES and first.drops == {'lane_detector': 0,
                                                           'object_detector': 0}
    with BagReader(sim_bag) as reader:
        stamps = [msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                  for _, msg in reader.messages(['/camera/image_raw'])]
    assert [f.stamp_ns for f in first.frames] == stamps
    for frame in first.frames:
        for msg in frame.outputs.values():
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == frame.stamp_ns
        assert len(frame.outputs['/perception/objects/detections'].detections) == 1
        assert frame.truth['center_line'] is not None
    second = replay(sim_bag, constant_detector)
    lanes = [[(p.pose.position.x, p.pose.position.y)
              for p in f.outputs['/perception/lanes/center_line'].poses] for f in first.frames]
    lanes_again = [[(p.pose.position.x, p.pose.position.y)
                    for p in f.outputs['/perception/lanes/center_line'].poses]
                   for f in second.frames]
    assert lanes == lanes_again and all(lanes)
    data = to_replay_data(first)
    assert all(f.truth_center is not None and f.expert is not None for f in data.frames)
    assert write_outputs(tmp_path, first, data) == 0
    metrics = json.loads((tmp_path / 'metrics.json').read_text())
    assert metrics['frames'] == FRAMES and metrics['lanes']['accuracy'] >= 0.9
    assert sum(len(f.detections) for f in data.frames) == FRAMES
    assert (tmp_path / 'annotated.mp4').stat().st_size > 10_000
    assert 'Replay report' in (tmp_path / 'report.html').read_text()
    with BagReader(tmp_path / 'outputs') as outputs:
        counts = {t.name: t.count for t in outputs.topics()}
    assert counts['/perception/lanes/center_line'] == FRAMES
    assert counts['/perception/objects/detections'] == FRAMES


def test_realtime_replay_counts_what_it_served(sim_bag, constant_detector):
    recording = replay(sim_bag, constant_detector, mode='realtime')
    served = [f for f in recording.frames if '/perception/lanes/center_line' in f.outputs]
    assert len(recording.frames) == FRAMES
    assert len(served) + recording.drops['lane_detector'] == FRAMES
    assert served  # how many depends on the machine's load: that is what realtime measures
    latencies = [f.latency_ms('lane_detector') for f in served]
    assert all(value > 0 for value in latencies) and np.isfinite(latencies).all()


def test_replay_command_rejects_a_bag_without_images(tmp_path):
    from av_perception.bag import BagWriter
    from av_perception.bag import messages as m
    from av_perception.cli.main import main
    bag = tmp_path / 'text'
    with BagWriter(bag) as writer:
        writer.add_topic('/text', 'std_msgs/msg/String')
        writer.write('/text', 1, m.string('x'))
    assert main(['replay', str(bag), '--out', str(tmp_path / 'out'), '--no-detector',
                 '--no-controller']) == 1


def test_header_stamp_is_read_from_raw_cdr():
    from ackermann_msgs.msg import AckermannDriveStamped
    from rclpy.serialization import serialize_message
    from av_perception.ros.replay import header_stamp_of_cdr
    msg = AckermannDriveStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_123, 456_000_789
    msg.header.frame_id = 'base_link'
    assert header_stamp_of_cdr(serialize_message(msg)) == 1_700_000_123_456_000_789
