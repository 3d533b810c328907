"""Labelled drives from bags (frames matched to commands by header stamp) and from CSVs."""

from control_fixtures import EPOCH_NS, synthetic_drive_frames, write_drive_bag
import cv2
import numpy as np
import pytest

from av_perception.bag import BagWriter
from av_perception.bag import messages as m
from av_perception.control.dataset import match_labels, read_bag_drive, read_csv_drive
from av_perception.control.errors import ControllerError
from av_perception.control.preprocess import InputSpec

SPEC = InputSpec(32, 16, (0.0, 0.25, 1.0, 1.0))


def test_match_labels_picks_the_nearest_within_tolerance():
    labels = np.array([100, 200, 300])
    assert match_labels(np.array([90, 149, 151, 280, 420]), labels, 30).tolist() == \
        [0, -1, -1, 2, -1]
    assert match_labels(np.array([100, 200, 300]), labels, 0).tolist() == [0, 1, 2]


@pytest.mark.parametrize('compressed', [False, True])
def test_bag_drive_frames_get_their_own_labels(tmp_path, compressed):
    frames, steering, speed = synthetic_drive_frames(12, seed=1)
    bag = write_drive_bag(tmp_path / 'drive', frames, steering, speed, compressed=compressed)
    drive = read_bag_drive(bag, SPEC, margin=3)
    assert len(drive) == 12 and drive.pixels.shape == (12, 16, 38, 3)
    assert np.allclose(drive.steering, steering) and np.allclose(drive.speed, speed)
    assert drive.stamps_ns[0] == EPOCH_NS and drive.frame_period_s == pytest.approx(0.05)
    half = drive.slice(6, 12, ':b')
    assert len(half) == 6 and half.name.endswith(':b') and half.margin == 3


def test_frames_without_a_label_are_dropped(tmp_path):
    frames, steering, speed = synthetic_drive_frames(6, seed=2)
    with BagWriter(tmp_path / 'partial') as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        writer.add_topic('/expert/command', 'ackermann_msgs/msg/AckermannDriveStamped')
        for index, frame in enumerate(frames):
            stamp = EPOCH_NS + index * 50_000_000
            writer.write('/camera/image_raw', stamp, m.image(frame, 'bgr8', stamp, 'camera'))
            if index % 2 == 0:  # commands only for every other frame
                writer.write('/expert/command', stamp, m.ackermann_drive_stamped(
                    float(steering[index]), float(speed[index]), stamp, 'base_link'))
    drive = read_bag_drive(tmp_path / 'partial', SPEC, max_label_offset_s=0.01)
    assert len(drive) == 3 and np.allclose(drive.steering, steering[::2])


def test_bag_errors_name_the_problem(tmp_path):
    frames, steering, speed = synthetic_drive_frames(3)
    bag = write_drive_bag(tmp_path / 'drive', frames, steering, speed)
    with pytest.raises(ControllerError, match='no command topic /other'):
        read_bag_drive(bag, SPEC, command_topic='/other')
    with pytest.raises(ControllerError, match='expected ackermann'):
        read_bag_drive(bag, SPEC, command_topic='/camera/image_raw')
    with pytest.raises(ControllerError, match='no such bag'):
        read_bag_drive(tmp_path / 'nothing', SPEC)


def test_csv_drive_converts_degrees_left_positive(tmp_path):
    frames = synthetic_drive_frames(4)[0]
    (tmp_path / 'images').mkdir()
    rows = ['filename,frame_index,steering_angle_deg_90_is_straight']
    for index, (frame, angle) in enumerate(zip(frames, (90, 80, 100, 45))):
        name = f'f_{index:03d}.png'
        cv2.imwrite(str(tmp_path / 'images' / name), frame)
        rows.append(f'{name},{index},{angle}')
    (tmp_path / 'labels.csv').write_text('\n'.join(rows) + '\n')
    drive = read_csv_drive(tmp_path / 'labels.csv', SPEC, frame_period_s=0.1)
    assert np.allclose(np.degrees(drive.steering), [0, 10, -10, 45], atol=1e-4)
    assert np.isnan(drive.speed).all() and drive.frame_period_s == pytest.approx(0.1)
    (tmp_path / 'bad.csv').write_text('filename,steering\nmissing.png,90\n')
    with pytest.raises(ControllerError, match='missing.png not found'):
        read_csv_drive(tmp_path / 'bad.csv', SPEC)
    (tmp_path / 'nocol.csv').write_text('filename,value\nf_000.png,90\n')
    with pytest.raises(ControllerError, match='no steering column'):
        read_csv_drive(tmp_path / 'nocol.csv', SPEC)
