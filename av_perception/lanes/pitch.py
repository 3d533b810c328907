"""Online pitch correction from lane parallelism.

Braking, bumps, load and road slope change the camera pitch relative to the road by a degree
or more (the TuSimple frames' horizons differ by ~27 rows). With a wrong pitch the two lane
boundaries, parallel on the road, converge or diverge in the bird's-eye view, which breaks
width and parallelism checks and bends the fits.

A pitch error does not need a new warp: it rotates every viewing ray about the camera's
lateral axis, so the true road point of a view point follows from rotating its ray and
intersecting it with the road again. :func:`correct_ground_points` does that for the marking
pixels already extracted, and :func:`estimate_pitch_offset` finds the offset that makes the
two boundaries parallel.
"""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=64)
def _pitch_homography(offset_rad: float, yaw_rad: float,
                      camera_xyz: tuple[float, float, float]) -> np.ndarray:
    """Return the 3x3 road-plane homography of :func:`correct_ground_points` (read-only).

    Rotating a viewing ray and intersecting it with the road again is a projective map of the
    road plane: ``(x', y', w) = H (x, y, 1)``, the point valid where ``w > 1e-9`` (``w`` is
    the negated vertical component of the rotated ray, so ``w > 0`` means it meets the road).
    """
    cx, cy, height = camera_xyz
    c, s = math.cos(offset_rad), math.sin(offset_rad)
    cos_yaw, sin_yaw = math.cos(yaw_rad), math.sin(yaw_rad)
    # R = Rz(yaw) Ry(offset) Rz(yaw)^T, the view-ray to true-ray rotation (vehicle frame),
    # written out: numpy's per-call cost is ten times this arithmetic.
    rotation = ((cos_yaw * cos_yaw * c + sin_yaw * sin_yaw, cos_yaw * sin_yaw * (c - 1.0),
                 cos_yaw * s),
                (sin_yaw * cos_yaw * (c - 1.0), sin_yaw * sin_yaw * c + cos_yaw * cos_yaw,
                 sin_yaw * s),
                (-s * cos_yaw, -s * sin_yaw, c))
    # ray = R (x - cx, y - cy, -height): (r0 x + r1 y + r2') per component; w = -ray_z > 0
    # where the ray meets the road, and the road point is (cx, cy) + height * ray_xy / w.
    (a0, a1, a2), (b0, b1, b2), (d0, d1, d2) = (
        (r0, r1, -(r0 * cx + r1 * cy + r2 * height)) for r0, r1, r2 in rotation)
    w0, w1, w2 = -d0, -d1, -d2
    homography = np.array([[cx * w0 + height * a0, cx * w1 + height * a1, cx * w2 + height * a2],
                           [cy * w0 + height * b0, cy * w1 + height * b1, cy * w2 + height * b2],
                           [w0, w1, w2]])
    homography.flags.writeable = False
    return homography


def pitch_homography(offset_rad: float, yaw_rad: float,
                     camera_xyz: tuple[float, float, float]) -> np.ndarray:
    """Return H with ``correct_ground_points`` = ``(H p)[:2] / (H p)[2]``, valid where > 1e-9.

    ``p = (x, y, 1)`` is a view point. For composing the correction with other projective
    maps (the camera projection) so that both cost one matrix product.
    """
    return _pitch_homography(float(offset_rad), float(yaw_rad),
                             tuple(float(v) for v in camera_xyz))


def correct_ground_points(xs: np.ndarray, ys: np.ndarray, offset_rad: float, yaw_rad: float,
                          camera_xyz: tuple[float, float, float]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Map road points seen with the assumed pitch to where they are if pitch is ``+offset``.

    A positive offset (camera looks further down than assumed) brings points nearer. Points
    whose corrected ray no longer meets the road come back as NaN. The inverse map is the
    same call with ``-offset_rad``.
    """
    if offset_rad == 0.0:
        return xs, ys
    homography = _pitch_homography(offset_rad, yaw_rad, camera_xyz)
    xs = np.asarray(xs, dtype=np.float64)
    shape = xs.shape
    points = np.vstack((xs.ravel(), np.asarray(ys, dtype=np.float64).ravel()))
    # One (3, 2) x (2, N) product instead of a dozen elementwise passes.
    mapped = homography[:, :2] @ points
    mapped += homography[:, 2:]
    w = mapped[2]
    # Rays at or above the horizon never meet the road: NaN (without a division warning).
    inverse = np.full_like(w, np.nan)
    np.divide(1.0, w, out=inverse, where=w > 1e-9)
    mapped[:2] *= inverse
    return mapped[0].reshape(shape), mapped[1].reshape(shape)


def _divergences(selections: list[tuple[np.ndarray, np.ndarray]], offsets: list[float],
                 yaw_rad: float, camera_xyz: tuple[float, float, float]) -> list[float]:
    """Return the left minus the right slope of the pitch-corrected points, for each offset.

    All offsets and both sides in one pass (per-call overhead, not arithmetic, is what costs
    for the few points here). NaN for an offset that leaves a side with fewer than three
    points on the road.
    """
    (left_x, left_y), (right_x, right_y) = selections
    split = len(left_x)
    points = np.vstack((np.concatenate((left_x, right_x)), np.concatenate((left_y, right_y))))
    homographies = np.array([_pitch_homography(o, yaw_rad, camera_xyz) for o in offsets])
    mapped = homographies[:, :, :2] @ points  # (offsets, 3, N)
    mapped += homographies[:, :, 2:]
    valid = mapped[:, 2] > 1e-9
    inverse = np.zeros_like(mapped[:, 2])
    np.divide(1.0, mapped[:, 2], out=inverse, where=valid)
    # Rows 1, x, y, x^2, x y of the corrected points; off the road all zero (weight 0).
    features = np.empty((5,) + valid.shape)
    features[0] = valid
    np.multiply(mapped[:, 0], inverse, out=features[1])
    np.multiply(mapped[:, 1], inverse, out=features[2])
    np.multiply(features[1], features[1], out=features[3])
    np.multiply(features[1], features[2], out=features[4])
    left_sums = features[:, :, :split].sum(axis=2).T.tolist()  # (offsets, 5)
    right_sums = features[:, :, split:].sum(axis=2).T.tolist()
    out = []
    for k in range(len(offsets)):
        slopes = []
        for n, sx, sy, sxx, sxy in (left_sums[k], right_sums[k]):
            if n < 3:
                slopes.append(math.nan)
                continue
            # centred: sum (x - mean)^2 and sum (x - mean)(y - mean)
            denominator = sxx - sx * sx / n
            slopes.append((sxy - sx * sy / n) / denominator if denominator > 1e-12 * sxx
                          else 0.0)
        out.append(slopes[0] - slopes[1])
    return out


def estimate_pitch_offset(left_xy: tuple[np.ndarray, np.ndarray],
                          right_xy: tuple[np.ndarray, np.ndarray], yaw_rad: float,
                          camera_xyz: tuple[float, float, float], start_rad: float = 0.0,
                          limit_rad: float = math.radians(3.0), iterations: int = 6
                          ) -> float | None:
    """Return the pitch offset (rad) that makes two boundaries' view points parallel.

    ``left_xy``/``right_xy`` are view coordinates (assumed pitch) along each boundary, e.g.
    its marking pixels or their per-window centroids. Parallel means equal slopes of
    straight-line fits over their common distance range (curvature affects both alike).
    Returns None when the boundaries do not overlap over 10 m with three points each, or no
    offset within ``limit_rad`` makes them parallel. ``iterations=1`` (one secant step from
    ``start_rad``) suffices when tracking, where the offset changes slowly.
    """
    lo = max(left_xy[0].min(), right_xy[0].min())
    hi = min(left_xy[0].max(), right_xy[0].max())
    if hi - lo < 10.0:
        return None
    selections = []
    for xs, ys in (left_xy, right_xy):
        inside = (xs >= lo - 1.0) & (xs <= hi + 1.0)
        if np.count_nonzero(inside) < 3:
            return None
        selections.append((xs[inside], ys[inside]))

    # Secant iterations: the divergence is smooth and nearly linear in the offset.
    a, b = start_rad, start_rad + math.radians(0.25)
    fa, fb = _divergences(selections, [a, b], yaw_rad, camera_xyz)
    for step in range(iterations):
        if not (math.isfinite(fa) and math.isfinite(fb)) or fb == fa:
            return None
        a, fa, b = b, fb, b - fb * (b - a) / (fb - fa)
        if abs(b) > limit_rad:
            return None
        if step == iterations - 1:
            return b  # the divergence is nearly linear: a last step needs no check
        fb = _divergences(selections, [b], yaw_rad, camera_xyz)[0]
        if abs(b - a) < math.radians(0.005):
            break
    return b if math.isfinite(fb) and abs(fb) < 0.01 else None
