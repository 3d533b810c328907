"""The ``av-perception detect`` command on images and a video written here."""

import json

import cv2
import numpy as np
import pytest

from av_perception.cli.main import main
from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes

pytest.importorskip('av_perception.media')


@pytest.fixture
def model(tmp_path):
    output = yolox_output_for_boxes([[8, 4, 24, 20], [30, 10, 62, 30]], [2, 0], [0.9, 0.4],
                                    (64, 64))
    return make_constant_model(tmp_path / 'two_boxes.onnx', output)


@pytest.fixture
def images(tmp_path):
    paths = []
    for name, (width, height) in (('wide.png', (128, 96)), ('square.jpg', (64, 64))):
        path = tmp_path / 'in' / name
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))
        paths.append(path)
    return paths


def test_json_lines_with_boxes_in_original_pixels_and_annotations(tmp_path, model, images,
                                                                  capsys):
    out = tmp_path / 'out.jsonl'
    annotated = tmp_path / 'annotated'
    code = main(['detect', *map(str, images), '--model', str(model), '--json', str(out),
                 '--annotate', str(annotated), '--score', '0.3', '--cpu-threads', '1'])
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['image'] for r in records] == [str(p) for p in images]
    wide = records[0]['detections']
    assert [d['class_name'] for d in wide] == ['car', 'person']
    assert wide[0]['class_id'] == 2 and wide[0]['score'] == pytest.approx(0.9)
    assert wide[0]['bbox_xyxy'] == pytest.approx([16, 8, 48, 40], abs=0.01)  # scale 0.5
    assert records[1]['detections'][0]['bbox_xyxy'] == pytest.approx([8, 4, 24, 20], abs=0.01)
    assert sorted(p.name for p in annotated.iterdir()) == ['square.jpg', 'wide.png']
    drawn = cv2.imread(str(annotated / 'wide.png'))
    assert (drawn != 90).any()
    assert '2 frames, 4 detections' in capsys.readouterr().err


def test_score_option_and_config_file_and_stdout(tmp_path, model, images, capsys):
    config = tmp_path / 'detector.param.yaml'
    config.write_text(f'/**:\n  ros__parameters:\n    model_path: {model}\n'
                      '    score_threshold: 0.1\n    class_ids: [0]\n')
    assert main(['detect', str(images[1]), '--config', str(config)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [d['class_name'] for d in record['detections']] == ['person']
    assert main(['detect', str(images[1]), '--config', str(config), '--score', '0.5']) == 0
    assert json.loads(capsys.readouterr().out)['detections'] == []


def test_video_frames_get_numbered_names_and_track_ids(tmp_path, model):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 64))
    if not writer.isOpened():
        pytest.skip('this OpenCV build cannot write MJPG video')
    for _ in range(3):
        writer.write(np.full((64, 64, 3), 90, np.uint8))
    writer.release()
    out = tmp_path / 'video.jsonl'
    annotated = tmp_path / 'frames'
    assert main(['detect', str(video), '--model', str(model), '--json', str(out), '--track',
                 '--annotate', str(annotated)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['image'] for r in records] == [f'{video}#{i:06d}' for i in range(3)]
    # track_min_hits 2: the car gets id 1 from the second frame on.
    assert [r['detections'][0].get('track_id') for r in records] == [None, 1, 1]
    assert sorted(p.name for p in annotated.iterdir()) == [
        'clip_000000.jpg', 'clip_000001.jpg', 'clip_000002.jpg']


def test_errors_exit_1_with_a_message(tmp_path, images, capsys):
    assert main(['detect', str(images[0]), '--model', str(tmp_path / 'missing.onnx')]) == 1
    assert 'missing.onnx' in capsys.readouterr().err
    assert main(['detect', str(images[0])]) == 1
    assert 'model_path is empty' in capsys.readouterr().err
