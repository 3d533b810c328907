"""Multi-object tracking by IoU and constant velocity, with ByteTrack-style association.

Each frame: predict every track's box from its last observation and velocity; match
high-score detections to confirmed tracks, then low-score detections to the tracks still
unmatched that were seen last frame (ByteTrack's second stage recovers occluded objects whose
score dropped), then the remaining high-score detections to tentative tracks. Unmatched
high-score detections start tentative tracks, which get an id after ``track_min_hits``
consecutive matches; tracks unseen for more than ``track_max_age`` frames are dropped.

Assignment is greedy by descending IoU, not Hungarian: with IoU costs and the few objects of
a camera frame the two rarely differ, and greedy needs no scipy (ByteTrack-lite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from av_perception.detection.config import TrackerConfig
from av_perception.detection.results import Detection


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Return the (len(a), len(b)) IoU of two sets of xyxy boxes."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0,
                     None)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pair rows with columns by descending IoU, each at most once, IoU >= ``threshold``."""
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind='stable')
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


@dataclass(eq=False)  # identity comparison: tracks are looked up with `in`
class _Track:
    """Mutable state of one track (internal)."""

    box: np.ndarray  # last observed xyxy box
    velocity: np.ndarray  # xyxy change per time unit
    class_id: int
    last_seen: float  # tracker clock of the last observation
    hits: int = 1  # consecutive matched frames
    misses: int = 0  # consecutive unmatched frames
    track_id: int | None = None  # assigned once confirmed

    def predicted(self, now: float) -> np.ndarray:
        return self.box + self.velocity * (now - self.last_seen)


class Tracker:
    """Gives detections stable track ids across frames (see the module docstring)."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        """Start with no tracks."""
        self._config = config
        self.reset()

    @classmethod
    def from_config(cls, config: TrackerConfig) -> Tracker:
        """Return a tracker using the ``track_*`` fields of ``config``."""
        return cls(config)

    def reconfigure(self, config: TrackerConfig) -> None:
        """Use new settings from the next update on, keeping the current tracks."""
        self._config = config

    def reset(self) -> None:
        """Forget every track and restart ids at 1 (e.g. after a jump in the input)."""
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._clock = 0.0
        self._last_stamp_ns: int | None = None

    @property
    def confirmed_track_count(self) -> int:
        """Return how many tracks currently hold an id (seen recently or coasting)."""
        return sum(1 for t in self._tracks if t.track_id is not None)

    def update(self, detections: Sequence[Detection],
               stamp_ns: int | None = None) -> tuple[Detection, ...]:
        """Associate one frame's detections; return them, in order, with ``track_id`` set.

        Detections that belong to no confirmed track keep ``track_id=None``. With
        ``stamp_ns`` velocities are per second, so dropped frames are extrapolated correctly;
        without it every call is one time unit.
        """
        self._advance_clock(stamp_ns)
        cfg = self._config
        now = self._clock
        boxes = np.array([d.bbox_xyxy for d in detections], np.float64).reshape(-1, 4)
        scores = np.array([d.score for d in detections], np.float64)
        classes = np.array([d.class_id for d in detections], np.int64)
        high = np.flatnonzero(scores >= cfg.track_high_score)
        low = np.flatnonzero((scores >= cfg.track_low_score) & (scores < cfg.track_high_score))

        confirmed = [t for t in self._tracks if t.track_id is not None]
        tentative = [t for t in self._tracks if t.track_id is None]
        assigned: dict[int, _Track] = {}

        # Stage 1: confirmed tracks (coasting ones too) against high-score detections.
        unmatched_high = self._associate(confirmed, high, boxes, classes, now,
                                         cfg.track_match_iou, assigned)
        # Stage 2: tracks seen last frame and still unmatched against low-score detections.
        recent = [t for t in confirmed if t.misses == 0 and t not in assigned.values()]
        self._associate(recent, low, boxes, classes, now, cfg.track_low_match_iou, assigned)
        # Stage 3: tentative tracks against the remaining high-score detections.
        unmatched_high = self._associate(tentative, unmatched_high, boxes, classes, now,
                                         cfg.track_match_iou, assigned)

        matched_tracks = {id(t) for t in assigned.values()}
        for det_index, track in assigned.items():
            self._observe(track, boxes[det_index], now)
        survivors = []
        for track in self._tracks:
            if id(track) in matched_tracks:
                survivors.append(track)
            elif track.track_id is not None:
                track.misses += 1
                track.hits = 0
                if track.misses <= cfg.track_max_age:
                    survivors.append(track)
            # An unconfirmed track missed once is dropped: it was probably a false positive.
        for det_index in unmatched_high:
            track = _Track(box=boxes[det_index].copy(), velocity=np.zeros(4),
                           class_id=int(classes[det_index]), last_seen=now)
            self._confirm_if_ready(track)
            survivors.append(track)
            assigned[int(det_index)] = track
        self._tracks = survivors

        out = []
        for index, detection in enumerate(detections):
            track = assigned.get(index)
            track_id = track.track_id if track is not None else None
            out.append(detection if detection.track_id == track_id
                       else detection.with_track_id(track_id))
        return tuple(out)

    def _advance_clock(self, stamp_ns: int | None) -> None:
        if stamp_ns is None:
            self._clock += 1.0
            return
        if self._last_stamp_ns is not None:
            # A repeated or out-of-order stamp must not run motion backwards.
            self._clock += max(stamp_ns - self._last_stamp_ns, 0) * 1e-9
        self._last_stamp_ns = stamp_ns

    def _associate(self, tracks: list[_Track], det_indices: np.ndarray, boxes: np.ndarray,
                   classes: np.ndarray, now: float, threshold: float,
                   assigned: dict[int, _Track]) -> np.ndarray:
        """Match ``tracks`` to detections ``det_indices``; return the unmatched indices."""
        det_indices = np.asarray(det_indices, np.int64)
        if not tracks or len(det_indices) == 0:
            return det_indices
        predicted = np.array([t.predicted(now) for t in tracks])
        iou = iou_matrix(predicted, boxes[det_indices])
        if self._config.track_class_aware:
            track_classes = np.array([t.class_id for t in tracks])
            iou = np.where(track_classes[:, None] == classes[det_indices][None, :], iou, 0.0)
        taken = set()
        for row, col in greedy_match(iou, max(threshold, 1e-9)):
            assigned[int(det_indices[col])] = tracks[row]
            taken.add(col)
        return np.array([d for k, d in enumerate(det_indices) if k not in taken], np.int64)

    def _observe(self, track: _Track, box: np.ndarray, now: float) -> None:
        elapsed = now - track.last_seen
        if elapsed > 0:
            observed = (box - track.box) / elapsed
            weight = self._config.track_velocity_smoothing
            # The first velocity of a track is observed, not smoothed towards zero.
            if track.hits == 1 and track.misses == 0 and not track.velocity.any():
                track.velocity = observed * (1.0 if weight > 0 else 0.0)
            else:
                track.velocity = weight * observed + (1.0 - weight) * track.velocity
        track.box = box.copy()
        track.last_seen = now
        track.hits += 1
        track.misses = 0
        self._confirm_if_ready(track)

    def _confirm_if_ready(self, track: _Track) -> None:
        if track.track_id is None and track.hits >= self._config.track_min_hits:
            track.track_id = self._next_id
            self._next_id += 1
