"""Replay scores: detection matching, lane agreement, RMSE, percentiles."""

import math

import numpy as np
import pytest

from av_perception.evaluation import (Box, box_iou, DetectionScore, finite_or_none,
                                      LaneScore, lateral_at, percentiles, rmse, scoring_class,
                                      split_by_height)


def test_iou_of_known_boxes():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_detection_matching_is_one_to_one_and_class_aware():
    score = DetectionScore()
    truth = [Box(2, (0, 0, 10, 10)), Box(0, (20, 0, 30, 10))]
    predicted = [Box(2, (0, 0, 10, 10)), Box(2, (1, 0, 11, 10)),  # duplicate: one FP
                 Box(2, (20, 0, 30, 10)),  # right place, wrong class: FP + FN
                 Box(7, (50, 50, 60, 60))]
    score.add_frame(predicted, truth)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 3, 1)
    assert score.recall == 0.5 and score.precision == 0.25
    agnostic = DetectionScore()
    agnostic.add_frame(predicted, truth, class_agnostic=True)
    assert agnostic.true_positives == 2
    assert math.isnan(DetectionScore().recall)


def test_lane_score_counts_correct_missing_and_offset():
    truth = np.array([[0.0, 0.5], [30.0, 0.5]])
    score = LaneScore()
    score.add_frame(np.array([[0.0, 0.6], [30.0, 0.6]]), truth)   # 0.1 m off: correct
    score.add_frame(np.array([[0.0, 0.9], [30.0, 0.9]]), truth)   # 0.4 m off: wrong
    score.add_frame(None, truth)                                   # nothing detected
    score.add_frame(np.array([[0.0, 0.5], [12.0, 0.5]]), truth)   # too short: 15, 20 m missing
    assert (score.frames, score.correct, score.missing) == (4, 1, 1)
    assert score.accuracy == 0.25
    assert score.median_offset_error_m == pytest.approx(0.1)
    assert lateral_at(truth, 40.0) != lateral_at(truth, 40.0)  # NaN outside


def test_rmse_percentiles_and_json_cleaning():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert math.isnan(rmse([], []))
    assert percentiles([1, 2, 3, 4, 100, float('nan')]) == {'p50': 3.0, 'p95': pytest.approx(80.8)}
    assert finite_or_none({'a': float('nan'), 'b': [1.0, float('inf')], 'c': {'d': 2}}) == \
        {'a': None, 'b': [1.0, None], 'c': {'d': 2}}


def test_small_truths_are_ignored_and_vehicle_classes_merge():
    truth = [Box(7, (0, 0, 50, 60)), Box(2, (100, 100, 110, 108))]  # a truck, a tiny car
    required, ignored = split_by_height(truth, 40)
    assert [b.class_id for b in required] == [2] and len(ignored) == 1  # truck -> vehicle
    score = DetectionScore()
    predicted = [Box(scoring_class(5), (0, 0, 50, 60)),  # called a bus: still the vehicle
                 Box(2, (100, 100, 110, 108))]           # the tiny car: excused, not an FP
    score.add_frame(predicted, required, ignored=ignored)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 0, 0)
