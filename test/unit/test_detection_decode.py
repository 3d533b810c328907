"""Decoding of YOLOX, YOLOv5 and YOLOv8 outputs, and class-aware NMS."""

import numpy as np
import pytest

from av_perception.detection import nms as nms_module
from av_perception.detection.decode import (decode, decode_yolov5, decode_yolov8, decode_yolox,
                                            yolox_grid, yolox_grid_count)
from av_perception.detection.errors import DetectorError
from av_perception.detection.nms import non_max_suppression
from av_perception.detection.synthetic import (yolov5_output_for_boxes,
                                               yolov8_output_for_boxes,
                                               yolox_output_for_boxes)


def _yolox_empty(size=(64, 64), classes=3):
    return np.zeros((1, yolox_grid_count(*size), 5 + classes), np.float32)


def test_yolox_grid_order_is_stride_by_stride_row_major():
    grid, strides = yolox_grid(64, 32)
    assert len(grid) == yolox_grid_count(64, 32) == 8 * 4 + 4 * 2 + 2 * 1
    assert grid[9].tolist() == [1, 1] and strides[9] == 8  # row 1 of an 8-wide grid
    assert grid[32].tolist() == [0, 0] and strides[32] == 16
    assert grid[-1].tolist() == [1, 0] and strides[-1] == 32


def test_yolox_decode_by_hand():
    output = _yolox_empty()
    # stride 8, cell (x=2, y=1) -> row 1 * 8 + 2 = 10.
    output[0, 10, :5] = [0.5, 0.25, np.log(2.0), 0.0, 0.8]
    output[0, 10, 5 + 1] = 0.75
    # stride 16, cell (x=1, y=2) -> row 64 + 2 * 4 + 1 = 73.
    output[0, 73, :5] = [0.0, 0.5, 0.0, np.log(0.5), 0.9]
    output[0, 73, 5 + 2] = 0.5
    result = decode_yolox(output, (64, 64), 0.3)
    order = np.argsort(-result.scores)
    np.testing.assert_allclose(result.boxes_xyxy[order],
                               [[12, 6, 28, 14], [8, 36, 24, 44]], atol=1e-5)
    np.testing.assert_allclose(result.scores[order], [0.6, 0.45], rtol=1e-6)
    assert result.class_ids[order].tolist() == [1, 2]
    assert result.dropped_nonfinite == 0


def test_score_is_objectness_times_class_probability():
    output = _yolox_empty()
    output[0, 0, :5] = [0.5, 0.5, 0, 0, 0.5]
    output[0, 0, 5] = 0.5  # 0.25 < 0.3 even though both factors pass
    output[0, 1, :5] = [0.5, 0.5, 0, 0, 0.2]
    output[0, 1, 6] = 1.0  # objectness alone below threshold
    assert len(decode_yolox(output, (64, 64), 0.3).scores) == 0
    assert len(decode_yolox(output, (64, 64), 0.2).scores) == 2


def test_yolox_row_count_must_match_the_grid():
    with pytest.raises(DetectorError, match='83 rows .* 84 grid cells'):
        decode_yolox(np.zeros((1, 83, 85), np.float32), (64, 64), 0.3)
    with pytest.raises(DetectorError, match=r'\[1, 84\]'):
        decode_yolox(np.zeros((1, 84), np.float32), (64, 64), 0.3)


def test_yolov5_and_yolov8_decode_by_hand():
    v5 = np.zeros((1, 4, 8), np.float32)
    v5[0, 2] = [50, 40, 20, 10, 0.9, 0.1, 0.0, 0.8]
    result = decode_yolov5(v5, 0.3)
    np.testing.assert_allclose(result.boxes_xyxy, [[40, 35, 60, 45]])
    np.testing.assert_allclose(result.scores, [0.72], rtol=1e-6)
    assert result.class_ids.tolist() == [2]
    v8 = np.zeros((1, 7, 5), np.float32)
    v8[0, :, 3] = [50, 40, 20, 10, 0.1, 0.2, 0.65]
    v8[0, :, 1] = [10, 10, 4, 4, 0.25, 0.2, 0.1]  # best 0.25 < 0.3
    result = decode_yolov8(v8, 0.3)
    np.testing.assert_allclose(result.boxes_xyxy, [[40, 35, 60, 45]])
    np.testing.assert_allclose(result.scores, [0.65], rtol=1e-6)
    assert result.class_ids.tolist() == [2]


def test_nan_and_inf_rows_are_dropped_and_counted():
    output = yolox_output_for_boxes([[8, 8, 24, 24], [30, 30, 50, 50], [4, 40, 20, 60]],
                                    [0, 1, 2], [0.8, 0.7, 0.6], (64, 64), num_classes=3)
    output[0, 5, :] = np.nan  # a whole NaN row
    output[0, 6, 4] = np.nan  # NaN objectness
    nan_box = np.flatnonzero(output[0, :, 4] > 0)[1]
    output[0, nan_box, 0] = np.nan  # NaN in a box that would pass the threshold
    overflow = np.flatnonzero(output[0, :, 4] > 0)[2]
    output[0, overflow, 2] = 1000.0  # exp overflows to inf
    with np.errstate(all='raise'):
        result = decode_yolox(output, (64, 64), 0.3)
    assert result.dropped_nonfinite == 4
    assert np.isfinite(result.boxes_xyxy).all()
    np.testing.assert_allclose(result.boxes_xyxy, [[8, 8, 24, 24]], atol=1e-4)
    v8 = yolov8_output_for_boxes([[8, 8, 24, 24], [30, 30, 50, 50]], [0, 1], [0.8, 0.7],
                                 columns=10, num_classes=3)
    v8[0, 2, 1] = np.inf
    v8[0, 5, 7] = np.nan
    result = decode_yolov8(v8, 0.3)
    assert result.dropped_nonfinite == 2 and len(result.scores) == 1
    v5 = yolov5_output_for_boxes([[8, 8, 24, 24]], [0], [0.8], rows=5, num_classes=3)
    v5[0, 0, 3] = -np.inf
    assert decode_yolov5(v5, 0.3).dropped_nonfinite == 1


@pytest.mark.parametrize('fmt', ['yolox', 'yolov5'])
def test_each_non_finite_objectness_is_dropped_and_counted_once(fmt):
    boxes, classes, scores = [[8, 8, 24, 24], [30, 30, 50, 50]], [0, 1], [0.8, 0.7]
    encode = yolox_output_for_boxes if fmt == 'yolox' else yolov5_output_for_boxes
    output = (encode(boxes, classes, scores, (64, 64), num_classes=3) if fmt == 'yolox'
              else encode(boxes, classes, scores, rows=20, num_classes=3))
    empty_rows = np.flatnonzero(output[0, :, 4] == 0)
    for row, value in zip(empty_rows, [np.inf, -np.inf, np.nan]):
        output[0, row, 4] = value  # +inf passes the threshold test, NaN and -inf do not
    with np.errstate(all='raise'):
        result = decode(output, fmt, (64, 64), 0.3)
    assert result.dropped_nonfinite == 3
    np.testing.assert_allclose(np.sort(result.scores), [0.7, 0.8], rtol=1e-5)


@pytest.mark.parametrize('fmt', ['yolox', 'yolov5', 'yolov8'])
def test_half_precision_outputs_give_float32_candidates(fmt):
    boxes, classes, scores = [[8, 8, 24, 24], [30, 30, 50, 50]], [0, 1], [0.8, 0.7]
    encode = {'yolox': lambda: yolox_output_for_boxes(boxes, classes, scores, (64, 64)),
              'yolov5': lambda: yolov5_output_for_boxes(boxes, classes, scores),
              'yolov8': lambda: yolov8_output_for_boxes(boxes, classes, scores)}[fmt]
    result = decode(encode().astype(np.float16), fmt, (64, 64), 0.3)
    assert result.boxes_xyxy.dtype == result.scores.dtype == np.float32
    assert result.class_ids.dtype == np.int32
    order = np.argsort(-result.scores)
    np.testing.assert_allclose(result.boxes_xyxy[order], boxes, atol=0.1)
    assert result.class_ids[order].tolist() == classes


@pytest.mark.parametrize('fmt', ['yolox', 'yolov5', 'yolov8'])
def test_synthetic_encoders_decode_back_to_their_boxes(fmt):
    rng = np.random.default_rng(7)
    corners = rng.uniform(4, 150, (12, 2))
    sizes = rng.uniform(6, 60, (12, 2))
    boxes = np.concatenate([corners, corners + sizes], axis=1)
    classes = rng.integers(0, 80, 12)
    scores = rng.uniform(0.35, 0.85, 12).round(3)
    encode = {'yolox': lambda: yolox_output_for_boxes(boxes, classes, scores, (224, 224)),
              'yolov5': lambda: yolov5_output_for_boxes(boxes, classes, scores),
              'yolov8': lambda: yolov8_output_for_boxes(boxes, classes, scores)}[fmt]
    result = decode(encode(), fmt, (224, 224), 0.3)
    order = np.lexsort((result.boxes_xyxy[:, 0], -result.scores))
    expected = np.lexsort((boxes[:, 0], -scores))
    np.testing.assert_allclose(result.boxes_xyxy[order], boxes[expected], atol=2e-3)
    np.testing.assert_allclose(result.scores[order], scores[expected], rtol=1e-5)
    assert result.class_ids[order].tolist() == classes[expected].tolist()


def test_unknown_format_raises():
    with pytest.raises(DetectorError, match='yolov3'):
        decode(np.zeros((1, 5, 85), np.float32), 'yolov3', (64, 64), 0.3)


def _reference_nms(boxes, scores, classes, threshold):
    """Plain per-class greedy NMS to compare OpenCV against."""
    order = list(np.argsort(-scores, kind='stable'))
    kept = []
    while order:
        best = order.pop(0)
        kept.append(best)
        rest = []
        for other in order:
            if classes[other] != classes[best]:
                rest.append(other)
                continue
            a, b = boxes[best], boxes[other]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if inter / union <= threshold:
                rest.append(other)
        order = rest
    return kept


def test_nms_is_class_aware_unless_asked_otherwise():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 1])
    assert non_max_suppression(boxes, scores, classes, 0.5, 10).tolist() == [0, 2]
    assert non_max_suppression(boxes, scores, classes, 0.5, 10,
                               class_agnostic=True).tolist() == [0]


@pytest.mark.parametrize('use_batched', [True, False])
def test_nms_matches_a_reference_on_random_boxes(use_batched):
    if use_batched and not nms_module.HAS_BATCHED_NMS:
        pytest.skip('this OpenCV has no NMSBoxesBatched')
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 200, (300, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(10, 60, (300, 2))], axis=1)
    scores = rng.uniform(0.3, 1.0, 300).astype(np.float32)
    classes = rng.integers(0, 4, 300)
    kept = non_max_suppression(boxes, scores, classes, 0.45, 1000, use_batched=use_batched)
    assert sorted(kept.tolist()) == sorted(_reference_nms(boxes, scores, classes, 0.45))
    assert np.all(np.diff(scores[kept]) <= 0)  # best first


def test_nms_keeps_sub_pixel_precision():
    # IoU of these two boxes is 90/110 = 0.818...: suppression flips around that threshold
    # only if OpenCV sees the fractional coordinates.
    boxes = np.array([[0, 0, 10, 10], [0.5, 0.5, 10.5, 10.5]], np.float32)
    iou = 9.5 * 9.5 / (200 - 9.5 * 9.5)
    scores = np.array([0.9, 0.8], np.float32)
    classes = np.zeros(2)
    assert len(non_max_suppression(boxes, scores, classes, iou - 1e-3, 10)) == 1
    assert len(non_max_suppression(boxes, scores, classes, iou + 1e-3, 10)) == 2


def test_nms_limits_and_empty_input():
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.6, 0.8], np.float32)
    assert non_max_suppression(boxes, scores, np.zeros(5), 0.5, 3).tolist() == [1, 4, 2]
    assert non_max_suppression(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5, 3).size == 0
    with pytest.raises(DetectorError, match='as many'):
        non_max_suppression(boxes, scores[:3], np.zeros(5), 0.5, 3)
