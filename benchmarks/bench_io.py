#!/usr/bin/env python3
"""Image conversion and bag playback cost, against bare baselines measured in the same run.

    python benchmarks/bench_io.py [--frames 300] [--repeat 200]

Prints per-frame conversion cost (640x480 bgr8, both directions) against a bare
``np.frombuffer`` / ``tobytes``, and the player's throughput (messages/s, MB/s) against reading
the same bag with rosbags alone. Ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('FASTDDS_BUILTIN_TRANSPORTS', 'LARGE_DATA')
os.environ.setdefault('ROS_DOMAIN_ID', str(150 + os.getpid() % 50))

from av_perception.bag import BagWriter  # noqa: E402
from av_perception.bag import messages as m  # noqa: E402


def per_call_ms(function, repeat: int) -> float:
    """Return the median time of one call in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def bench_conversion(repeat: int) -> None:
    """Image message <-> numpy for the formats a camera driver sends."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from av_perception.image.codec import image_to_array, to_bgr
    from av_perception.ros.image_bridge import bgr_to_image_msg
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    msg = bgr_to_image_msg(frame, Header())
    rgb = bgr_to_image_msg(frame[..., ::-1], Header(), 'rgb8')
    baseline_in = per_call_ms(lambda: np.frombuffer(msg.data, np.uint8).reshape(480, 640, 3),
                              repeat)
    ours_in = per_call_ms(lambda: image_to_array(msg), repeat)
    ours_bgr = per_call_ms(lambda: to_bgr(msg), repeat)
    ours_rgb = per_call_ms(lambda: to_bgr(rgb), repeat)

    def bare_out():
        out = Image()
        out.data = frame.tobytes()
    baseline_out = per_call_ms(bare_out, repeat)
    ours_out = per_call_ms(lambda: bgr_to_image_msg(frame, Header()), repeat)
    print('image conversion, 640x480 (median of %d calls)' % repeat)
    print(f'  msg -> array  bgr8 view    {ours_in:7.3f} ms   bare frombuffer '
          f'{baseline_in:7.3f} ms   ratio {ours_in / baseline_in:5.2f}')
    print(f'  msg -> BGR    bgr8         {ours_bgr:7.3f} ms')
    print(f'  msg -> BGR    rgb8 (swap)  {ours_rgb:7.3f} ms')
    print(f'  array -> msg  bgr8         {ours_out:7.3f} ms   bare tobytes    '
          f'{baseline_out:7.3f} ms   ratio {ours_out / baseline_out:5.2f}')


def write_bag(path: Path, frames: int) -> int:
    """Write ``frames`` 640x480 images at 30 Hz; return the payload bytes."""
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    with BagWriter(path) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        for i in range(frames):
            stamp = 1_700_000_000_000_000_000 + i * 33_333_333
            writer.write('/camera/image_raw', stamp, m.image(frame, 'bgr8', stamp, 'camera'))
    return frames * frame.nbytes


def bench_player(frames: int) -> None:
    """Player throughput vs reading the same bag with rosbags only."""
    import rclpy
    from rosbags.rosbag2 import Reader
    from av_perception.ros.bag_player import BagPlayer
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / 'bag'
        payload = write_bag(bag, frames)
        rosbags_s = player_s = float('inf')
        rclpy.init()
        try:
            player = BagPlayer({'bag': str(bag), 'rate': 100.0})
            for _ in range(2):  # best of two, alternating, so neither gets a colder cache
                start = time.perf_counter()
                with Reader(bag / 'bag.mcap') as reader:
                    count = sum(1 for _ in reader.messages())
                rosbags_s = min(rosbags_s, time.perf_counter() - start)
                start = time.perf_counter()
                published = player.play()
                player_s = min(player_s, time.perf_counter() - start)
            player.destroy_node()
        finally:
            rclpy.try_shutdown()
    assert count == frames and published == 2 * frames
    published = frames
    mb = payload / 1e6
    print(f'bag playback, {frames} frames 640x480 bgr8 ({mb:.0f} MB), mcap')
    print(f'  rosbags read only   {count / rosbags_s:8.0f} msg/s  {mb / rosbags_s:7.0f} MB/s')
    print(f'  our player publish  {published / player_s:8.0f} msg/s  {mb / player_s:7.0f} MB/s'
          f'   ratio to rosbags read {rosbags_s / player_s:5.2f}')


def main() -> int:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=300, help='frames in the playback bag')
    parser.add_argument('--repeat', type=int, default=200, help='calls per conversion timing')
    args = parser.parse_args()
    bench_conversion(args.repeat)
    bench_player(args.frames)
    return 0


if __name__ == '__main__':
    sys.exit(main())
