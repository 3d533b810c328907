"""Results of the lane detector: frozen dataclasses with read-only arrays."""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np

_NAN3 = (math.nan, math.nan, math.nan)
ABSENT = -2  # TuSimple's "no lane at this row"


def _frozen(array: np.ndarray | None, columns: int = 2) -> np.ndarray:
    out = np.zeros((0, columns)) if array is None else np.array(array, dtype=np.float64)
    out = out.reshape(-1, columns)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class LaneCurve:
    """One lane boundary or the centre line.

    ``coefficients`` (c0, c1, c2) give ``y = c0 + c1 x + c2 x^2`` in the vehicle frame
    (metres, x forward, y left); ``points_m`` samples it over ``x_range_m``; ``points_px`` is
    the same curve in input-image pixels (u, v), near to far, possibly extended towards the
    vanishing point. ``inferred`` marks a boundary not seen but placed from the other one and
    the lane width. ``valid`` is ``confidence >= min_confidence`` of the detector.
    """

    coefficients: tuple[float, float, float] = _NAN3
    x_range_m: tuple[float, float] = (math.nan, math.nan)
    points_m: np.ndarray = None  # type: ignore[assignment]
    points_px: np.ndarray = None  # type: ignore[assignment]
    confidence: float = 0.0
    valid: bool = False
    inferred: bool = False

    def __post_init__(self) -> None:
        """Freeze the point arrays."""
        object.__setattr__(self, 'points_m', _frozen(self.points_m))
        object.__setattr__(self, 'points_px', _frozen(self.points_px))
        object.__setattr__(self, 'coefficients', tuple(float(c) for c in self.coefficients))

    @classmethod
    def from_owned(cls, coefficients: tuple[float, float, float],
                   x_range_m: tuple[float, float], points_m: np.ndarray, points_px: np.ndarray,
                   confidence: float, valid: bool, inferred: bool) -> 'LaneCurve':
        """Build from arrays nothing else refers to, freezing them in place (no copies).

        For the detector, which makes new float64 (N, 2) arrays every frame: the checks and
        copies of the ordinary constructor are most of its cost there. ``coefficients`` must
        be three floats.
        """
        points_m.flags.writeable = False
        points_px.flags.writeable = False
        curve = object.__new__(cls)
        curve.__dict__.update(coefficients=coefficients, x_range_m=x_range_m,
                              points_m=points_m, points_px=points_px, confidence=confidence,
                              valid=valid, inferred=inferred)
        return curve

    @property
    def present(self) -> bool:
        """Return True when the curve has a polynomial (valid or not)."""
        return not math.isnan(self.coefficients[0])

    def lateral_at(self, x_m: float | np.ndarray) -> float | np.ndarray:
        """Return y (m) at forward distance(s) ``x_m`` (NaN when absent)."""
        c0, c1, c2 = self.coefficients
        return c0 + c1 * x_m + c2 * np.square(x_m)

    def heading_at(self, x_m: float) -> float:
        """Return the curve direction (rad, positive to the left) at ``x_m``."""
        _, c1, c2 = self.coefficients
        return math.atan(c1 + 2.0 * c2 * x_m)

    def curvature_at(self, x_m: float) -> float:
        """Return the signed curvature (1/m, positive turning left) at ``x_m``."""
        _, c1, c2 = self.coefficients
        slope = c1 + 2.0 * c2 * x_m
        return 2.0 * c2 / (1.0 + slope * slope) ** 1.5

    def x_at_rows(self, rows: Sequence[float], image_width: int) -> np.ndarray:
        """Return the image column at each of ``rows`` (TuSimple style), -2 where absent.

        Columns are interpolated along ``points_px``; rows outside the curve's pixel extent
        and columns outside ``[0, image_width)`` are absent.
        """
        rows = np.asarray(rows, dtype=np.float64)
        out = np.full(len(rows), float(ABSENT))
        pts = self.points_px
        if len(pts) < 2:
            return out
        order = np.argsort(pts[:, 1], kind='stable')
        v, u = pts[order, 1], pts[order, 0]
        inside = (rows >= v[0]) & (rows <= v[-1])
        cols = np.interp(rows[inside], v, u)
        cols[(cols < 0) | (cols >= image_width)] = ABSENT
        out[inside] = cols
        return out


@dataclass(frozen=True, eq=False)
class LaneEstimate:
    """Everything the detector knows about the ego lane in one frame.

    ``lateral_offset_m``: the vehicle origin's distance from the lane centre line, positive
    when the vehicle is left of the centre. ``heading_error_rad``: angle from the lane
    direction to the vehicle's x axis, positive when the vehicle points left of the lane.
    ``curvature_per_m``: of the centre line at the vehicle, positive for a left turn.
    All three refer to the vehicle origin (x = 0) and are NaN when ``valid`` is False.
    ``pitch_offset_rad``: the road pitch relative to the configured camera pitch, estimated
    from lane parallelism (positive: the camera looks further down than configured).
    """

    stamp_ns: int
    image_size: tuple[int, int]
    left: LaneCurve
    right: LaneCurve
    center: LaneCurve
    lateral_offset_m: float
    heading_error_rad: float
    curvature_per_m: float
    lane_width_m: float
    valid: bool
    pitch_offset_rad: float = 0.0

    @property
    def confidence(self) -> float:
        """Return the confidence of the lane as a whole (the weaker boundary's)."""
        return min(self.left.confidence, self.right.confidence)

    def ego_rows(self, rows: Sequence[float]) -> list[list[float]]:
        """Return [left x at rows, right x at rows] in image pixels (-2 where absent).

        Boundaries that are not ``valid`` are all -2.
        """
        width = self.image_size[0]
        out = []
        for curve in (self.left, self.right):
            if curve.valid:
                out.append([round(float(x), 1) for x in curve.x_at_rows(rows, width)])
            else:
                out.append([float(ABSENT)] * len(rows))
        return out
