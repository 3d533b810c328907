"""Builders of the rosbags message objects this package writes to bags.

They mirror the ROS messages field for field (the same CDR on the wire), so a bag written here
plays through ``ros2 bag play`` or our player into real ROS nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from av_perception.bag.typestore import default_typestore
from av_perception.image.codec import array_to_image_fields, bgr_to_compressed


def _type(name: str) -> Any:
    return default_typestore().types[name]


def stamp(stamp_ns: int) -> Any:
    """Return a builtin_interfaces/Time for a time in nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return _type('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)


def stamp_to_ns(time_msg: Any) -> int:
    """Return nanoseconds of a builtin_interfaces/Time (any implementation)."""
    return int(time_msg.sec) * 1_000_000_000 + int(time_msg.nanosec)


def header(stamp_ns: int, frame_id: str) -> Any:
    """Return a std_msgs/Header."""
    return _type('std_msgs/msg/Header')(stamp=stamp(stamp_ns), frame_id=frame_id)


def image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """Return a sensor_msgs/Image holding ``array`` in ``encoding``."""
    fields = array_to_image_fields(array, encoding)
    return _type('sensor_msgs/msg/Image')(
        header=header(stamp_ns, frame_id), height=fields.height, width=fields.width,
        encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step,
        data=fields.data)


def compressed_image(array_bgr: np.ndarray, stamp_ns: int, frame_id: str, fmt: str = 'jpeg',
                     quality: int = 90) -> Any:
    """Return a sensor_msgs/CompressedImage of a BGR image (image_transport's format string)."""
    format_string, data = bgr_to_compressed(array_bgr, fmt, quality)
    return _type('sensor_msgs/msg/CompressedImage')(
        header=header(stamp_ns, frame_id), format=format_string, data=data)


def camera_info(width: int, height: int, k: Sequence[float], d: Sequence[float],
                p: Sequence[float], stamp_ns: int, frame_id: str,
                distortion_model: str = 'plumb_bob',
                r: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> Any:
    """Return a sensor_msgs/CameraInfo."""
    roi = _type('sensor_msgs/msg/RegionOfInterest')(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return _type('sensor_msgs/msg/CameraInfo')(
        header=header(stamp_ns, frame_id), height=int(height), width=int(width),
        distortion_model=distortion_model, d=np.asarray(d, dtype=np.float64),
        k=np.asarray(k, dtype=np.float64).reshape(9), r=np.asarray(r, dtype=np.float64).reshape(9),
        p=np.asarray(p, dtype=np.float64).reshape(12), binning_x=0, binning_y=0, roi=roi)


def path(points: np.ndarray | Sequence[Sequence[float]], stamp_ns: int, frame_id: str) -> Any:
    """Return a nav_msgs/Path through ``points`` (N x 2 or N x 3, metres), identity orientation."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, np.shape(points)[-1] if len(
        np.shape(points)) == 2 else 2)
    point_t, quat_t = _type('geometry_msgs/msg/Point'), _type('geometry_msgs/msg/Quaternion')
    pose_t, stamped_t = _type('geometry_msgs/msg/Pose'), _type('geometry_msgs/msg/PoseStamped')
    poses = []
    for row in pts:
        z = float(row[2]) if row.shape[0] > 2 else 0.0
        pose = pose_t(position=point_t(x=float(row[0]), y=float(row[1]), z=z),
                      orientation=quat_t(x=0.0, y=0.0, z=0.0, w=1.0))
        poses.append(stamped_t(header=header(stamp_ns, frame_id), pose=pose))
    return _type('nav_msgs/msg/Path')(header=header(stamp_ns, frame_id), poses=poses)


@dataclass(frozen=True)
class Det:
    """One 2D detection to write: class id (string, as vision_msgs), score, box centre/size."""

    class_id: str
    score: float
    cx: float
    cy: float
    w: float
    h: float
    id: str = ''


def detection2d_array(dets: Iterable[Det], stamp_ns: int, frame_id: str) -> Any:
    """Return a vision_msgs/Detection2DArray (4.x layout)."""
    hyp_t = _type('vision_msgs/msg/ObjectHypothesis')
    hyp_pose_t = _type('vision_msgs/msg/ObjectHypothesisWithPose')
    pose_cov_t = _type('geometry_msgs/msg/PoseWithCovariance')
    pose_t = _type('geometry_msgs/msg/Pose')
    point_t, quat_t = _type('geometry_msgs/msg/Point'), _type('geometry_msgs/msg/Quaternion')
    bbox_t, pose2d_t = _type('vision_msgs/msg/BoundingBox2D'), _type('vision_msgs/msg/Pose2D')
    point2d_t, det_t = _type('vision_msgs/msg/Point2D'), _type('vision_msgs/msg/Detection2D')
    hdr = header(stamp_ns, frame_id)
    out = []
    for det in dets:
        pose = pose_cov_t(pose=pose_t(position=point_t(x=0.0, y=0.0, z=0.0),
                                      orientation=quat_t(x=0.0, y=0.0, z=0.0, w=1.0)),
                          covariance=np.zeros(36, dtype=np.float64))
        result = hyp_pose_t(hypothesis=hyp_t(class_id=str(det.class_id), score=float(det.score)),
                            pose=pose)
        bbox = bbox_t(center=pose2d_t(position=point2d_t(x=float(det.cx), y=float(det.cy)),
                                      theta=0.0),
                      size_x=float(det.w), size_y=float(det.h))
        out.append(det_t(header=hdr, results=[result], bbox=bbox, id=str(det.id)))
    return _type('vision_msgs/msg/Detection2DArray')(header=hdr, detections=out)


def ackermann_drive_stamped(steering_angle: float, speed: float, stamp_ns: int, frame_id: str,
                            steering_angle_velocity: float = 0.0, acceleration: float = 0.0,
                            jerk: float = 0.0) -> Any:
    """Return an ackermann_msgs/AckermannDriveStamped."""
    drive = _type('ackermann_msgs/msg/AckermannDrive')(
        steering_angle=float(steering_angle), steering_angle_velocity=float(
            steering_angle_velocity), speed=float(speed), acceleration=float(acceleration),
        jerk=float(jerk))
    return _type('ackermann_msgs/msg/AckermannDriveStamped')(header=header(stamp_ns, frame_id),
                                                             drive=drive)


def string(text: str) -> Any:
    """Return a std_msgs/String."""
    return _type('std_msgs/msg/String')(data=text)
