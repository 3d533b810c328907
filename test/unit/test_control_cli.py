"""The controller commands and the closed loop, on generated models; no PyTorch needed."""

import json
from pathlib import Path
import subprocess
import sys

from control_fixtures import make_onnx_controller, synthetic_drive_frames, write_drive_bag
import numpy as np
import pytest

from av_perception.cli.main import main
from av_perception.control.closed_loop import drive_closed_loop
from av_perception.control.controller import TemporalController

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return make_onnx_controller(tmp_path_factory.mktemp('cli') / 'model', history_length=3)


def test_closed_loop_with_a_controller_and_with_the_expert(model_dir, tmp_path):
    controller = TemporalController.from_dir(model_dir)
    video = tmp_path / 'drive.mp4'
    report = drive_closed_loop(controller, 'highway_curvy', seed=5, seconds=1.0,
                               size=(160, 96), video_path=video)
    assert report.frames == 20 and report.driver == 'controller'
    assert report.distance_m > 5 and report.mean_latency_ms > 0
    assert list(report.to_dict())[:5] == ['distance_m', 'mean_abs_offset_m',
                                          'max_abs_offset_m', 'departures', 'collisions']
    assert video.stat().st_size > 1000
    expert = drive_closed_loop(None, 'highway_curvy', seed=5, seconds=2.0, distance_m=20.0,
                               size=(160, 96))
    assert expert.driver == 'expert' and 20.0 <= expert.distance_m < 22.0
    assert expert.frames < 40 and expert.departures == 0


def test_drive_command_writes_json(tmp_path):
    out = tmp_path / 'drive.json'
    assert main(['drive', '--preset', 'highway_straight', '--seconds', '0.5', '--seed', '3',
                 '--expert', '--json', str(out), '--no-progress']) == 0
    document = json.loads(out.read_text())
    assert document['departures'] == 0 and document['distance_m'] > 10
    assert document['preset'] == 'highway_straight' and document['frames'] == 10


def car_ahead_detector(path, gap_m):
    """Write a detector that always sees a car ``gap_m`` ahead of the simulated car's bumper.

    The box is the simulator camera's view of the car in the 416x416 YOLOX input (top-left
    letterbox of 640x360: x 0.65).
    """
    from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
    from av_perception.sim.camera import PinholeCamera
    camera = PinholeCamera.from_fov(640, 360, 65.0, 1.4, 4.0, 1.6)
    corners = np.array([(x, y, z) for x in (3.65 + gap_m, 3.65 + gap_m + 4.5)
                        for y in (-0.9, 0.9) for z in (0.0, 1.5)])
    pixels = camera.project(corners)[0] * 416 / 640
    box = (*pixels.min(axis=0), *pixels.max(axis=0))
    return make_constant_model(path, yolox_output_for_boxes([box], [2], [0.9], (416, 416)),
                               (416, 416))


def test_closed_loop_governor_brakes_behind_a_detected_car(model_dir, tmp_path):
    from av_perception.control.closed_loop import sim_camera_mounting
    from av_perception.control.config import TemporalControllerConfig
    from av_perception.detection import Detector, DetectorConfig
    detector = Detector.from_config(DetectorConfig(
        model_path=str(car_ahead_detector(tmp_path / 'car.onnx', 4.0))))
    config = TemporalControllerConfig(min_speed_mps=20.0, steering_limit_rad=0.0,  # straight
                                      **sim_camera_mounting('highway_straight'))
    reports = [drive_closed_loop(TemporalController.from_dir(model_dir, config),
                                 'highway_straight', seed=3, seconds=4.0, size=(640, 360),
                                 detector=found) for found in (detector, None)]
    governed, free = reports
    assert governed.governed_frames >= 78 and governed.mean_detection_ms > 0
    assert free.governed_frames == 0 and free.mean_detection_ms == 0
    # a 4 m gap is under the 5 m standstill gap: the cap falls to 0 at 6 m/s^2 (0 after
    # 3.4 s), the model alone keeps 20 m/s
    assert governed.mean_speed_mps < free.mean_speed_mps - 5.0, (governed, free)


def test_drive_command_runs_a_detector_unless_told_not_to(model_dir, tmp_path, capsys):
    detector = car_ahead_detector(tmp_path / 'car.onnx', 4.0)
    documents = {}
    for name, args in (('governed', ['--detector', str(detector)]), ('free', ['--no-detector']),
                       ('steering', ['--detector', str(detector), '--no-lane-corridor'])):
        out = tmp_path / f'{name}.json'
        assert main(['drive', '--preset', 'highway_straight', '--seconds', '0.5', '--seed', '3',
                     '--controller', str(model_dir), '--json', str(out), '--no-progress',
                     *args]) == 0
        documents[name] = json.loads(out.read_text())
    governed, free = documents['governed'], documents['free']
    assert governed['detector'] == str(detector) and governed['mean_detection_ms'] > 0
    assert free['detector'] is None and free['governed_frames'] == 0
    # the lane detector runs with the detector and the governor's corridor follows its lane
    # once the lane is found (within the first frames of the straight highway)
    assert 0 < governed['lane_corridor_frames'] <= governed['frames'] == 10
    assert governed['mean_lane_ms'] > 0
    assert free['lane_corridor_frames'] == documents['steering']['lane_corridor_frames'] == 0
    assert documents['steering']['mean_lane_ms'] == 0 and documents['steering']['frames'] == 10
    assert main(['drive', '--preset', 'highway_straight', '--seconds', '1', '--no-progress',
                 '--controller', str(model_dir), '--detector', str(detector),
                 '--no-detector']) != 0
    assert 'exclude each other' in capsys.readouterr().err


def test_eval_controller_and_info(model_dir, tmp_path, capsys):
    frames, steering, speed = synthetic_drive_frames(16, seed=6)
    bag = write_drive_bag(tmp_path / 'drive', frames, steering, speed)
    out = tmp_path / 'eval.json'
    assert main(['eval-controller', str(bag), '--controller', str(model_dir), '--json',
                 str(out), '--tail-fraction', '0.5']) == 0
    document = json.loads(out.read_text())
    assert document['frames'] == 8 and document['steering_rmse_rad'] > 0
    assert 'steering RMSE' in capsys.readouterr().out
    assert main(['controller-info', str(model_dir)]) == 0
    text = capsys.readouterr().out
    assert 'lstm controller' in text and 'total' in text and 'MACs' in text
    assert main(['eval-controller', '--controller', str(model_dir)]) == 1  # no input


def test_everything_but_training_runs_without_torch(model_dir, tmp_path):
    frames = synthetic_drive_frames(3)[0]
    np.save(tmp_path / 'frames.npy', frames)
    script = f"""
import sys
sys.modules['torch'] = None  # any 'import torch' now fails
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
from av_perception.cli.main import main
from av_perception.control import TemporalController
controller = TemporalController.from_dir({str(model_dir)!r})
for index, frame in enumerate(np.load({str(tmp_path / 'frames.npy')!r})):
    assert controller.step(frame, index * 50_000_000).status == 'ok'
assert main(['controller-info', {str(model_dir)!r}]) == 0
assert main(['train-controller', '--out', {str(tmp_path / 'x')!r}, 'nothing']) == 1
print('OK')
"""
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith('OK')
    assert 'needs PyTorch' in done.stderr
