"""rosbag2 reading and writing: round trips, every real bag in the shared assets, damage."""

from collections import Counter
import json
from pathlib import Path
import shutil
import sqlite3

from mcap.reader import make_reader
import numpy as np
import pytest
import yaml

from av_perception.bag import BagError, BagReader, BagWriter
from av_perception.bag import messages as m
from av_perception.image.codec import to_bgr

T0 = 1_700_000_000_000_000_000


def write_demo_bag(path: Path, storage: str, frames: int = 12, shape=(24, 32)) -> Path:
    """Write a small bag with every message type this package produces."""
    with BagWriter(path, storage=storage) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        writer.add_topic('/camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage')
        writer.add_topic('/camera/camera_info', 'sensor_msgs/msg/CameraInfo')
        writer.add_topic('/objects', 'vision_msgs/msg/Detection2DArray')
        writer.add_topic('/command', 'ackermann_msgs/msg/AckermannDriveStamped')
        writer.add_topic('/path', 'nav_msgs/msg/Path')
        for i in range(frames):
            stamp = T0 + i * 50_000_000
            image = np.full((*shape, 3), i * 10 % 256, np.uint8)
            writer.write('/camera/image_raw', stamp, m.image(image, 'bgr8', stamp, 'camera'))
            writer.write('/camera/image_raw/compressed', stamp,
                         m.compressed_image(image, stamp, 'camera', 'png'))
            writer.write('/camera/camera_info', stamp, m.camera_info(
                32, 24, [20, 0, 16, 0, 20, 12, 0, 0, 1], [0.1, 0, 0, 0, 0],
                [20, 0, 16, 0, 0, 20, 12, 0, 0, 0, 1, 0], stamp, 'camera'))
            writer.write('/objects', stamp, m.detection2d_array(
                [m.Det('2', 0.5 + i / 100, 10, 12, 4, 6, str(i))], stamp, 'camera'))
            writer.write('/command', stamp, m.ackermann_drive_stamped(0.01 * i, 8.0, stamp,
                                                                      'base_link'))
            writer.write('/path', stamp, m.path([[0, 0], [5, 0.1 * i]], stamp, 'base_link'))
    return path


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_write_read_round_trip(tmp_path, storage):
    bag = write_demo_bag(tmp_path / 'bag', storage)
    with BagReader(bag) as reader:
        info = reader.info()
        assert info.storage == storage and info.message_count == 72
        assert info.duration_s == pytest.approx(0.55)
        assert {t.name: t.count for t in info.topics} == {
            '/camera/image_raw': 12, '/camera/image_raw/compressed': 12,
            '/camera/camera_info': 12, '/objects': 12, '/command': 12, '/path': 12}
        seen = Counter()
        last_stamp = 0
        for raw, msg in reader.messages():
            assert raw.timestamp_ns >= last_stamp
            last_stamp = raw.timestamp_ns
            i = raw.index
            assert raw.timestamp_ns == T0 + i * 50_000_000
            if raw.topic == '/camera/image_raw':
                assert (to_bgr(msg) == i * 10 % 256).all()
            elif raw.topic == '/objects':
                det = msg.detections[0]
                assert det.results[0].hypothesis.class_id == '2' and det.id == str(i)
                assert det.bbox.center.position.x == 10 and det.bbox.size_y == 6
            elif raw.topic == '/command':
                assert msg.drive.steering_angle == pytest.approx(0.01 * i)
                assert msg.drive.speed == 8.0
            elif raw.topic == '/path':
                assert msg.poses[1].pose.position.y == pytest.approx(0.1 * i)
            seen[raw.topic] += 1
        assert sum(seen.values()) == 72 and not reader.problems
    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert metadata['version'] == 8 and metadata['storage_identifier'] == storage
    assert metadata['message_count'] == 72


def test_mcap_is_readable_by_an_independent_reader(tmp_path):
    bag = write_demo_bag(tmp_path / 'bag', 'mcap')
    with open(next(bag.glob('*.mcap')), 'rb') as stream:
        reader = make_reader(stream)
        counts = Counter(channel.topic for _, channel, _ in reader.iter_messages())
        encodings = {schema.encoding for schema in reader.get_summary().schemas.values()}
        schema_names = {schema.name for schema in reader.get_summary().schemas.values()}
    assert counts['/objects'] == 12 and sum(counts.values()) == 72
    assert encodings == {'ros2msg'}
    assert 'vision_msgs/msg/Detection2DArray' in schema_names


def test_topic_filter_time_window_and_unknown_topic(tmp_path):
    bag = write_demo_bag(tmp_path / 'bag', 'mcap')
    with BagReader(bag) as reader:
        window = list(reader.raw_messages(['/command'], start_ns=T0 + 100_000_000,
                                          stop_ns=T0 + 300_000_000))
        assert [msg.timestamp_ns for msg in window] == [T0 + k * 50_000_000 for k in (2, 3, 4, 5)]
        with pytest.raises(BagError, match=r"no topic\(s\) \['/nope'\]"):
            list(reader.raw_messages(['/nope']))


def test_writer_refuses_existing_and_unknown(tmp_path):
    bag = write_demo_bag(tmp_path / 'bag', 'mcap', frames=1)
    with pytest.raises(BagError, match='exists already'):
        BagWriter(bag)
    with BagWriter(bag, overwrite=True) as writer:
        with pytest.raises(BagError, match='unknown to the type store'):
            writer.add_topic('/x', 'nobody_msgs/msg/Nothing')
        with pytest.raises(BagError, match='was not added'):
            writer.write_raw('/y', 0, b'')
    (tmp_path / 'notabag').mkdir()
    (tmp_path / 'notabag' / 'precious.txt').write_text('keep me')
    with pytest.raises(BagError, match='not a bag'):
        BagWriter(tmp_path / 'notabag', overwrite=True)
    assert (tmp_path / 'notabag' / 'precious.txt').exists()


@pytest.mark.parametrize('storage,suffix', [('mcap', '.mcap'), ('sqlite3', '.db3')])
@pytest.mark.parametrize('fraction', [0.6, 0.95])
def test_truncated_storage_delivers_the_messages_before_the_damage(
        tmp_path, storage, suffix, fraction):
    # 230 kB frames: several 1 MiB mcap chunks, many sqlite3 pages
    bag = write_demo_bag(tmp_path / 'bag', storage, frames=24, shape=(240, 320))
    storage_file = next(bag.glob(f'*{suffix}'))
    size = storage_file.stat().st_size
    with storage_file.open('r+b') as handle:
        handle.truncate(int(size * fraction))
    with BagReader(bag) as reader:
        delivered = [(raw.topic, raw.index) for raw, _ in reader.messages()]
        problems = [str(p) for p in reader.problems]
    assert 0 < len(delivered) < 24 * 6
    # what is delivered is a prefix of each topic, decoded without error
    per_topic = Counter(topic for topic, _ in delivered)
    for topic, count in per_topic.items():
        assert [i for t, i in delivered if t == topic] == list(range(count))
    assert any(f'storage file {storage_file.name} is damaged' in p for p in problems)
    assert any('metadata.yaml says 24 message(s)' in p for p in problems)


def test_truncated_before_any_complete_record_is_a_clear_error(tmp_path):
    bag = write_demo_bag(tmp_path / 'bag', 'mcap', frames=3)
    storage_file = next(bag.glob('*.mcap'))
    with storage_file.open('r+b') as handle:
        handle.truncate(100)
    with pytest.raises(BagError, match='cannot be opened .* and nothing could be salvaged'):
        BagReader(bag)


def test_missing_metadata_reads_storage_directly(tmp_path):
    bag = write_demo_bag(tmp_path / 'bag', 'sqlite3')
    (bag / 'metadata.yaml').unlink()
    with BagReader(bag) as reader:
        assert reader.info().message_count == 72
        assert any('no metadata.yaml' in str(p) for p in reader.problems)
    (bag / 'metadata.yaml').write_text('{not: yaml: at all')
    with BagReader(bag) as reader:
        assert sum(1 for _ in reader.raw_messages()) == 72
        assert any('metadata.yaml unreadable' in str(p) for p in reader.problems)


def test_unreadable_bags_raise_a_clear_error(tmp_path):
    with pytest.raises(BagError, match='no such bag'):
        BagReader(tmp_path / 'nothing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match=r'no storage files \(.mcap or .db3\) found'):
        BagReader(tmp_path / 'empty')
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'junk_0.mcap').write_bytes(b'not an mcap file at all')
    with pytest.raises(BagError, match='cannot read any storage file'):
        BagReader(junk)
    (tmp_path / 'note.txt').write_text('x')
    with pytest.raises(BagError, match='not a bag'):
        BagReader(tmp_path / 'note.txt')


def test_undeserialisable_message_is_reported_and_skipped(tmp_path):
    bag = tmp_path / 'bag'
    with BagWriter(bag) as writer:
        writer.add_topic('/text', 'std_msgs/msg/String')
        writer.write('/text', T0, m.string('first'))
        writer.write_raw('/text', T0 + 1, b'\x00\x01\x00\x00\xff\xff\xff\x7f')  # absurd length
        writer.write('/text', T0 + 2, m.string('third'))
    with BagReader(bag) as reader:
        texts = [msg.data for _, msg in reader.messages()]
        assert texts == ['first', 'third']
        assert 'topic /text message #1: cannot deserialize 8 B of std_msgs/msg/String' in \
            str(reader.problems[0])


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_messages_stored_out_of_time_order_come_out_in_time_order(tmp_path, storage):
    bag = tmp_path / 'bag'
    stored = [3, 1, 4, 0, 2]  # the order of the writes (a recorder with several queues)
    with BagWriter(bag, storage=storage) as writer:
        writer.add_topic('/text', 'std_msgs/msg/String')
        for k in stored:
            writer.write('/text', T0 + k * 1000, m.string(f'message {k}'))
    with BagReader(bag) as reader:
        read = [(raw.timestamp_ns, msg.data) for raw, msg in reader.messages()]
        assert read == [(T0 + k * 1000, f'message {k}') for k in range(5)]
        assert reader.problems == []


# --- the real bags recorded by ros2 bag record / rosbag2's tests --------------------------------

ROSBAG2 = ('rosbags', 'ros2_rosbag2')


def storage_counts(bag_dir: Path) -> Counter:
    """Count messages per topic with sqlite3 / the mcap library, not with our reader."""
    counts: Counter = Counter()
    for db in sorted(bag_dir.glob('*.db3')):
        with sqlite3.connect(f'file:{db}?mode=ro', uri=True) as connection:
            counts.update(dict(connection.execute(
                'SELECT topics.name, count(messages.id) FROM topics JOIN messages '
                'ON messages.topic_id = topics.id GROUP BY topics.name').fetchall()))
    for path in sorted(bag_dir.glob('*.mcap')):
        with path.open('rb') as stream:
            counts.update(channel.topic for _, channel, _ in make_reader(stream).iter_messages())
    return counts


def readable_rosbag2_bags() -> list[str]:
    """Bag directories of the rosbag2 test resources that hold CDR data."""
    return [
        'rosbag2_py/test/resources/mcap/talker', 'rosbag2_py/test/resources/sqlite3/talker',
        'rosbag2_py/test/resources/mcap/wbag', 'rosbag2_py/test/resources/sqlite3/wbag',
        'rosbag2_py/test/resources/mcap/convert_a', 'rosbag2_py/test/resources/sqlite3/convert_a',
        'rosbag2_py/test/resources/mcap/convert_b', 'rosbag2_py/test/resources/sqlite3/convert_b',
        'rosbag2_transport/test/resources/mcap/rewriter_a',
        'rosbag2_transport/test/resources/sqlite3/rewriter_a',
        'rosbag2_transport/test/resources/mcap/rewriter_b',
        'rosbag2_transport/test/resources/sqlite3/rewriter_b',
        'rosbag2_transport/test/resources/mcap/test_bag_for_seek',
        'rosbag2_transport/test/resources/sqlite3/test_bag_for_seek',
        'rosbag2_tests/resources/mcap/cdr_test', 'rosbag2_tests/resources/sqlite3/cdr_test',
        'rosbag2_tests/resources/mcap/bag_with_topics_and_service_events',
        'rosbag2_tests/resources/sqlite3/bag_with_topics_and_service_events',
        'rosbag2_py/test/resources/mcap/reindex_test_bags/multiple_files',
        'rosbag2_py/test/resources/sqlite3/reindex_test_bags/multiple_files',
        'ros2bag/test/resources/empty_bag',
    ]


@pytest.mark.assets
@pytest.mark.parametrize('relative', readable_rosbag2_bags())
def test_every_real_bag_yields_what_its_storage_holds(asset, relative):
    bag = asset(*ROSBAG2, *relative.split('/'))
    expected = storage_counts(bag)
    with BagReader(bag) as reader:
        delivered = Counter(raw.topic for raw in reader.raw_messages())
        info = reader.info()
    assert delivered == expected
    assert info.message_count == sum(expected.values())


@pytest.mark.assets
@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_talker_bags_deserialise_fully(asset, storage):
    """The bags on which plain rosbags' AnyReader yields nothing: all 20 messages decode."""
    bag = asset(*ROSBAG2, 'rosbag2_py', 'test', 'resources', storage, 'talker')
    with BagReader(bag) as reader:
        decoded = [(raw.topic, msg) for raw, msg in reader.messages()]
    assert len(decoded) == 20
    texts = [msg.data for topic, msg in decoded if topic == '/topic']
    assert texts == [f'Hello, world! {i}' for i in range(10)]


@pytest.mark.assets
@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_wrong_rmw_bag_reports_the_topics(asset, storage):
    bag = asset(*ROSBAG2, 'rosbag2_tests', 'resources', storage, 'wrong_rmw_test')
    with BagReader(bag) as reader:
        assert list(reader.raw_messages()) == []
        problems = sorted(str(p) for p in reader.problems)
    assert len(problems) == 2
    assert "topic /array_topic: serialization format 'wrong_format' is not supported" in \
        problems[0]
    assert 'its 4 message(s) are skipped' in problems[0]


@pytest.mark.assets
def test_unknown_types_are_raw_only_with_one_report_per_topic(asset):
    bag = asset(*ROSBAG2, 'rosbag2_py', 'test', 'resources', 'sqlite3', 'convert_a')
    with BagReader(bag) as reader:
        assert sum(1 for _ in reader.raw_messages()) == 150
        assert list(reader.messages()) == []
        problems = [str(p) for p in reader.problems]
    assert len(problems) == 2
    assert all('has no definition' in p and 'only available as raw CDR' in p for p in problems)


@pytest.mark.assets
def test_directory_of_several_bags_is_refused_with_the_file_names(asset):
    folder = asset(*ROSBAG2, 'rosbag2_cpp', 'test', 'rosbag2_cpp', 'bags')
    with pytest.raises(BagError, match='belong to .* different bags'):
        BagReader(folder)
    with BagReader(folder / 'only_topics.mcap') as reader:
        assert reader.info().message_count == storage_counts_file(folder / 'only_topics.mcap')


def storage_counts_file(path: Path) -> int:
    """Count the messages of one mcap file with the mcap library."""
    with path.open('rb') as stream:
        return sum(1 for _ in make_reader(stream).iter_messages())


@pytest.mark.assets
@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_malformed_images_of_rosbags_rs_are_named(asset, storage):
    bag = asset('rosbags', 'rosbags_rs', 'tests', 'test_bags', f'test_bag_{storage}')
    from av_perception.media import FrameStats, iter_frames
    stats = FrameStats()
    frames = list(iter_frames([bag], topic='/test/sensor_msgs/image', stats=stats))
    assert frames == [] and stats.skipped == 2
    assert 'topic /test/sensor_msgs/image message #0: rgb8 image 640x480 (step 1920): data ' \
           'holds 30 B, expected step x height = 1920 x 480 = 921600 B' in stats.reasons[0]
    with BagReader(bag) as reader:
        assert reader.info().message_count == 188
        assert sum(1 for _ in reader.messages()) == 188


def test_bag_info_json_format(tmp_path, capsys):
    from av_perception.cli.main import main
    bag = write_demo_bag(tmp_path / 'bag', 'mcap', frames=3)
    assert main(['bag', 'info', str(bag), '--json']) == 0
    document = json.loads(capsys.readouterr().out)
    assert document['storage'] == 'mcap' and document['message_count'] == 18
    assert document['duration_s'] == pytest.approx(0.1)
    assert {'name': '/objects', 'type': 'vision_msgs/msg/Detection2DArray', 'count': 3} in \
        document['topics']
    assert main(['bag', 'info', str(tmp_path / 'missing')]) == 1
    assert 'no such bag' in capsys.readouterr().err


def test_bag_check_finds_bad_images(tmp_path, capsys):
    from av_perception.cli.main import main
    bag = tmp_path / 'bag'
    with BagWriter(bag) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        good = m.image(np.zeros((4, 4, 3), np.uint8), 'bgr8', T0, 'camera')
        writer.write('/camera/image_raw', T0, good)
        bad = m.image(np.zeros((4, 4, 3), np.uint8), 'bgr8', T0 + 1, 'camera')
        bad.height = 8  # header claims more rows than the data holds
        writer.write('/camera/image_raw', T0 + 1, bad)
    assert main(['bag', 'info', str(bag), '--check']) == 1
    out = capsys.readouterr().out
    assert 'problem:' in out and 'message #1: bgr8 image 4x8' in out
    shutil.rmtree(bag)
