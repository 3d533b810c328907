"""The TuSimple metric on hand-made cases, the ego rule, masks to ground truth, JSON files."""

import json
import math

import cv2
import numpy as np
import pytest

from av_perception.lanes.errors import LaneError
from av_perception.lanes.tusimple import (default_h_samples, ego_lane_indices, evaluate,
                                          lane_angle, lanes_from_instance_mask, line_accuracy,
                                          match_records, parse_h_samples, read_json_lines,
                                          score_frame, write_json_lines)

ROWS = [10 * i for i in range(10)]  # ten h_samples
A = -2  # absent


def vertical(x):
    return [x] * len(ROWS)


def test_perfect_and_within_threshold_predictions():
    gt = [vertical(100), vertical(300)]
    score = score_frame([vertical(110), vertical(300)], gt, ROWS)  # 10 px < 20 px
    assert (score.accuracy, score.false_positive, score.false_negative) == (1.0, 0.0, 0.0)


def test_a_lane_beyond_the_threshold_is_a_miss_and_a_false_positive():
    score = score_frame([vertical(130), vertical(300)], [vertical(100), vertical(300)], ROWS)
    # line accuracies 0 and 1; one of two predictions unmatched, one of two gt lanes missed
    assert score.accuracy == 0.5
    assert score.false_positive == 0.5
    assert score.false_negative == 0.5


def test_absent_points_count_as_in_the_official_script():
    gt = [[A] * 5 + [100] * 5]
    # predicting where the ground truth has no lane costs those rows (-100 vs x)
    assert score_frame([vertical(100)], gt, ROWS).accuracy == 0.5
    assert score_frame([vertical(100)], gt, ROWS).false_negative == 1.0  # 0.5 < 0.85
    # absent where absent matches (-100 vs -100)
    assert score_frame([[A] * 5 + [100] * 5], gt, ROWS).accuracy == 1.0
    assert line_accuracy([A] * 10, [A] * 10, 20.0) == 1.0
    assert line_accuracy([5] * 10, [A] * 10, 20.0) == 0.0


def test_threshold_grows_with_the_lane_angle():
    slanted = [100 + i * 10 for i in range(10)]  # x = y + 100: 45 degrees
    assert lane_angle(slanted, ROWS) == pytest.approx(math.pi / 4)
    threshold = 20.0 / math.cos(math.pi / 4)  # 28.28 px
    shifted_25 = [x + 25 for x in slanted]
    shifted_30 = [x + 30 for x in slanted]
    assert line_accuracy(shifted_25, slanted, threshold) == 1.0
    assert score_frame([shifted_25], [slanted], ROWS).accuracy == 1.0
    assert score_frame([shifted_30], [slanted], ROWS).accuracy == 0.0
    # the angle uses only present points and is 0 with one point
    assert lane_angle([A] * 5 + [100 + i * 10 for i in range(5)], ROWS) == pytest.approx(
        math.pi / 4)
    assert lane_angle([A] * 9 + [100], ROWS) == 0.0


def test_too_many_predictions_or_too_slow_score_zero():
    gt = [vertical(100)]
    many = [vertical(100), vertical(200), vertical(300), vertical(400)]
    score = score_frame(many, gt, ROWS)
    assert (score.accuracy, score.false_positive, score.false_negative) == (0.0, 0.0, 1.0)
    slow = score_frame([vertical(100)], gt, ROWS, run_time_ms=250.0)
    assert (slow.accuracy, slow.false_negative) == (0.0, 1.0)


def test_five_lane_frames_drop_the_worst_lane():
    gt = [vertical(x) for x in (100, 300, 500, 700, 900)]
    pred = [vertical(x) for x in (100, 300, 500, 700)]
    score = score_frame(pred, gt, ROWS)
    # line accuracies [1, 1, 1, 1, 0]: (4 - 0) / 4; the one false negative is forgiven
    assert (score.accuracy, score.false_positive, score.false_negative) == (1.0, 0.0, 0.0)


def test_all_absent_predicted_lanes_are_no_lane():
    score = score_frame([[A] * 10, vertical(300)], [vertical(100), vertical(300)], ROWS)
    assert score.pred_lanes == 1
    assert (score.accuracy, score.false_positive, score.false_negative) == (0.5, 0.0, 0.5)


def test_evaluate_averages_frames_and_matches_raw_file_paths():
    gt = [{'raw_file': 'clips/a/1.jpg', 'h_samples': ROWS,
           'lanes': [vertical(100), vertical(300)]},
          {'raw_file': 'clips/b/1.jpg', 'h_samples': ROWS,
           'lanes': [vertical(100), vertical(300)]}]
    pred = [{'raw_file': '/data/tusimple/clips/b/1.jpg', 'lanes': [vertical(130), vertical(300)],
             'run_time': 3.0},
            {'raw_file': 'clips/a/1.jpg', 'lanes': [vertical(100), vertical(300)]}]
    score = evaluate(pred, gt)
    assert (score.accuracy, score.false_positive, score.false_negative) == (0.75, 0.25, 0.25)
    official = json.loads(score.as_official_json())
    assert official[0] == {'name': 'Accuracy', 'value': 0.75, 'order': 'desc'}
    with pytest.raises(LaneError, match='no prediction for 1 of 2'):
        evaluate(pred[1:], gt)
    with pytest.raises(LaneError, match='several predictions'):
        match_records([{'raw_file': 'x/a/1.jpg', 'lanes': []},
                       {'raw_file': 'y/a/1.jpg', 'lanes': []}],
                      [{'raw_file': 'a/1.jpg', 'lanes': [], 'h_samples': ROWS}])
    with pytest.raises(LaneError, match='twice'):
        match_records([pred[1], pred[1]], gt)
    with pytest.raises(LaneError, match='no frames'):
        evaluate(pred, [])


def test_ego_boundaries_are_the_nearest_lanes_each_side_of_the_centre():
    rows = list(range(400, 720, 40))
    width = 1280

    def lane(bottom_x, slope):
        return [bottom_x + slope * (710 - r) if 0 <= bottom_x + slope * (710 - r) < width
                else A for r in rows]
    lanes = [lane(-400, 3.0), lane(300, 1.0), lane(1000, -1.0), lane(1700, -3.0)]
    assert ego_lane_indices(lanes, rows, width) == (1, 2)
    assert ego_lane_indices(lanes[:2], rows, width) == (1, None)
    assert ego_lane_indices([[A] * len(rows)], rows, width) == (None, None)
    # ego-only scoring ignores the outer lanes of both files
    gt = [{'raw_file': 'f.jpg', 'h_samples': rows, 'lanes': lanes}]
    pred = [{'raw_file': 'f.jpg', 'lanes': [lanes[1], lanes[2]]}]
    assert evaluate(pred, gt, ego_only=True).accuracy == 1.0
    assert evaluate(pred, gt).accuracy == pytest.approx(0.5)


def test_instance_mask_to_lanes():
    mask = np.zeros((720, 1280), np.uint8)
    cv2.line(mask, (600, 260), (100, 719), 70, 5)      # ego left
    cv2.line(mask, (680, 260), (1200, 719), 120, 5)    # ego right
    cv2.line(mask, (560, 260), (0, 520), 20, 5)        # leaves the image on the left
    rows = default_h_samples(720)
    lanes = lanes_from_instance_mask(mask, rows)
    assert len(lanes) == 3
    left_outer, ego_left, ego_right = lanes
    # x of the drawn line at a row, within a pixel
    row = 500
    expected = 600 + (100 - 600) * (row - 260) / (719 - 260)
    assert ego_left[rows.index(row)] == pytest.approx(expected, abs=1.0)
    assert ego_left[rows.index(250)] == A and left_outer[rows.index(600)] == A
    assert ego_lane_indices(lanes, rows, 1280) == (1, 2)
    with pytest.raises(LaneError, match='2-D'):
        lanes_from_instance_mask(np.zeros((10, 10, 3), np.uint8), rows)
    with pytest.raises(LaneError, match='exceed the mask height'):
        lanes_from_instance_mask(np.zeros((100, 100), np.uint8), rows)


def test_h_samples_helpers():
    assert default_h_samples(720) == list(range(160, 720, 10))
    assert default_h_samples(360)[:3] == [80, 85, 90] and default_h_samples(360)[-1] == 355
    assert parse_h_samples('160:200:10') == [160, 170, 180, 190]
    assert parse_h_samples('5, 7,9') == [5, 7, 9]
    with pytest.raises(LaneError, match='h-samples'):
        parse_h_samples('a,b')
    with pytest.raises(LaneError, match='h-samples'):
        parse_h_samples('-5')


def test_json_lines_round_trip_and_errors(tmp_path):
    path = tmp_path / 'pred.json'
    records = [{'raw_file': 'a.jpg', 'h_samples': ROWS, 'lanes': [vertical(1)]}]
    write_json_lines(path, records)
    assert read_json_lines(path) == records
    path.write_text('{"raw_file": "a.jpg", "lanes": []}\nnot json\n')
    with pytest.raises(LaneError, match='pred.json:2: not JSON'):
        read_json_lines(path)
    path.write_text('{"lanes": [], "h_samples": []}\n')
    with pytest.raises(LaneError, match="missing 'raw_file'"):
        read_json_lines(path)
    with pytest.raises(LaneError, match='has no h_samples'):
        evaluate([{'raw_file': 'a.jpg', 'lanes': []}], [{'raw_file': 'a.jpg', 'lanes': []}])
    with pytest.raises(LaneError, match='cannot read'):
        read_json_lines(tmp_path / 'missing.json')
    with pytest.raises(LaneError, match='points for'):
        score_frame([[1, 2]], [vertical(1)], ROWS)
