"""The detector end to end through ONNX Runtime, on tiny models generated here."""

import logging

import numpy as np
import pytest

from av_perception.detection import (Detector, DetectorConfig, DetectorError, draw_detections)
from av_perception.detection.synthetic import (make_constant_model, make_random_model,
                                               yolov5_output_for_boxes,
                                               yolov8_output_for_boxes,
                                               yolox_output_for_boxes)

# Boxes in 64x64 network pixels; the classes and scores they carry.
NET_BOXES = [[8.0, 4.0, 24.0, 20.0], [30.0, 10.0, 62.0, 30.0], [9.0, 5.0, 25.0, 21.0],
             [40.0, 2.0, 50.0, 8.0]]
CLASSES = [2, 0, 2, 7]
SCORES = [0.9, 0.8, 0.7, 0.6]  # box 2 overlaps box 0 (same class): NMS removes it


def _config(path, **overrides):
    return DetectorConfig(model_path=str(path), cpu_threads=1, **overrides)


def _image(width, height):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _expected(scale, pad_x, pad_y, keep=(0, 1, 3)):
    return [[(b[0] - pad_x) / scale, (b[1] - pad_y) / scale, (b[2] - pad_x) / scale,
             (b[3] - pad_y) / scale] for b in (NET_BOXES[k] for k in keep)]


def _check(result, expected_boxes, classes=(2, 0, 7), scores=(0.9, 0.8, 0.6)):
    dets = result.detections
    assert [d.class_id for d in dets] == list(classes)
    np.testing.assert_allclose([d.score for d in dets], scores, rtol=1e-5)
    np.testing.assert_allclose([d.bbox_xyxy for d in dets], expected_boxes, atol=1e-3)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp('models')
    return {
        'yolox': make_constant_model(
            folder / 'yolox.onnx', yolox_output_for_boxes(NET_BOXES, CLASSES, SCORES, (64, 64))),
        'yolov5': make_constant_model(
            folder / 'yolov5.onnx', yolov5_output_for_boxes(NET_BOXES, CLASSES, SCORES, 300)),
        'yolov8': make_constant_model(
            folder / 'yolov8.onnx',
            yolov8_output_for_boxes(NET_BOXES, CLASSES, SCORES, columns=300, num_classes=8),
            metadata={'names': str({i: f'thing{i}' for i in range(8)}), 'imgsz': '[64, 64]',
                      'stride': '32', 'task': 'detect'},
            dynamic_input=True),
    }


def test_yolox_boxes_come_back_exactly_in_original_pixels(models):
    detector = Detector.from_config(_config(models['yolox']))
    info = detector.model_info
    assert (info.format, info.letterbox, info.normalization) == (
        'yolox', 'top_left', 'bgr_0_255')
    assert detector.providers == ('CPUExecutionProvider',)
    # 128x96 -> scale 0.5 (64x48), padding at the bottom only.
    result = detector.detect(_image(128, 96))
    _check(result, _expected(0.5, 0, 0))
    assert [d.class_name for d in result.detections] == ['car', 'person', 'truck']
    assert (result.image_width, result.image_height) == (128, 96)
    assert result.dropped_nonfinite == 0
    timings = result.timings
    assert min(timings.preprocess_ms, timings.inference_ms, timings.postprocess_ms) >= 0
    assert timings.total_ms == pytest.approx(
        timings.preprocess_ms + timings.inference_ms + timings.postprocess_ms)


def test_yolov5_uses_a_centred_letterbox(models):
    detector = Detector.from_config(_config(models['yolov5']))
    assert (detector.model_info.format, detector.model_info.letterbox) == ('yolov5', 'center')
    # 128x120 -> scale 0.5 (64x60), 2 rows of padding above, 2 below.
    _check(detector.detect(_image(128, 120)), _expected(0.5, 0, 2))


def test_yolov8_reads_names_and_size_from_ultralytics_metadata(models):
    detector = Detector.from_config(_config(models['yolov8']))
    info = detector.model_info
    assert info.format == 'yolov8' and (info.input_width, info.input_height) == (64, 64)
    assert dict(info.sources)['input size'] == 'metadata'
    assert info.class_names[7] == 'thing7'
    # 32x64 (portrait) -> scale 1 (32x64), 16 columns of padding left.
    result = detector.detect(_image(32, 64))
    clipped = np.clip(np.array(_expected(1.0, 16, 0)), 0, [32, 64, 32, 64])
    _check(result, clipped)
    assert [d.class_name for d in result.detections] == ['thing2', 'thing0', 'thing7']


def test_boxes_in_the_padding_are_dropped(models):
    detector = Detector.from_config(_config(models['yolov8']))
    # 16x64: the content spans x 24..40 of the input; the car (x 8..24) and the truck
    # (x 40..50) lie in the padding, the person (x 30..62) is cut to x 6..16.
    result = detector.detect(_image(16, 64))
    assert [d.class_id for d in result.detections] == [0]
    np.testing.assert_allclose(result.detections[0].bbox_xyxy, [6, 10, 16, 30], atol=1e-4)
    for det in result.detections:
        x1, y1, x2, y2 = det.bbox_xyxy
        assert 0 <= x1 < x2 <= 16 and 0 <= y1 < y2 <= 64


def test_sidecar_overrides_format_and_names(tmp_path):
    # A YOLOX export with decoding inside the model looks like YOLOv5 but wants YOLOX
    # preprocessing: the sidecar says so.
    path = make_constant_model(tmp_path / 'decoded_yolox.onnx',
                               yolov5_output_for_boxes(NET_BOXES, CLASSES, SCORES, 84,
                                                       num_classes=8))
    (tmp_path / 'decoded_yolox.yaml').write_text(
        'format: yolov5\nletterbox: top_left\nnormalization: bgr_0_255\n'
        'names: [a, b, c, d, e, f, g, h]\n')
    detector = Detector.from_config(_config(path))
    info = detector.model_info
    assert (info.format, info.letterbox, info.normalization) == (
        'yolov5', 'top_left', 'bgr_0_255')
    result = detector.detect(_image(128, 64))
    _check(result, _expected(0.5, 0, 0))
    assert [d.class_name for d in result.detections] == ['c', 'a', 'h']


def test_score_threshold_class_filter_and_max_detections(models):
    detector = Detector.from_config(_config(models['yolox'], score_threshold=0.75))
    assert [d.score for d in detector.detect(_image(64, 64)).detections] == pytest.approx(
        [0.9, 0.8])
    detector = Detector.from_config(_config(models['yolox'], class_ids=(2, 7)))
    assert [d.class_id for d in detector.detect(_image(64, 64)).detections] == [2, 7]
    detector = Detector.from_config(_config(models['yolox'], max_detections=2))
    assert len(detector.detect(_image(64, 64)).detections) == 2
    # The two cars overlap with IoU 225 / 287 = 0.78.
    detector = Detector.from_config(_config(models['yolox'], nms_iou_threshold=0.8))
    assert [d.class_id for d in detector.detect(_image(64, 64)).detections] == [2, 0, 2, 7]


def test_class_agnostic_nms_setting(tmp_path):
    classes = [2, 0, 5, 7]  # the box overlapping the car is a bus
    path = make_constant_model(tmp_path / 'bus.onnx',
                               yolox_output_for_boxes(NET_BOXES, classes, SCORES, (64, 64)))
    aware = Detector.from_config(_config(path, class_agnostic_nms=False)).detect(
        _image(64, 64))
    assert [d.class_id for d in aware.detections] == [2, 0, 5, 7]
    agnostic = Detector.from_config(_config(path, class_agnostic_nms=True)).detect(
        _image(64, 64))
    assert [d.class_id for d in agnostic.detections] == [2, 0, 7]


def test_detect_keeps_no_state_between_frames(models):
    detector = Detector.from_config(_config(models['yolox']))
    state = dict(vars(detector))
    first = detector.detect(_image(128, 96)).detections
    detector.detect(_image(37, 211))
    detector.detect(np.zeros((10, 10), np.uint8))  # grey is accepted
    again = detector.detect(_image(128, 96)).detections
    assert first == again
    assert vars(detector) == state


@pytest.mark.parametrize('fmt', ['yolox', 'yolov5', 'yolov8'])
def test_random_weight_models_of_every_format_run(tmp_path, fmt):
    path = make_random_model(tmp_path / f'{fmt}.onnx', fmt, (96, 96), num_classes=80)
    detector = Detector.from_config(_config(path, score_threshold=0.05))
    assert detector.model_info.format == fmt
    assert detector.model_info.num_classes == 80
    result = detector.detect(_image(200, 150))
    assert result.detections, 'random logits around 0 give scores above 0.05'
    assert len(result.detections) <= 100
    for det in result.detections:
        x1, y1, x2, y2 = det.bbox_xyxy
        assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 150
        assert 0.05 <= det.score <= 1.0


def test_model_is_found_in_the_model_cache(models, tmp_path):
    config = DetectorConfig(model_path=models['yolox'].name,
                            model_cache_dir=str(models['yolox'].parent))
    assert Detector.from_config(config).model_info.path == str(models['yolox'])
    with pytest.raises(DetectorError, match='nothing.onnx .*model cache'):
        Detector.from_config(DetectorConfig(model_path='nothing.onnx',
                                            model_cache_dir=str(tmp_path)))
    with pytest.raises(DetectorError, match='model_path is empty'):
        Detector.from_config(DetectorConfig())


def test_bad_models_raise_detector_error(tmp_path, models):
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes(models['yolox'].read_bytes()[:300])
    with pytest.raises(DetectorError, match='truncated.onnx'):
        Detector.from_config(_config(truncated))
    wrong = make_constant_model(tmp_path / 'wrong.onnx', np.zeros((1, 10), np.float32))
    with pytest.raises(DetectorError, match=r'output shape \[1, 10\]'):
        Detector.from_config(_config(wrong))
    nan = make_constant_model(tmp_path / 'nan.onnx', np.full((1, 84, 85), np.nan, np.float32))
    with pytest.raises(DetectorError, match='nan.onnx .*entirely NaN'):
        Detector.from_config(_config(nan))
    names = tmp_path / 'three.txt'
    names.write_text('a\nb\nc\n')
    with pytest.raises(DetectorError, match='80 classes .* 3 names'):
        Detector.from_config(_config(models['yolox'], labels_path=str(names)))
    with pytest.raises(DetectorError, match='dynamic input shape'):
        Detector.from_config(_config(make_constant_model(
            tmp_path / 'dynamic.onnx', np.zeros((1, 84, 85), np.float32), dynamic_input=True)))


def test_partly_nan_output_is_dropped_and_reported(tmp_path, caplog):
    output = yolox_output_for_boxes(NET_BOXES, CLASSES, SCORES, (64, 64))
    person_row = np.flatnonzero(output[0, :, 5 + 0] > 0)[0]
    output[0, person_row, 0:4] = np.nan
    output[0, 0, :] = np.nan
    path = make_constant_model(tmp_path / 'partly_nan.onnx', output)
    with caplog.at_level(logging.WARNING, logger='av_perception.detection'):
        detector = Detector.from_config(_config(path))
        result = detector.detect(_image(64, 64))
    assert result.dropped_nonfinite == 2
    assert [d.class_id for d in result.detections] == [2, 7]  # the person is gone
    assert all(np.isfinite(d.bbox_xyxy).all() for d in result.detections)
    assert 'NaN' in caplog.text


def test_bad_images_raise_detector_error(models):
    detector = Detector.from_config(_config(models['yolox']))
    with pytest.raises(DetectorError, match='float32'):
        detector.detect(np.zeros((10, 10, 3), np.float32))


def test_draw_detections_marks_boxes_on_a_copy(models):
    detector = Detector.from_config(_config(models['yolox']))
    image = np.zeros((96, 128, 3), np.uint8)
    result = detector.detect(image)
    drawn = draw_detections(image, [d.with_track_id(5) for d in result.detections])
    assert not image.any()
    x1, y1, x2, y2 = (int(round(v)) for v in result.detections[0].bbox_xyxy)
    assert drawn[y2, (x1 + x2) // 2].any()  # the bottom edge of the first box
    assert drawn.shape == image.shape


def test_runtime_settings_change_without_reloading_the_model(models):
    detector = Detector.from_config(_config(models['yolox']))
    stricter = detector.reconfigured(_config(models['yolox'], score_threshold=0.75))
    assert stricter.backend is detector.backend
    assert [d.score for d in stricter.detect(_image(64, 64)).detections] == pytest.approx(
        [0.9, 0.8])
    assert len(detector.detect(_image(64, 64)).detections) == 3  # the original is unchanged
    with pytest.raises(DetectorError, match="'letterbox'.* reload"):
        detector.reconfigured(_config(models['yolox'], letterbox='center'))
