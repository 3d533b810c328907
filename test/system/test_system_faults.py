"""Faults in the launched graph: a killed node respawns, the watchdog stops the car.

A node killed mid-run respawns while the others keep serving, and the controller commands stop
while the camera is silent and drives again after.
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import threading
import time

import pytest

from av_perception.launch_xml import LaunchRunner, load_launch
from av_perception.sim import Simulator

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')

LAUNCH = Path(__file__).resolve().parents[2] / 'launch' / 'perception.launch.xml'
OUTPUTS = {'lanes': ('/perception/lanes/center_line', 'nav_msgs.msg', 'Path'),
           'detections': ('/perception/objects/detections', 'vision_msgs.msg',
                          'Detection2DArray'),
           'command': ('/control/command', 'ackermann_msgs.msg', 'AckermannDriveStamped')}


class Camera:
    """Publishes simulator frames at 10 Hz, stamped with the wall clock, until paused/stopped."""

    def __init__(self, node, frames) -> None:
        from sensor_msgs.msg import Image
        from av_perception.ros.qos import output_qos
        self.publisher = node.create_publisher(Image, '/camera/image_raw', output_qos(1))
        self.frames = frames
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from std_msgs.msg import Header
        from av_perception.ros.image_bridge import bgr_to_image_msg
        index = 0
        while not self.stopped.wait(0.1):
            if not self.running.is_set():
                continue
            now = time.time()
            header = Header(frame_id='camera')
            header.stamp.sec, header.stamp.nanosec = int(now), int((now % 1) * 1e9)
            self.publisher.publish(bgr_to_image_msg(self.frames[index % len(self.frames)],
                                                    header))
            index += 1


class Outputs:
    """Arrival times (monotonic) and messages of each output topic."""

    def __init__(self, node) -> None:
        import importlib
        from av_perception.ros.qos import output_qos
        self.lock = threading.Lock()
        self.received: dict[str, list] = {name: [] for name in OUTPUTS}
        for name, (topic, module, type_name) in OUTPUTS.items():
            msg_type = getattr(importlib.import_module(module), type_name)
            node.create_subscription(msg_type, topic,
                                     lambda msg, name=name: self._add(name, msg), output_qos(50))

    def _add(self, name: str, msg) -> None:
        with self.lock:
            self.received[name].append((time.monotonic(), msg))

    def since(self, name: str, start: float, end: float = float('inf')) -> list:
        """Return the messages of ``name`` that arrived in [start, end)."""
        with self.lock:
            return [msg for at, msg in self.received[name] if start <= at < end]


def test_killed_node_respawns_others_keep_serving_and_the_watchdog_stops_the_car(
        ros_node, wait_until, tmp_path):
    from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
    model = make_constant_model(
        tmp_path / 'car.onnx',
        yolox_output_for_boxes([(100, 150, 200, 250)], [2], [0.9], (416, 416)), (416, 416),
        metadata={'format': 'yolox'})
    sim = Simulator('highway_straight', seed=5)
    frames = [sim.step().image for _ in range(40)]
    plan = load_launch(LAUNCH, {'detector_model': str(model), 'input_qos_reliability': 'reliable'})
    assert {p.name: p.respawn for p in plan.processes} == {
        'lane_detector': True, 'object_detector': True, 'temporal_controller': True}
    runner = LaunchRunner(plan, tmp_path / 'logs')
    outputs = Outputs(ros_node)
    camera = Camera(ros_node, frames)
    runner.start()
    camera.thread.start()
    try:
        assert wait_until(lambda: camera.publisher.get_subscription_count() >= 3, 60.0)
        camera.running.set()
        started = time.monotonic()
        assert wait_until(lambda: all(outputs.since(name, started) for name in OUTPUTS), 60.0), \
            {name: len(outputs.since(name, started)) for name in OUTPUTS}

        # kill -9 the lane detector mid-run
        old_pid = runner.pid('lane_detector')
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        lane = runner.processes['lane_detector']
        assert wait_until(lambda: lane.respawns == 1, 15.0)
        assert runner.pid('lane_detector') != old_pid
        assert wait_until(lambda: outputs.since('lanes', killed + 0.5), 60.0), \
            'no lanes after the respawn'
        back = time.monotonic()
        # the others never stopped: detections and commands all through the outage
        outage = back - killed
        for name in ('detections', 'command'):
            served = [m for m in outputs.since(name, killed, back)
                      if m.header.frame_id == 'camera']
            assert len(served) >= 0.5 * 10 * outage, (name, len(served), outage)

        # the camera goes silent: the controller commands stop, then drives when frames return
        camera.running.clear()
        silent = time.monotonic()
        assert wait_until(lambda: sum(m.drive.speed == 0.0 and m.header.frame_id == 'base_link'
                                      for m in outputs.since('command', silent)) >= 3, 10.0)
        camera.running.set()
        resumed = time.monotonic()
        assert wait_until(lambda: any(m.header.frame_id == 'camera' and m.drive.speed > 1.0
                                      for m in outputs.since('command', resumed)), 30.0)
        assert all(p.popen.poll() is None for p in runner.processes.values())
    finally:
        camera.stopped.set()
        camera.thread.join(timeout=2.0)
        codes = runner.stop(timeout=15)
        for name in codes:
            print(f'--- {name} ---\n{runner.log(name)[-2000:]}')
    assert lane.exit_codes[0] == -signal.SIGKILL
    assert codes == dict.fromkeys(codes, 0), codes
    assert {name: p.respawns for name, p in runner.processes.items()} == {
        'lane_detector': 1, 'object_detector': 0, 'temporal_controller': 0}
