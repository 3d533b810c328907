"""Record a simulated drive into a rosbag2 bag (and optionally TuSimple lane labels).

Topics (all stamped with simulation time, the bag timestamps equal the header stamps):

==============================  ======================================  ===========
topic                           type                                    frame_id
==============================  ======================================  ===========
/camera/image_raw               sensor_msgs/msg/Image (bgr8)            camera
/camera/image_raw/compressed    sensor_msgs/msg/CompressedImage (jpeg)  camera
/camera/camera_info             sensor_msgs/msg/CameraInfo              camera
/ground_truth/center_line       nav_msgs/msg/Path (ego lane centre)     base_link
/ground_truth/objects           vision_msgs/msg/Detection2DArray        camera
/expert/command                 ackermann_msgs/msg/AckermannDriveStamped base_link
==============================  ======================================  ===========

Only one of the two image topics is written. Detections carry the COCO class id as a string,
score 1.0, the box centre and size in pixels and the track id as ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2

from av_perception.control_types import DriveCommand
from av_perception.sim.simulator import DriveMetrics, Observation, Simulator
from av_perception.sim.tusimple import tusimple_record, write_tusimple_line

IMAGE_TOPIC = '/camera/image_raw'
COMPRESSED_TOPIC = '/camera/image_raw/compressed'
CAMERA_INFO_TOPIC = '/camera/camera_info'
CENTER_LINE_TOPIC = '/ground_truth/center_line'
OBJECTS_TOPIC = '/ground_truth/objects'
EXPERT_TOPIC = '/expert/command'
CAMERA_FRAME = 'camera'
VEHICLE_FRAME = 'base_link'


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`record_drive` wrote."""

    bag_path: Path
    frames: int
    messages: int
    first_stamp_ns: int
    last_stamp_ns: int
    metrics: DriveMetrics
    tusimple_path: Path | None


def observation_messages(obs: Observation, compressed: bool = False,
                         jpeg_quality: int = 90) -> list[tuple[str, object]]:
    """Return ``(topic, message)`` pairs of one observation (rosbags message objects)."""
    from av_perception.bag import messages as m  # bag support is optional for the simulator

    stamp = obs.stamp_ns
    info = obs.camera_info
    out: list[tuple[str, object]] = []
    if compressed:
        out.append((COMPRESSED_TOPIC, m.compressed_image(obs.image, stamp, CAMERA_FRAME,
                                                         quality=jpeg_quality)))
    else:
        out.append((IMAGE_TOPIC, m.image(obs.image, 'bgr8', stamp, CAMERA_FRAME)))
    out.append((CAMERA_INFO_TOPIC, m.camera_info(info.width, info.height, info.k, info.d,
                                                 info.p, stamp, info.frame_id,
                                                 info.distortion_model, info.r)))
    out.append((CENTER_LINE_TOPIC, m.path(obs.truth.center_line, stamp, VEHICLE_FRAME)))
    dets = []
    for obj in obs.truth.objects:
        x0, y0, x1, y1 = obj.bbox_xyxy
        dets.append(m.Det(class_id=str(obj.class_id), score=1.0, cx=0.5 * (x0 + x1),
                          cy=0.5 * (y0 + y1), w=x1 - x0, h=y1 - y0, id=str(obj.track_id)))
    out.append((OBJECTS_TOPIC, m.detection2d_array(dets, stamp, CAMERA_FRAME)))
    out.append((EXPERT_TOPIC, m.ackermann_drive_stamped(obs.expert.steering_angle,
                                                        obs.expert.speed, stamp,
                                                        VEHICLE_FRAME)))
    return out


def topic_types(compressed: bool) -> dict[str, str]:
    """Topic name -> message type of a recorded drive."""
    image = ({COMPRESSED_TOPIC: 'sensor_msgs/msg/CompressedImage'} if compressed
             else {IMAGE_TOPIC: 'sensor_msgs/msg/Image'})
    return {**image,
            CAMERA_INFO_TOPIC: 'sensor_msgs/msg/CameraInfo',
            CENTER_LINE_TOPIC: 'nav_msgs/msg/Path',
            OBJECTS_TOPIC: 'vision_msgs/msg/Detection2DArray',
            EXPERT_TOPIC: 'ackermann_msgs/msg/AckermannDriveStamped'}


def record_drive(sim: Simulator, frames: int, bag_path: str | Path, *, storage: str = 'mcap',
                 compressed: bool = False, overwrite: bool = False,
                 tusimple_path: str | Path | None = None, tusimple_images: bool = False,
                 driver: Callable[[Observation], DriveCommand | None] | None = None,
                 progress: Callable[[int], None] | None = None) -> ExportSummary:
    """Reset ``sim``, drive ``frames`` frames and write every frame's messages to a bag.

    ``driver`` maps the latest observation to a command (None, the default, lets the
    expert drive). ``tusimple_path`` also writes TuSimple lane labels whose ``raw_file`` is
    ``<stem>_frames/<index>.jpg`` next to the label file; ``tusimple_images`` writes those
    JPEG files too. ``progress`` is called with 1 after each frame.
    """
    from av_perception.bag import BagWriter  # bag support is optional for the simulator

    if frames < 1:
        raise ValueError(f'frames={frames!r}: must be at least 1')
    label_stream = None
    image_dir = None
    if tusimple_path is not None:
        tusimple_path = Path(tusimple_path)
        tusimple_path.parent.mkdir(parents=True, exist_ok=True)
        image_dir_name = f'{tusimple_path.stem}_frames'
        if tusimple_images:
            image_dir = tusimple_path.parent / image_dir_name
            image_dir.mkdir(parents=True, exist_ok=True)
        label_stream = open(tusimple_path, 'w', encoding='utf-8')
    first_stamp = last_stamp = 0
    try:
        with BagWriter(bag_path, storage=storage, overwrite=overwrite) as writer:
            for topic, msgtype in topic_types(compressed).items():
                writer.add_topic(topic, msgtype)
            obs = sim.reset(render=True)
            first_stamp = obs.stamp_ns
            for index in range(frames):
                if index:
                    obs = sim.step(driver(obs) if driver is not None else None, render=True)
                for topic, message in observation_messages(obs, compressed):
                    writer.write(topic, obs.stamp_ns, message)
                if label_stream is not None:
                    raw_file = f'{image_dir_name}/{obs.frame_index:06d}.jpg'
                    write_tusimple_line(label_stream, tusimple_record(obs.truth, raw_file))
                    if image_dir is not None:
                        cv2.imwrite(str(image_dir / f'{obs.frame_index:06d}.jpg'), obs.image,
                                    [cv2.IMWRITE_JPEG_QUALITY, 95])
                last_stamp = obs.stamp_ns
                if progress is not None:
                    progress(1)
            count = writer.message_count
    finally:
        if label_stream is not None:
            label_stream.close()
    return ExportSummary(Path(bag_path), frames, count, first_stamp, last_stamp, sim.metrics(),
                         tusimple_path)
