"""temporal_controller node: commands with the frame's header, stop on silence, recovery."""

from __future__ import annotations

import threading
import time

import pytest

from av_perception.sim import Simulator


@pytest.fixture(scope='module')
def frames():
    """Return 30 simulator frames of a straight highway."""
    sim = Simulator('highway_straight', seed=9)
    return [sim.step() for _ in range(30)]


def publish_frames(publisher, observations, period: float = 0.05) -> set:
    """Publish frames at 20 Hz stamped with the wall clock (the node's clock); return stamps."""
    from std_msgs.msg import Header
    from av_perception.ros.image_bridge import bgr_to_image_msg
    event = threading.Event()
    stamps = set()
    for observation in observations:
        now = time.time()
        header = Header(frame_id='camera')
        header.stamp.sec, header.stamp.nanosec = int(now), int((now % 1) * 1e9)
        stamps.add((header.stamp.sec, header.stamp.nanosec))
        publisher.publish(bgr_to_image_msg(observation.image, header))
        event.wait(period)  # the camera's frame period
    return stamps


def test_commands_then_stop_while_silent_then_recovery(
        wait_until, frames, ros_node, collect, processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from sensor_msgs.msg import Image
    from av_perception.ros.qos import output_qos
    commands = collect(AckermannDriveStamped, '/ctl/command')
    node = processes('av_perception.ros.temporal_controller',
                     '-p', 'input_qos_reliability:=reliable', '-p', 'input_qos_depth:=10',
                     '-p', 'frame_timeout_s:=0.3',
                     '-r', '~/input/image:=/ctl/image', '-r', '~/output/command:=/ctl/command')
    images = ros_node.create_publisher(Image, '/ctl/image', output_qos())
    assert wait_until(lambda: images.get_subscription_count() >= 1, 20.0)
    stamps = publish_frames(images, frames[:15])

    def answers():  # commands for our frames (the watchdog may also command stop at start-up)
        return [m for m in commands.messages()
                if (m.header.stamp.sec, m.header.stamp.nanosec) in stamps]
    assert wait_until(lambda: len(answers()) == 15, 10.0)
    driving = answers()
    assert all(msg.drive.speed > 1.0 for msg in driving[5:]), [m.drive.speed for m in driving]
    assert all(abs(msg.drive.steering_angle) < 0.2 for msg in driving)
    # the camera goes silent: stop commands (speed 0) come from the watchdog
    silent_from = len(commands.messages())
    assert wait_until(lambda: sum(m.drive.speed == 0.0  # repeated while silent
                                  for m in commands.messages()[silent_from:]) >= 3, 5.0)
    # frames return: driving commands again
    resumed_from = len(commands.messages())
    publish_frames(images, frames[15:])
    assert wait_until(lambda: any(m.drive.speed > 1.0 for m in commands.messages()[resumed_from:]),
                      10.0)
    assert node.poll() is None


def test_missing_model_commands_stop_and_reports(wait_until, tmp_path, collect, processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    commands = collect(AckermannDriveStamped, '/ctl2/command')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node = processes('av_perception.ros.temporal_controller',
                     '-p', f'model_dir:={tmp_path / "no_model"}', '-r', '__node:=ctl_no_model',
                     '-r', '~/output/command:=/ctl2/command')
    assert commands.wait_for(3, timeout=20)
    assert all(m.drive.speed == 0.0 for m in commands.messages())
    assert wait_until(lambda: any(s.name == '/ctl_no_model' and s.level == DiagnosticStatus.ERROR
                                  for m in diagnostics.messages() for s in m.status), 10.0)
    assert node.poll() is None
