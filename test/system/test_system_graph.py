"""The launched graph as processes: simulator bag -> player -> nodes -> recorder, over DDS."""

from __future__ import annotations

from collections import defaultdict
import json
import math
from pathlib import Path

import pytest

from av_perception.bag import BagReader
from av_perception.evaluation import Box, DetectionScore, rmse, scoring_class, split_by_height
from av_perception.launch_xml import LaunchRunner, load_launch
from av_perception.sim import Simulator
from av_perception.sim.export import record_drive

LAUNCH = Path(__file__).resolve().parents[2] / 'launch' / 'replay.launch.xml'
FRAMES = 200  # 10 s at 20 Hz, 640x360
OUTPUT_TOPICS = {
    'lanes': '/perception/lanes/center_line',
    'detections': '/perception/objects/detections',
    'command': '/control/command',
}


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
    """Record a 10 s simulated drive with traffic."""
    path = tmp_path_factory.mktemp('system') / 'drive'
    record_drive(Simulator('traffic', seed=21), FRAMES, path)
    return path


@pytest.fixture(scope='module')
def detector_model(tmp_path_factory):
    """Return the real YOLOX-Nano when the shared assets are there, else a generated model."""
    from av_perception.assets import yolox_nano_model
    from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
    real = yolox_nano_model()
    if real.exists():
        return real
    output = yolox_output_for_boxes([(100, 150, 200, 250)], [2], [0.9], (416, 416))
    return make_constant_model(tmp_path_factory.mktemp('model') / 'car.onnx', output,
                               (416, 416), metadata={'format': 'yolox'})


def header_ns(msg) -> int:
    """Return a header stamp in nanoseconds."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def run_graph(bag: Path, output: Path, log_dir: Path, arguments: dict) -> dict[str, int]:
    """Launch replay.launch.xml, wait for the player to finish, stop everything."""
    plan = load_launch(LAUNCH, {'bag': str(bag), 'output': str(output), **arguments})
    runner = LaunchRunner(plan, log_dir)
    runner.start()
    try:
        assert runner.wait_for_output('output_recorder', 'recording /perception/lanes/center_line',
                                      timeout=60), 'the recorder never found the lane output'
        player = runner.processes['bag_player'].popen
        player.wait(timeout=120)
    finally:
        codes = runner.stop(timeout=15)
    for name in codes:
        print(f'--- {name} ---\n{runner.log(name)[-3000:]}')
    return codes


def test_simulator_bag_through_the_launched_graph(drive, detector_model, tmp_path):
    output = tmp_path / 'outputs'
    # Half speed (10 Hz): this checks that every frame goes through the launched graph over
    # DDS, not how fast a 2-core machine is (at 20 Hz the detector alone takes 15-30 ms a
    # frame here and drops frames, latest first, whenever the VM slows: bench_pipeline.py and
    # the soak measure the real-time behaviour).
    codes = run_graph(drive, output, tmp_path / 'logs', {
        'detector_model': str(detector_model), 'rate': '0.5'})
    assert codes == dict.fromkeys(codes, 0), codes
    with BagReader(drive) as reader:
        input_stamps = [header_ns(msg) for _, msg in reader.messages(['/camera/image_raw'])]
        truth = {header_ns(msg): msg for _, msg in reader.messages(['/ground_truth/objects'])}
        expert = {header_ns(msg): msg for _, msg in reader.messages(['/expert/command'])}
    produced = defaultdict(dict)
    with BagReader(output) as reader:
        for raw, msg in reader.messages():
            produced[raw.topic][header_ns(msg)] = msg
    report = {}
    for name, topic in OUTPUT_TOPICS.items():
        stamps = set(produced[topic])
        assert stamps <= set(input_stamps), f'{topic}: output stamps that no input had'
        report[f'{name}_fraction'] = len(stamps) / len(input_stamps)
        assert report[f'{name}_fraction'] >= 0.95, report
    valid = [m for m in produced[OUTPUT_TOPICS['lanes']].values() if m.poses]
    report['lanes_found'] = len(valid) / len(input_stamps)
    assert report['lanes_found'] >= 0.95
    score = DetectionScore()
    for stamp, msg in produced[OUTPUT_TOPICS['detections']].items():
        predicted = [Box(scoring_class(int(d.results[0].hypothesis.class_id)), _xyxy(d))
                     for d in msg.detections]
        required, ignored = split_by_height(
            [Box(int(d.results[0].hypothesis.class_id), _xyxy(d))
             for d in truth[stamp].detections], 40)
        score.add_frame(predicted, required, ignored=ignored)
    report['detection_recall'], report['detection_precision'] = score.recall, score.precision
    commands = produced[OUTPUT_TOPICS['command']]
    paired = [(msg.drive, expert[stamp].drive) for stamp, msg in commands.items()]
    report['steering_rmse_deg'] = math.degrees(rmse([c.steering_angle for c, _ in paired],
                                                    [e.steering_angle for _, e in paired]))
    report['speed_rmse_mps'] = rmse([c.speed for c, _ in paired], [e.speed for _, e in paired])
    print(json.dumps(report, indent=1))
    # the commands stay near the expert's: steering within a degree or two, speed within the
    # model's known gap on traffic (it drives faster than the expert, see models/README.md)
    assert report['steering_rmse_deg'] < 2.0 and report['speed_rmse_mps'] < 8.0, report
    if 'yolox_nano' in str(detector_model):  # regression floor for the real model
        # measured in lockstep on this drive: recall 0.99, precision 0.69 (the misses of
        # precision are real: a far car called a person, trees called kites)
        assert score.recall >= 0.9 and score.precision >= 0.6, report


def _xyxy(det) -> tuple[float, float, float, float]:
    cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
    return (cx - det.bbox.size_x / 2, cy - det.bbox.size_y / 2, cx + det.bbox.size_x / 2,
            cy + det.bbox.size_y / 2)
