"""Temporal smoothing of one lane boundary with outlier rejection.

Without odometry the road is assumed to move little between frames (20-30 Hz), so a track
predicts "same polynomial as before". A new fit that lies far from the track is an outlier
(a car edge, a tar seam, the next lane's line) and is ignored, unless such fits persist for
``max_outliers`` frames, which means the road really changed (lane change, re-acquisition).
"""

from __future__ import annotations

from dataclasses import dataclass
import enum

import numpy as np

from av_perception.lanes.fitting import BoundaryFit

_DEVIATION_STEPS = tuple(np.linspace(0.0, 1.0, 12).tolist())  # where deviation_m compares


class TrackUpdate(enum.Enum):
    """What one update did to a track."""

    STARTED = 'started'
    UPDATED = 'updated'
    OUTLIER = 'outlier'
    MISSED = 'missed'
    LOST = 'lost'
    EMPTY = 'empty'


@dataclass(frozen=True)
class TrackingParameters:
    """The tracking part of the detector configuration."""

    smoothing: float
    outlier_threshold_m: float
    max_outliers: int
    max_missed_frames: int
    miss_confidence_decay: float = 0.75


class BoundaryTrack:
    """The smoothed polynomial of one boundary and how much it is trusted (0-1)."""

    def __init__(self, params: TrackingParameters) -> None:
        """Start empty."""
        self.params = params
        self.coefficients: np.ndarray | None = None
        self.confidence = 0.0
        self.x_min_m = 0.0
        self.x_max_m = 0.0
        self.missed = 0
        self.outliers = 0

    @property
    def active(self) -> bool:
        """Return True while the track holds a boundary."""
        return self.coefficients is not None

    def reset(self) -> None:
        """Forget the boundary."""
        self.coefficients = None
        self.confidence = 0.0
        self.missed = 0
        self.outliers = 0

    def take_over(self, other: 'BoundaryTrack') -> None:
        """Copy another track's state (the boundary changed sides after a lane change)."""
        self.coefficients = None if other.coefficients is None else other.coefficients.copy()
        self.confidence = other.confidence
        self.x_min_m, self.x_max_m = other.x_min_m, other.x_max_m
        self.missed, self.outliers = other.missed, other.outliers

    def deviation_m(self, fit: BoundaryFit) -> float:
        """Return the mean lateral distance between the track and a fit over the fit's range."""
        if self.coefficients is None:
            return float('inf')
        lo = fit.x_min_m
        length = max(fit.x_max_m, lo + 1.0) - lo
        # Twelve points in plain floats: numpy's per-call cost exceeds the arithmetic.
        d0, d1, d2 = (a - b for a, b in zip(self.coefficients.tolist(), fit.coefficients))
        total = 0.0
        for step in _DEVIATION_STEPS:
            x = lo + length * step
            total += abs(d0 + d1 * x + d2 * (x * x))
        return total / len(_DEVIATION_STEPS)

    def update(self, fit: BoundaryFit | None) -> TrackUpdate:
        """Fold one frame's fit (or its absence) into the track."""
        params = self.params
        if fit is None:
            return self._miss()
        quality = fit.quality
        new = np.array(fit.coefficients, dtype=np.float64)
        if self.coefficients is None:
            self.coefficients = new
            self.confidence = quality
            self.x_min_m, self.x_max_m = fit.x_min_m, fit.x_max_m
            self.missed = self.outliers = 0
            return TrackUpdate.STARTED
        if self.deviation_m(fit) > params.outlier_threshold_m:
            self.outliers += 1
            if self.outliers < params.max_outliers:
                self._miss()
                return TrackUpdate.OUTLIER
            # The "outliers" persist: the road changed; restart from the new fit.
            self.coefficients = new
            self.confidence = 0.5 * quality
            self.x_min_m, self.x_max_m = fit.x_min_m, fit.x_max_m
            self.missed = self.outliers = 0
            return TrackUpdate.STARTED
        weight = params.smoothing * (0.5 + 0.5 * quality)
        if self.missed:
            # After a gap the old state is stale: lean on the measurement.
            weight = max(weight, 0.7)
        self.coefficients = (1.0 - weight) * self.coefficients + weight * new
        self.confidence = 0.6 * self.confidence + 0.4 * quality
        self.x_min_m = (1.0 - weight) * self.x_min_m + weight * fit.x_min_m
        self.x_max_m = (1.0 - weight) * self.x_max_m + weight * fit.x_max_m
        self.missed = self.outliers = 0
        return TrackUpdate.UPDATED

    def _miss(self) -> TrackUpdate:
        if self.coefficients is None:
            return TrackUpdate.EMPTY
        self.missed += 1
        self.confidence *= self.params.miss_confidence_decay
        if self.missed > self.params.max_missed_frames:
            self.reset()
            return TrackUpdate.LOST
        return TrackUpdate.MISSED
