"""Vectorised decoding of YOLO-family outputs into candidate boxes (network input pixels).

Every decoder takes the model's first output as returned by ONNX Runtime and a score
threshold, and returns :class:`Candidates` before NMS. Rows whose score is NaN/inf, and rows
passing the threshold with a NaN/inf anywhere in them, are dropped and counted, never turned
into boxes (a NaN in a row that fails the threshold anyway costs nothing and is not counted:
checking the whole output would read it all once more).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import numpy as np

from av_perception.detection.errors import DetectorError

DEFAULT_STRIDES = (8, 16, 32)


class Candidates(NamedTuple):
    """Boxes that passed the score threshold, before NMS."""

    boxes_xyxy: np.ndarray  # (N, 4) float32, network input pixels
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int32
    dropped_nonfinite: int  # output rows skipped because they held NaN/inf (see above)


def yolox_grid_count(input_width: int, input_height: int,
                     strides: Sequence[int] = DEFAULT_STRIDES) -> int:
    """Return the number of YOLOX anchor points (grid cells over all strides)."""
    return sum((input_height // s) * (input_width // s) for s in strides)


@functools.lru_cache(maxsize=16)
def _yolox_anchors(input_width: int, input_height: int,
                   strides: tuple[int, ...]) -> np.ndarray:
    """Return the (N, 4) table (cell x, cell y, stride, stride / 2) of a YOLOX head, in order."""
    tables = []
    for stride in strides:
        grid_y, grid_x = np.mgrid[0:input_height // stride, 0:input_width // stride]
        tables.append(np.stack([grid_x.ravel(), grid_y.ravel(), np.full(grid_x.size, stride),
                                np.full(grid_x.size, stride / 2)], axis=1))
    anchors = np.concatenate(tables).astype(np.float32)
    anchors.setflags(write=False)
    return anchors


def yolox_grid(input_width: int, input_height: int,
               strides: tuple[int, ...] = DEFAULT_STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """Return the (N, 2) cell offsets (x, y) and (N,) strides of a YOLOX head, in output order.

    A property of the model, not of a frame: cached per input size (read-only views).
    """
    anchors = _yolox_anchors(int(input_width), int(input_height), tuple(map(int, strides)))
    return anchors[:, :2], anchors[:, 2]


def _as_rows(output: np.ndarray, fmt: str) -> np.ndarray:
    if output.ndim != 3 or output.shape[0] != 1:
        raise DetectorError(f'{fmt} output must have shape [1, ...] with 3 dimensions, got '
                            f'{list(output.shape)}')
    return output[0]


def _cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:4] * 0.5
    return np.concatenate([cxcywh[:, 0:2] - half, cxcywh[:, 0:2] + half], axis=1)


def _empty(dropped: int) -> Candidates:
    return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                      np.zeros(0, np.int32), dropped)


def _count_nonfinite_scores(scores: np.ndarray) -> int:
    """Count NaN/-inf ``scores``: the non-finite ones a ``>=`` threshold test leaves out.

    +inf passes the threshold, so it is left to the row check of the candidates.
    """
    # One reduction in the common all-finite case: min is NaN or -inf only if one is.
    if scores.size == 0 or scores.min() > -np.inf:
        return 0
    return int(np.count_nonzero(np.isnan(scores) | np.isneginf(scores)))


def _finite_candidates(scores: np.ndarray, score_threshold: float
                       ) -> tuple[np.ndarray, int]:
    """Return the indices of finite scores >= threshold and the count of non-finite scores."""
    finite = np.isfinite(scores)
    dropped = int(finite.size - np.count_nonzero(finite))
    return np.flatnonzero((scores >= score_threshold) & finite), dropped


def _with_objectness(rows: np.ndarray, score_threshold: float, fmt: str,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Shared part of the [N, 5 + classes] layouts: return kept indices, rows, scores, ids.

    Everything after the first lines works on the few rows whose objectness passes. The
    output is cache-cold after inference and every numpy call then costs tens of
    microseconds, so this does the least number of calls.
    """
    if rows.shape[1] < 6:
        raise DetectorError(f'{fmt} output rows must hold 4 box values, objectness and at '
                            f'least one class score, got shape {[1] + list(rows.shape)}')
    # score = objectness x class probability <= objectness: filter on objectness first. One
    # strided pass copies the column; comparing and the NaN check then read the copy.
    objectness = np.ascontiguousarray(rows[:, 4])
    index = np.flatnonzero(objectness >= score_threshold)
    dropped = _count_nonfinite_scores(objectness)
    kept = rows[index]
    if not np.isfinite(kept).all():
        good = np.isfinite(kept).all(axis=1)
        dropped += int(good.size - np.count_nonzero(good))
        index, kept = index[good], kept[good]
    class_ids = kept[:, 5:].argmax(axis=1)
    scores = kept[np.arange(len(kept)), class_ids + 5]
    scores *= kept[:, 4]
    passed = np.flatnonzero(scores >= score_threshold)
    return (index[passed], kept[passed], scores[passed], class_ids[passed].astype(np.int32),
            dropped)


def decode_yolox(output: np.ndarray, input_size: tuple[int, int], score_threshold: float,
                 strides: Sequence[int] = DEFAULT_STRIDES) -> Candidates:
    """Decode a raw YOLOX head output [1, N, 5 + classes].

    Per row: (dx, dy, log w, log h, objectness, class probabilities) on a stride grid;
    xy = (d + cell) * stride, wh = exp(log wh) * stride; objectness and classes are already
    sigmoid-activated (the official export).
    """
    rows = _as_rows(output, 'yolox')
    input_width, input_height = int(input_size[0]), int(input_size[1])
    anchors = _yolox_anchors(input_width, input_height, tuple(map(int, strides)))
    if rows.shape[0] != anchors.shape[0]:
        raise DetectorError(
            f'yolox output has {rows.shape[0]} rows (shape {list(output.shape)}) but a '
            f'{input_width}x{input_height} input with strides {list(strides)} has '
            f'{anchors.shape[0]} grid cells')
    index, kept, scores, class_ids, dropped = _with_objectness(rows, score_threshold, 'yolox')
    if len(index) == 0:
        return _empty(dropped)
    # cells: (cell x, cell y, stride, stride / 2) per kept row.
    cells = anchors[index]
    centre = kept[:, 0:2] + cells[:, 0:2]
    centre *= cells[:, 2:3]
    with np.errstate(over='ignore'):
        half = np.exp(kept[:, 2:4])
    half *= cells[:, 3:4]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    return _drop_nonfinite_boxes(boxes, scores, class_ids, dropped)


def decode_yolov5(output: np.ndarray, score_threshold: float) -> Candidates:
    """Decode a YOLOv5 export [1, N, 5 + classes].

    Per row: (cx, cy, w, h) in input pixels, objectness, class probabilities (all activated).
    """
    rows = _as_rows(output, 'yolov5')
    index, kept, scores, class_ids, dropped = _with_objectness(rows, score_threshold, 'yolov5')
    if len(index) == 0:
        return _empty(dropped)
    boxes = _cxcywh_to_xyxy(kept[:, 0:4])
    return _drop_nonfinite_boxes(boxes, scores, class_ids, dropped)


def decode_yolov8(output: np.ndarray, score_threshold: float) -> Candidates:
    """Decode a YOLOv8/YOLO11 export [1, 4 + classes, N].

    Per column: (cx, cy, w, h) in input pixels and class probabilities, no objectness.
    """
    columns = _as_rows(output, 'yolov8')
    if columns.shape[0] < 5:
        raise DetectorError(f'yolov8 output must hold 4 box rows and at least one class row, '
                            f'got shape {list(output.shape)}')
    class_scores = columns[4:]
    # max propagates NaN, so a column with any NaN class score is caught here.
    best = class_scores.max(axis=0)
    index, dropped = _finite_candidates(best, score_threshold)
    if len(index) == 0:
        return _empty(dropped)
    class_ids = class_scores[:, index].argmax(axis=0).astype(np.int32)
    scores = best[index]
    boxes = _cxcywh_to_xyxy(np.ascontiguousarray(columns[0:4, index].T))
    return _drop_nonfinite_boxes(boxes, scores, class_ids, dropped)


def _drop_nonfinite_boxes(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                          dropped: int) -> Candidates:
    """Drop boxes that became inf (exp overflow of a huge size logit); scores as float32."""
    if not np.isfinite(boxes).all():
        finite = np.isfinite(boxes).all(axis=1)
        dropped += int(finite.size - np.count_nonzero(finite))
        boxes, scores, class_ids = boxes[finite], scores[finite], class_ids[finite]
    return Candidates(boxes.astype(np.float32, copy=False),
                      scores.astype(np.float32, copy=False), class_ids, dropped)


def decode(output: np.ndarray, fmt: str, input_size: tuple[int, int], score_threshold: float,
           strides: Sequence[int] = DEFAULT_STRIDES) -> Candidates:
    """Decode ``output`` of a model in format ``fmt`` ('yolox', 'yolov5' or 'yolov8')."""
    if fmt == 'yolox':
        return decode_yolox(output, input_size, score_threshold, strides)
    if fmt == 'yolov5':
        return decode_yolov5(output, score_threshold)
    if fmt == 'yolov8':
        return decode_yolov8(output, score_threshold)
    raise DetectorError(f'unknown model format {fmt!r}: must be yolox, yolov5 or yolov8')
