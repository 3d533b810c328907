"""Class-aware non-maximum suppression on OpenCV's implementation."""

from __future__ import annotations

import cv2
import numpy as np

from av_perception.detection.errors import DetectorError

# NMSBoxesBatched (per-class NMS) exists from OpenCV 4.7; older builds use the offset trick.
HAS_BATCHED_NMS = hasattr(cv2.dnn, 'NMSBoxesBatched')


def non_max_suppression(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                        iou_threshold: float, max_detections: int,
                        class_agnostic: bool = False,
                        use_batched: bool | None = None) -> np.ndarray:
    """Return the indices of the boxes kept, best score first, at most ``max_detections``.

    Boxes of different classes never suppress each other unless ``class_agnostic``.
    ``use_batched`` forces (True) or avoids (False) ``cv2.dnn.NMSBoxesBatched``; None picks it
    when this OpenCV has it.
    """
    # OpenCV wants (x, y, w, h); float64 keeps sub-pixel boxes exact (Rect2d). This runs on
    # a cache-cold CPU after inference, where each numpy call costs tens of microseconds:
    # the fewest calls win over anything else at these sizes.
    boxes_xywh = np.array(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    count = len(boxes_xywh)
    if len(scores) != count or len(class_ids) != count:
        raise DetectorError(f'NMS needs as many scores ({len(scores)}) and class ids '
                            f'({len(class_ids)}) as boxes ({count})')
    if count == 0 or max_detections <= 0:
        return np.zeros(0, np.int64)
    if use_batched is None:
        use_batched = HAS_BATCHED_NMS
    boxes_xywh[:, 2:] -= boxes_xywh[:, :2]
    # OpenCV keeps scores strictly above a non-negative threshold; ours were thresholded
    # already, so pass one just below the lowest (boxes scoring exactly 0 cannot be kept).
    below_all = max(0.0, float(np.nextafter(scores.min(), np.float32(-1.0))))
    if class_agnostic:
        kept = cv2.dnn.NMSBoxes(boxes_xywh, scores, below_all, float(iou_threshold))
    else:
        class_ids = np.asarray(class_ids, dtype=np.int32).reshape(-1)
        if use_batched:
            kept = cv2.dnn.NMSBoxesBatched(boxes_xywh, scores, class_ids, below_all,
                                           float(iou_threshold))
        else:
            # Shift each class to its own region so boxes of different classes cannot
            # overlap.
            span = 2.0 * float(np.abs(boxes_xywh).max()) + 1.0  # >= |x + w|, |y + h|
            shifted = boxes_xywh.copy()
            shifted[:, :2] += (class_ids.astype(np.float64) * 2.0 * span)[:, None]
            kept = cv2.dnn.NMSBoxes(shifted, scores, below_all, float(iou_threshold))
    kept = np.asarray(kept, dtype=np.int64).reshape(-1)  # (N,) in 5.x, (N, 1) in old 4.x
    # Order by score explicitly; stable so equal scores keep their input order.
    kept = kept[np.argsort(-scores[kept], kind='stable')]
    return kept[:max_detections]
