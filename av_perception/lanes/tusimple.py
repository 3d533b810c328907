"""The TuSimple lane benchmark: its metric, its JSON-lines files, and ground truth from masks.

The metric follows the official ``lane.py`` of the TuSimple benchmark
(github.com/TuSimple/tusimple-benchmark, ``evaluate/lane.py``):

* a lane is the x of each ``h_samples`` row, -2 where absent;
* a predicted point matches when ``|x_pred - x_gt| < 20 / cos(angle)``, the angle of the ground
  truth lane from a least-squares line ``x = k y + b`` through its points; absent points
  count as -100, so absent-absent is a match and present-absent a miss; a lane's accuracy is
  matches / len(h_samples);
* each ground truth lane takes its best predicted lane; below 0.85 it is a false negative;
  predictions not matched are false positives; frames with more than 4 ground truth lanes drop
  the worst lane from the accuracy and one false negative;
* more than ``len(gt) + 2`` predicted lanes (or ``run_time`` > 200 ms) scores the frame 0.

Beyond the official script: predicted lanes that are absent on every row are dropped (a
detector reporting "no boundary" is not a false positive), and ``ego_only`` scores only the
two ego boundaries of both files (see :func:`ego_lane_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from av_perception.lanes.errors import LaneError

PIXEL_THRESHOLD = 20.0
POINT_THRESHOLD = 0.85
TUSIMPLE_HEIGHT = 720
TUSIMPLE_H_SAMPLES = tuple(range(160, 720, 10))
ABSENT = -2


def default_h_samples(image_height: int) -> list[int]:
    """Return TuSimple's rows (160..710 step 10 at 720 px) scaled to ``image_height``."""
    scale = image_height / TUSIMPLE_HEIGHT
    return [min(image_height - 1, int(round(v * scale))) for v in TUSIMPLE_H_SAMPLES]


def parse_h_samples(text: str) -> list[int]:
    """Parse ``'160,170,180'`` or ``'160:720:10'`` (start:stop:step) into rows."""
    try:
        if ':' in text:
            start, stop, step = (int(v) for v in text.split(':'))
            rows = list(range(start, stop, step))
        else:
            rows = [int(v) for v in text.split(',') if v.strip()]
    except ValueError as err:
        raise LaneError(f'h-samples {text!r}: expected comma-separated rows or '
                        f'start:stop:step') from err
    if not rows or any(r < 0 for r in rows):
        raise LaneError(f'h-samples {text!r}: needs at least one row >= 0')
    return rows


def lane_angle(xs: Sequence[float], h_samples: Sequence[float]) -> float:
    """Return the angle (rad) of the line ``x = k y + b`` fitted to a lane's present points."""
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(h_samples, dtype=np.float64)
    present = xs >= 0
    if np.count_nonzero(present) <= 1:
        return 0.0
    xs, ys = xs[present], ys[present]
    ys_centred = ys - ys.mean()
    denominator = float(np.dot(ys_centred, ys_centred))
    if denominator == 0.0:
        return 0.0
    return math.atan(float(np.dot(ys_centred, xs - xs.mean())) / denominator)


def line_accuracy(pred: Sequence[float], gt: Sequence[float], threshold: float) -> float:
    """Return the fraction of rows where prediction and ground truth agree (absent = -100)."""
    pred = np.where(np.asarray(pred, dtype=np.float64) >= 0, pred, -100.0)
    gt = np.where(np.asarray(gt, dtype=np.float64) >= 0, gt, -100.0)
    return float(np.count_nonzero(np.abs(pred - gt) < threshold)) / len(gt)


@dataclass(frozen=True)
class FrameScore:
    """Accuracy, false-positive rate and false-negative rate of one frame."""

    raw_file: str
    accuracy: float
    false_positive: float
    false_negative: float
    gt_lanes: int
    pred_lanes: int


@dataclass(frozen=True)
class TuSimpleScore:
    """The benchmark numbers over all frames (means of the per-frame rates)."""

    accuracy: float
    false_positive: float
    false_negative: float
    frames: tuple[FrameScore, ...]

    def as_official_json(self) -> str:
        """Return the official script's output format."""
        return json.dumps([
            {'name': 'Accuracy', 'value': self.accuracy, 'order': 'desc'},
            {'name': 'FP', 'value': self.false_positive, 'order': 'asc'},
            {'name': 'FN', 'value': self.false_negative, 'order': 'asc'},
        ])


def score_frame(pred_lanes: Sequence[Sequence[float]], gt_lanes: Sequence[Sequence[float]],
                h_samples: Sequence[float], run_time_ms: float | None = None,
                raw_file: str = '') -> FrameScore:
    """Score one frame as the official ``LaneEval.bench`` does."""
    for lane in list(pred_lanes) + list(gt_lanes):
        if len(lane) != len(h_samples):
            raise LaneError(f'{raw_file}: a lane has {len(lane)} points for '
                            f'{len(h_samples)} h_samples')
    pred_lanes = [lane for lane in pred_lanes if any(x >= 0 for x in lane)]
    if (run_time_ms is not None and run_time_ms > 200) or len(gt_lanes) + 2 < len(pred_lanes):
        return FrameScore(raw_file, 0.0, 0.0, 1.0, len(gt_lanes), len(pred_lanes))
    thresholds = [PIXEL_THRESHOLD / math.cos(lane_angle(gt, h_samples)) for gt in gt_lanes]
    line_accuracies = []
    false_negative = 0.0
    matched = 0.0
    for gt, threshold in zip(gt_lanes, thresholds):
        accuracies = [line_accuracy(pred, gt, threshold) for pred in pred_lanes]
        best = max(accuracies) if accuracies else 0.0
        if best < POINT_THRESHOLD:
            false_negative += 1
        else:
            matched += 1
        line_accuracies.append(best)
    false_positive = len(pred_lanes) - matched
    if len(gt_lanes) > 4 and false_negative > 0:
        false_negative -= 1
    total = sum(line_accuracies)
    if len(gt_lanes) > 4:
        total -= min(line_accuracies)
    accuracy = total / max(min(4.0, len(gt_lanes)), 1.0)
    fp_rate = false_positive / len(pred_lanes) if pred_lanes else 0.0
    fn_rate = false_negative / max(min(len(gt_lanes), 4.0), 1.0)
    return FrameScore(raw_file, accuracy, fp_rate, fn_rate, len(gt_lanes), len(pred_lanes))


def lane_bottom_x(xs: Sequence[float], h_samples: Sequence[float], bottom_row: float
                  ) -> float:
    """Return where a lane meets ``bottom_row``, extrapolating its lowest points linearly.

    A lane that leaves the image at the side (no points near the bottom) still gets a
    position: the extrapolation lies outside the image, on its own side.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(h_samples, dtype=np.float64)
    present = xs >= 0
    if not np.any(present):
        return math.nan
    xs, ys = xs[present], ys[present]
    order = np.argsort(ys)[-6:]  # the six lowest points
    if len(order) < 2 or np.ptp(ys[order]) == 0:
        return float(xs[order[-1]])
    slope, intercept = np.polyfit(ys[order], xs[order], 1)
    return float(slope * bottom_row + intercept)


def ego_lane_indices(lanes: Sequence[Sequence[float]], h_samples: Sequence[float],
                     image_width: int, image_height: int = TUSIMPLE_HEIGHT
                     ) -> tuple[int | None, int | None]:
    """Return the indices of the ego-left and ego-right lanes (None where there is none).

    The ego boundaries are the lanes that, prolonged to the image bottom, are closest to the
    image centre on its left and on its right.
    """
    centre = image_width / 2.0
    left = right = None
    left_x, right_x = -math.inf, math.inf
    for index, lane in enumerate(lanes):
        x = lane_bottom_x(lane, h_samples, image_height - 1)
        if math.isnan(x):
            continue
        if x < centre and x > left_x:
            left, left_x = index, x
        elif x >= centre and x < right_x:
            right, right_x = index, x
    return left, right


def _ego_only(lanes: Sequence[Sequence[float]], h_samples: Sequence[float],
              image_width: int) -> list[Sequence[float]]:
    left, right = ego_lane_indices(lanes, h_samples, image_width)
    return [lanes[i] for i in (left, right) if i is not None]


def read_json_lines(path: str | Path) -> list[dict[str, Any]]:
    """Read a TuSimple JSON-lines file (one object per line; blank lines ignored).

    Every object needs ``raw_file`` and ``lanes``; ground truth also ``h_samples``, which
    :func:`evaluate` checks.
    """
    path = Path(path)
    records = []
    try:
        with path.open() as stream:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise LaneError(f'{path}:{number}: not JSON: {err}') from err
                if not isinstance(record, dict):
                    raise LaneError(f'{path}:{number}: expected an object, got {record!r:.60}')
                for key in ('raw_file', 'lanes'):
                    if key not in record:
                        raise LaneError(f'{path}:{number}: missing {key!r}')
                records.append(record)
    except OSError as err:
        raise LaneError(f'cannot read {path}: {err}') from err
    return records


def write_json_lines(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Write records as JSON lines."""
    try:
        with Path(path).open('w') as stream:
            for record in records:
                stream.write(json.dumps(record) + '\n')
    except OSError as err:
        raise LaneError(f'cannot write {path}: {err}') from err


def _match_key(raw_file: str) -> tuple[str, ...]:
    return tuple(part for part in os.path.normpath(raw_file).replace('\\', '/').split('/')
                 if part not in ('', '.'))


def match_records(pred: Sequence[dict], gt: Sequence[dict]) -> list[tuple[dict, dict]]:
    """Pair prediction and ground truth records by ``raw_file``.

    Exact names first; otherwise a name matches when one path ends with the other (so
    ``image/0000.png`` matches ``/data/set/image/0000.png``). Every ground truth frame needs
    exactly one prediction, as in the official script.
    """
    by_name = {}
    for record in pred:
        name = record['raw_file']
        if name in by_name:
            raise LaneError(f'prediction for {name!r} appears twice')
        by_name[name] = record
    keys = {name: _match_key(name) for name in by_name}
    pairs = []
    missing = []
    used = set()
    for truth in gt:
        name = truth['raw_file']
        match = by_name.get(name)
        if match is None:
            key = _match_key(name)
            candidates = [n for n, k in keys.items() if k and key and (
                k[-len(key):] == key or key[-len(k):] == k)]
            if len(candidates) > 1:
                raise LaneError(f'ground truth {name!r} matches several predictions: '
                                f'{candidates[:4]}')
            match = by_name[candidates[0]] if candidates else None
        if match is None:
            missing.append(name)
            continue
        if id(match) in used:
            raise LaneError(f'prediction {match["raw_file"]!r} matches several ground truth '
                            'frames')
        used.add(id(match))
        pairs.append((match, truth))
    if missing:
        raise LaneError(f'no prediction for {len(missing)} of {len(gt)} ground truth frames, '
                        f'e.g. {missing[:3]}')
    return pairs


def evaluate(pred: Sequence[dict], gt: Sequence[dict], ego_only: bool = False,
             image_width: int = 1280) -> TuSimpleScore:
    """Score prediction records against ground truth records (TuSimple JSON objects)."""
    if not gt:
        raise LaneError('the ground truth holds no frames')
    frames = []
    for prediction, truth in match_records(pred, gt):
        h_samples = truth.get('h_samples')
        if not h_samples:
            raise LaneError(f'ground truth {truth["raw_file"]!r} has no h_samples')
        pred_lanes = prediction['lanes']
        gt_lanes = truth['lanes']
        if ego_only:
            gt_lanes = _ego_only(gt_lanes, h_samples, image_width)
            pred_lanes = _ego_only(pred_lanes, h_samples, image_width)
        frames.append(score_frame(pred_lanes, gt_lanes, h_samples, prediction.get('run_time'),
                                  truth['raw_file']))
    count = len(frames)
    return TuSimpleScore(sum(f.accuracy for f in frames) / count,
                         sum(f.false_positive for f in frames) / count,
                         sum(f.false_negative for f in frames) / count, tuple(frames))


def lanes_from_instance_mask(mask: np.ndarray, h_samples: Sequence[int],
                             min_points: int = 2) -> list[list[int]]:
    """Return TuSimple lanes (x per h_sample row, -2 absent) from an instance mask.

    ``mask`` holds one grey level per lane (0 background), as TuSimple-derived
    ``gt_instance_image`` files do. A lane's x at a row is the mean column of its pixels
    there. Lanes with fewer than ``min_points`` rows are dropped; the rest are ordered left to
    right by where they meet the image bottom.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise LaneError(f'instance mask must be a 2-D array, got '
                        f'{getattr(mask, "shape", type(mask).__name__)}')
    height = mask.shape[0]
    rows = [int(r) for r in h_samples]
    if any(r < 0 or r >= height for r in rows):
        raise LaneError(f'h_samples {rows[0]}..{rows[-1]} exceed the mask height {height}')
    sampled = mask[rows]
    lanes = []
    for level in np.unique(sampled):
        if level == 0:
            continue
        xs = []
        for row in sampled:
            cols = np.flatnonzero(row == level)
            xs.append(int(round(float(cols.mean()))) if len(cols) else ABSENT)
        if sum(x >= 0 for x in xs) >= min_points:
            lanes.append(xs)
    lanes.sort(key=lambda lane: lane_bottom_x(lane, rows, height - 1))
    return lanes
