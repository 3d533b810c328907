"""Scores of a replay against the ground truth stored in a bag (pure numpy, no ROS).

* detections: greedy one-to-one matching at IoU >= 0.5 (same class unless ``class_agnostic``),
  recall and precision over all frames;
* lanes: for every frame with a ground-truth centre line, the lateral distance between the
  detected and the true centre line at fixed look-ahead distances; a frame counts as correct
  when every sampled point is within the tolerance (the metric analogue of TuSimple accuracy);
* steering: RMSE of the commanded steering angle against the expert's.
* latency: percentiles per node and end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Iterable, Mapping, Sequence

import numpy as np

LANE_LOOKAHEAD_M = (5.0, 10.0, 15.0, 20.0)
LANE_TOLERANCE_M = 0.2


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Return the intersection over union of two (x1, y1, x2, y2) boxes."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Box:
    """A labelled box: class id and (x1, y1, x2, y2) in pixels."""

    class_id: int
    xyxy: tuple[float, float, float, float]


@dataclass
class DetectionScore:
    """Counts of true positives, false positives and misses over a replay."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def add_frame(self, predicted: Sequence[Box], truth: Sequence[Box],
                  iou_threshold: float = 0.5, class_agnostic: bool = False,
                  ignored: Sequence[Box] = ()) -> None:
        """Match one frame greedily by IoU (highest first) and accumulate the counts.

        ``ignored`` truth boxes (too small or too occluded to be required) count neither
        way: a prediction that matches one is not a false positive, missing one is no miss.
        """
        matched_p, matched_t = _greedy_match(predicted, truth, iou_threshold, class_agnostic)
        unmatched = [p for i, p in enumerate(predicted) if i not in matched_p]
        # a "don't care" region excuses every prediction on it, whatever its class
        excused = sum(1 for p in unmatched
                      if any(box_iou(p.xyxy, box.xyxy) >= iou_threshold for box in ignored))
        self.true_positives += len(matched_p)
        self.false_positives += len(unmatched) - excused
        self.false_negatives += len(truth) - len(matched_t)

    @property
    def recall(self) -> float:
        """Return matched truths / all truths (NaN without truths)."""
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else math.nan

    @property
    def precision(self) -> float:
        """Return matched predictions / all predictions (NaN without predictions)."""
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else math.nan


def _greedy_match(predicted: Sequence[Box], truth: Sequence[Box], iou_threshold: float,
                  class_agnostic: bool) -> tuple[set[int], set[int]]:
    pairs = []
    for i, p in enumerate(predicted):
        for j, t in enumerate(truth):
            if class_agnostic or p.class_id == t.class_id:
                iou = box_iou(p.xyxy, t.xyxy)
                if iou >= iou_threshold:
                    pairs.append((iou, i, j))
    used_p: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return used_p, used_t


# COCO car, bus and truck are one "vehicle" class for scoring: a box truck called a bus or a
# pick-up called a truck is still the right object in the right place.
VEHICLE_CLASSES = (2, 5, 7)
VEHICLE = 2


def scoring_class(class_id: int) -> int:
    """Return the class a box is scored as (vehicle classes merged)."""
    return VEHICLE if class_id in VEHICLE_CLASSES else class_id


def split_by_height(boxes: Sequence[Box], min_height_px: float) -> tuple[list[Box], list[Box]]:
    """Return (boxes at least ``min_height_px`` tall, the smaller ones), classes merged."""
    large, small = [], []
    for box in boxes:
        merged = Box(scoring_class(box.class_id), box.xyxy)
        (large if box.xyxy[3] - box.xyxy[1] >= min_height_px else small).append(merged)
    return large, small


def lateral_at(points_xy: np.ndarray, x_m: float) -> float:
    """Return y of a polyline (x forward, y left) at forward distance ``x_m``; NaN outside."""
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if len(points) < 2:
        return math.nan
    order = np.argsort(points[:, 0])
    xs, ys = points[order, 0], points[order, 1]
    if x_m < xs[0] or x_m > xs[-1]:
        return math.nan
    return float(np.interp(x_m, xs, ys))


@dataclass
class LaneScore:
    """Per-frame centre-line agreement with the ground truth."""

    frames: int = 0
    correct: int = 0
    missing: int = 0
    offset_errors: list[float] | None = None

    def add_frame(self, predicted_xy: np.ndarray | None, truth_xy: np.ndarray,
                  lookahead_m: Sequence[float] = LANE_LOOKAHEAD_M,
                  tolerance_m: float = LANE_TOLERANCE_M) -> None:
        """Score one frame; a frame without a detected centre line counts as missing."""
        if self.offset_errors is None:
            self.offset_errors = []
        self.frames += 1
        if predicted_xy is None or len(predicted_xy) < 2:
            self.missing += 1
            return
        errors = []
        for x in lookahead_m:
            truth, predicted = lateral_at(truth_xy, x), lateral_at(predicted_xy, x)
            if math.isnan(truth):
                continue
            errors.append(abs(predicted - truth) if not math.isnan(predicted) else math.inf)
        if errors and max(errors) <= tolerance_m:
            self.correct += 1
        # the lateral error at the nearest distance both lines cover
        nearest = max(0.0, float(np.min(truth_xy[:, 0])), float(np.min(predicted_xy[:, 0])))
        offset_truth = lateral_at(truth_xy, nearest)
        offset_pred = lateral_at(predicted_xy, nearest)
        if not (math.isnan(offset_truth) or math.isnan(offset_pred)):
            self.offset_errors.append(abs(offset_truth - offset_pred))

    @property
    def accuracy(self) -> float:
        """Return correct frames / frames with ground truth (NaN without any)."""
        return self.correct / self.frames if self.frames else math.nan

    @property
    def median_offset_error_m(self) -> float:
        """Return the median |centre-line lateral error| at the nearest common point."""
        return float(np.median(self.offset_errors)) if self.offset_errors else math.nan


def rmse(predicted: Iterable[float], truth: Iterable[float]) -> float:
    """Return the root mean square error of paired values (NaN when empty)."""
    p, t = np.asarray(list(predicted), float), np.asarray(list(truth), float)
    if p.size == 0:
        return math.nan
    return float(np.sqrt(np.mean((p - t) ** 2)))


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95)) -> dict[str, float]:
    """Return ``{'p50': ..., 'p95': ...}`` of ``values`` (NaN when empty)."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], float)
    return {f'p{int(q)}': float(np.percentile(array, q)) if array.size else math.nan for q in qs}


def finite_or_none(document: Mapping) -> dict:
    """Return a JSON-safe copy of a nested dict: NaN and inf become None."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return clean(document)
