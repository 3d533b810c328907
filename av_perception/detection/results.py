"""Frozen result types of the detector: one detection, one frame's result, stage timings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Detection:
    """One detected object, its box in original image pixels (x1, y1, x2, y2)."""

    class_id: int
    class_name: str
    score: float
    bbox_xyxy: tuple[float, float, float, float]
    track_id: int | None = None

    @property
    def center_size(self) -> tuple[float, float, float, float]:
        """Return the box as (centre x, centre y, width, height), as vision_msgs wants it."""
        x1, y1, x2, y2 = self.bbox_xyxy
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1

    def with_track_id(self, track_id: int | None) -> Detection:
        """Return a copy carrying ``track_id``."""
        return dataclasses.replace(self, track_id=track_id)

    def to_json(self, decimals: int = 2) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``detect`` command's per-detection object)."""
        out: dict[str, Any] = {
            'class_id': self.class_id,
            'class_name': self.class_name,
            'score': round(self.score, 4),
            'bbox_xyxy': [round(v, decimals) for v in self.bbox_xyxy],
        }
        if self.track_id is not None:
            out['track_id'] = self.track_id
        return out


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each stage of one :meth:`Detector.detect` call, in milliseconds."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        """Return the sum of the stages."""
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True)
class DetectionResult:
    """Everything one frame produced.

    ``dropped_nonfinite`` counts output rows the model filled with NaN/inf; they are never
    turned into boxes.
    """

    detections: tuple[Detection, ...]
    timings: StageTimings
    image_width: int
    image_height: int
    dropped_nonfinite: int = 0
