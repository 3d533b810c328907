"""Frames from images, videos and bags through one iterator, bad ones skipped by name."""

import cv2
import numpy as np
import pytest

from av_perception.bag import BagWriter
from av_perception.bag import messages as m
from av_perception.media import count_frames, FrameStats, input_kind, iter_frames, MediaError

T0 = 1_700_000_000_000_000_000


def test_images_videos_and_bags(tmp_path):
    image = np.full((20, 30, 3), 77, np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    (tmp_path / 'broken.jpg').write_bytes(b'not a jpeg')
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), i * 40, np.uint8))
    writer.release()
    bag = tmp_path / 'bag'
    with BagWriter(bag) as bag_writer:
        bag_writer.add_topic('/cam', 'sensor_msgs/msg/Image')
        for i in range(3):
            image = np.full((8, 8, 3), i, np.uint8)
            bag_writer.write('/cam', T0 + i, m.image(image, 'bgr8', T0 + i * 1000, 'camera'))
        bad = m.image(np.zeros((8, 8, 3), np.uint8), 'bgr8', T0 + 5000, 'camera')
        bad.encoding = 'bgr17'
        bag_writer.write('/cam', T0 + 5, bad)
    inputs = [tmp_path / 'a.png', tmp_path / 'broken.jpg', video, bag]
    assert [input_kind(p) for p in inputs] == ['image', 'image', 'video', 'bag']
    assert count_frames(inputs) == 1 + 1 + 5 + 4
    stats = FrameStats()
    frames = list(iter_frames(inputs, stats=stats))
    assert stats.delivered == 1 + 5 + 3 and stats.skipped == 2
    assert (frames[0].image == 77).all() and frames[0].name.endswith('a.png')
    assert [f.index for f in frames[1:6]] == list(range(5))
    assert frames[2].stamp_ns == 100_000_000  # 10 fps
    assert [f.stamp_ns for f in frames[6:]] == [T0, T0 + 1000, T0 + 2000]
    assert frames[6].name.endswith('bag#000000')
    assert 'broken.jpg: cannot decode image file' in stats.reasons[0]
    assert "topic /cam message #3: unsupported image encoding 'bgr17'" in stats.reasons[1]


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(MediaError, match='no such file'):
        input_kind(tmp_path / 'missing.png')
    (tmp_path / 'notes.txt').write_text('x')
    with pytest.raises(MediaError, match="unknown input type '.txt'"):
        input_kind(tmp_path / 'notes.txt')
    bag = tmp_path / 'bag'
    with BagWriter(bag) as writer:
        writer.add_topic('/text', 'std_msgs/msg/String')
        writer.write('/text', T0, m.string('hi'))
    with pytest.raises(MediaError, match='has no Image or CompressedImage topic'):
        list(iter_frames([bag]))
    with pytest.raises(MediaError, match='topic /text is not an Image'):
        list(iter_frames([bag], topic='/text'))
