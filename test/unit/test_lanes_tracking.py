"""Temporal behaviour: smoothing, outlier rejection, missed frames, time jumps, lane changes."""

import numpy as np
import pytest

from av_perception.lanes import LaneDetector
from av_perception.lanes.fitting import BoundaryFit
from av_perception.lanes.synthetic import render_road_scene, RoadScene
from av_perception.lanes.tracking import BoundaryTrack, TrackingParameters, TrackUpdate

FRAME_NS = 50_000_000  # 20 Hz


def fit_at(c0: float, coverage: float = 0.9) -> BoundaryFit:
    return BoundaryFit((c0, 0.0, 0.0), 5.0, 35.0, 300, coverage, 0.03)


def make_track(**overrides) -> BoundaryTrack:
    values = {'smoothing': 0.5, 'outlier_threshold_m': 0.5, 'max_outliers': 3,
              'max_missed_frames': 4}
    values.update(overrides)
    return BoundaryTrack(TrackingParameters(**values))


def test_track_smooths_towards_new_measurements():
    track = make_track()
    assert track.update(fit_at(1.8)) == TrackUpdate.STARTED
    assert track.update(fit_at(1.9)) == TrackUpdate.UPDATED
    assert 1.8 < track.coefficients[0] < 1.9  # neither ignores nor copies the measurement
    confidence = track.confidence
    for _ in range(10):
        track.update(fit_at(1.9))
    assert track.coefficients[0] == pytest.approx(1.9, abs=1e-3)
    assert track.confidence >= confidence * 0.99


def test_outliers_are_rejected_until_they_persist():
    track = make_track(max_outliers=3)
    track.update(fit_at(1.8))
    for _ in range(2):
        assert track.update(fit_at(0.6)) == TrackUpdate.OUTLIER  # 1.2 m away: a car edge
        assert track.coefficients[0] == pytest.approx(1.8)
    assert track.update(fit_at(0.6)) == TrackUpdate.STARTED  # third in a row: the road moved
    assert track.coefficients[0] == pytest.approx(0.6)
    # a single outlier between good fits does not count towards the limit
    track.update(fit_at(0.6))
    assert track.update(fit_at(2.0)) == TrackUpdate.OUTLIER
    assert track.update(fit_at(0.62)) == TrackUpdate.UPDATED


def test_missed_frames_decay_confidence_then_lose_the_track():
    track = make_track(max_missed_frames=3)
    track.update(fit_at(1.8))
    confidences = [track.confidence]
    for _ in range(3):
        assert track.update(None) == TrackUpdate.MISSED
        confidences.append(track.confidence)
    assert all(b < a for a, b in zip(confidences, confidences[1:]))
    assert track.update(None) == TrackUpdate.LOST and not track.active
    assert track.update(None) == TrackUpdate.EMPTY


def render(scene):
    return render_road_scene(scene)[0]


@pytest.fixture(scope='module')
def drive():
    """Frames of a straight road with the dashes moving, and a blank road frame."""
    scene = RoadScene(lateral_offset_m=0.2)
    frames = [render(scene.replace(dash_phase_m=1.5 * k, seed=k)) for k in range(6)]
    blank = render(scene.replace(left_marking='none', right_marking='none'))
    return scene, frames, blank


def test_tracking_holds_the_lane_through_a_few_blank_frames(drive):
    scene, frames, blank = drive
    detector = LaneDetector(scene.detector_config(max_missed_frames=3), scene.camera())
    stamp = 0
    for frame in frames:
        estimate = detector.process(frame, stamp)
        stamp += FRAME_NS
    assert estimate.valid
    held = []
    for _ in range(5):
        held.append(detector.process(blank, stamp))
        stamp += FRAME_NS
    assert held[0].valid and held[0].lateral_offset_m == pytest.approx(0.2, abs=0.05)
    confidences = [e.confidence for e in held]
    assert all(b < a for a, b in zip(confidences[:3], confidences[1:3]))
    assert not held[-1].valid  # dropped after max_missed_frames


def test_time_jump_resets_the_tracks(drive):
    scene, frames, blank = drive
    detector = LaneDetector(scene.detector_config(), scene.camera())
    for k, frame in enumerate(frames[:3]):
        detector.process(frame, 10 * FRAME_NS + k * FRAME_NS)
    assert detector.process(blank, 13 * FRAME_NS).valid  # held by the tracks
    assert not detector.process(blank, 2 * FRAME_NS).valid  # time went back: reset
    assert detector.time_resets == 1
    for k, frame in enumerate(frames[:3]):
        detector.process(frame, k * FRAME_NS)
    assert not detector.process(blank, 3 * FRAME_NS + 5_000_000_000).valid  # 5 s gap
    assert detector.time_resets == 3  # back again to 0 s, then the gap
    for k, frame in enumerate(frames[:3]):
        detector.process(frame, k * FRAME_NS)
    detector.reset()
    assert not detector.process(blank, 4 * FRAME_NS).valid
    assert detector.time_resets == 4  # frames[0] at 0 s went back from 5.15 s; reset() is not time


def test_a_distractor_line_does_not_pull_the_tracked_boundary(drive):
    scene, frames, _ = drive
    detector = LaneDetector(scene.detector_config(), scene.camera())
    for k, frame in enumerate(frames):
        detector.process(frame, k * FRAME_NS)
    truth = scene.truth
    # the right line vanishes and a tar seam-like white line appears 0.9 m inside the lane
    distracted = render(scene.replace(right_marking='none', extra_lines=(
        (truth.right[0] + 0.9, 0.0, 0.0, 5.0, 40.0),)))
    estimate = detector.process(distracted, len(frames) * FRAME_NS)
    assert estimate.right.lateral_at(15.0) == pytest.approx(truth.right[0], abs=0.15)
    assert estimate.lateral_offset_m == pytest.approx(0.2, abs=0.08)


def test_lane_change_to_the_left_moves_the_ego_lane():
    # three lines: the new left lane's left line is an extra line 3.6 m beyond the left one
    base = RoadScene(right_marking='solid', left_marking='dashed', left_colour='white')
    detector = LaneDetector(base.detector_config(), base.camera())
    # 0.2 m per frame (4 m/s sideways at 20 Hz), then three frames at the final offset so the
    # smoothing has caught up
    offsets = np.concatenate([np.arange(0.0, 3.01, 0.2), [3.0, 3.0, 3.0]])
    for k, offset in enumerate(offsets):
        scene = base.replace(lateral_offset_m=float(offset), dash_phase_m=1.2 * k, seed=k)
        truth = scene.truth
        scene = scene.replace(extra_lines=((truth.left[0] + 3.6, 0.0, 0.0, 3.0, 45.0),))
        estimate = detector.process(render(scene), k * FRAME_NS)
    # the vehicle now drives 0.6 m right of the new lane's centre (3.0 - 3.6)
    assert estimate.valid
    assert estimate.lateral_offset_m == pytest.approx(offsets[-1] - 3.6, abs=0.1)
    assert estimate.lane_width_m == pytest.approx(3.6, abs=0.15)
