"""Bag player and recorder as separate processes over real DDS."""

from __future__ import annotations

import statistics
import subprocess

import numpy as np
import pytest

from av_perception.bag import BagReader, BagWriter
from av_perception.bag import messages as m

T0 = 1_700_000_000_000_000_000
PERIOD_NS = 50_000_000  # 20 Hz
FRAMES = 40


@pytest.fixture(scope='module')
def drive_bag(tmp_path_factory):
    """Write a 2 s bag: 320x240 bgr8 images and Ackermann commands at 20 Hz."""
    path = tmp_path_factory.mktemp('bags') / 'drive'
    with BagWriter(path) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        writer.add_topic('/expert/command', 'ackermann_msgs/msg/AckermannDriveStamped')
        for i in range(FRAMES):
            stamp = T0 + i * PERIOD_NS
            image = np.full((240, 320, 3), i, np.uint8)
            writer.write('/camera/image_raw', stamp, m.image(image, 'bgr8', stamp, 'camera'))
            writer.write('/expert/command', stamp + 1000,
                         m.ackermann_drive_stamped(0.01 * i, 10.0, stamp, 'base_link'))
    return path


def stamp_ns(msg) -> int:
    """Nanoseconds of a message header stamp."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def finish(process: subprocess.Popen, timeout: float = 30.0) -> str:
    """Wait for a process to exit and return its output."""
    output, _ = process.communicate(timeout=timeout)
    return output


def test_all_messages_arrive_in_order_with_the_bag_timing(drive_bag, collect, processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from sensor_msgs.msg import Image
    images = collect(Image, '/camera/image_raw')
    commands = collect(AckermannDriveStamped, '/expert/command')
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={drive_bag}',
                       '-p', 'wait_for_subscribers:=2')
    assert images.wait_for(FRAMES, timeout=30) and commands.wait_for(FRAMES, timeout=10)
    output = finish(player)
    assert player.returncode == 0, output
    assert 'played 80 message(s) in 1 pass(es)' in output
    stamps = [stamp_ns(msg) for msg in images.messages()]
    assert stamps == [T0 + i * PERIOD_NS for i in range(FRAMES)]
    first = images.messages()[5]
    assert first.width == 320 and first.encoding == 'bgr8' and bytes(first.data[:3]) == b'\x05' * 3
    assert [msg.drive.steering_angle for msg in commands.messages()] == pytest.approx(
        [0.01 * i for i in range(FRAMES)])
    arrivals = [t for t, _ in images.items]
    intervals = np.diff(arrivals)
    # the bag's inter-arrival time is 50 ms: the typical interval and the whole span stay within
    # 10 %, and no single interval is wildly off (a loaded 2-core CI machine has some jitter)
    assert statistics.median(intervals) == pytest.approx(0.05, rel=0.10)
    assert arrivals[-1] - arrivals[0] == pytest.approx((FRAMES - 1) * 0.05, rel=0.10)
    assert np.mean(np.abs(intervals - 0.05) <= 0.005) >= 0.8


def test_rate_topics_and_remap(drive_bag, collect, processes):
    from ackermann_msgs.msg import AckermannDriveStamped
    from sensor_msgs.msg import Image
    commands = collect(AckermannDriveStamped, '/replayed/command')
    images = collect(Image, '/camera/image_raw')
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={drive_bag}',
                       '-p', 'rate:=2.0', '-p', 'topics:=[/expert/command]',
                       '-p', 'remap:=["/expert/command:=/replayed/command"]',
                       '-p', 'wait_for_subscribers:=1', '-p', 'start_offset:=1.0')
    assert commands.wait_for(FRAMES // 2, timeout=30)
    assert finish(player) is not None and player.returncode == 0
    received = commands.messages()
    assert len(received) == FRAMES // 2  # the second half of the bag
    assert stamp_ns(received[0]) == T0 + (FRAMES // 2) * PERIOD_NS
    # twice as fast: the typical interval is half the bag's 50 ms (the median is robust to a
    # message the loaded test process takes late)
    intervals = np.diff([t for t, _ in commands.items])
    assert statistics.median(intervals) == pytest.approx(0.025, rel=0.2)
    assert images.messages() == []


def test_clock_follows_bag_time(drive_bag, collect, processes):
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image
    clock = collect(Clock, '/clock')
    images = collect(Image, '/camera/image_raw')
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={drive_bag}',
                       '-p', 'clock:=true', '-p', 'clock_frequency:=50.0',
                       '-p', 'topics:=[/camera/image_raw]', '-p', 'wait_for_subscribers:=1')
    assert images.wait_for(FRAMES, timeout=30)
    assert finish(player) is not None and player.returncode == 0
    ticks = [(t, msg.clock.sec * 1_000_000_000 + msg.clock.nanosec) for t, msg in clock.items]
    values = [value for _, value in ticks]
    assert len(ticks) >= FRAMES
    assert values == sorted(values)
    assert T0 <= values[0] and values[-1] <= T0 + (FRAMES - 1) * PERIOD_NS
    # when each image arrives, the newest /clock is that image's bag time (within 1 period)
    for arrival, image in images.items:
        before = [value for t, value in ticks if t <= arrival]
        assert before and abs(before[-1] - stamp_ns(image)) <= PERIOD_NS


def test_recorder_output_equals_the_input(drive_bag, tmp_path, processes, ros_node):
    output = tmp_path / 'recorded'
    recorder = processes('av_perception.ros.bag_recorder', '-p', f'output:={output}',
                         '-p', 'topics:=[/camera/image_raw,/expert/command]',
                         '-p', 'discovery_period:=0.1')
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={drive_bag}',
                       '-p', 'wait_for_subscribers:=2', '-p', 'rate:=4.0')
    assert finish(player) is not None and player.returncode == 0
    recorder.send_signal(subprocess.signal.SIGINT)
    log = finish(recorder)
    assert recorder.returncode == 0, log
    assert 'wrote 80 message(s)' in log
    with BagReader(drive_bag) as original, BagReader(output) as recorded:
        for topic in ('/camera/image_raw', '/expert/command'):
            sent = [bytes(raw.data) for raw in original.raw_messages([topic])]
            got = [bytes(raw.data) for raw in recorded.raw_messages([topic])]
            assert got == sent, topic
        assert not recorded.problems


def test_recorder_flushes_on_sigterm(drive_bag, tmp_path, processes):
    output = tmp_path / 'recorded'
    recorder = processes('av_perception.ros.bag_recorder', '-p', f'output:={output}',
                         '-p', 'topics:=[/expert/command]', '-p', 'discovery_period:=0.1')
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={drive_bag}',
                       '-p', 'wait_for_subscribers:=1', '-p', 'rate:=4.0')
    assert finish(player) is not None and player.returncode == 0
    recorder.terminate()
    log = finish(recorder)
    assert 'wrote 40 message(s)' in log, log
    with BagReader(output) as recorded:
        assert recorded.info().message_count == 40 and not recorded.problems


def test_bad_player_parameters_fail_clearly(tmp_path, processes):
    player = processes('av_perception.ros.bag_player', '-p', f'bag:={tmp_path / "none"}')
    output = finish(player)
    assert player.returncode == 2
    assert 'no such file or directory' in output
    player = processes('av_perception.ros.bag_player', '-p', 'bag:=/tmp', '-p', 'rate:=-1.0')
    output = finish(player)
    assert player.returncode != 0 and 'rate' in output
