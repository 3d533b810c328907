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
def _ray_rotation(offset_rad: float, yaw_rad: float) -> tuple[tuple[float, ...], ...]:
    """Return the rotation taking view rays to true rays for a pitch offset (vehicle frame).

    As nested tuples of Python floats: scalar * array is much cheaper with a float than with
    a numpy scalar taken from an array.
    """
    c, s = math.cos(offset_rad), math.sin(offset_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    rot_z = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    rot_y = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return tuple(tuple(row) for row in (rot_z @ rot_y @ rot_z.T).tolist())


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
    cx, cy, height = camera_xyz
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = _ray_rotation(offset_rad, yaw_rad)
    dx, dy = xs - cx, ys - cy
    rx = r00 * dx + r01 * dy - r02 * height
    ry = r10 * dx + r11 * dy - r12 * height
    rz = r20 * dx + r21 * dy - r22 * height
    # Rays at or above the horizon never meet the road: NaN (without a division warning).
    scale = np.full_like(rz, np.nan)
    np.divide(-height, rz, out=scale, where=rz < -1e-9)
    return cx + scale * rx, cy + scale * ry


def _slope(xs: np.ndarray, ys: np.ndarray) -> float:
    xc = xs - xs.mean()
    denominator = float(np.dot(xc, xc))
    return float(np.dot(xc, ys - ys.mean())) / denominator if denominator > 0 else 0.0


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

    def divergence(offset: float) -> float:
        slopes = []
        for xs, ys in selections:
            cx, cy = correct_ground_points(xs, ys, offset, yaw_rad, camera_xyz)
            finite = np.isfinite(cx)
            if np.count_nonzero(finite) < 3:
                return math.nan
            slopes.append(_slope(cx[finite], cy[finite]))
        return slopes[0] - slopes[1]

    # Secant iterations: the divergence is smooth and nearly linear in the offset.
    a, b = start_rad, start_rad + math.radians(0.25)
    fa, fb = divergence(a), divergence(b)
    for step in range(iterations):
        if not (math.isfinite(fa) and math.isfinite(fb)) or fb == fa:
            return None
        a, fa, b = b, fb, b - fb * (b - a) / (fb - fa)
        if abs(b) > limit_rad:
            return None
        if step == iterations - 1:
            return b  # the divergence is nearly linear: a last step needs no check
        fb = divergence(b)
        if abs(b - a) < math.radians(0.005):
            break
    return b if math.isfinite(fb) and abs(fb) < 0.01 else None
