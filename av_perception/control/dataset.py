"""Labelled drives for training and open-loop evaluation: frames plus the commands to imitate.

Two sources: rosbag2 bags (an image topic and an AckermannDriveStamped command topic, matched by
header stamp) and an image folder with a CSV of steering angles. Frames are cropped and resized
right away (``crop_and_resize``), so a drive of thousands of frames stays small in memory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from av_perception.bag import BagError, BagReader
from av_perception.bag.messages import stamp_to_ns
from av_perception.control.errors import ControllerError
from av_perception.control.preprocess import crop_and_resize, InputSpec
from av_perception.media import FrameStats, iter_frames, MediaError

DEFAULT_COMMAND_TOPIC = '/expert/command'
COMMAND_TYPE = 'ackermann_msgs/msg/AckermannDriveStamped'


@dataclass(frozen=True)
class LabelledDrive:
    """Consecutive frames of one drive with their labels.

    ``pixels``: ``(N, H, W + 2 * margin, 3)`` uint8 crops (see ``crop_and_resize``);
    ``steering``: rad, positive left; ``speed``: m/s, NaN where the source has none.
    """

    name: str
    stamps_ns: np.ndarray
    pixels: np.ndarray
    steering: np.ndarray
    speed: np.ndarray
    margin: int = 0

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.stamps_ns)

    def slice(self, start: int, stop: int, suffix: str = '') -> 'LabelledDrive':
        """Return frames ``[start, stop)`` as a drive of their own."""
        return LabelledDrive(self.name + suffix, self.stamps_ns[start:stop],
                             self.pixels[start:stop], self.steering[start:stop],
                             self.speed[start:stop], self.margin)

    @property
    def frame_period_s(self) -> float:
        """Median time between frames (0.05 when there are fewer than two)."""
        if len(self) < 2:
            return 0.05
        return float(np.median(np.diff(self.stamps_ns))) / 1e9


def read_commands(path: str | Path, topic: str = DEFAULT_COMMAND_TOPIC
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return header stamps (sorted), steering angles and speeds of a bag's command topic."""
    try:
        with BagReader(path) as reader:
            types = {t.name: t.type for t in reader.topics()}
            if topic not in types:
                raise ControllerError(f'{path}: no command topic {topic}; topics: '
                                      f'{sorted(types)}')
            if types[topic] != COMMAND_TYPE:
                raise ControllerError(f'{path}: topic {topic} is {types[topic]}, expected '
                                      f'{COMMAND_TYPE}')
            rows = [(stamp_to_ns(msg.header.stamp), float(msg.drive.steering_angle),
                     float(msg.drive.speed)) for _, msg in reader.messages([topic])]
    except BagError as err:
        raise ControllerError(str(err)) from err
    if not rows:
        raise ControllerError(f'{path}: topic {topic} holds no messages')
    table = np.array(rows, dtype=np.float64)
    order = np.argsort(table[:, 0], kind='stable')
    stamps = np.array([rows[i][0] for i in order], dtype=np.int64)
    return stamps, table[order, 1], table[order, 2]


def match_labels(frame_stamps: np.ndarray, label_stamps: np.ndarray,
                 max_offset_ns: int) -> np.ndarray:
    """Index of the nearest label stamp for each frame stamp, -1 where none is close enough."""
    frame_stamps = np.asarray(frame_stamps, dtype=np.int64)
    label_stamps = np.asarray(label_stamps, dtype=np.int64)
    right = np.clip(np.searchsorted(label_stamps, frame_stamps), 0, len(label_stamps) - 1)
    left = np.clip(right - 1, 0, len(label_stamps) - 1)
    pick = np.where(np.abs(label_stamps[left] - frame_stamps)
                    <= np.abs(label_stamps[right] - frame_stamps), left, right)
    pick[np.abs(label_stamps[pick] - frame_stamps) > max_offset_ns] = -1
    return pick


def read_bag_drive(path: str | Path, spec: InputSpec, margin: int = 0,
                   image_topic: str | None = None, command_topic: str = DEFAULT_COMMAND_TOPIC,
                   max_label_offset_s: float = 0.025,
                   progress: Callable[[int], None] | None = None) -> LabelledDrive:
    """Read the frames of ``image_topic`` (default: the first image topic) with their labels.

    A frame gets the command whose header stamp is nearest to its own, if within
    ``max_label_offset_s``; frames without one are dropped (ControllerError when none is left).
    ``progress`` is called with 1 per frame read.
    """
    label_stamps, steering, speed = read_commands(path, command_topic)
    stamps, crops = [], []
    stats = FrameStats()
    try:
        for frame in iter_frames([str(path)], image_topic, stats):
            stamps.append(frame.stamp_ns)
            crops.append(crop_and_resize(frame.image, spec, margin))
            if progress is not None:
                progress(1)
    except MediaError as err:
        raise ControllerError(str(err)) from err
    if not stamps:
        raise ControllerError(f'{path}: no readable frames ({stats.skipped} skipped)')
    order = np.argsort(np.asarray(stamps, dtype=np.int64), kind='stable')
    frame_stamps = np.asarray(stamps, dtype=np.int64)[order]
    pick = match_labels(frame_stamps, label_stamps, int(max_label_offset_s * 1e9))
    keep = pick >= 0
    if not np.any(keep):
        raise ControllerError(f'{path}: no frame has a {command_topic} message within '
                              f'{max_label_offset_s} s of its stamp')
    pixels = np.stack([crops[i] for i in order[keep]])
    return LabelledDrive(Path(path).name, frame_stamps[keep], pixels,
                         steering[pick[keep]].astype(np.float32),
                         speed[pick[keep]].astype(np.float32), margin)


def _steering_column(fieldnames: Sequence[str], wanted: str | None, path: Path) -> str:
    if wanted:
        if wanted not in fieldnames:
            raise ControllerError(f'{path}: no column {wanted!r}; columns: {list(fieldnames)}')
        return wanted
    candidates = [name for name in fieldnames if 'steer' in name.lower()
                  or 'angle' in name.lower()]
    if not candidates:
        raise ControllerError(f'{path}: no steering column (a name containing "steer" or '
                              f'"angle"); columns: {list(fieldnames)}')
    return candidates[0]


def read_csv_drive(csv_path: str | Path, spec: InputSpec, margin: int = 0,
                   steering_column: str | None = None, straight_deg: float = 90.0,
                   frame_period_s: float = 0.05,
                   progress: Callable[[int], None] | None = None) -> LabelledDrive:
    """Read an image folder labelled by a CSV with a ``filename`` and a steering column.

    Angles are degrees with ``straight_deg`` meaning straight ahead and smaller angles turning
    left (the DeepPiCar convention): ``steering_rad = radians(straight_deg - angle)``. Image
    files are looked up beside the CSV, then in its ``images/`` folder; rows keep file order
    and get stamps ``index * frame_period_s``. There is no speed label (NaN).
    """
    path = Path(csv_path)
    try:
        with path.open(newline='') as handle:
            reader = csv.DictReader(handle)
            column = _steering_column(reader.fieldnames or [], steering_column, path)
            if 'filename' not in (reader.fieldnames or []):
                raise ControllerError(f'{path}: no "filename" column; columns: '
                                      f'{reader.fieldnames}')
            rows = [(row['filename'], row[column]) for row in reader]
    except OSError as err:
        raise ControllerError(f'{path}: cannot read: {err}') from err
    crops, angles = [], []
    for filename, value in rows:
        candidates = [path.parent / filename, path.parent / 'images' / filename]
        image_path = next((p for p in candidates if p.is_file()), None)
        if image_path is None:
            raise ControllerError(f'{path}: image {filename} not found beside the CSV or in '
                                  'images/')
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise ControllerError(f'{image_path}: cannot decode image')
        try:
            angle = float(value)
        except ValueError:
            raise ControllerError(f'{path}: {filename}: steering {value!r} is not a number') \
                from None
        crops.append(crop_and_resize(image, spec, margin))
        angles.append(math.radians(straight_deg - angle))
        if progress is not None:
            progress(1)
    if not crops:
        raise ControllerError(f'{path}: no rows')
    count = len(crops)
    stamps = (np.arange(count, dtype=np.int64) * int(round(frame_period_s * 1e9)))
    return LabelledDrive(path.parent.name, stamps, np.stack(crops),
                         np.asarray(angles, np.float32), np.full(count, np.nan, np.float32),
                         margin)
