"""``temporal_controller`` node: CNN+LSTM over camera frames to an Ackermann drive command.

In: ``~/input/image``; optional ``~/input/detections`` (vision_msgs/Detection2DArray of the same
camera, e.g. the object_detector's), ``~/input/lane_center`` (nav_msgs/Path in ``lane_frame_id``,
the lane_detector's centre line: the governor's corridor follows it) and
``~/input/camera_info``. Out: ``~/output/command``
(ackermann_msgs/AckermannDriveStamped with the input header), ``~/debug/processing_time_ms``,
``/diagnostics``. Safety lives in the core: the supervisor's steering and rate limits, speed
limits; no frame for ``frame_timeout_s`` -> stop commands (speed 0) until frames return; time
jumps reset the history; NaN/inf from the model -> stop command and an error. The speed governor
caps the speed behind objects in the path, from the latest detections stamped within
``detection_max_age_s`` of the frame; without detections the commands are the model's.
Without a loadable model the node stays up and commands stop.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ackermann_msgs.msg import AckermannDriveStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from av_perception.control import ControllerError, TemporalController, TemporalControllerConfig
from av_perception.control.governor import DetectionFrame, LaneCorridor
from av_perception.control_types import DriveCommand
from av_perception.detection import coco_class_names, Detection
from av_perception.image.codec import ImageConversionError
from av_perception.lanes import CameraModel, LaneError
from av_perception.ros.image_bridge import image_msg_to_bgr
from av_perception.ros.node_support import header_stamp_ns, NodeHealth
from av_perception.ros.params import ParameterBinding
from av_perception.ros.qos import output_qos, sensor_input_qos
from av_perception.ros.runtime import run_node


class TemporalControllerNode(Node):
    """Runs :class:`TemporalController` per frame and a watchdog timer for missing frames."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, **node_options: Any) -> None:
        """Declare parameters, load the model, wire topics and the watchdog."""
        super().__init__('temporal_controller', **node_options)
        self._params = ParameterBinding(self, TemporalControllerConfig, overrides,
                                        on_change=self._reconfigure)
        config = self._params.config
        self.health = NodeHealth(self, 'temporal_controller')
        self.controller: TemporalController | None = None
        try:
            self.controller = TemporalController.from_dir(None, config)
            meta = self.controller.model.metadata
            self.health.set_status('ok', 'model loaded', {
                'model_dir': str(config.resolved_model_dir()),
                'history_length': self.controller.history_length,
                'input': f'{meta.input.width}x{meta.input.height}'})
        except ControllerError as err:
            self.health.fail('model not loaded; commanding stop', err)
        self._command = self.create_publisher(AckermannDriveStamped, '~/output/command',
                                              output_qos())
        image_type = CompressedImage if config.compressed_input else Image
        self.create_subscription(
            image_type, '~/input/image', self.on_image,
            sensor_input_qos(config.input_qos_reliability, config.input_qos_depth))
        self.detections: DetectionFrame | None = None
        latest = sensor_input_qos(config.input_qos_reliability, 1)
        self.create_subscription(Detection2DArray, '~/input/detections', self.on_detections,
                                 latest)
        self.lane: LaneCorridor | None = None
        self.create_subscription(Path, '~/input/lane_center', self.on_lane_center, latest)
        self.create_subscription(CameraInfo, '~/input/camera_info', self.on_camera_info, latest)
        self.create_timer(config.watchdog_period_s, self.on_watchdog)

    def _reconfigure(self, config: TemporalControllerConfig) -> None:
        if self.controller is not None:
            camera = self.controller.governor.camera
            self.controller = TemporalController(self.controller.model, config)
            self.controller.governor.set_camera(camera)

    def on_detections(self, msg: Detection2DArray) -> None:
        """Keep the latest detections for the speed governor (used by the next frames)."""
        self.detections = DetectionFrame(header_stamp_ns(msg), tuple(
            _detection(item) for item in msg.detections if item.results))

    def on_lane_center(self, msg: Path) -> None:
        """Keep the lane detector's latest centre line for the governor's corridor.

        An empty path (no lane found) or one too short to fit clears it: the corridor then
        follows the steering. A path in another frame than ``lane_frame_id`` is rejected.
        """
        frame = msg.header.frame_id
        expected = self._params.config.lane_frame_id
        if frame and frame != expected:
            self.lane = None
            self.health.reject('lane centre line', ValueError(
                f'frame {frame!r}, expected lane_frame_id {expected!r} (no TF '
                'lookup here: publish the path in the vehicle frame)'))
            return
        self.lane = LaneCorridor.from_points(
            header_stamp_ns(msg), [pose.pose.position.x for pose in msg.poses],
            [pose.pose.position.y for pose in msg.poses])

    def on_camera_info(self, msg: CameraInfo) -> None:
        """Adopt the camera's intrinsics for the governor's ground projection."""
        if self.controller is None:
            return
        try:
            camera = CameraModel.from_camera_info(msg.width, msg.height, list(msg.k),
                                                  list(msg.d), msg.distortion_model,
                                                  list(msg.p))
        except LaneError as err:
            self.health.reject('bad camera_info', err)
            return
        if camera != self.controller.governor.camera:
            self.controller.governor.set_camera(camera)
            self.get_logger().info(f'governor intrinsics from camera_info: {msg.width}x'
                                   f'{msg.height}')

    def on_image(self, msg: Any) -> None:
        """Run one controller step and publish the (limited) command with the frame's header."""
        started = self.health.frame_received()
        if self.controller is None:
            self._publish(msg.header, DriveCommand(0.0, 0.0))
            return
        try:
            result = self.controller.step(image_msg_to_bgr(msg), header_stamp_ns(msg),
                                          self.get_clock().now().nanoseconds, self.detections,
                                          self.lane)
        except (ImageConversionError, ControllerError) as err:
            self.health.reject('bad image', err)
            return
        self._publish(msg.header, result.command)
        milliseconds = self.health.frame_done(started, result.stamp_ns)
        if result.history_reset:
            self.health.counters.time_jumps += 1
            self.get_logger().warning(f'history reset: {result.history_reset}')
        if result.is_stop:
            self.health.fail('model output', ValueError(result.message))
            return
        governor = result.governor
        self.health.set_status('ok', 'driving', {
            **self.health.values, 'steering_rad': f'{result.command.steering_angle:.4f}',
            'speed_mps': f'{result.command.speed:.2f}', 'clipped': result.clipped,
            'context_frames': result.context_frames, 'processing_ms': f'{milliseconds:.2f}',
            'detections_used': governor.detections_used, 'lead': governor.lead_state or 'none',
            'corridor': governor.corridor or 'none',
            'lead_gap_m': f'{governor.lead_gap_m:.1f}',
            'speed_cap_mps': f'{governor.cap_mps:.2f}'})

    def on_watchdog(self) -> None:
        """Publish stop commands while no frames arrive (frame_timeout_s)."""
        now = self.get_clock().now()
        if self.controller is None:
            stop = DriveCommand(0.0, 0.0)
            message = 'no model loaded'
        else:
            result = self.controller.check_timeout(now.nanoseconds)
            if result is None:
                return
            stop, message = result.command, result.message
        self.get_logger().warning(f'stop: {message}', throttle_duration_sec=2.0)
        self.health.set_status('warn' if self.controller else 'error', f'stop: {message}')
        header = AckermannDriveStamped().header
        header.stamp = now.to_msg()
        header.frame_id = 'base_link'
        self._publish(header, stop)

    def _publish(self, header: Any, command: DriveCommand) -> None:
        msg = AckermannDriveStamped()
        msg.header = header
        msg.drive.steering_angle = float(command.steering_angle)
        msg.drive.speed = float(command.speed)
        self._command.publish(msg)


def _detection(item: Any) -> Detection:
    """Convert one vision_msgs/Detection2D (best hypothesis) to the core's Detection."""
    best = max(item.results, key=lambda r: r.hypothesis.score).hypothesis
    name = best.class_id
    try:
        class_id = int(name)
    except ValueError:  # a detector that publishes names: COCO index, else unknown (-2)
        names = coco_class_names()
        class_id = names.index(name) if name in names else -2
    cx, cy = item.bbox.center.position.x, item.bbox.center.position.y
    half_w, half_h = item.bbox.size_x / 2.0, item.bbox.size_y / 2.0
    return Detection(class_id, name, float(best.score),
                     (cx - half_w, cy - half_h, cx + half_w, cy + half_h))


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run av_perception temporal_controller``."""
    return run_node(TemporalControllerNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
