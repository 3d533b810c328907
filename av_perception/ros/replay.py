"""Deterministic and real-time replay of a bag through the perception nodes in one process.

The node classes of ``perception.launch.xml`` are composed in this process with the same
parameters and remappings the launch file gives them (read with the launch runner), fed from a
bag by a feeder node and observed by a collector node:

* lockstep: every frame passes every node before the next frame is published (nodes process in
  their callbacks, bag time on /clock); results are reproducible, which ``ros2 bag play`` cannot
  give;
* realtime: frames are published at the bag's rate (times ``rate``) while the nodes run their own
  worker threads; frames a node could not take are counted as drops.

The result is a :class:`ReplayRecording`: per frame, the outputs of each node, their latencies
and the bag's ground truth, ready for :mod:`av_perception.replay_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import importlib
from pathlib import Path
import struct
import threading
import time
from typing import Any, Callable, Mapping

import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from rosgraph_msgs.msg import Clock

from av_perception.bag.reader import BagReader
from av_perception.entry_points import NODE_CLASSES
from av_perception.launch_xml import load_launch, package_share, ProcessSpec
from av_perception.media import IMAGE_TYPES
from av_perception.ros.message_types import message_class
from av_perception.ros.qos import output_qos
from av_perception.ros.runtime import ns_to_stamp, stamp_to_ns

# Graph topics of perception.launch.xml, and which node produces each.
OUTPUTS = {
    '/perception/lanes/center_line': ('lane_detector', 'nav_msgs/msg/Path'),
    '/perception/lanes/left_boundary': ('lane_detector', 'nav_msgs/msg/Path'),
    '/perception/lanes/right_boundary': ('lane_detector', 'nav_msgs/msg/Path'),
    '/perception/objects/detections': ('object_detector', 'vision_msgs/msg/Detection2DArray'),
    '/control/command': ('temporal_controller', 'ackermann_msgs/msg/AckermannDriveStamped'),
}
# the node output that completes a frame for each node
FRAME_OUTPUT = {'lane_detector': '/perception/lanes/center_line',
                'object_detector': '/perception/objects/detections',
                'temporal_controller': '/control/command'}
GROUND_TRUTH = {'center_line': '/ground_truth/center_line', 'objects': '/ground_truth/objects',
                'command': '/expert/command'}


class ReplayError(ValueError):
    """The replay cannot run: bad bag, missing image topic, node failed to start."""


@dataclass
class FrameRecord:
    """One frame of the replay: stamps, outputs by topic, latencies by node, ground truth."""

    index: int
    stamp_ns: int
    published_at: float
    outputs: dict[str, Any] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)
    processing_ms: dict[str, float] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)

    def latency_ms(self, node: str) -> float | None:
        """Return publish-to-output time of ``node`` for this frame (None if no output)."""
        topic = FRAME_OUTPUT[node]
        if topic not in self.received_at:
            return None
        return (self.received_at[topic] - self.published_at) * 1e3


@dataclass
class ReplayRecording:
    """Everything a replay observed."""

    bag: str
    mode: str
    nodes: list[str]
    image_topic: str
    frames: list[FrameRecord] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    node_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    camera_projection: Any = None


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how."""

    bag: str
    mode: str = 'lockstep'
    rate: float = 1.0
    launch_arguments: Mapping[str, str] = field(default_factory=dict)
    max_frames: int = 0
    frame_timeout_s: float = 10.0
    image_topic: str | None = None
    progress: Callable[[int], None] | None = None


def _ros_args(spec: ProcessSpec, extra: Mapping[str, Any]) -> list[str]:
    """Return the ``--ros-args`` ros2 launch would give the process, plus ``extra`` params."""
    args = ['--ros-args', '-r', f'__node:={spec.node_name}']
    if spec.namespace:
        args += ['-r', f'__ns:={spec.namespace}']
    for file in spec.param_files:
        args += ['--params-file', file]
    for key, value in spec.params:
        args += ['-p', f'{key}:={value}']
    for key, value in extra.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ['-p', f'{key}:={text}']
    for source, target in spec.remaps:
        args += ['-r', f'{source}:={target}']
    return args


def build_nodes(arguments: Mapping[str, str], extra: Mapping[str, Any]) -> dict[str, Node]:
    """Instantiate the nodes perception.launch.xml starts, configured as it configures them."""
    plan = load_launch(package_share('av_perception') / 'launch' / 'perception.launch.xml',
                       dict(arguments))
    nodes: dict[str, Node] = {}
    for spec in plan.processes:
        module, _, name = NODE_CLASSES[spec.executable].partition(':')
        node_class = getattr(importlib.import_module(module), name)
        nodes[spec.executable] = node_class(cli_args=_ros_args(spec, extra))
    return nodes


class _Feeder(Node):
    """Publishes the bag's camera messages (raw CDR) and /clock."""

    def __init__(self, image_topic: str, image_type: Any, info_topic: str | None) -> None:
        super().__init__('replay_feeder')
        self.image_type = image_type
        self.image = self.create_publisher(image_type, image_topic, output_qos())
        self.info = self.create_publisher(message_class('sensor_msgs/msg/CameraInfo'),
                                          info_topic, output_qos()) if info_topic else None
        self.clock = self.create_publisher(Clock, '/clock', output_qos(1))

    def publish_clock(self, stamp_ns: int) -> None:
        msg = Clock()
        msg.clock = ns_to_stamp(stamp_ns, type(msg.clock))
        self.clock.publish(msg)


class _Collector(Node):
    """Takes every output as raw CDR (decoded after the replay); wakes waiters on arrival.

    Raw subscriptions keep the harness's own message decoding out of the measured latency:
    only the header stamp is read on arrival.
    """

    def __init__(self, nodes: list[str]) -> None:
        super().__init__('replay_collector')
        self.changed = threading.Condition()
        self.by_stamp: dict[int, dict[str, tuple[float, bytes]]] = {}
        for topic, (node, type_name) in OUTPUTS.items():
            if node in nodes:
                self.create_subscription(message_class(type_name), topic,
                                         lambda data, t=topic: self._on_output(t, data),
                                         output_qos(100), raw=True)

    def _on_output(self, topic: str, data: bytes) -> None:
        received = time.perf_counter()
        with self.changed:
            self.by_stamp.setdefault(header_stamp_of_cdr(data), {})[topic] = (received, data)
            self.changed.notify_all()

    def has(self, stamp_ns: int, topics: list[str]) -> bool:
        outputs = self.by_stamp.get(stamp_ns, {})
        return all(topic in outputs for topic in topics)


def header_stamp_of_cdr(data: bytes) -> int:
    """Return the header stamp (ns) of a serialised message that starts with a std_msgs/Header.

    CDR: a 4-byte encapsulation header (byte 1: 1 little endian, 0 big endian), then the
    header's stamp as int32 seconds and uint32 nanoseconds.
    """
    order = '<' if data[1] == 1 else '>'
    sec, nanosec = struct.unpack_from(f'{order}iI', data, 4)
    return sec * 1_000_000_000 + nanosec


def _bag_topics(reader: BagReader, image_topic: str | None) -> tuple[str, str, str | None]:
    infos = {t.name: t for t in reader.topics()}
    if image_topic is None:
        candidates = [t.name for t in infos.values() if t.type in IMAGE_TYPES]
        if not candidates:
            raise ReplayError(f'{reader.name}: no Image or CompressedImage topic to replay')
        image_topic = candidates[0]
    elif image_topic not in infos:
        raise ReplayError(f'{reader.name}: no topic {image_topic}')
    info_topics = [t.name for t in infos.values() if t.type == 'sensor_msgs/msg/CameraInfo']
    return image_topic, infos[image_topic].type, info_topics[0] if info_topics else None


def run_replay(options: ReplayOptions) -> ReplayRecording:
    """Replay the bag; return what every node produced for every frame."""
    if options.mode not in ('lockstep', 'realtime'):
        raise ReplayError(f'replay mode {options.mode!r}: use lockstep or realtime')
    reader = BagReader(options.bag)
    with reader:
        image_topic, image_type_name, info_topic = _bag_topics(reader, options.image_topic)
        arguments = {'camera_image': '/camera/image_raw', 'camera_info': '/camera/camera_info',
                     'use_sim_time': 'true', 'input_qos_reliability': 'reliable',
                     'respawn': 'false', **options.launch_arguments}
        lockstep = options.mode == 'lockstep'
        context_owner = not rclpy.ok()
        if context_owner:
            rclpy.init(args=[])
        try:
            return _replay(reader, options, arguments, image_topic, image_type_name,
                           info_topic, lockstep)
        finally:
            if context_owner:
                rclpy.try_shutdown()


def _replay(reader: BagReader, options: ReplayOptions, arguments: dict[str, str],
            image_topic: str, image_type_name: str, info_topic: str | None,
            lockstep: bool) -> ReplayRecording:
    # lockstep: nodes process inside their callbacks, so a spun executor finishes the frame
    nodes = build_nodes(arguments, {'processing_thread': not lockstep})
    feeder = _Feeder(arguments['camera_image'], message_class(image_type_name),
                     arguments['camera_info'] if info_topic else None)
    collector = _Collector(list(nodes))
    executor = (SingleThreadedExecutor() if lockstep else MultiThreadedExecutor(num_threads=4))
    for node in [*nodes.values(), feeder, collector]:
        executor.add_node(node)
    recording = ReplayRecording(options.bag, options.mode, list(nodes), image_topic)
    expected = [FRAME_OUTPUT[node] for node in nodes]
    spinner = None
    if not lockstep:
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
    try:
        _activate(nodes)
        _wait_for_matching(executor, feeder, collector, nodes, lockstep)
        started = time.perf_counter()
        _feed(reader, options, recording, feeder, collector, executor, expected, image_topic,
              info_topic, lockstep)
        recording.wall_time_s = time.perf_counter() - started
        _settle(executor, collector, recording, expected, lockstep)
        _collect(recording, collector, nodes)
    finally:
        executor.shutdown(timeout_sec=2.0)
        if spinner is not None:
            spinner.join(timeout=2.0)
        for node in [*nodes.values(), feeder, collector]:
            node.destroy_node()
    return recording


def _activate(nodes: Mapping[str, Node]) -> None:
    for name, node in nodes.items():
        if isinstance(node, LifecycleNode):
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS or \
                    node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise ReplayError(f'{name} failed to configure/activate (see its log)')


def _wait_for_matching(executor: Any, feeder: _Feeder, collector: _Collector,
                       nodes: Mapping[str, Node], lockstep: bool, timeout: float = 10.0) -> None:
    """Discovery: wait until every node subscribes to the feeder and the collector to them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if feeder.image.get_subscription_count() >= len(nodes):
            return
        if lockstep:
            executor.spin_once(timeout_sec=0.05)
        else:
            time.sleep(0.05)
    raise ReplayError(f'nodes did not subscribe to {feeder.image.topic_name} within {timeout} s')


def _feed(reader: BagReader, options: ReplayOptions, recording: ReplayRecording,
          feeder: _Feeder, collector: _Collector, executor: Any, expected: list[str],
          image_topic: str, info_topic: str | None, lockstep: bool) -> None:
    truth_topics = {v: k for k, v in GROUND_TRUTH.items()}
    available = {t.name for t in reader.topics()}
    topics = [image_topic] + ([info_topic] if info_topic else []) + [
        t for t in truth_topics if t in available]
    pending_truth: dict[int, dict[str, Any]] = {}
    first_bag_ns = None
    wall_start = time.perf_counter()
    stop_after_ns = None  # set when max_frames is reached: read the truth a little further
    for raw in reader.raw_messages(topics):
        if stop_after_ns is not None:
            if raw.timestamp_ns > stop_after_ns:
                break
            if raw.topic not in truth_topics:
                continue
        if raw.topic in truth_topics:
            msg = reader.deserialize(raw)
            pending_truth.setdefault(stamp_to_ns(msg.header.stamp), {})[
                truth_topics[raw.topic]] = msg
            continue
        if raw.topic == info_topic:
            feeder.info.publish(bytes(raw.data))
            continue
        msg = deserialize_message(bytes(raw.data), feeder.image_type)
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if first_bag_ns is None:
            first_bag_ns = raw.timestamp_ns
        if not lockstep:  # keep the bag's timing
            due = wall_start + (raw.timestamp_ns - first_bag_ns) / 1e9 / options.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        feeder.publish_clock(stamp_ns)
        record = FrameRecord(len(recording.frames), stamp_ns, time.perf_counter())
        feeder.image.publish(bytes(raw.data))
        recording.frames.append(record)
        if lockstep:
            _spin_until(executor, collector, lambda: collector.has(stamp_ns, expected),
                        options.frame_timeout_s)
        if options.progress:
            options.progress(1)
        if options.max_frames and len(recording.frames) >= options.max_frames:
            stop_after_ns = raw.timestamp_ns + 1_000_000_000
    # ground truth can be stored just after its frame: attach it at the end
    for record in recording.frames:
        record.truth = pending_truth.get(record.stamp_ns, {})


def _spin_until(executor: Any, collector: _Collector, done: Callable[[], bool],
                timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        executor.spin_once(timeout_sec=0.01)
    return True


def _settle(executor: Any, collector: _Collector, recording: ReplayRecording,
            expected: list[str], lockstep: bool, timeout: float = 5.0) -> None:
    """After the last frame: let in-flight outputs arrive (realtime)."""
    if lockstep or not recording.frames:
        return
    last = recording.frames[-1].stamp_ns
    with collector.changed:
        collector.changed.wait_for(lambda: collector.has(last, expected), timeout)


def _collect(recording: ReplayRecording, collector: _Collector,
             nodes: Mapping[str, Node]) -> None:
    with collector.changed:
        for record in recording.frames:
            for topic, (received, data) in collector.by_stamp.get(record.stamp_ns, {}).items():
                record.outputs[topic] = deserialize_message(data, message_class(OUTPUTS[topic][1]))
                record.received_at[topic] = received
    for name, node in nodes.items():
        produced = [r for r in recording.frames if FRAME_OUTPUT[name] in r.outputs]
        recording.drops[name] = len(recording.frames) - len(produced)
        # the nodes run in this process: their own per-frame processing times, by stamp
        by_stamp = node.health.processing_ms_by_stamp
        for record in produced:
            if record.stamp_ns in by_stamp:
                record.processing_ms[name] = by_stamp[record.stamp_ns]
    lanes = nodes.get('lane_detector')
    if lanes is not None and lanes.detector.birdseye is not None:
        recording.camera_projection = lanes.detector.birdseye.projection
    for name, node in nodes.items():
        health = getattr(node, 'health', None)
        if health is not None:
            recording.node_info[name] = dict(health.values)


def serialize_outputs(recording: ReplayRecording) -> list[tuple[str, str, int, bytes]]:
    """Return ``(topic, type, stamp_ns, CDR)`` of every output, for writing a bag."""
    rows = []
    for record in recording.frames:
        for topic, msg in record.outputs.items():
            rows.append((topic, OUTPUTS[topic][1], record.stamp_ns, serialize_message(msg)))
    return rows


def default_model_arguments(detector_model: Path | None, controller_dir: Path | None,
                            ) -> dict[str, str]:
    """Return launch arguments that select (or switch off) the detector and the controller."""
    arguments = {}
    if detector_model is None:
        arguments['run_detector'] = 'false'
    else:
        arguments['detector_model'] = str(detector_model)
    if controller_dir is None:
        arguments['run_controller'] = 'false'
    else:
        arguments['controller_model_dir'] = str(controller_dir)
    return arguments


def _points(path_msg: Any) -> Any:
    """Return (N, 2) x, y of a nav_msgs/Path (rclpy or rosbags message), None when empty."""
    import numpy as np
    if path_msg is None or not path_msg.poses:
        return None
    return np.array([[p.pose.position.x, p.pose.position.y] for p in path_msg.poses])


def to_replay_data(recording: ReplayRecording) -> Any:
    """Convert the collected messages into the plain per-frame data of the report."""
    from av_perception.evaluation import Box
    from av_perception.replay_report import FrameResult, ReplayData
    frames = []
    for record in recording.frames:
        out, truth = record.outputs, record.truth
        detections = []
        for det in getattr(out.get('/perception/objects/detections'), 'detections', []):
            cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
            half_w, half_h = det.bbox.size_x / 2.0, det.bbox.size_y / 2.0
            hypothesis = det.results[0].hypothesis if det.results else None
            detections.append((Box(int(hypothesis.class_id) if hypothesis else -1,
                                   (cx - half_w, cy - half_h, cx + half_w, cy + half_h)),
                               float(hypothesis.score) if hypothesis else 0.0))
        truth_boxes = None
        if 'objects' in truth:
            truth_boxes = []
            for det in truth['objects'].detections:
                cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
                half_w, half_h = det.bbox.size_x / 2.0, det.bbox.size_y / 2.0
                class_id = int(det.results[0].hypothesis.class_id) if det.results else -1
                truth_boxes.append(Box(class_id, (cx - half_w, cy - half_h, cx + half_w,
                                                  cy + half_h)))
        command = out.get('/control/command')
        expert = truth.get('command')
        latency = {node: value for node in recording.nodes
                   if (value := record.latency_ms(node)) is not None}
        frames.append(FrameResult(
            index=record.index, stamp_ns=record.stamp_ns,
            lane_center=_points(out.get('/perception/lanes/center_line')),
            lane_left=_points(out.get('/perception/lanes/left_boundary')),
            lane_right=_points(out.get('/perception/lanes/right_boundary')),
            detections=detections,
            command=(command.drive.steering_angle, command.drive.speed) if command else None,
            truth_center=_points(truth.get('center_line')),
            truth_boxes=truth_boxes,
            expert=(expert.drive.steering_angle, expert.drive.speed) if expert else None,
            latency_ms=latency, processing_ms=dict(record.processing_ms),
            end_to_end_ms=max(latency.values()) if len(latency) == len(recording.nodes)
            else None))
    return ReplayData(recording.bag, recording.mode, list(recording.nodes), frames,
                      dict(recording.drops), recording.wall_time_s, dict(recording.node_info))
