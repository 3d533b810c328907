"""Target of issue 5 on the real YOLOX-Nano and the real photos of the shared assets.

Every reference detection (detections_report.json, an independent decoder) with score >= 0.3
must be found with the same class and IoU >= 0.9, and nothing else may score above 0.5.
"""

import json

import cv2
import numpy as np
import pytest

from av_perception.assets import asset_path, yolox_nano_model
from av_perception.detection import Detector, DetectorConfig
from av_perception.detection.tracker import iou_matrix

REPORT = asset_path('detectors', 'detections_report.json')
# The report uses darknet-style names for some COCO classes.
DARKNET_NAMES = {'motorbike': 'motorcycle', 'aeroplane': 'airplane', 'sofa': 'couch',
                 'pottedplant': 'potted plant', 'diningtable': 'dining table',
                 'tvmonitor': 'tv'}

pytestmark = [pytest.mark.assets, pytest.mark.skipif(
    not (yolox_nano_model().is_file() and REPORT.is_file()),
    reason=f'shared assets absent: need {yolox_nano_model()} and {REPORT} '
           '(set AV_PERCEPTION_ASSETS)')]


@pytest.fixture(scope='module')
def detector():
    return Detector.from_config(DetectorConfig(model_path=str(yolox_nano_model()),
                                               score_threshold=0.3, cpu_threads=2))


def _cases():
    if not REPORT.is_file():
        return []
    report = json.loads(REPORT.read_text())
    return [(image, entries['yolox_nano_416']) for image, entries in sorted(report.items())
            if 'yolox_nano_416' in entries]


def test_the_model_is_recognised_as_yolox(detector):
    info = detector.model_info
    assert (info.format, info.input_width, info.input_height) == ('yolox', 416, 416)
    assert (info.letterbox, info.normalization) == ('top_left', 'bgr_0_255')
    assert info.num_classes == 80


@pytest.mark.parametrize('image_name, reference', _cases())
def test_matches_the_reference_decoder(detector, image_name, reference):
    path = asset_path(*image_name.split('/'))
    if not path.is_file():
        pytest.skip(f'image {path} absent')
    image = cv2.imread(str(path))
    ours = detector.detect(image).detections
    expected = [(DARKNET_NAMES.get(name, name), score, box) for name, score, box in reference
                if score >= 0.3]
    for name, score, box in expected:
        same_class = [d for d in ours if d.class_name == name]
        best = max((iou_matrix(np.array(box), np.array(d.bbox_xyxy))[0, 0]
                    for d in same_class), default=0.0)
        assert best >= 0.9, f'{image_name}: reference {name} {score} {box} best IoU {best:.3f}'
    for det in ours:
        if det.score > 0.5:
            matched = max((iou_matrix(np.array(box), np.array(det.bbox_xyxy))[0, 0]
                           for name, _, box in expected if name == det.class_name),
                          default=0.0)
            assert matched >= 0.9, f'{image_name}: extra detection {det}'
