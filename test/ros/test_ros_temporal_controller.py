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


def car_ahead_detections(header, gap_m: float):
    """Detection2DArray (with ``header``) of a car ``gap_m`` ahead of the simulated car's bumper.

    The box is the car's cuboid projected by the simulator's camera (640x360, the node's
    default mounting parameters describe that camera).
    """
    import numpy as np
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    from av_perception.sim.camera import PinholeCamera
    camera = PinholeCamera.from_fov(640, 360, 65.0, 1.4, 4.0, 1.6)
    x_rear = 3.65 + gap_m
    corners = np.array([(x, y, z) for x in (x_rear, x_rear + 4.5) for y in (-0.9, 0.9)
                        for z in (0.0, 1.5)])
    pixels, _ = camera.project(corners)
    (x1, y1), (x2, y2) = pixels.min(axis=0), pixels.max(axis=0)
    item = Detection2D(header=header)
    item.bbox.center.position.x, item.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
    item.bbox.size_x, item.bbox.size_y = x2 - x1, y2 - y1
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = '2', 0.9
    item.results.append(hypothesis)
    return Detection2DArray(header=header, detections=[item])


def test_detections_of_a_car_ahead_stop_the_car(wait_until, frames, ros_node, collect,
                                                processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray
    from av_perception.ros.image_bridge import bgr_to_image_msg
    from av_perception.ros.qos import output_qos
    commands = collect(AckermannDriveStamped, '/ctl3/command')
    node = processes('av_perception.ros.temporal_controller', '-r', '__node:=ctl_governed',
                     '-p', 'input_qos_reliability:=reliable', '-p', 'input_qos_depth:=10',
                     '-p', 'frame_timeout_s:=10.0',  # the lockstep below may be slow
                     '-r', '~/input/image:=/ctl3/image', '-r', '~/input/detections:=/ctl3/det',
                     '-r', '~/output/command:=/ctl3/command')
    images = ros_node.create_publisher(Image, '/ctl3/image', output_qos())
    detections = ros_node.create_publisher(Detection2DArray, '/ctl3/det', output_qos())
    assert wait_until(lambda: images.get_subscription_count() >= 1
                      and detections.get_subscription_count() >= 1, 20.0)
    stamps = []

    def speeds():
        by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m.drive.speed
                    for m in commands.messages()}
        return [by_stamp.get(stamp) for stamp in stamps]
    start_ns = time.time_ns()

    def step(index, gap_m=None):
        """Lockstep with 20 Hz stamps: detections, the frame, wait for its command."""
        stamp_ns = start_ns + index * 50_000_000
        header = Header(frame_id='camera')
        header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        stamps.append((header.stamp.sec, header.stamp.nanosec))
        if gap_m is not None:
            detections.publish(car_ahead_detections(header, gap_m))
        images.publish(bgr_to_image_msg(frames[index % len(frames)].image, header))
        assert wait_until(lambda: speeds()[-1] is not None, 10.0), speeds()
        return speeds()[-1]
    free = [step(index) for index in range(10)]
    assert all(speed > 1.0 for speed in free[5:]), free  # no detections: the model's speed
    # a car 1.5 m ahead (closer than stop_gap_m) from now on: the car stops once the second
    # detection arrives (lead_min_hits 2); the first may take a while to be discovered
    index = 10
    while step(index, 1.5) != 0.0 and index < 200:
        index += 1
    assert index < 200, speeds()
    assert all(step(index + k, 1.5) == 0.0 for k in range(1, 11)), speeds()
    assert node.poll() is None


def lane_path(header, offset_m: float | None, frame_id: str = 'base_link'):
    """nav_msgs/Path of a straight lane centre ``offset_m`` left of the car (None: no lane)."""
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path
    path = Path()
    path.header.stamp, path.header.frame_id = header.stamp, frame_id
    if offset_m is not None:
        for x in range(5, 31, 5):
            pose = PoseStamped()
            pose.header = path.header
            pose.pose.position.x, pose.pose.position.y = float(x), offset_m
            path.poses.append(pose)
    return path


def test_the_governor_corridor_follows_the_lane_centre_line(wait_until, frames, ros_node,
                                                            collect, processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Path
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2DArray
    from av_perception.ros.image_bridge import bgr_to_image_msg
    from av_perception.ros.qos import output_qos
    commands = collect(AckermannDriveStamped, '/ctl4/command')
    diagnostics = collect(DiagnosticArray, '/diagnostics')
    node = processes('av_perception.ros.temporal_controller', '-r', '__node:=ctl_lane',
                     '-p', 'input_qos_reliability:=reliable', '-p', 'input_qos_depth:=10',
                     '-p', 'frame_timeout_s:=10.0',
                     # the lane everywhere (no blend from the steering arc near the car), and
                     # accepted 3.5 m beside the car: the geometry below is then a simple one
                     '-p', 'lane_blend_start_m:=0.0', '-p', 'lane_blend_end_m:=0.0',
                     '-p', 'lane_max_offset_m:=5.0',
                     '-r', '~/input/image:=/ctl4/image', '-r', '~/input/detections:=/ctl4/det',
                     '-r', '~/input/lane_center:=/ctl4/lane',
                     '-r', '~/output/command:=/ctl4/command')
    images = ros_node.create_publisher(Image, '/ctl4/image', output_qos())
    detections = ros_node.create_publisher(Detection2DArray, '/ctl4/det', output_qos())
    lanes = ros_node.create_publisher(Path, '/ctl4/lane', output_qos())
    assert wait_until(lambda: images.get_subscription_count() >= 1
                      and detections.get_subscription_count() >= 1
                      and lanes.get_subscription_count() >= 1, 20.0)
    stamps = []
    start_ns = time.time_ns()

    def step(index, offset_m, frame_id='base_link'):
        """Lane, a car 1.5 m straight ahead, the frame; wait for the frame's command."""
        stamp_ns = start_ns + index * 50_000_000
        header = Header(frame_id='camera')
        header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        stamps.append((header.stamp.sec, header.stamp.nanosec))
        lanes.publish(lane_path(header, offset_m, frame_id))
        detections.publish(car_ahead_detections(header, 1.5))
        images.publish(bgr_to_image_msg(frames[index % len(frames)].image, header))

        def command():
            return {(m.header.stamp.sec, m.header.stamp.nanosec): m.drive.speed
                    for m in commands.messages()}.get(stamps[-1])
        assert wait_until(lambda: command() is not None, 10.0)
        return command()
    # the lane detector puts the ego lane 3.5 m to the left: the car straight ahead is in the
    # next lane, outside the corridor, and the model's speed passes
    beside = [step(index, 3.5) for index in range(12)]
    assert all(speed > 1.0 for speed in beside[4:]), beside
    # no lane found (empty path): the corridor follows the steering, the car is in it: stop
    index = 12
    while step(index, None) != 0.0 and index < 100:
        index += 1
    assert index < 100
    # a lane in another frame is refused (no TF here), named in /diagnostics: still stopped
    assert all(step(index + k, 3.5, 'map') == 0.0 for k in range(1, 6))
    assert wait_until(lambda: any(
        "frame 'map', expected lane_frame_id 'base_link'" in status.message
        for message in diagnostics.messages() for status in message.status
        if status.name == '/ctl_lane'), 10.0), sorted({
            (s.name, s.message) for m in diagnostics.messages() for s in m.status})
    assert node.poll() is None
