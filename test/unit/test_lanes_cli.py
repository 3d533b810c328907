"""The lane subcommands end to end on synthetic data: lanes, tusimple-gt, eval-lanes, calibrate."""

import json
import re

import cv2
import numpy as np
import pytest
import yaml

from av_perception.cli.main import main
from av_perception.lanes.camera import CameraModel
from av_perception.lanes.synthetic import (camera_rays, render_chessboard, render_road_scene,
                                           RoadScene)

SCENE = RoadScene(lateral_offset_m=0.3, curvature_per_m=1 / 800)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """Write a TuSimple-like folder: image/, gt_instance_image/ and a camera preset."""
    root = tmp_path_factory.mktemp('lanes')
    (root / 'image').mkdir()
    (root / 'gt_instance_image').mkdir()
    projection = SCENE.projection()
    xs = np.geomspace(4.0, 60.0, 200)
    for k, offset in enumerate((0.3, -0.2)):
        scene = SCENE.replace(lateral_offset_m=offset, seed=k)
        image, truth = render_road_scene(scene)
        cv2.imwrite(str(root / 'image' / f'{k:04d}.png'), image)
        mask = np.zeros(image.shape[:2], np.uint8)
        for level, (c0, c1, c2) in ((20, truth.left), (70, truth.right)):
            pixels = projection.ground_to_image(np.column_stack([xs, c0 + c1 * xs + c2 * xs ** 2]))
            pixels = pixels[np.isfinite(pixels[:, 0])]
            cv2.polylines(mask, [np.round(pixels).astype(np.int32).reshape(-1, 1, 2)], False,
                          level, 3)
        cv2.imwrite(str(root / 'gt_instance_image' / f'{k:04d}.png'), mask)
    preset = SCENE.camera().to_dict()
    preset['lane_detector'] = {'camera_height_m': SCENE.camera_height_m,
                               'camera_pitch_deg': SCENE.camera_pitch_deg}
    (root / 'camera.yaml').write_text(yaml.safe_dump(preset))
    return root


def test_lanes_writes_json_lines_and_overlays(dataset, tmp_path, capsys):
    out = tmp_path / 'pred.json'
    images = sorted(str(p) for p in (dataset / 'image').glob('*.png'))
    rc = main(['lanes', *images, '--camera', str(dataset / 'camera.yaml'), '--json', str(out),
               '--annotate', str(tmp_path / 'overlays'), '--birdseye', '--raw-root',
               str(dataset)])
    assert rc == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['raw_file'] for r in records] == ['image/0000.png', 'image/0001.png']
    first = records[0]
    assert first['h_samples'] == list(range(80, 360, 5))  # TuSimple's rows at 360 px
    assert len(first['lanes']) == 2 and all(len(lane) == 56 for lane in first['lanes'])
    assert first['valid'] and len(first['confidence']) == 2
    assert first['lateral_offset_m'] == pytest.approx(0.3, abs=0.05)
    assert records[1]['lateral_offset_m'] == pytest.approx(-0.2, abs=0.05)
    assert first['run_time'] > 0
    assert len(list((tmp_path / 'overlays').glob('*.png'))) == 2
    assert '2 frames, 2 with a valid lane' in capsys.readouterr().err


def test_ground_truth_from_masks_and_evaluation(dataset, tmp_path, capsys):
    gt = tmp_path / 'G.json'
    assert main(['tusimple-gt', str(dataset / 'gt_instance_image'), '--raw-root', str(dataset),
                 '--out', str(gt)]) == 0
    truth = [json.loads(line) for line in gt.read_text().splitlines()]
    assert [t['raw_file'] for t in truth] == ['image/0000.png', 'image/0001.png']
    assert all(len(t['lanes']) == 2 for t in truth)
    pred = tmp_path / 'P.json'
    images = sorted(str(p) for p in (dataset / 'image').glob('*.png'))
    assert main(['lanes', *images, '--camera', str(dataset / 'camera.yaml'), '--json',
                 str(pred), '--raw-root', str(dataset), '--h-samples', '80:360:5']) == 0
    capsys.readouterr()
    assert main(['eval-lanes', '--pred', str(pred), '--gt', str(gt), '--ego',
                 '--image-width', '640', '--per-frame']) == 0
    text = capsys.readouterr().out
    accuracy = float(re.search(r'ego boundaries: accuracy ([0-9.]+)', text).group(1))
    false_positive = float(re.search(r'FP ([0-9.]+)\s+FN', text.splitlines()[-1]).group(1))
    assert accuracy >= 0.95 and false_positive == 0.0
    assert 'image/0001.png: accuracy' in text
    assert main(['eval-lanes', '--pred', str(pred), '--gt', str(gt), '--json-out']) == 0
    assert json.loads(capsys.readouterr().out)[0]['name'] == 'Accuracy'


def test_lanes_on_a_video_tracks_and_writes_an_mp4(tmp_path):
    video = tmp_path / 'drive.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 20.0, (640, 360))
    if not writer.isOpened():
        pytest.skip('this OpenCV build cannot write mp4 files')
    for k in range(4):
        writer.write(render_road_scene(SCENE.replace(dash_phase_m=1.5 * k, seed=k))[0])
    writer.release()
    out = tmp_path / 'video.json'
    preset = tmp_path / 'camera.yaml'
    SCENE.camera().save_yaml(preset)
    rc = main(['lanes', str(video), '--camera', str(preset), '--json', str(out),
               '--set', f'camera_pitch_deg={SCENE.camera_pitch_deg}',
               '--set', f'camera_height_m={SCENE.camera_height_m}',
               '--annotate', str(tmp_path / 'annotated')])
    assert rc == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['raw_file'] for r in records] == [f'{video}#{k:06d}' for k in range(4)]
    assert all(r['valid'] for r in records)
    assert (tmp_path / 'annotated' / 'drive_lanes.mp4').stat().st_size > 0


def test_calibrate_writes_a_camera_info_file(tmp_path, capsys):
    camera = CameraModel(640, 480, (520.0, 0.0, 320.0, 0.0, 520.0, 240.0, 0.0, 0.0, 1.0),
                         (-0.1, 0.0, 0.0, 0.0, 0.0))
    rays = camera_rays(camera, supersample=1)  # aliased edges are fine for this check
    poses = [((0.1, -0.2, 0.0), (-0.13, -0.08, 0.6)), ((-0.25, 0.2, 0.1), (-0.15, -0.1, 0.6)),
             ((0.3, 0.25, -0.05), (-0.1, -0.12, 0.65)), ((-0.15, -0.3, 0.15), (-0.2, -0.05, 0.6)),
             ((0.35, -0.1, 0.3), (-0.12, -0.12, 0.62))]
    for k, (rvec, tvec) in enumerate(poses):
        cv2.imwrite(str(tmp_path / f'board{k}.png'),
                    render_chessboard(camera, rays, rvec, tvec, supersample=1))
    out = tmp_path / 'camera.yaml'
    assert main(['calibrate', str(tmp_path), '--board', '9x6', '--square', '0.03', '--out',
                 str(out), '--camera-name', 'front']) == 0
    text = capsys.readouterr().out
    assert 'found in 5 of 5 images' in text and 'rms' in text
    calibrated = CameraModel.load_yaml(out)
    assert calibrated.camera_name == 'front'
    assert calibrated.k[0, 0] == pytest.approx(520.0, rel=0.02)


@pytest.mark.parametrize('argv, message', [
    (['lanes', 'x.png'], 'nothing to write'),
    (['lanes', 'x.png', '--json', 'o.json', '--camera', 'no_such_camera'], 'preset'),
    (['lanes', 'x.png', '--json', 'o.json', '--set', 'no_such_parameter=1'], 'unknown'),
    (['lanes', 'x.png', '--json', 'o.json', '--set', 'window_count=0'], 'window_count'),
    (['calibrate', 'x.png', '--board', 'nine', '--out', 'c.yaml'], 'COLSxROWS'),
    (['eval-lanes', '--pred', 'missing.json', '--gt', 'missing.json'], 'cannot read'),
])
def test_errors_exit_with_a_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_list_cameras(capsys):
    assert main(['lanes', 'unused', '--list-cameras']) == 0
    names = capsys.readouterr().out.split()
    assert {'tusimple', 'udacity_advanced', 'udacity_p1'} <= set(names)
