"""IoU + constant-velocity tracking with ByteTrack-style two-stage association."""

import numpy as np
import pytest

from av_perception.detection.config import TrackerConfig
from av_perception.detection.results import Detection
from av_perception.detection.tracker import greedy_match, iou_matrix, Tracker


def _det(x, y, score=0.9, class_id=2, size=20.0):
    return Detection(class_id, 'car', score, (x, y, x + size, y + size))


def _ids(detections):
    return [d.track_id for d in detections]


def test_iou_matrix_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 101, 101]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou, [[1, 1 / 3, 0], [0, 0, 0]])
    assert greedy_match(iou, 0.3) == [(0, 0)]
    # Greedy takes the best pair first even when another assignment would pair more.
    assert greedy_match(np.array([[0.9, 0.8], [0.85, 0.0]]), 0.5) == [(0, 0)]
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_ids_appear_after_min_hits_and_stay_stable():
    tracker = Tracker(TrackerConfig(track_min_hits=2))
    assert _ids(tracker.update([_det(0, 0), _det(100, 0)])) == [None, None]
    assert _ids(tracker.update([_det(100, 0), _det(2, 0)])) == [1, 2]  # order may change
    for step in range(3, 10):
        out = tracker.update([_det(2 * step, 0), _det(100, 0)])
        assert _ids(out) == [2, 1]
    assert tracker.confirmed_track_count == 2


def test_fast_object_keeps_its_id_through_a_gap_thanks_to_the_motion_model():
    def run(smoothing):
        tracker = Tracker(TrackerConfig(track_min_hits=1, track_max_age=5,
                                        track_velocity_smoothing=smoothing))
        ids = []
        for step in range(12):
            # 10 px per frame with a 20 px box: IoU 1/3 between frames, but after the 3-frame
            # gap the box has moved 40 px and overlaps nothing where it was last seen.
            visible = not 5 <= step <= 7
            ids.append(_ids(tracker.update([_det(10.0 * step, 0)] if visible else [])))
        return [i[0] for i in ids if i]

    with_motion = run(1.0)
    assert len(with_motion) == 9 and set(with_motion) == {1}
    without_motion = run(0.0)
    assert without_motion == [1] * 5 + [2] * 4  # a static model loses it in the gap


def test_low_score_detections_extend_tracks_but_never_start_them():
    tracker = Tracker(TrackerConfig(track_min_hits=1, track_high_score=0.5,
                                    track_low_score=0.1))
    assert _ids(tracker.update([_det(0, 0, 0.9)])) == [1]
    # Occluded: the score drops into the low band for a few frames; the id holds.
    for step in range(1, 4):
        assert _ids(tracker.update([_det(step, 0, 0.3)])) == [1]
    assert _ids(tracker.update([_det(4, 0, 0.9)])) == [1]
    # A low-score detection far from every track starts nothing.
    assert _ids(tracker.update([_det(5, 0, 0.9), _det(300, 300, 0.3)])) == [1, None]
    assert _ids(tracker.update([_det(6, 0, 0.9), _det(300, 300, 0.9)])) == [1, 2]
    # Below the low threshold a detection is ignored entirely.
    assert _ids(tracker.update([_det(7, 0, 0.05)])) == [None]


def test_tracks_are_class_aware_when_configured():
    tracker = Tracker(TrackerConfig(track_min_hits=1))
    assert _ids(tracker.update([_det(0, 0, class_id=2)])) == [1]
    assert _ids(tracker.update([_det(0, 0, class_id=0)])) == [2]  # a person, not the car
    permissive = Tracker(TrackerConfig(track_min_hits=1, track_class_aware=False))
    permissive.update([_det(0, 0, class_id=2)])
    assert _ids(permissive.update([_det(0, 0, class_id=0)])) == [1]


def test_lost_tracks_expire_and_one_frame_false_positives_cost_no_id():
    tracker = Tracker(TrackerConfig(track_min_hits=2, track_max_age=2))
    tracker.update([_det(0, 0)])
    assert _ids(tracker.update([_det(0, 0)])) == [1]
    tracker.update([_det(200, 200)])  # the car is gone; a one-frame blip appears
    tracker.update([])
    tracker.update([])  # three misses > max_age 2: the car's track is dropped
    assert tracker.confirmed_track_count == 0
    tracker.update([_det(0, 0)])
    assert _ids(tracker.update([_det(0, 0)])) == [2]  # the blip never took id 2


def test_timestamps_scale_motion_over_dropped_frames():
    tracker = Tracker(TrackerConfig(track_min_hits=1, track_velocity_smoothing=1.0))
    # 100 px/s, frames every 0.1 s; then two frames are dropped (0.3 s gap = 30 px > size).
    for step, stamp in enumerate([0, 100, 200]):
        tracker.update([_det(10.0 * step, 0)], stamp_ns=stamp * 1_000_000)
    assert _ids(tracker.update([_det(50.0, 0)], stamp_ns=500_000_000)) == [1]


def test_reset_forgets_tracks_and_restarts_ids():
    tracker = Tracker(TrackerConfig(track_min_hits=1))
    tracker.update([_det(0, 0), _det(100, 100)])
    tracker.reset()
    assert tracker.confirmed_track_count == 0
    assert _ids(tracker.update([_det(500, 500)])) == [1]


@pytest.mark.parametrize('count', [0, 1, 7])
def test_output_preserves_input_order_and_content(count):
    tracker = Tracker(TrackerConfig(track_min_hits=1))
    detections = [_det(30.0 * k, 0, score=0.5 + 0.05 * k) for k in range(count)]
    out = tracker.update(detections)
    assert len(out) == count
    assert [d.bbox_xyxy for d in out] == [d.bbox_xyxy for d in detections]
    assert _ids(out) == list(range(1, count + 1))


def test_reconfigure_keeps_tracks():
    tracker = Tracker(TrackerConfig(track_min_hits=1))
    assert _ids(tracker.update([_det(0, 0)])) == [1]
    tracker.reconfigure(TrackerConfig(track_min_hits=1, track_high_score=0.95))
    assert _ids(tracker.update([_det(1, 0, 0.9)])) == [1]  # now a low-score match
    assert _ids(tracker.update([_det(300, 0, 0.9)])) == [None]  # and no longer starts tracks
