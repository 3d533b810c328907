"""The classic lane detector: bird's-eye view, marking mask, window search, fit, tracking.

Per frame: one remap takes the raw image to a metric bird's-eye view (undistortion included);
a local-contrast colour mask finds marking pixels; each ego boundary is searched in a band
around its track or, without one, by sliding windows from a column-histogram peak; a
second-order polynomial in metres is fitted, checked (curvature, lane width, parallelism) and
folded into a track that rejects outliers. A boundary that is not seen is inferred from the
other one and the lane width, with lower confidence.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
import math

import cv2
import numpy as np

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.config import LaneDetectorConfig
from av_perception.lanes.errors import LaneError
from av_perception.lanes.estimate import LaneCurve, LaneEstimate
from av_perception.lanes.fitting import (
    band_search, BoundaryFit, choose_start_positions, curvature_at, evaluate_polynomial,
    fit_boundary, fit_parallel_boundaries, histogram_peaks, MarkingPixels,
    sliding_window_search)
from av_perception.lanes.geometry import BirdsEyeView, GroundProjection
from av_perception.lanes.mask import lane_marking_mask, MaskParameters
from av_perception.lanes.pitch import (correct_ground_points, estimate_pitch_offset,
                                       pitch_homography)
from av_perception.lanes.tracking import BoundaryTrack, TrackingParameters

SIDES = ('left', 'right')
_SIGN = {'left': 1.0, 'right': -1.0}
_OTHER = {'left': 'right', 'right': 'left'}
_MIN_IMAGE_SIDE = 32
_HISTOGRAM_RANGE_M = 15.0  # > one dash period (~12 m), so a dashed line always shows
_CURVE_NAMES = ('left', 'right', 'center')
_NO_CURVE = LaneCurve()  # frozen, arrays read-only: one instance serves every absent curve
_WIDTH_STEPS = tuple(np.linspace(0.0, 1.0, 9).tolist())  # where the lane width is checked


@dataclass(frozen=True)
class _Geometry:
    """Everything that depends only on the camera, the mounting and the image size."""

    camera: CameraModel
    projection: GroundProjection
    bev: BirdsEyeView
    window_of_row: np.ndarray
    window_edges_m: np.ndarray
    window_visible: np.ndarray
    mask_params: MaskParameters
    pixel_xs: np.ndarray  # distances where curves are projected to pixels, near to far
    path_xs: np.ndarray  # distances of the metric curve points
    pixel_powers: np.ndarray  # rows 1, x, x^2 of pixel_xs: coefficients @ powers = lateral
    path_powers: np.ndarray  # the same for path_xs
    pixel_xs_list: list  # pixel_xs and path_xs as floats, for bisect
    path_xs_list: list


@dataclass(frozen=True)
class DebugFrame:
    """Intermediate results of the last frame, for overlays and tuning (not for control)."""

    bev: np.ndarray
    mask: np.ndarray
    birdseye: BirdsEyeView
    fits: dict
    pitch_offset_rad: float = 0.0
    camera_xyz: tuple[float, float, float] = (0.0, 0.0, 1.0)
    yaw_rad: float = 0.0

    def to_view(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map road points (pitch-corrected) to the bird's-eye view's own coordinates."""
        return correct_ground_points(xs, ys, -self.pitch_offset_rad, self.yaw_rad,
                                     self.camera_xyz)


def check_image(image: np.ndarray) -> np.ndarray:
    """Return a BGR uint8 view of ``image`` or raise LaneError saying what is wrong with it."""
    if not isinstance(image, np.ndarray):
        raise LaneError(f'image must be a numpy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise LaneError(f'image dtype {image.dtype}: must be uint8 (8-bit BGR)')
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise LaneError(f'image shape {image.shape}: must be HxWx3 (BGR), HxW or HxWx4')
    if image.shape[0] < _MIN_IMAGE_SIDE or image.shape[1] < _MIN_IMAGE_SIDE:
        raise LaneError(f'image shape {image.shape}: must be at least '
                        f'{_MIN_IMAGE_SIDE}x{_MIN_IMAGE_SIDE} pixels')
    return image


class LaneDetector:
    """Detects and tracks the ego lane in a stream of frames of one camera.

    ``camera`` gives the intrinsics (and distortion); without it a distortion-free pinhole
    with ``config.default_horizontal_fov_deg`` is assumed until :meth:`set_camera`. Images of
    another size than the camera model's are handled by scaling the intrinsics.
    """

    def __init__(self, config: LaneDetectorConfig | None = None,
                 camera: CameraModel | None = None) -> None:
        """Set up the detector; maps are built at the first frame of each image size."""
        self.config = config if config is not None else LaneDetectorConfig()
        if camera is not None and not isinstance(camera, CameraModel):
            raise LaneError(f'camera must be a CameraModel or None, got {type(camera).__name__}')
        self._camera = camera
        self._geometry: _Geometry | None = None
        params = TrackingParameters(self.config.smoothing, self.config.outlier_threshold_m,
                                    self.config.max_outliers, self.config.max_missed_frames)
        self._tracks = {side: BoundaryTrack(params) for side in SIDES}
        self._lane_width_m = self.config.lane_width_m
        self._pitch_offset_rad = 0.0
        self._pitch_measured = False
        self._frames_since_pitch = 0
        self._last_stamp_ns: int | None = None
        self.time_resets = 0  # resets because time jumped (bag loop, simulator reset, long gap)
        self._debug: DebugFrame | None = None
        self._camera_xyz = (self.config.camera_x_m, self.config.camera_y_m,
                            self.config.camera_height_m)
        self._yaw_rad = math.radians(self.config.camera_yaw_deg)

    # --- state ----------------------------------------------------------------------------------

    @property
    def camera(self) -> CameraModel | None:
        """Return the camera model in use (None: the default pinhole)."""
        return self._camera

    def set_camera(self, camera: CameraModel | None) -> None:
        """Use new intrinsics (e.g. a CameraInfo arrived); maps are rebuilt at the next frame.

        Tracks are kept: they live in road metres, which a better camera model only refines.
        """
        if camera is not None and not isinstance(camera, CameraModel):
            raise LaneError(f'camera must be a CameraModel or None, got {type(camera).__name__}')
        if camera != self._camera:
            self._camera = camera
            self._geometry = None

    def reset(self) -> None:
        """Forget all tracks and the time reference (call on time jumps or new sequences)."""
        for track in self._tracks.values():
            track.reset()
        self._lane_width_m = self.config.lane_width_m
        self._pitch_offset_rad = 0.0
        self._pitch_measured = False
        self._last_stamp_ns = None

    @property
    def birdseye(self) -> BirdsEyeView | None:
        """Return the bird's-eye view of the current image size (None before the first frame)."""
        return None if self._geometry is None else self._geometry.bev

    def birdseye_for(self, width: int, height: int) -> BirdsEyeView:
        """Return (building if needed) the bird's-eye view for images of this size."""
        return self._geometry_for(width, height).bev

    @property
    def last_debug(self) -> DebugFrame | None:
        """Return the intermediate results of the last processed frame."""
        return self._debug

    # --- per frame ------------------------------------------------------------------------------

    def process(self, image: np.ndarray, stamp_ns: int = 0) -> LaneEstimate:
        """Detect the ego lane in one BGR frame taken at ``stamp_ns``."""
        image = check_image(image)
        height, width = image.shape[:2]
        geometry = self._geometry_for(width, height)
        self._check_time(int(stamp_ns))
        bev = geometry.bev.warp(image)
        mask = lane_marking_mask(bev, geometry.bev.valid, geometry.mask_params)
        # cv2.findNonZero is ~2x faster than np.nonzero and also returns row-major order.
        # (N, 1, 2) in OpenCV 4, (N, 2) in 5: reshape.
        found = cv2.findNonZero(mask)
        found = np.zeros((0, 2), np.int32) if found is None else found.reshape(-1, 2)
        cols, rows = found[:, 0], found[:, 1]
        bev_view = geometry.bev
        pixels = MarkingPixels.from_view(
            rows, cols, bev_view.x_of_row, geometry.window_of_row, bev_view.shape[1],
            bev_view.half_width_m, bev_view.lateral_resolution_m, geometry.window_edges_m,
            geometry.window_visible, bev_view.y_of_col)
        pixels = self._pitch_corrected(pixels, self._pitch_offset_rad)
        fits = self._measure(pixels, geometry)
        self._frames_since_pitch += 1
        if (self._estimates_pitch and fits['left'] is not None and fits['right'] is not None
                and (not self._pitch_measured
                     or self._frames_since_pitch >= self.config.pitch_update_period)):
            self._frames_since_pitch = 0
            pixels, fits = self._update_pitch(pixels, fits)
        fits = self._check_plausibility(fits, geometry)
        if self.config.parallel_fit and fits['left'] is not None and fits['right'] is not None:
            prior = self._tracks['left']
            joint = fit_parallel_boundaries(
                fits['left'], fits['right'], self.config.quadratic_min_span_m,
                float(prior.coefficients[2]) if prior.active else 0.0)
            if joint is not None:
                fits = {'left': joint[0], 'right': joint[1]}
        for side in SIDES:
            self._tracks[side].update(fits[side])
        self._follow_lane_change()
        if fits['left'] is not None and fits['right'] is not None:
            near = geometry.bev.near_m
            measured = float(fits['left'].lateral_at(near) - fits['right'].lateral_at(near))
            self._lane_width_m += 0.2 * (measured - self._lane_width_m)
        self._debug = DebugFrame(bev, mask, geometry.bev, dict(fits), self._pitch_offset_rad,
                                 self._camera_xyz, self._yaw_rad)
        return self._estimate(int(stamp_ns), geometry)

    @property
    def _estimates_pitch(self) -> bool:
        # Pitch correction needs the camera pose, which point-pair calibration does not give.
        return self.config.estimate_pitch and not self.config.uses_ground_points

    def _pitch_corrected(self, pixels: MarkingPixels, offset_rad: float) -> MarkingPixels:
        if offset_rad == 0.0:
            if pixels.xs is pixels.view_xs and pixels.ys is pixels.view_ys:
                return pixels
            return pixels.with_road(pixels.view_xs, pixels.view_ys)
        xs, ys = correct_ground_points(pixels.view_xs, pixels.view_ys, offset_rad,
                                       self._yaw_rad, self._camera_xyz)
        return pixels.with_road(xs, ys)

    def _update_pitch(self, pixels: MarkingPixels, fits: dict[str, BoundaryFit | None]
                      ) -> tuple[MarkingPixels, dict[str, BoundaryFit | None]]:
        """Estimate the pitch offset that makes both boundaries parallel; refit with it."""
        cfg = self.config
        left, right = fits['left'], fits['right']
        if max(abs(left.coefficients[2]), abs(right.coefficients[2])) * 2.0 > 1.0 / 400.0:
            # On a curve the two boundaries are concentric, not parallel: their slopes differ
            # by ~width * distance / radius^2, which would read as pitch. Hold the estimate.
            return pixels, fits
        offset = estimate_pitch_offset(
            _window_centroids(pixels, left.indices), _window_centroids(pixels, right.indices),
            self._yaw_rad, self._camera_xyz, self._pitch_offset_rad,
            math.radians(cfg.max_pitch_offset_deg), 1 if self._pitch_measured else 6)
        if offset is None:
            return pixels, fits
        if self._pitch_measured:
            change = offset - self._pitch_offset_rad
            offset = self._pitch_offset_rad + cfg.pitch_smoothing * change
        self._pitch_measured = True
        if abs(offset - self._pitch_offset_rad) < math.radians(0.05):
            # Not worth a refit; keep the small change for the next frame.
            self._pitch_offset_rad = offset
            return pixels, fits
        self._pitch_offset_rad = offset
        pixels = self._pitch_corrected(pixels, offset)
        refits = {}
        for side in SIDES:
            refits[side] = self._fit(pixels, fits[side].indices, fits[side].coefficients[2])
        return pixels, refits

    def _check_time(self, stamp_ns: int) -> None:
        if self._last_stamp_ns is not None:
            gap_s = (stamp_ns - self._last_stamp_ns) * 1e-9
            if gap_s < 0 or gap_s > self.config.reset_gap_s:
                self.reset()
                self.time_resets += 1
        self._last_stamp_ns = stamp_ns

    def _geometry_for(self, width: int, height: int) -> _Geometry:
        if self._geometry is not None and self._geometry.camera.image_size == (width, height):
            return self._geometry
        cfg = self.config
        if self._camera is not None:
            camera = self._camera.scaled(width, height)
        else:
            camera = CameraModel.pinhole(width, height, cfg.default_horizontal_fov_deg)
        if cfg.uses_ground_points:
            image_pts = np.array(cfg.ground_points_image_px, dtype=np.float64).reshape(-1, 2)
            ref_w, ref_h = cfg.ground_points_image_size
            if (ref_w, ref_h) == (0, 0):
                ref_w, ref_h = width, height
            image_pts *= np.array([width / ref_w, height / ref_h])
            ground_pts = np.array(cfg.ground_points_m, dtype=np.float64).reshape(-1, 2)
            projection = GroundProjection.from_point_pairs(camera, image_pts, ground_pts)
        else:
            projection = GroundProjection.from_mounting(
                camera, cfg.camera_height_m, math.radians(cfg.camera_pitch_deg),
                math.radians(cfg.camera_yaw_deg), math.radians(cfg.camera_roll_deg),
                cfg.camera_x_m, cfg.camera_y_m)
        bev = BirdsEyeView(projection, cfg.bev_near_m, cfg.bev_far_m, cfg.bev_half_width_m,
                           cfg.bev_lateral_resolution_m, cfg.bev_longitudinal_resolution_m,
                           int(round(cfg.ignore_bottom_fraction * height)))
        edges = np.linspace(bev.near_m, bev.far_m, cfg.window_count + 1)
        window_of_row = np.clip(np.searchsorted(edges, bev.x_of_row, side='right') - 1, 0,
                                cfg.window_count - 1).astype(np.int64)
        central = np.abs(bev.y_of_col) < cfg.lane_width_m
        visible_rows = bev.valid[:, central].mean(axis=1)
        window_visible = np.array([visible_rows[window_of_row == k].mean()
                                   if np.any(window_of_row == k) else 0.0
                                   for k in range(cfg.window_count)])
        mask_params = MaskParameters(
            int(round(cfg.marking_width_m / cfg.bev_lateral_resolution_m)),
            cfg.white_contrast_min, cfg.white_contrast_relative, cfg.yellow_contrast_min,
            cfg.yellowness_min, cfg.white_chroma_max, cfg.seam_contrast_min)
        # Pixel curves start at the lowest road row shown (the image bottom, or the hood line)
        # and are sampled densely near, where a metre spans many rows.
        bottom_row = height - 1.0 - round(cfg.ignore_bottom_fraction * height)
        bottom = projection.image_to_ground(np.array([[width / 2.0, bottom_row]]))[0, 0]
        bottom_m = float(bottom) if np.isfinite(bottom) else bev.near_m
        pixel_xs = np.geomspace(max(0.5, min(bottom_m, bev.near_m)), bev.far_m, 40)
        path_xs = np.arange(bev.near_m, bev.far_m + 1e-9, cfg.path_step_m)
        self._geometry = _Geometry(camera, projection, bev, window_of_row, edges,
                                   window_visible, mask_params, pixel_xs, path_xs,
                                   np.vstack([np.ones_like(pixel_xs), pixel_xs, pixel_xs ** 2]),
                                   np.vstack([np.ones_like(path_xs), path_xs, path_xs ** 2]),
                                   pixel_xs.tolist(), path_xs.tolist())
        return self._geometry

    # --- measurement ----------------------------------------------------------------------------

    def _measure(self, pixels: MarkingPixels, geometry: _Geometry
                 ) -> dict[str, BoundaryFit | None]:
        cfg = self.config
        fits: dict[str, BoundaryFit | None] = {}
        for side in SIDES:
            track = self._tracks[side]
            fit = None
            if track.active:
                indices = band_search(pixels, track.coefficients, cfg.search_margin_m)
                fit = self._fit(pixels, indices, track.coefficients[2])
            fits[side] = fit
        missing = [side for side in SIDES if fits[side] is None]
        if not missing:
            return fits
        near = geometry.bev.near_m
        peaks = histogram_peaks(pixels.view_xs, pixels.view_ys, near + _HISTOGRAM_RANGE_M,
                                cfg.bev_half_width_m, cfg.bev_lateral_resolution_m,
                                cfg.window_min_pixels)
        expected: dict[str, float | None] = {}
        for side in SIDES:
            other = _OTHER[side]
            offset = _SIGN[side] * self._lane_width_m
            if self._tracks[side].active:
                expected[side] = float(evaluate_polynomial(self._tracks[side].coefficients,
                                                           near + 5.0))
            elif fits[other] is not None:
                expected[side] = float(fits[other].lateral_at(near + 5.0)) + offset
            elif self._tracks[other].active:
                expected[side] = float(evaluate_polynomial(self._tracks[other].coefficients,
                                                           near + 5.0)) + offset
            else:
                expected[side] = None
        starts = choose_start_positions(peaks, self._lane_width_m,
                                        (cfg.lane_width_min_m, cfg.lane_width_max_m), expected)
        for side in missing:
            if starts[side] is None:
                continue
            prior = self._tracks[side]
            other_fit = fits[_OTHER[side]]
            other_track = self._tracks[_OTHER[side]]
            prior_c2 = (prior.coefficients[2] if prior.active
                        else other_fit.coefficients[2] if other_fit is not None else 0.0)
            indices = sliding_window_search(pixels, starts[side], cfg.window_margin_m,
                                            cfg.window_min_pixels, cfg.window_follow_margin_m)
            fits[side] = self._fit(pixels, indices, prior_c2)
            guide = (other_fit.coefficients if other_fit is not None
                     else other_track.coefficients if other_track.active else None)
            if fits[side] is None and guide is not None:
                # Sparse dashes in a curve: follow the other boundary's shape across the gaps.
                # Only as a fallback, because before the pitch is known the two boundaries are
                # not parallel in the view.
                indices = sliding_window_search(pixels, starts[side], cfg.window_margin_m,
                                                cfg.window_min_pixels,
                                                cfg.window_follow_margin_m, guide=guide)
                fits[side] = self._fit(pixels, indices, prior_c2)
        return fits

    def _fit(self, pixels: MarkingPixels, indices: np.ndarray, prior_c2: float
             ) -> BoundaryFit | None:
        cfg = self.config
        fit = fit_boundary(pixels, indices, cfg.window_min_pixels, cfg.quadratic_min_span_m,
                           float(prior_c2))
        if fit is None or fit.coverage < cfg.min_coverage:
            return None
        return fit

    def _check_plausibility(self, fits: dict[str, BoundaryFit | None], geometry: _Geometry
                            ) -> dict[str, BoundaryFit | None]:
        cfg = self.config
        near = geometry.bev.near_m
        checked: dict[str, BoundaryFit | None] = {}
        for side in SIDES:
            fit = fits[side]
            if fit is not None:
                mid = 0.5 * (fit.x_min_m + fit.x_max_m)
                side_y = _SIGN[side] * float(fit.lateral_at(near))
                if (abs(curvature_at(fit.coefficients, mid)) > cfg.max_curvature_per_m
                        or not -0.5 < side_y < cfg.lane_width_max_m + 0.5):
                    fit = None
            checked[side] = fit
        left, right = checked['left'], checked['right']
        if left is None or right is None:
            return checked
        lo = min(left.x_min_m, right.x_min_m)
        hi = max(left.x_max_m, right.x_max_m, lo + 5.0)
        # Nine widths in plain floats: numpy's per-call cost exceeds the arithmetic.
        d0, d1, d2 = (a - b for a, b in zip(left.coefficients, right.coefficients))
        widths = [d0 + d1 * x + d2 * (x * x) for x in (lo + (hi - lo) * u for u in _WIDTH_STEPS)]
        narrowest, widest = min(widths), max(widths)
        if (narrowest >= cfg.lane_width_min_m and widest <= cfg.lane_width_max_m
                and widest - narrowest <= cfg.max_width_variation_m):
            return checked
        trust = {}
        for side in SIDES:
            track = self._tracks[side]
            fit = checked[side]
            penalty = (0.3 if track.active
                       and track.deviation_m(fit) > cfg.outlier_threshold_m else 1.0)
            trust[side] = fit.quality * penalty
        worse = 'left' if trust['left'] < trust['right'] else 'right'
        checked[worse] = None
        return checked

    def _follow_lane_change(self) -> None:
        """Swap tracks when the vehicle crosses a boundary (it becomes the other side's)."""
        left, right = self._tracks['left'], self._tracks['right']
        if left.active and evaluate_polynomial(left.coefficients, 0.0) < -0.2:
            right.take_over(left)
            left.reset()
        elif right.active and evaluate_polynomial(right.coefficients, 0.0) > 0.2:
            left.take_over(right)
            right.reset()

    # --- output ---------------------------------------------------------------------------------

    def _estimate(self, stamp_ns: int, geometry: _Geometry) -> LaneEstimate:
        cfg = self.config
        width = self._lane_width_m
        states: dict[str, tuple | None] = {}
        for side in SIDES:
            track = self._tracks[side]
            if track.active:
                states[side] = (track.coefficients.copy(), track.confidence,
                                (track.x_min_m, track.x_max_m), False)
            else:
                states[side] = None
        for side in SIDES:
            other = states[_OTHER[side]]
            own = states[side]
            if other is None or other[3]:
                continue
            inferred_conf = other[1] * cfg.inferred_confidence_factor
            if own is None or (own[1] < cfg.min_confidence and inferred_conf > own[1]):
                coefficients = other[0].copy()
                coefficients[0] += _SIGN[side] * width
                states[side] = (coefficients, inferred_conf, other[2], True)
        if states['left'] is not None and states['right'] is not None:
            left, right = states['left'], states['right']
            states['center'] = (0.5 * (left[0] + right[0]), min(left[1], right[1]),
                                (min(left[2][0], right[2][0]), max(left[2][1], right[2][1])),
                                left[3] or right[3])
        else:
            states['center'] = None
        curves = self._curves(states, geometry)
        left, right, center = curves['left'], curves['right'], curves['center']
        offset = heading = curvature = math.nan
        valid = left.valid and right.valid
        if valid:
            offset = -float(center.lateral_at(0.0))
            heading = -center.heading_at(0.0)
            curvature = center.curvature_at(0.0)
        return LaneEstimate(stamp_ns, geometry.camera.image_size, left, right, center,
                            offset, heading, curvature, width, valid, self._pitch_offset_rad)

    def _curves(self, states: dict[str, tuple | None], geometry: _Geometry
                ) -> dict[str, LaneCurve]:
        """Turn (coefficients, confidence, x range, inferred) states into LaneCurves."""
        cfg = self.config
        bev = geometry.bev
        curves = dict.fromkeys(_CURVE_NAMES, _NO_CURVE)
        names = [name for name in _CURVE_NAMES if states[name] is not None]
        if not names:
            return curves
        # All curves at once on one distance grid, one projection (the pitch correction
        # composed into it): per-call overhead, not arithmetic, is what costs at these sizes.
        coefficients = np.array([states[name][0] for name in names])
        fars = [min(bev.far_m, max(states[name][2][1], bev.near_m + 5.0) + 5.0)
                for name in names]
        xs = geometry.pixel_xs
        ground = np.empty((len(names), len(xs), 2))
        ground[:, :, 0] = xs
        ground[:, :, 1] = coefficients @ geometry.pixel_powers
        # Road points to the view the projection was built for: the inverse pitch correction.
        pre = (None if self._pitch_offset_rad == 0.0 else
               pitch_homography(-self._pitch_offset_rad, self._yaw_rad, self._camera_xyz))
        pixels = geometry.projection.ground_to_image(ground.reshape(-1, 2), pre).reshape(
            ground.shape)
        finite = np.isfinite(pixels[:, :, 0])
        pixel_curves = {}
        for k, name in enumerate(names):
            shown = bisect.bisect_right(geometry.pixel_xs_list, fars[k])  # xs <= far
            pixel_curves[name] = pixels[k, :shown][finite[k, :shown]]
        if cfg.extend_to_horizon and 'left' in pixel_curves and 'right' in pixel_curves:
            stop_row = self._horizon_stop_row(pixel_curves['left'], pixel_curves['right'],
                                              geometry)
            pixel_curves = {name: _prolong(points, stop_row)
                            for name, points in pixel_curves.items()}
        path_x = geometry.path_xs
        path_y = coefficients @ geometry.path_powers
        for k, name in enumerate(names):
            _, confidence, _, inferred = states[name]
            inside = bisect.bisect_right(geometry.path_xs_list, fars[k] + 1e-9)
            # every array here is new (slices of this frame's products are copied by the
            # stacking and masking that made them), so no defensive copies are needed
            curves[name] = LaneCurve.from_owned(
                tuple(coefficients[k].tolist()), (bev.near_m, fars[k]),
                np.column_stack([path_x[:inside], path_y[k, :inside]]), pixel_curves[name],
                float(confidence), bool(confidence >= cfg.min_confidence), bool(inferred))
        return curves

    def _horizon_stop_row(self, left_px: np.ndarray, right_px: np.ndarray,
                          geometry: _Geometry) -> float:
        """Return the image row where prolonged pixel boundaries stop.

        Beyond the bird's-eye range a lane stays visible up to near the horizon. The far-end
        tangents of the two boundaries meet at the measured vanishing point, which is right
        even when the road pitch differs from the mounting pitch; the row stops a margin below
        it (or below the mounting horizon when the tangents do not meet sensibly).
        """
        width, height = geometry.camera.image_size
        stop_row = geometry.projection.horizon_row()
        if len(left_px) >= 6 and len(right_px) >= 6:
            p1, d1 = left_px[-1], left_px[-1] - left_px[-6]
            p2, d2 = right_px[-1], right_px[-1] - right_px[-6]
            # p1 + t d1 = p2 + s d2, by Cramer's rule
            determinant = float(d1[1] * d2[0] - d1[0] * d2[1])
            if abs(determinant) > 1e-9:
                gap = p2 - p1
                t = float(gap[1] * d2[0] - gap[0] * d2[1]) / determinant
                vanishing = p1 + t * d1
                if (t > 0 and -0.5 * width < vanishing[0] < 1.5 * width
                        and -height < vanishing[1] < min(p1[1], p2[1])):
                    stop_row = float(vanishing[1])
        return stop_row + self.config.horizon_margin_fraction * height


def _window_centroids(pixels: MarkingPixels, indices: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Return the view (x, y) centroid of a boundary's pixels in each window it occupies."""
    windows = pixels.window[indices]
    counts = np.bincount(windows, minlength=pixels.window_count)
    occupied = counts > 0
    xs = np.bincount(windows, pixels.view_xs[indices], pixels.window_count)[occupied]
    ys = np.bincount(windows, pixels.view_ys[indices], pixels.window_count)[occupied]
    return xs / counts[occupied], ys / counts[occupied]


_PROLONG_STEPS = np.linspace(0.0, 1.0, 6)[1:, None]


def _prolong(points_px: np.ndarray, stop_row: float) -> np.ndarray:
    """Append points along the last direction of a near-to-far pixel curve up to ``stop_row``."""
    if len(points_px) < 6:
        return points_px
    end_u, end_v = points_px[-1].tolist()
    back_u, back_v = points_px[-6].tolist()
    du, dv = end_u - back_u, end_v - back_v
    if dv >= -1e-6 or end_v <= stop_row:
        return points_px
    t_stop = (stop_row - end_v) / dv
    extra = _PROLONG_STEPS * (t_stop * du, t_stop * dv) + (end_u, end_v)
    return np.concatenate([points_px, extra])
