"""``av-perception demo``: the main job on a built-in default.

Today: a camera drive (the real Udacity highway video from the shared assets when present,
else generated frames) is written to a rosbag2 bag, played over DDS by our player and recorded
again by our recorder in the same process; both bags are summarised and compared. It grows into
the full perception replay as the pipeline lands.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser('demo', help='run the main job on a built-in default')
    parser.add_argument('--out', default='out/demo', help='output directory (default out/demo)')
    parser.add_argument('--frames', type=int, default=100, help='frames to use (default 100)')
    parser.set_defaults(func=run_demo)


def _frames(count: int):
    import cv2
    import numpy as np
    from av_perception.assets import asset_path
    video = asset_path('lanes', 'udacity_p1', 'solidWhiteRight.mp4')
    if video.exists():
        capture = cv2.VideoCapture(str(video))
        for _ in range(count):
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
        capture.release()
        return
    for index in range(count):  # a horizon and two converging lane lines, moving dashes
        frame = np.full((360, 640, 3), 90, np.uint8)
        frame[:170] = (200, 160, 120)
        for x_bottom, x_top in ((120, 300), (520, 340)):
            cv2.line(frame, (x_bottom, 359), (x_top, 180), (255, 255, 255), 4)
        for k in range(4):
            y = 190 + ((index * 6 + k * 45) % 170)
            cv2.line(frame, (320, y), (320, min(359, y + 20)), (230, 230, 230), 3)
        yield frame


def run_demo(args: argparse.Namespace) -> int:
    """Write, play, record and compare; print where the bags are."""
    import threading
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from tqdm import tqdm
    from av_perception.bag import BagReader, BagWriter
    from av_perception.bag import messages as m
    from av_perception.cli.bag import format_info
    from av_perception.ros.bag_player import BagPlayer
    from av_perception.ros.bag_recorder import BagRecorder

    out = Path(args.out)
    source, recorded = out / 'drive', out / 'recorded'
    with BagWriter(source, overwrite=True) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        start = 1_700_000_000_000_000_000
        for index, frame in enumerate(tqdm(_frames(args.frames), total=args.frames,
                                           desc='writing drive bag', unit='frame')):
            stamp = start + index * 50_000_000
            writer.write('/camera/image_raw', stamp, m.image(frame, 'bgr8', stamp, 'camera'))
    rclpy.init(args=sys.argv[:1])
    try:
        recorder = BagRecorder({'output': str(recorded), 'overwrite': True,
                                'topics': ['/camera/image_raw'], 'discovery_period': 0.05})
        player = BagPlayer({'bag': str(source), 'rate': 2.0, 'wait_for_subscribers': 1})
        executor = SingleThreadedExecutor()
        executor.add_node(recorder)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        played = player.play()
        # the recorder writes each message in its callback; wait until it has all of them
        recorder.wait_for_messages(played, timeout=10.0)
        recorder.close_bag()
        executor.shutdown(timeout_sec=1.0)
        player.destroy_node()
        recorder.destroy_node()
    finally:
        rclpy.try_shutdown()
    with BagReader(source) as first, BagReader(recorded) as second:
        print(format_info(first.info()))
        print(format_info(second.info()))
        same = [bytes(a.data) for a in first.raw_messages()] == \
            [bytes(b.data) for b in second.raw_messages()]
    print(f'played {played} frame(s) over DDS; recorded copy identical: {same}')
    print(f'bags: {source.resolve()} and {recorded.resolve()}')
    return 0 if same else 1
