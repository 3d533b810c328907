"""Finding and fitting lane boundaries among the marking pixels of the bird's-eye view.

All positions here are road metres: ``xs`` forward, ``ys`` left, one entry per marking pixel,
ordered far to near (the view's row order). A boundary is ``y = c0 + c1 x + c2 x^2``.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import math
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class MarkingPixels:
    """The marking pixels of one frame, in metres, with their search window and view column.

    ``window`` counts from the near end (0) to the far end (``window_count - 1``);
    ``window_visible[k]`` is the fraction of window k's area that sees the road. View column
    c lies at ``y = y_left_m - (c + 0.5) * column_m``. Prefix sums over the per-window column
    counts let a window search find the pixels in a lateral band in O(1). ``xs``/``ys`` are
    road metres (pitch-corrected when the detector estimates pitch); ``view_xs``/``view_ys``
    are the view's own positions, which the window search works in.
    """

    xs: np.ndarray
    ys: np.ndarray
    view_xs: np.ndarray
    view_ys: np.ndarray
    cols: np.ndarray
    window: np.ndarray
    window_edges_m: np.ndarray  # window k spans x in [edges[k], edges[k + 1])
    window_visible: np.ndarray
    y_left_m: float
    column_m: float
    column_count: int

    @classmethod
    def from_view(cls, rows: np.ndarray, cols: np.ndarray, x_of_row: np.ndarray,
                  window_of_row: np.ndarray, column_count: int, y_left_m: float,
                  column_m: float, window_edges_m: np.ndarray, window_visible: np.ndarray,
                  y_of_col: np.ndarray | None = None) -> 'MarkingPixels':
        """Build from the (row, col) view positions of the marking pixels.

        ``y_of_col``: the column centres ``y_left_m - (c + 0.5) * column_m`` if already at
        hand (a lookup is cheaper than the arithmetic per pixel).
        """
        cols = cols.astype(np.int64)
        xs = x_of_row[rows]
        ys = y_left_m - (cols + 0.5) * column_m if y_of_col is None else y_of_col[cols]
        return cls(xs, ys, xs, ys, cols, window_of_row[rows], window_edges_m, window_visible,
                   y_left_m, column_m, column_count)

    def with_road(self, xs: np.ndarray, ys: np.ndarray) -> 'MarkingPixels':
        """Return a copy with other road positions (e.g. pitch-corrected); the view is shared.

        Cheaper than ``dataclasses.replace`` (no field-by-field re-initialisation), and a
        window search's prefix sums, which depend on the view only, carry over.
        """
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.__dict__['xs'] = xs
        copy.__dict__['ys'] = ys
        return copy

    @functools.cached_property
    def _prefix_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """(windows, columns + 1) cumulative pixel counts and column-index sums.

        Only the sliding-window search needs them, so they are built on first use.
        """
        windows, columns = self.window_count, self.column_count
        counts = np.bincount(self.window * columns + self.cols,
                             minlength=windows * columns).reshape(windows, columns)
        count_prefix = np.zeros((windows, columns + 1))
        column_prefix = np.zeros((windows, columns + 1))
        np.cumsum(counts, axis=1, out=count_prefix[:, 1:])
        np.cumsum(counts * np.arange(columns), axis=1, out=column_prefix[:, 1:])
        return count_prefix, column_prefix

    @property
    def window_count(self) -> int:
        """Return the number of search windows along the view."""
        return len(self.window_edges_m) - 1

    def band(self, window: int, y_m: float, margin_m: float) -> tuple[int, float]:
        """Return (pixel count, mean y) of window ``window``'s pixels within the band."""
        count_prefix, column_prefix = self._prefix_sums
        columns = self.column_count
        centre = (self.y_left_m - y_m) / self.column_m - 0.5
        half = margin_m / self.column_m
        lo = min(max(int(math.ceil(centre - half)), 0), columns)
        hi = min(max(int(math.floor(centre + half)) + 1, 0), columns)
        count = count_prefix[window, hi] - count_prefix[window, lo]
        if count <= 0:
            return 0, y_m
        mean_col = (column_prefix[window, hi] - column_prefix[window, lo]) / count
        return int(count), self.y_left_m - (mean_col + 0.5) * self.column_m


@dataclass(frozen=True, eq=False)
class BoundaryFit:
    """One boundary fitted in one frame, with the evidence behind it."""

    coefficients: tuple[float, float, float]
    x_min_m: float
    x_max_m: float
    pixel_count: int
    coverage: float  # fraction of the visible windows with marking support
    residual_m: float  # RMS lateral residual of the kept pixels
    indices: np.ndarray = None  # type: ignore[assignment]  # the kept pixels
    # sum of w * [1, x, x^2, x^3, x^4, y, x y, x^2 y, y^2] over the kept pixels
    moments: np.ndarray = None  # type: ignore[assignment]

    def lateral_at(self, x_m: np.ndarray | float) -> np.ndarray | float:
        """Return y (m) of the boundary at forward distance(s) ``x_m``."""
        c0, c1, c2 = self.coefficients
        return c0 + c1 * x_m + c2 * (x_m * x_m)

    @property
    def quality(self) -> float:
        """Return a 0-1 score from coverage and residual: how much this fit can be trusted."""
        support = min(1.0, self.coverage / 0.6)
        tightness = max(0.0, 1.0 - self.residual_m / 0.25)
        span = min(1.0, (self.x_max_m - self.x_min_m) / 15.0)
        return float(support * (0.5 + 0.5 * tightness) * (0.6 + 0.4 * span))


def evaluate_polynomial(coefficients: Sequence[float], x_m: np.ndarray | float
                        ) -> np.ndarray | float:
    """Return ``c0 + c1 x + c2 x^2``."""
    c0, c1, c2 = coefficients
    return c0 + c1 * x_m + c2 * (x_m * x_m)


def histogram_peaks(xs: np.ndarray, ys: np.ndarray, x_max_m: float, half_width_m: float,
                    bin_m: float, min_count: int) -> list[tuple[float, float]]:
    """Return (y, weight) of marking columns nearer than ``x_max_m``, strongest first.

    A column histogram smoothed over ~ two bins; local maxima at least ``min_count`` high,
    closer than 0.6 m to a stronger one are suppressed.
    """
    near = xs < x_max_m
    bins = int(math.ceil(2 * half_width_m / bin_m))
    index = np.clip(((half_width_m - ys[near]) / bin_m).astype(np.int64), 0, bins - 1)
    hist = np.bincount(index, minlength=bins).astype(np.float64)
    smooth = np.convolve(hist, np.ones(3) / 3.0, mode='same') * 3.0
    if len(smooth) < 3:
        return []
    inner = smooth[1:-1]
    is_peak = (inner >= smooth[:-2]) & (inner > smooth[2:]) & (inner >= min_count)
    candidates = np.flatnonzero(is_peak) + 1
    order = candidates[np.argsort(-smooth[candidates], kind='stable')]
    kept: list[tuple[float, float]] = []
    for i in order:
        y = half_width_m - (i + 0.5) * bin_m
        if all(abs(y - ky) >= 0.6 for ky, _ in kept):
            kept.append((float(y), float(smooth[i])))
    return kept


def choose_start_positions(peaks: Sequence[tuple[float, float]], lane_width_m: float,
                           width_range_m: tuple[float, float],
                           expected: dict[str, float | None]) -> dict[str, float | None]:
    """Pick the y where the sliding windows of the ego left and right boundaries start.

    ``expected[side]`` (from a track or from the other boundary plus the lane width) wins when
    a peak lies within 0.6 m of it. Otherwise the best pair of peaks of a plausible width,
    favouring strong peaks, the expected width and a lane centred on the vehicle; failing
    that, the best single peak on each side near +-width/2.
    """
    chosen: dict[str, float | None] = {'left': None, 'right': None}
    free = list(peaks)
    for side in ('left', 'right'):
        target = expected.get(side)
        if target is None:
            continue
        near = [p for p in free if abs(p[0] - target) < 0.6]
        if near:
            best = max(near, key=lambda p: p[1] * math.exp(-0.5 * ((p[0] - target) / 0.3) ** 2))
            chosen[side] = best[0]
            free.remove(best)
    if chosen['left'] is not None and chosen['right'] is not None:
        return chosen
    lefts = [p for p in free if p[0] > -0.3]
    rights = [p for p in free if p[0] < 0.3]
    if chosen['left'] is not None:
        lefts = [(chosen['left'], max((p[1] for p in peaks), default=1.0))]
    if chosen['right'] is not None:
        rights = [(chosen['right'], max((p[1] for p in peaks), default=1.0))]
    best_score, best_pair = 0.0, None
    for yl, hl in lefts:
        for yr, hr in rights:
            width = yl - yr
            if not width_range_m[0] <= width <= width_range_m[1]:
                continue
            score = (math.sqrt(hl * hr) * math.exp(-0.5 * ((width - lane_width_m) / 0.5) ** 2)
                     * math.exp(-0.5 * ((yl + yr) / 2.0 / 1.2) ** 2))
            if score > best_score:
                best_score, best_pair = score, (yl, yr)
    if best_pair is not None:
        return {'left': best_pair[0], 'right': best_pair[1]}
    half = lane_width_m / 2.0
    for side, group, sign in (('left', lefts, 1.0), ('right', rights, -1.0)):
        if chosen[side] is None and group:
            scored = [(h * math.exp(-0.5 * ((sign * y - half) / 0.8) ** 2), y) for y, h in group
                      if 0.0 < sign * y < width_range_m[1]]
            if scored:
                chosen[side] = max(scored)[1]
    return chosen


def sliding_window_search(pixels: MarkingPixels, start_y: float, margin_m: float,
                          min_pixels: int, follow_margin_m: float | None = None,
                          max_slope: float = 0.6,
                          guide: Sequence[float] | None = None) -> np.ndarray:
    """Return indices of the pixels a boundary starting at ``start_y`` (near end) collects.

    Windows are visited from near to far; a window with ``min_pixels`` or more within the
    band re-centres on their mean. Between hits the band moves along the lateral slope seen so
    far or, when a ``guide`` polynomial is given (the other boundary's fit), parallel to the
    guide: so dashed lines are followed across gaps, even in curves. Until the first hit the
    band is ``margin_m`` wide each side; after it ``follow_margin_m``: a painted line drifts
    only centimetres from the predicted position per window, while lights, car edges and the
    next lane's marks come in from farther away.
    """
    follow_margin_m = margin_m if follow_margin_m is None else follow_margin_m
    current = start_y
    slope = 0.0
    last_hit: tuple[float, float] | None = None
    edges = pixels.window_edges_m
    mids = 0.5 * (edges[:-1] + edges[1:])
    guide_y = (None if guide is None
               else np.asarray(evaluate_polynomial(guide, mids), dtype=np.float64))
    offset = None if guide_y is None else start_y - float(guide_y[0])
    centres = np.full(pixels.window_count, np.nan)
    margins = np.full(pixels.window_count, margin_m)
    for k in range(pixels.window_count):
        if guide_y is not None:
            current = float(guide_y[k]) + offset
        elif k > 0:
            current += slope * (edges[k] - edges[k - 1])
        margin = margin_m if last_hit is None else follow_margin_m
        margins[k] = margin
        # Two passes until the first hit: they re-centre a start that is up to a margin off.
        count = 0
        for _ in range(2 if last_hit is None else 1):
            count, mean = pixels.band(k, current, margin)
            if count < min_pixels:
                break
            current = mean
        if count < min_pixels:
            continue
        centres[k] = current
        if guide_y is not None:
            offset = current - float(guide_y[k])
        elif last_hit is not None:
            new_slope = (current - last_hit[1]) / (mids[k] - last_hit[0])
            slope = float(np.clip(0.5 * slope + 0.5 * new_slope, -max_slope, max_slope))
        last_hit = (float(mids[k]), current)
    if last_hit is None:
        return np.zeros(0, dtype=np.int64)
    # The same band test, per pixel, against its window's final centre (windows without a
    # hit get an infinite centre: no pixel matches).
    centres[np.isnan(centres)] = np.inf
    return np.flatnonzero(np.abs(pixels.view_ys - centres[pixels.window])
                          < margins[pixels.window])


def band_search(pixels: MarkingPixels, coefficients: Sequence[float], margin_m: float
                ) -> np.ndarray:
    """Return indices of the pixels within ``margin_m`` of a previous boundary polynomial."""
    c0, c1, c2 = (float(c) for c in coefficients)
    xs = pixels.xs
    # Horner, in place: a third of the temporary arrays of the textbook form.
    distance = xs * c2
    distance += c1
    distance *= xs
    distance += c0
    distance -= pixels.ys
    np.abs(distance, out=distance)
    return np.flatnonzero(distance < margin_m)


# Rows of fit_boundary's per-pixel power table: [1 x x2 y x3 x4 xy x2y y2], so that the
# first four give the residual in one product; _MOMENT_ORDER puts their weighted sums in
# BoundaryFit.moments' order [1 x x2 x3 x4 y xy x2y y2].
_MOMENT_ORDER = (0, 1, 2, 4, 5, 3, 6, 7, 8)


def _median(values: np.ndarray) -> float:
    """Return the median (as np.median) of a non-empty 1-D array, at a fraction of its cost."""
    half = len(values) // 2
    if len(values) % 2:
        return float(np.partition(values, half)[half])
    low, high = np.partition(values, (half - 1, half))[half - 1:half + 1].tolist()
    return 0.5 * (low + high)


def fit_boundary(pixels: MarkingPixels, indices: np.ndarray, min_pixels: int,
                 quadratic_min_span_m: float, prior_c2: float = 0.0) -> BoundaryFit | None:
    """Fit ``y = c0 + c1 x + c2 x^2`` to the chosen pixels, or return None without support.

    Pixels of windows with fewer than ``min_pixels`` are noise and dropped; each window's
    pixels weigh 1/sqrt(count) so the dense near range does not drown the sparse far range.
    Over a span shorter than ``quadratic_min_span_m``, or with support in fewer than three
    windows, the curvature is not observable and ``c2`` stays at ``prior_c2``. Up to three
    passes drop pixels far from the previous fit
    (other markings, arrows, lights, noise) and refit.
    """
    if len(indices) < min_pixels:
        return None
    count = pixels.window_count
    windows = pixels.window[indices]
    counts = np.bincount(windows, minlength=count)
    # Per-window bookkeeping in plain Python: ten numbers, where numpy calls cost more than
    # the work.
    count_list = counts.tolist()
    if any(0 < c < min_pixels for c in count_list):
        keep = counts[windows] >= min_pixels
        indices, windows = indices[keep], windows[keep]
    xs, ys = pixels.xs[indices], pixels.ys[indices]
    if len(xs) < 3:
        return None
    x_min, x_max = float(xs.min()), float(xs.max())
    filtered = not (math.isfinite(x_min) and math.isfinite(x_max))
    if filtered:  # pitch-corrected points beyond the horizon are NaN
        finite = np.isfinite(xs)
        xs, ys, indices, windows = xs[finite], ys[finite], indices[finite], windows[finite]
        if len(xs) < 3:
            return None
        x_min, x_max = float(xs.min()), float(xs.max())
    total = len(xs)
    weights = (1.0 / np.sqrt(np.maximum(counts, 1)))[windows]
    # Power rows once; every trimming pass is then one matrix-vector product.
    x2 = xs * xs
    powers = np.empty((9, total))
    powers[0] = 1.0
    powers[1] = xs
    powers[2] = x2
    powers[3] = ys
    np.multiply(x2, xs, out=powers[4])
    np.multiply(x2, x2, out=powers[5])
    np.multiply(xs, ys, out=powers[6])
    np.multiply(x2, ys, out=powers[7])
    np.multiply(ys, ys, out=powers[8])
    keep = None
    kept = total
    span = x_max - x_min
    # Curvature needs support at three distances at least (two dashes fix only a line).
    curved_ok = sum(c >= min_pixels for c in count_list) >= 3
    # Iterative trimming with a median-based band: unlike the RMS, the median absolute
    # residual is not inflated by the other markings, lights and car edges caught in the band.
    for _ in range(4):
        active = weights if keep is None else weights * keep
        sums = (powers @ active).tolist()
        c0, c1, c2 = _solve_moments([sums[i] for i in _MOMENT_ORDER[:8]],
                                    curved_ok and span >= quadratic_min_span_m, prior_c2, span)
        residual = np.array((-c0, -c1, -c2, 1.0)) @ powers[:4]
        np.abs(residual, out=residual)
        band = max(0.12, 4.45 * _median(residual if keep is None else residual[keep]))
        new_keep = residual < band  # 3 sigma from the MAD
        new_kept = int(np.count_nonzero(new_keep))
        if new_kept < 3 or (keep is None and new_kept == total) or (
                keep is not None and new_kept == kept and np.array_equal(new_keep, keep)):
            break
        keep, kept = new_keep, new_kept
        kept_x = xs[keep]
        x_min, x_max = float(kept_x.min()), float(kept_x.max())
        span = x_max - x_min
    else:
        sums = (powers @ (weights * keep)).tolist()  # the last pass changed the selection
    moments = np.array([sums[i] for i in _MOMENT_ORDER])
    if keep is None:
        rms = math.sqrt(float(np.dot(weights, residual * residual)) / float(weights.sum()))
        # windows below min_pixels were dropped above, so their support stays below it
        support = np.bincount(windows, minlength=count).tolist() if filtered else count_list
    else:
        kept_weights = weights[keep]
        kept_residual = residual[keep]
        rms = math.sqrt(float(np.dot(kept_weights, kept_residual * kept_residual))
                        / float(kept_weights.sum()))
        support = np.bincount(windows[keep], minlength=count).tolist()
        indices = indices[keep]
    visible = [v > 0.2 for v in pixels.window_visible.tolist()]
    supported = sum(1 for c, v in zip(support, visible) if v and c >= min_pixels)
    coverage = supported / max(1, sum(visible))
    return BoundaryFit((float(c0), float(c1), float(c2)), x_min, x_max, kept,
                       min(1.0, coverage), rms, indices, moments)


def _solve_moments(moments: Sequence[float], quadratic: bool, prior_c2: float, span: float
                   ) -> tuple[float, float, float]:
    """Solve weighted least squares from moments (sum w * [1 x x2 x3 x4 y xy x2y])."""
    s0, s1, s2, s3, s4, t0, t1, t2 = moments
    if s0 <= 0:
        return 0.0, 0.0, prior_c2
    if quadratic:
        # Symmetric 3x3 normal equations by the adjugate: np.linalg.solve's overhead is ten
        # times the arithmetic here.
        a11, a12, a13 = s2 * s4 - s3 * s3, s2 * s3 - s1 * s4, s1 * s3 - s2 * s2
        determinant = s0 * a11 + s1 * a12 + s2 * a13
        if abs(determinant) > 1e-9 * max(1.0, abs(s0 * s2 * s4)):
            a22, a23 = s0 * s4 - s2 * s2, s1 * s2 - s0 * s3
            a33 = s0 * s2 - s1 * s1
            return ((a11 * t0 + a12 * t1 + a13 * t2) / determinant,
                    (a12 * t0 + a22 * t1 + a23 * t2) / determinant,
                    (a13 * t0 + a23 * t1 + a33 * t2) / determinant)
        # else: pixels on two rows only, no curvature to see
    # Straight line on y - c2_prior x^2: t' = t - c2 * (x^2 moments).
    t0, t1 = t0 - prior_c2 * s2, t1 - prior_c2 * s3
    if span < 1.0:
        # A blob: only the lateral position is observable.
        return t0 / s0, 0.0, prior_c2
    determinant = s0 * s2 - s1 * s1
    if abs(determinant) < 1e-12:
        return t0 / s0, 0.0, prior_c2
    return (s2 * t0 - s1 * t1) / determinant, (s0 * t1 - s1 * t0) / determinant, prior_c2


def curvature_at(coefficients: Sequence[float], x_m: float) -> float:
    """Return the signed curvature (1/m, positive turning left) of ``y(x)`` at ``x_m``."""
    _, c1, c2 = coefficients
    slope = c1 + 2.0 * c2 * x_m
    return 2.0 * c2 / (1.0 + slope * slope) ** 1.5


def fit_parallel_boundaries(left: BoundaryFit, right: BoundaryFit, quadratic_min_span_m: float,
                            prior_c2: float = 0.0) -> tuple[BoundaryFit, BoundaryFit] | None:
    """Refit two boundaries together as parallel curves: own offsets, shared c1 and c2.

    The lane's shape (heading, curvature) is then measured by all marking pixels of both
    sides: a dashed or worn boundary borrows the shape of a solid one instead of extrapolating
    its few dashes. (Concentric boundaries differ in curvature by width / radius^2, ~0.1 m at
    40 m on a 110 m curve: below what the view resolves.) Built from the fits' weighted
    moments, so it costs no pixel work. Returns None when the joint system is degenerate.
    """
    moments = [left.moments.tolist(), right.moments.tolist()]
    # Each side weighs in by its evidence, but never more than three times the other.
    totals = [m[0] for m in moments]
    smallest = min(totals)
    if smallest <= 0:
        return None
    span = max(left.x_max_m, right.x_max_m) - min(left.x_min_m, right.x_min_m)
    quadratic = span >= quadratic_min_span_m
    # Unknowns (c0_left, c0_right, c1, c2); for a straight fit c2 is held at the prior and
    # moved to the right-hand side (y - c2 x^2). Eliminating each side's offset,
    # c0 = (t0 - s1 c1 - s2 c2) / s0, leaves 2x2 normal equations in the shared (c1, c2)
    # (the Schur complement): a few dozen float operations instead of a 4x4 np.linalg.solve.
    sides = []
    a11 = a12 = a22 = b1 = b2 = 0.0
    for m, total in zip(moments, totals):
        scale = min(1.0, 3.0 * smallest / total)
        s0, s1, s2, s3, s4, t0, t1, t2 = (v * scale for v in m[:8])
        if not quadratic:
            t0, t1, t2 = t0 - prior_c2 * s2, t1 - prior_c2 * s3, t2 - prior_c2 * s4
        sides.append((s0, s1, s2, t0))
        a11 += s2 - s1 * s1 / s0
        a12 += s3 - s1 * s2 / s0
        a22 += s4 - s2 * s2 / s0
        b1 += t1 - s1 * t0 / s0
        b2 += t2 - s2 * t0 / s0
    if quadratic:
        determinant = a11 * a22 - a12 * a12
        if not determinant > 1e-12 * abs(a11 * a22):  # also False for NaN
            return None
        c1 = (a22 * b1 - a12 * b2) / determinant
        c2 = (a11 * b2 - a12 * b1) / determinant
    else:
        if not a11 > 1e-12 * sum(side[2] for side in sides):
            return None
        c1, c2 = b1 / a11, 0.0
    offsets = [(t0 - s1 * c1 - s2 * c2) / s0 for s0, s1, s2, t0 in sides]
    if not quadratic:
        c2 = prior_c2
    fits = []
    for fit, m, c0 in zip((left, right), moments, offsets):
        # Weighted residual sum of squares from the moments: sum w (y - p(x))^2.
        s0, s1, s2, s3, s4, t0, t1, t2, u = m
        squares = (u - 2.0 * (c0 * t0 + c1 * t1 + c2 * t2) + c0 * c0 * s0 + c1 * c1 * s2
                   + c2 * c2 * s4 + 2.0 * (c0 * c1 * s1 + c0 * c2 * s2 + c1 * c2 * s3))
        rms = math.sqrt(max(0.0, squares) / s0)
        fits.append(BoundaryFit((c0, c1, c2), fit.x_min_m, fit.x_max_m, fit.pixel_count,
                                fit.coverage, rms, fit.indices, fit.moments))
    return fits[0], fits[1]
