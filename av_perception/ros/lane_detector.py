"""``lane_detector`` node: the ego lane from a camera, in the vehicle frame.

In: ``~/input/image`` (Image or, with ``compressed_input``, CompressedImage), optional
``~/input/camera_info``. Out, stamped with the input header: ``~/output/center_line``,
``~/output/left_boundary``, ``~/output/right_boundary`` (nav_msgs/Path in ``output_frame``,
x forward, y left; empty when not found), ``~/output/markers``, ``~/debug/image`` (only when
subscribed), ``~/debug/processing_time_ms`` and ``/diagnostics``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from geometry_msgs.msg import Point, PoseStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from av_perception.image.codec import ImageConversionError
from av_perception.lanes import CameraModel, LaneDetector, LaneError, render_overlay
from av_perception.lanes.config import LaneDetectorNodeConfig
from av_perception.ros.image_bridge import bgr_to_image_msg, image_msg_to_bgr
from av_perception.ros.node_support import header_stamp_ns, NodeHealth, wants
from av_perception.ros.params import ParameterBinding
from av_perception.ros.qos import output_qos, sensor_input_qos
from av_perception.ros.runtime import run_node

_COLOURS = {'left': (0.2, 0.4, 1.0), 'right': (1.0, 0.3, 0.2), 'center': (0.1, 0.9, 0.2)}


class LaneDetectorNode(Node):
    """Subscribes to images, runs :class:`LaneDetector`, publishes paths, markers, debug."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, **node_options: Any) -> None:
        """Declare parameters, build the detector and wire the topics."""
        super().__init__('lane_detector', **node_options)
        self._params = ParameterBinding(self, LaneDetectorNodeConfig, overrides,
                                        on_change=self._reconfigure)
        config = self._params.config
        self.detector = LaneDetector(config.detector_config())
        self.health = NodeHealth(self, 'lane_detector')
        self._paths = {name: self.create_publisher(Path, f'~/output/{topic}', output_qos())
                       for name, topic in (('center', 'center_line'), ('left', 'left_boundary'),
                                           ('right', 'right_boundary'))}
        self._markers = self.create_publisher(MarkerArray, '~/output/markers', output_qos())
        self._debug = self.create_publisher(Image, '~/debug/image', output_qos(1))
        image_type = CompressedImage if config.compressed_input else Image
        qos = sensor_input_qos(config.input_qos_reliability, config.input_qos_depth)
        self.create_subscription(image_type, '~/input/image', self.on_image, qos)
        self.create_subscription(CameraInfo, '~/input/camera_info', self.on_camera_info, qos)

    def _reconfigure(self, config: LaneDetectorNodeConfig) -> None:
        resets = self.detector.time_resets
        self.detector = LaneDetector(config.detector_config(), camera=self.detector.camera)
        self.detector.time_resets = resets

    def on_camera_info(self, msg: CameraInfo) -> None:
        """Adopt the camera's intrinsics when they change (undistortion + bird's-eye view)."""
        try:
            camera = CameraModel.from_camera_info(msg.width, msg.height, list(msg.k),
                                                  list(msg.d), msg.distortion_model, list(msg.p))
        except LaneError as err:
            self.health.reject('bad camera_info', err)
            return
        if camera != self.detector.camera:
            self.detector.set_camera(camera)
            self.get_logger().info(f'camera intrinsics from camera_info: {msg.width}x'
                                   f'{msg.height}, fx={msg.k[0]:.1f}')

    def on_image(self, msg: Any) -> None:
        """Detect the lane in one frame and publish everything with its header."""
        started = self.health.frame_received()
        try:
            image = image_msg_to_bgr(msg)
            # the detector resets its tracks itself when time jumps (bag loop, sim reset)
            estimate = self.detector.process(image, header_stamp_ns(msg))
        except ImageConversionError as err:
            self.health.reject('bad image', err)
            return
        except LaneError as err:
            self.health.fail('lane detection failed', err)
            return
        frame = self._params.config.output_frame
        for name, publisher in self._paths.items():
            publisher.publish(self._path(msg.header, frame, getattr(estimate, name)))
        self._markers.publish(self._marker_array(msg.header, frame, estimate))
        if wants(self._debug):
            self._debug.publish(bgr_to_image_msg(render_overlay(image, estimate), msg.header))
        milliseconds = self.health.frame_done(started, header_stamp_ns(msg))
        self.health.counters.time_jumps = self.detector.time_resets
        self.health.set_status(
            'ok' if estimate.valid else 'warn', 'lane found' if estimate.valid else 'no lane',
            {'lateral_offset_m': f'{estimate.lateral_offset_m:.3f}',
             'heading_error_rad': f'{estimate.heading_error_rad:.4f}',
             'curvature_per_m': f'{estimate.curvature_per_m:.5f}',
             'confidence_left': f'{estimate.left.confidence:.2f}',
             'confidence_right': f'{estimate.right.confidence:.2f}',
             'processing_ms': f'{milliseconds:.2f}'})

    @staticmethod
    def _path(header: Any, frame: str, curve: Any) -> Path:
        path = Path()
        path.header.stamp, path.header.frame_id = header.stamp, frame
        if curve.valid:
            for x, y in curve.points_m:
                pose = PoseStamped()
                pose.header = path.header
                pose.pose.position.x, pose.pose.position.y = float(x), float(y)
                pose.pose.orientation.w = 1.0
                path.poses.append(pose)
        return path

    @staticmethod
    def _marker_array(header: Any, frame: str, estimate: Any) -> MarkerArray:
        markers = MarkerArray()
        for marker_id, name in enumerate(('left', 'right', 'center')):
            curve = getattr(estimate, name)
            marker = Marker(ns='lanes', id=marker_id, type=Marker.LINE_STRIP)
            marker.header.stamp, marker.header.frame_id = header.stamp, frame
            marker.action = Marker.ADD if curve.valid else Marker.DELETE
            marker.scale.x = 0.15
            marker.color.r, marker.color.g, marker.color.b = _COLOURS[name]
            marker.color.a = max(0.3, float(curve.confidence))
            marker.pose.orientation.w = 1.0
            marker.points = [Point(x=float(x), y=float(y), z=0.0) for x, y in curve.points_m]
            markers.markers.append(marker)
        return markers


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run av_perception lane_detector``."""
    return run_node(LaneDetectorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
