"""Real camera frames through the pipeline: the Udacity highway video as a bag, replayed."""

from __future__ import annotations

from pathlib import Path
import shutil

import cv2
import pytest
import yaml

from av_perception.bag import BagWriter
from av_perception.bag import messages as m

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'config'
FRAMES = 60


@pytest.fixture(scope='module')
def udacity_bag(tmp_path_factory, asset):
    """Write the first seconds of solidWhiteRight.mp4 with its camera's CameraInfo."""
    from av_perception.lanes.presets import load_camera_preset
    video = asset('lanes', 'udacity_p1', 'solidWhiteRight.mp4')
    camera = load_camera_preset('udacity_p1').camera
    path = tmp_path_factory.mktemp('udacity') / 'drive'
    capture = cv2.VideoCapture(str(video))
    with BagWriter(path) as writer:
        writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
        writer.add_topic('/camera/camera_info', 'sensor_msgs/msg/CameraInfo')
        for index in range(FRAMES):
            ok, frame = capture.read()
            assert ok
            stamp = 1_600_000_000_000_000_000 + index * 40_000_000  # 25 fps
            writer.write('/camera/camera_info', stamp, m.camera_info(
                camera.width, camera.height, camera.k.reshape(-1), camera.d,
                camera.p().reshape(-1), stamp, 'camera'))
            writer.write('/camera/image_raw', stamp, m.image(frame, 'bgr8', stamp, 'camera'))
    capture.release()
    return path


@pytest.fixture(scope='module')
def udacity_config(tmp_path_factory):
    """Return a config directory: ours, with the Udacity camera's mounting for the lanes."""
    from av_perception.lanes.presets import load_camera_preset
    directory = tmp_path_factory.mktemp('config')
    for file in CONFIG_DIR.glob('*.param.yaml'):
        shutil.copy(file, directory)
    lanes = directory / 'lane_detector.param.yaml'
    document = yaml.safe_load(lanes.read_text())
    document['/**']['ros__parameters'].update(load_camera_preset('udacity_p1').detector_overrides)
    lanes.write_text(yaml.safe_dump(document))
    return directory


def test_udacity_video_through_the_pipeline(udacity_bag, udacity_config, asset):
    from av_perception.assets import yolox_nano_model
    from av_perception.ros.replay import ReplayOptions, run_replay, to_replay_data
    model = asset('detectors', 'yolox_nano', 'yolox_nano.onnx')
    assert model == yolox_nano_model()
    recording = run_replay(ReplayOptions(str(udacity_bag), 'lockstep', launch_arguments={
        'config_dir': str(udacity_config), 'detector_model': str(model)}))
    data = to_replay_data(recording)
    assert len(data.frames) == FRAMES and all(v == 0 for v in recording.drops.values())
    with_lane = [f for f in data.frames if f.lane_center is not None]
    assert len(with_lane) >= 0.95 * FRAMES  # both lines are visible in every frame
    # the car drives in the middle of its lane: the centre line passes near the vehicle
    offsets = [float(abs(f.lane_center[0, 1])) for f in with_lane]
    assert sorted(offsets)[len(offsets) // 2] < 0.5
    cars = sum(1 for f in data.frames for box, _ in f.detections if box.class_id == 2)
    assert cars >= FRAMES // 2  # the cars ahead on the right are found in most frames
    assert all(f.command is not None for f in data.frames)
