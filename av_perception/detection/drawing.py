"""Debug overlays: detections drawn on a copy of the image."""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from av_perception.detection.results import Detection

# Distinct, readable BGR colours; a class always gets the same one.
_PALETTE = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
            (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
            (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
            (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255))


def class_colour(class_id: int) -> tuple[int, int, int]:
    """Return the BGR colour used for ``class_id``."""
    return _PALETTE[class_id % len(_PALETTE)]


def draw_detections(image: np.ndarray, detections: Iterable[Detection]) -> np.ndarray:
    """Return a copy of BGR ``image`` with boxes and 'name score #track' labels drawn."""
    canvas = image.copy()
    scale = max(0.4, min(canvas.shape[:2]) / 1000.0)
    thickness = max(1, int(round(scale * 2)))
    for det in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in det.bbox_xyxy)
        colour = class_colour(det.class_id)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = f'{det.class_name} {det.score:.2f}'
        if det.track_id is not None:
            label += f' #{det.track_id}'
        (width, height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                                    thickness)
        top = y1 - height - baseline if y1 - height - baseline >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + width, top + height + baseline), colour, -1)
        cv2.putText(canvas, label, (x1, top + height), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas
