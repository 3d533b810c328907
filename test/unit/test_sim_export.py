"""Bag export round trip, TuSimple labels and the ``simulate`` command."""

import json

import numpy as np
import pytest

from av_perception.sim import EPOCH_NS, preset_config, preset_names, Simulator
from av_perception.sim.tusimple import NOT_VISIBLE, read_tusimple, tusimple_record

bag = pytest.importorskip('av_perception.bag', reason='the bag package is not available')
codec = pytest.importorskip('av_perception.image.codec')

FRAMES = 8


def _reference(config, seed, size):
    """Return the observations a recording of FRAMES frames must contain."""
    sim = Simulator(config, seed=seed, size=size)
    return [sim.reset()] + [sim.step() for _ in range(FRAMES - 1)]


@pytest.mark.parametrize('storage, compressed', [('mcap', False), ('sqlite3', True)])
def test_bag_round_trip(tmp_path, storage, compressed):
    from av_perception.sim.export import record_drive
    config = preset_config('traffic')
    size = (320, 180)
    sim = Simulator(config, seed=3, size=size)
    out = tmp_path / 'drive'
    labels = tmp_path / 'labels.json'
    summary = record_drive(sim, FRAMES, out, storage=storage, compressed=compressed,
                           tusimple_path=labels, tusimple_images=True)
    expected = _reference(config, 3, size)
    assert summary.frames == FRAMES and summary.messages == 5 * FRAMES
    assert summary.first_stamp_ns == EPOCH_NS
    image_topic = '/camera/image_raw/compressed' if compressed else '/camera/image_raw'
    seen = {}
    with bag.BagReader(out) as reader:
        for raw, msg in reader.messages():
            seen.setdefault(raw.topic, []).append((raw, msg))
        assert not reader.problems
    assert set(seen) == {image_topic, '/camera/camera_info', '/ground_truth/center_line',
                         '/ground_truth/objects', '/expert/command'}
    stamps = [EPOCH_NS + k * 50_000_000 for k in range(FRAMES)]
    for topic, items in seen.items():
        assert [raw.timestamp_ns for raw, _ in items] == stamps, topic
        assert [msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                for _, msg in items] == stamps, topic
    for (_, image), (_, info), (_, path), (_, objects), (_, command), obs in zip(
            seen[image_topic], seen['/camera/camera_info'], seen['/ground_truth/center_line'],
            seen['/ground_truth/objects'], seen['/expert/command'], expected):
        pixels = codec.message_to_bgr(image)
        assert image.header.frame_id == 'camera'
        if compressed:
            assert np.abs(pixels.astype(int) - obs.image).mean() < 4.0
        else:
            assert image.encoding == 'bgr8' and np.array_equal(pixels, obs.image)
        assert (info.width, info.height) == size
        np.testing.assert_allclose(info.k, obs.camera_info.k)
        assert path.header.frame_id == 'base_link'
        points = np.array([[p.pose.position.x, p.pose.position.y] for p in path.poses])
        np.testing.assert_allclose(points, obs.truth.center_line)
        assert [(d.results[0].hypothesis.class_id, d.id) for d in objects.detections] == \
            [(str(o.class_id), str(o.track_id)) for o in obs.truth.objects]
        got = [(d.results[0].hypothesis.score, d.bbox.center.position.x,
                d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y)
               for d in objects.detections]
        want = [(1.0, (o.bbox_xyxy[0] + o.bbox_xyxy[2]) / 2, (o.bbox_xyxy[1] + o.bbox_xyxy[3]) / 2,
                 o.bbox_xyxy[2] - o.bbox_xyxy[0], o.bbox_xyxy[3] - o.bbox_xyxy[1])
                for o in obs.truth.objects]
        np.testing.assert_allclose(np.array(got).reshape(-1, 5), np.array(want).reshape(-1, 5))
        assert command.drive.steering_angle == pytest.approx(obs.expert.steering_angle)
        assert command.drive.speed == pytest.approx(obs.expert.speed)
    assert any(obs.truth.objects for obs in expected)
    records = read_tusimple(labels)
    assert len(records) == FRAMES
    assert records[0]['raw_file'] == 'labels_frames/000000.jpg'
    assert (tmp_path / 'labels_frames' / f'{FRAMES - 1:06d}.jpg').exists()


def test_tusimple_record_format():
    sim = Simulator('highway_curvy', seed=1, render=False)
    for _ in range(40):
        obs = sim.step()
    record = tusimple_record(obs.truth, 'clips/0/1.jpg')
    text = json.dumps(record)
    assert json.loads(text) == record
    assert set(record) == {'lanes', 'h_samples', 'raw_file'}
    assert record['h_samples'] == list(range(80, 360, 5))
    assert 2 <= len(record['lanes']) <= len(obs.truth.lanes_x)
    truth_ego = obs.truth.left_x
    for lane in record['lanes']:
        assert len(lane) == len(record['h_samples'])
        assert all(isinstance(x, int) and (x == NOT_VISIBLE or 0 <= x < 640) for x in lane)
    expected = [int(round(x)) if np.isfinite(x) else NOT_VISIBLE for x in truth_ego]
    assert expected in record['lanes']
    # lanes are ordered left to right at the bottom rows
    bottoms = [next(x for x in reversed(lane) if x != NOT_VISIBLE) for lane in record['lanes']]
    assert bottoms == sorted(bottoms)


def test_simulate_command_writes_a_bag(tmp_path):
    from av_perception.cli import simulate
    from av_perception.cli.main import main
    assert simulate.PRESETS == preset_names()
    out = tmp_path / 'bag'
    code = main(['simulate', '--preset', 'dusk', '--seconds', '0.3', '--seed', '2',
                 '--out', str(out), '--size', '160x90', '--no-progress', '--compressed'])
    assert code == 0
    with bag.BagReader(out) as reader:
        counts = {t.name: t.count for t in reader.topics()}
    assert counts['/camera/image_raw/compressed'] == 6
    assert main(['simulate', '--preset', 'dusk', '--seconds', '0.3', '--out', str(out),
                 '--no-progress']) == 1  # exists already
    with pytest.raises(SystemExit):
        main(['simulate', '--preset', 'dusk', '--seconds', '1', '--out', 'x', '--size', '64'])
