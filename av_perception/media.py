"""Frames from image files, video files and rosbag2 bags, through one iterator.

The command-line tools (``lanes``, ``detect``, ...) accept any mix of inputs; this module turns
them into :class:`Frame` objects with a BGR image and a timestamp. A frame that cannot be
decoded (corrupt image file, Image message whose data does not match its header) is skipped with
a warning naming the source and index, and counted in :class:`FrameStats`; it never becomes a
garbage array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from av_perception.bag.messages import stamp_to_ns
from av_perception.bag.reader import BagError, BagReader
from av_perception.image.codec import ImageConversionError, message_to_bgr

LOGGER = logging.getLogger('av_perception.media')
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm'}
VIDEO_SUFFIXES = {'.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg'}
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


class MediaError(ValueError):
    """An input cannot be used as a frame source; the message names it."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: where it came from, its position, its time and its BGR pixels."""

    source: str
    index: int
    stamp_ns: int
    image: np.ndarray

    @property
    def name(self) -> str:
        """Return an identifier: the image path, or source + index for streams."""
        path = Path(self.source)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self.source
        return f'{self.source}#{self.index:06d}'


@dataclass
class FrameStats:
    """Counts of frames delivered and skipped, with the reasons of the skipped ones."""

    delivered: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        """Record a skipped frame and log it."""
        self.skipped += 1
        if len(self.reasons) < 100:
            self.reasons.append(reason)
        LOGGER.warning('skipped frame: %s', reason)


def input_kind(path: str | Path) -> str:
    """Return 'image', 'video' or 'bag' for an input path, or raise MediaError."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f'{path}: no such file or directory')
    if path.is_dir() or path.suffix.lower() in ('.mcap', '.db3'):
        return 'bag'
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return 'image'
    if suffix in VIDEO_SUFFIXES:
        return 'video'
    raise MediaError(f'{path}: unknown input type {suffix!r}; expected an image '
                     f'({", ".join(sorted(IMAGE_SUFFIXES))}), a video '
                     f'({", ".join(sorted(VIDEO_SUFFIXES))}) or a rosbag2 bag')


def image_topic(reader: BagReader, topic: str | None = None) -> str:
    """Return ``topic`` if the bag has it as an image topic, else the first image topic."""
    images = [t.name for t in reader.topics() if t.type in IMAGE_TYPES]
    if topic is not None:
        if topic not in images:
            raise MediaError(f'{reader.name}: topic {topic} is not an Image/CompressedImage topic '
                             f'of the bag; image topics: {images}')
        return topic
    if not images:
        raise MediaError(f'{reader.name}: the bag has no Image or CompressedImage topic')
    return images[0]


def iter_frames(inputs: Sequence[str | Path], topic: str | None = None,
                stats: FrameStats | None = None) -> Iterator[Frame]:
    """Yield BGR frames from image files, videos and bags, in the order given.

    Image files get their index among the image inputs and stamp 0 + index x 1/30 s unless
    they are part of a stream; videos use their frame rate; bags use the message header stamp.
    """
    stats = stats if stats is not None else FrameStats()
    image_index = 0
    for item in inputs:
        kind = input_kind(item)
        if kind == 'image':
            image = cv2.imread(str(item), cv2.IMREAD_COLOR)
            if image is None:
                stats.skip(f'{item}: cannot decode image file')
            else:
                stats.delivered += 1
                yield Frame(str(item), image_index, int(image_index * 1e9 / 30), image)
            image_index += 1
        elif kind == 'video':
            yield from _video_frames(Path(item), stats)
        else:
            yield from _bag_frames(Path(item), topic, stats)


def _video_frames(path: Path, stats: FrameStats) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError(f'{path}: cannot open video')
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            stats.delivered += 1
            yield Frame(str(path), index, int(round(index * 1e9 / fps)), image)
            index += 1
    finally:
        capture.release()


def _bag_frames(path: Path, topic: str | None, stats: FrameStats) -> Iterator[Frame]:
    try:
        reader = BagReader(path)
    except BagError as err:
        raise MediaError(str(err)) from err
    with reader:
        name = image_topic(reader, topic)
        for raw, msg in reader.messages([name]):
            try:
                image = message_to_bgr(msg)
            except ImageConversionError as err:
                stats.skip(f'{path} topic {name} message #{raw.index}: {err}')
                continue
            stamp_ns = stamp_to_ns(msg.header.stamp)
            stats.delivered += 1
            yield Frame(str(path), raw.index, stamp_ns or raw.timestamp_ns, image)


def count_frames(inputs: Sequence[str | Path], topic: str | None = None) -> int | None:
    """Return how many frames :func:`iter_frames` will try to deliver (for progress bars)."""
    total = 0
    for item in inputs:
        kind = input_kind(item)
        if kind == 'image':
            total += 1
        elif kind == 'video':
            capture = cv2.VideoCapture(str(item))
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()
            if frames <= 0:
                return None
            total += frames
        else:
            try:
                with BagReader(item) as reader:
                    name = image_topic(reader, topic)
                    total += next(t.count for t in reader.topics() if t.name == name)
            except (BagError, MediaError):
                return None
    return total
