"""Boundary fitting against numpy references: weighted least squares, trimming, joint fits."""

import math

import numpy as np
import pytest

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.fitting import (_median, band_search, fit_boundary,
                                         fit_parallel_boundaries, MarkingPixels)
from av_perception.lanes.geometry import GroundProjection
from av_perception.lanes.pitch import correct_ground_points, pitch_homography

EDGES = np.linspace(5.0, 40.0, 11)  # ten windows


def pixels_at(xs, ys) -> MarkingPixels:
    """Return marking pixels at road points (view = road, columns of 5 cm)."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    window = np.clip(np.searchsorted(EDGES, xs, side='right') - 1, 0, len(EDGES) - 2)
    cols = np.round((4.0 - ys) / 0.05 - 0.5).astype(np.int64)
    return MarkingPixels(xs, ys, xs, ys, cols, window, EDGES, np.ones(len(EDGES) - 1), 4.0, 0.05,
                         160)


def line_pixels(coefficients, rng, per_window=12, noise=0.02):
    xs = np.concatenate([rng.uniform(lo, hi, per_window) for lo, hi in zip(EDGES, EDGES[1:])])
    c0, c1, c2 = coefficients
    return xs, c0 + c1 * xs + c2 * xs * xs + rng.normal(0.0, noise, len(xs))


def window_weights(windows):
    """Return fit_boundary's weights: 1/sqrt(pixel count of the window) per pixel."""
    return 1.0 / np.sqrt(np.bincount(windows)[windows])


def weighted_polyfit(xs, ys, weights):
    """Return np.polyfit minimising sum weights * residual^2 (polyfit squares its w)."""
    return np.polyfit(xs, ys, 2, w=np.sqrt(weights))[::-1]


@pytest.mark.parametrize('length', [1, 2, 7, 8, 101, 256])
def test_median_is_numpys(length):
    values = np.random.default_rng(length).normal(size=length)
    assert _median(values) == np.median(values)


def test_fit_boundary_is_weighted_least_squares():
    rng = np.random.default_rng(0)
    xs, ys = line_pixels((1.8, 0.01, -4e-4), rng)
    # uneven support: the near windows hold three times as many pixels
    near_x, near_y = line_pixels((1.8, 0.01, -4e-4), rng)
    keep_near = near_x < 15.0
    xs, ys = np.concatenate([xs, near_x[keep_near]]), np.concatenate([ys, near_y[keep_near]])
    pixels = pixels_at(xs, ys)
    fit = fit_boundary(pixels, np.arange(len(xs)), 6, 12.0)
    assert fit is not None and fit.pixel_count == len(xs) and fit.coverage == 1.0
    weights = window_weights(pixels.window)
    np.testing.assert_allclose(fit.coefficients, weighted_polyfit(xs, ys, weights),
                               rtol=1e-9, atol=1e-12)
    assert fit.x_min_m == xs.min() and fit.x_max_m == xs.max()
    # the moments are those of the fit's pixels: sum w [1 x x2 x3 x4 y xy x2y y2]
    expected = [np.sum(weights * term) for term in
                (xs ** 0, xs, xs ** 2, xs ** 3, xs ** 4, ys, xs * ys, xs ** 2 * ys, ys ** 2)]
    np.testing.assert_allclose(fit.moments, expected, rtol=1e-12)


def test_fit_boundary_trims_outliers_and_drops_sparse_windows():
    rng = np.random.default_rng(1)
    truth = (-1.7, -0.02, 3e-4)
    xs, ys = line_pixels(truth, rng, noise=0.01)
    # a car edge 0.3 m beside the line in two windows, and one stray pixel (a window of one)
    car_x = rng.uniform(20.0, 27.0, 10)
    stray = np.array([38.0])
    all_x = np.concatenate([xs, car_x, stray])
    all_y = np.concatenate([ys, truth[0] + truth[1] * car_x + truth[2] * car_x ** 2 + 0.3,
                            [truth[0] + truth[1] * 38.0 + truth[2] * 38.0 ** 2 + 0.05]])
    # the stray pixel's window has no other support
    keep = ~((all_x >= EDGES[-2]) & (np.arange(len(all_x)) < len(xs)))
    all_x, all_y = all_x[keep], all_y[keep]
    pixels = pixels_at(all_x, all_y)
    fit = fit_boundary(pixels, np.arange(len(all_x)), 6, 12.0)
    kept = np.sort(fit.indices)
    # the stray pixel's window is below min_pixels, the car edge is trimmed, the line stays
    np.testing.assert_array_equal(kept, np.arange(len(all_x) - 11))
    # weights count each window's pixels before trimming (the car edge's included)
    weights = window_weights(pixels.window[:-1])[kept]
    np.testing.assert_allclose(fit.coefficients,
                               weighted_polyfit(all_x[kept], all_y[kept], weights),
                               rtol=1e-9, atol=1e-12)
    assert fit.residual_m < 0.03


def test_fit_boundary_without_support():
    pixels = pixels_at([10.0, 20.0], [1.0, 1.0])
    assert fit_boundary(pixels, np.arange(2), 6, 12.0) is None


def test_band_search_takes_the_pixels_within_the_margin():
    rng = np.random.default_rng(2)
    xs, ys = rng.uniform(5.0, 40.0, 500), rng.uniform(-4.0, 4.0, 500)
    coefficients = np.array([0.5, 0.02, -3e-4])
    found = band_search(pixels_at(xs, ys), coefficients, 0.35)
    lateral = coefficients[0] + coefficients[1] * xs + coefficients[2] * xs ** 2
    np.testing.assert_array_equal(found, np.flatnonzero(np.abs(ys - lateral) < 0.35))


@pytest.mark.parametrize('quadratic_min_span_m', [12.0, 100.0])
def test_parallel_fit_is_the_joint_least_squares(quadratic_min_span_m):
    rng = np.random.default_rng(3)
    fits, rows, targets, weights = [], [], [], []
    for side, c0 in enumerate((1.8, -1.9)):
        xs, ys = line_pixels((c0, 0.015, -2e-4), rng, per_window=8 + 4 * side)
        pixels = pixels_at(xs, ys)
        fit = fit_boundary(pixels, np.arange(len(xs)), 6, quadratic_min_span_m, prior_c2=-1e-4)
        fits.append(fit)
        kept = np.sort(fit.indices)
        assert len(kept) == len(xs)
        offsets = np.zeros((len(xs), 2))
        offsets[:, side] = 1.0
        rows.append(np.column_stack([offsets, xs, xs * xs]))
        targets.append(ys)
        weights.append(window_weights(pixels.window))
    joint = fit_parallel_boundaries(fits[0], fits[1], quadratic_min_span_m, prior_c2=-1e-4)
    assert joint is not None
    # reference: unknowns (c0 left, c0 right, c1, c2) by np.linalg.lstsq on sqrt(w) rows;
    # each side's weight is scaled down to at most three times the other's (not binding here)
    design, target, w = np.vstack(rows), np.concatenate(targets), np.concatenate(weights)
    if quadratic_min_span_m > 35.0:  # straight: c2 held at the prior
        target = target - (-1e-4) * design[:, 3]
        design = design[:, :3]
    solution = np.linalg.lstsq(design * np.sqrt(w)[:, None], target * np.sqrt(w), rcond=None)[0]
    c2 = solution[3] if len(solution) == 4 else -1e-4
    for fit, c0 in zip(joint, solution[:2]):
        np.testing.assert_allclose(fit.coefficients, (c0, solution[2], c2), rtol=1e-8,
                                   atol=1e-10)
    assert joint[0].coefficients[1:] == joint[1].coefficients[1:]


def test_pitch_homography_composes_with_the_projection():
    camera = CameraModel.pinhole(640, 360, 65.0)
    projection = GroundProjection.from_mounting(camera, 1.4, math.radians(4.0), x_m=1.6)
    pose = (1.6, 0.0, 1.4)
    grid = np.linspace(2.0, 300.0, 60)
    road = np.column_stack([grid, np.linspace(-3.0, 3.0, 60)])
    for offset in (math.radians(0.8), math.radians(-1.5)):
        xs, ys = correct_ground_points(road[:, 0], road[:, 1], offset, 0.05, pose)
        two_steps = projection.ground_to_image(np.column_stack([xs, ys]))
        composed = projection.ground_to_image(road, pitch_homography(offset, 0.05, pose))
        np.testing.assert_array_equal(np.isnan(composed), np.isnan(two_steps))
        assert np.isnan(two_steps).any() and not np.isnan(two_steps).all()
        np.testing.assert_allclose(composed, two_steps, rtol=1e-9, atol=1e-7, equal_nan=True)
