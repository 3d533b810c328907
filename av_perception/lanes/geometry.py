"""Flat-ground geometry: image pixels <-> road metres, and the metric bird's-eye view.

Frames: the vehicle frame has x forward, y left, z up (REP-103), origin on the road below the
vehicle reference point; the camera optical frame has x right, y down, z forward. A flat road
makes the map from road (x, y) to undistorted pixels a homography H; lens distortion is applied
on top of it, so one precomputed ``cv2.remap`` takes the raw (distorted) camera image straight to
the bird's-eye view, undistortion included.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.errors import LaneError

# Base rotation from vehicle axes to optical axes for a camera looking straight ahead:
# optical x = -vehicle y, optical y = -vehicle z, optical z = vehicle x.
_VEHICLE_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def mounting_rotation(pitch_rad: float, yaw_rad: float = 0.0, roll_rad: float = 0.0
                      ) -> np.ndarray:
    """Return R (3x3) mapping vehicle-frame vectors to optical-frame vectors.

    Positive pitch looks down, positive yaw looks left, positive roll turns the image
    clockwise as seen by the camera (right-hand rotation about the forward axis).
    """
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    rot_z = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    rot_y = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    camera_in_vehicle = rot_z @ rot_y @ rot_x  # columns: camera body axes in the vehicle frame
    return _VEHICLE_TO_OPTICAL @ camera_in_vehicle.T


class GroundProjection:
    """Maps road points (x forward, y left, metres) to raw image pixels and back.

    ``homography`` maps (x, y, 1) on the road to undistorted pixel coordinates of ``camera``,
    scaled so that the third component is positive in front of the camera (it is the depth
    for :meth:`from_mounting`); distortion is applied by the camera model. Points behind the
    camera, or so far outside
    the field of view that the distortion polynomial would fold them back into the image,
    come out as NaN.
    """

    def __init__(self, homography: np.ndarray, camera: CameraModel) -> None:
        """Wrap a road-to-undistorted-pixel homography of ``camera``."""
        homography = np.asarray(homography, dtype=np.float64)
        if homography.shape != (3, 3) or not np.all(np.isfinite(homography)):
            raise LaneError(f'homography must be a finite 3x3 matrix, got {homography!r}')
        if abs(np.linalg.det(homography)) < 1e-12:
            raise LaneError('homography is singular: the road plane is seen edge-on')
        self.homography = homography
        self.camera = camera
        self._inverse = np.linalg.inv(homography)
        self._k_inv = np.linalg.inv(camera.k)
        self._bounds = _normalized_bounds(camera)
        self._to_normalized = self._k_inv @ homography
        k = camera.k
        self._focal = np.array([k[0, 0], k[1, 1]])
        self._centre = np.array([k[0, 2], k[1, 2]])
        self._distorted = camera.has_distortion
        self._bounds_mid = 0.5 * (self._bounds[0] + self._bounds[1])
        self._bounds_half = 0.5 * (self._bounds[1] - self._bounds[0])

    @classmethod
    def from_mounting(cls, camera: CameraModel, height_m: float, pitch_rad: float,
                      yaw_rad: float = 0.0, roll_rad: float = 0.0, x_m: float = 0.0,
                      y_m: float = 0.0) -> 'GroundProjection':
        """Build from intrinsics and the camera pose: height above the road, angles, position."""
        if not height_m > 0:
            raise LaneError(f'camera height {height_m!r} m: must be > 0')
        rotation = mounting_rotation(pitch_rad, yaw_rad, roll_rad)
        position = np.array([x_m, y_m, height_m])
        extrinsic = np.column_stack([rotation[:, 0], rotation[:, 1], -rotation @ position])
        return cls(camera.k @ extrinsic, camera)

    @classmethod
    def from_point_pairs(cls, camera: CameraModel, image_points_px: Sequence[Sequence[float]],
                         ground_points_m: Sequence[Sequence[float]]) -> 'GroundProjection':
        """Build from four (or more) raw-image pixels and the road points (x, y) they show."""
        image_pts = np.asarray(image_points_px, dtype=np.float64).reshape(-1, 2)
        ground_pts = np.asarray(ground_points_m, dtype=np.float64).reshape(-1, 2)
        if len(image_pts) < 4 or len(image_pts) != len(ground_pts):
            raise LaneError(f'need >= 4 matching image and ground points, got '
                            f'{len(image_pts)} and {len(ground_pts)}')
        undistorted = camera.undistort_pixels(image_pts)
        undistorted = undistorted @ camera.k[:2, :2].T + camera.k[:2, 2]
        homography, _ = cv2.findHomography(ground_pts, undistorted, 0)
        if homography is None:
            raise LaneError(f'no homography fits image points {image_pts.tolist()} and ground '
                            f'points {ground_pts.tolist()} (collinear?)')
        # A fitted homography has an arbitrary scale sign: make w > 0 for the given points,
        # which the camera sees.
        depth = homography[2, :2] @ ground_pts.mean(axis=0) + homography[2, 2]
        return cls(homography if depth > 0 else -homography, camera)

    def ground_to_image(self, points_m: np.ndarray, pre: np.ndarray | None = None
                        ) -> np.ndarray:
        """Return raw-image pixels (N, 2) of road points (N, 2); NaN where not visible.

        ``pre``: a road-plane homography to apply to the points first (such as
        :func:`~av_perception.lanes.pitch.pitch_homography`), composed with the projection so
        that both cost one product; points it maps to ``w <= 1e-9`` are not visible.
        """
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
        to_normalized = self._to_normalized
        if pre is None:
            homog = pts @ to_normalized.T[:2] + to_normalized[:, 2]
            ahead = homog[:, 2:3] > 1e-9
        else:
            # rows: the composed projection, then pre's own w (is the point on the road?)
            composed = np.vstack([to_normalized @ pre, pre[2]])
            homog = pts @ composed.T[:2] + composed[:, 2]
            ahead = (homog[:, 2:3] > 1e-9) & (homog[:, 3:] > 1e-9)
        depth = homog[:, 2:3]
        normalized = np.divide(homog[:, :2], depth, out=np.full((len(pts), 2), np.inf),
                               where=ahead)
        # inside [lo, hi] in both coordinates (inf, i.e. not ahead, is not)
        visible = (np.abs(normalized - self._bounds_mid) <= self._bounds_half).all(axis=1)
        if not self._distorted:
            # Plain pinhole: K is all there is (and far cheaper than cv2.projectPoints).
            out = normalized * self._focal + self._centre
            return np.where(visible[:, None], out, np.nan)
        out = np.full((len(pts), 2), np.nan)
        if np.any(visible):
            out[visible] = self.camera.distort_normalized(normalized[visible])
        return out

    def image_to_ground(self, pixels: np.ndarray) -> np.ndarray:
        """Return road points (N, 2) of raw-image pixels (N, 2); NaN at or above the horizon."""
        normalized = self.camera.undistort_pixels(pixels)
        homog = np.hstack([normalized, np.ones((len(normalized), 1))])
        ground = homog @ (self._inverse @ self.camera.k).T
        out = np.full((len(ground), 2), np.nan)
        ahead = ground[:, 2] > 1e-12
        out[ahead] = ground[ahead, :2] / ground[ahead, 2:3]
        return out

    def horizon_row(self) -> float:
        """Return the image row of the horizon straight ahead (may lie outside the image)."""
        far = self.homography @ np.array([1.0, 0.0, 0.0])
        if abs(far[2]) < 1e-12:
            return -math.inf
        return float(far[1] / far[2])


def _normalized_bounds(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Return (low, high) normalised coordinates of the image plus a margin.

    Distortion polynomials fold far-off-axis rays back into the image; limiting projections
    to the undistorted image area (+15 %) keeps those ghosts out of maps and overlays.
    """
    w, h = camera.width, camera.height
    u = np.linspace(0, w - 1, 17)
    v = np.linspace(0, h - 1, 11)
    border = np.vstack([np.column_stack([u, np.zeros_like(u)]),
                        np.column_stack([u, np.full_like(u, h - 1)]),
                        np.column_stack([np.zeros_like(v), v]),
                        np.column_stack([np.full_like(v, w - 1), v])])
    normalized = camera.undistort_pixels(border)
    lo, hi = normalized.min(axis=0), normalized.max(axis=0)
    margin = 0.15 * (hi - lo)
    return lo - margin, hi + margin


class BirdsEyeView:
    """A metric top view of the road ahead, warped from the raw image with one remap.

    Row 0 is the far edge (``far_m``), the last row the near edge; column 0 is the left edge
    (y = +half_width_m). Pixel centres sit at ``x_of_row`` / ``y_of_col`` metres.
    ``valid`` marks view pixels that see the image (and not the ignored bottom rows, e.g. the
    hood); the rest is filled with zeros and must not produce detections.
    """

    def __init__(self, projection: GroundProjection, near_m: float, far_m: float,
                 half_width_m: float, lateral_resolution_m: float,
                 longitudinal_resolution_m: float, ignore_bottom_rows: int = 0) -> None:
        """Precompute the warp maps for ``projection.camera``'s image size."""
        camera = projection.camera
        bottom_row = camera.height - 1 - ignore_bottom_rows
        if bottom_row < camera.height // 4:
            raise LaneError(f'ignore_bottom_rows={ignore_bottom_rows}: leaves too little of the '
                            f'{camera.height}-row image')
        nearest = projection.image_to_ground(np.array([[camera.width / 2.0, bottom_row]]))[0, 0]
        if not np.isfinite(nearest):
            raise LaneError('the bottom image row does not see the road: check the camera '
                            'pitch/height or the ground points')
        near_m = max(near_m, float(nearest))
        if far_m <= near_m + 4 * longitudinal_resolution_m:
            raise LaneError(f"bird's-eye view range {near_m:.1f}..{far_m:.1f} m is empty: the "
                            f'nearest visible road is {nearest:.1f} m ahead')
        self.projection = projection
        self.near_m, self.far_m = near_m, far_m
        self.half_width_m = half_width_m
        self.lateral_resolution_m = lateral_resolution_m
        self.longitudinal_resolution_m = longitudinal_resolution_m
        rows = int(math.ceil((far_m - near_m) / longitudinal_resolution_m))
        cols = int(math.ceil(2.0 * half_width_m / lateral_resolution_m))
        self.shape = (rows, cols)
        self.x_of_row = far_m - (np.arange(rows) + 0.5) * longitudinal_resolution_m
        self.y_of_col = half_width_m - (np.arange(cols) + 0.5) * lateral_resolution_m
        grid_x, grid_y = np.meshgrid(self.x_of_row, self.y_of_col, indexing='ij')
        pixels = projection.ground_to_image(np.column_stack([grid_x.ravel(), grid_y.ravel()]))
        map_x = pixels[:, 0].reshape(rows, cols).astype(np.float32)
        map_y = pixels[:, 1].reshape(rows, cols).astype(np.float32)
        inside = (np.isfinite(map_x) & np.isfinite(map_y) & (map_x >= 0)
                  & (map_x <= camera.width - 1) & (map_y >= 0) & (map_y <= bottom_row))
        map_x[~inside] = -10.0
        map_y[~inside] = -10.0
        # Shrink the valid area by a pixel so the zero fill outside never looks like an edge.
        self.valid = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        # Fixed-point maps make remap roughly twice as fast as float maps.
        self._map1, self._map2 = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)

    @property
    def image_size(self) -> tuple[int, int]:
        """Return the (width, height) of the camera images this view warps."""
        return self.projection.camera.image_size

    def warp(self, image: np.ndarray) -> np.ndarray:
        """Return the bird's-eye view of a raw camera image (any channel count)."""
        return cv2.remap(image, self._map1, self._map2, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def ground_to_view(self, points_m: np.ndarray) -> np.ndarray:
        """Return view pixel coordinates (col, row) (N, 2) of road points (N, 2)."""
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
        col = (self.half_width_m - pts[:, 1]) / self.lateral_resolution_m - 0.5
        row = (self.far_m - pts[:, 0]) / self.longitudinal_resolution_m - 0.5
        return np.column_stack([col, row])


def estimate_mounting_from_lines(camera: CameraModel, left_line_px: Sequence[Sequence[float]],
                                 right_line_px: Sequence[Sequence[float]],
                                 lane_width_m: float) -> dict[str, float]:
    """Estimate camera pitch, yaw and height from two straight lane lines in one image.

    Each line is given by two or more raw-image pixels on a straight, flat road; the lines
    meet at the vanishing point, whose row gives the pitch and column the yaw; the known lane
    width then gives the height. Roll is assumed zero. Returns ``{'pitch_deg', 'yaw_deg',
    'height_m'}``, the numbers a preset's mounting parameters need.
    """
    lines = []
    for name, points in (('left', left_line_px), ('right', right_line_px)):
        normalized = camera.undistort_pixels(np.asarray(points, dtype=np.float64))
        if len(normalized) < 2:
            raise LaneError(f'{name} line needs at least two points, got {points!r}')
        # total least squares line through the points in normalised coordinates
        centre = normalized.mean(axis=0)
        _, _, vt = np.linalg.svd(normalized - centre)
        direction = vt[0]
        lines.append(np.cross(np.append(centre, 1.0), np.append(centre + direction, 1.0)))
    vanishing = np.cross(lines[0], lines[1])
    if abs(vanishing[2]) < 1e-12:
        raise LaneError('the two lane lines are parallel in the image: no vanishing point')
    vx, vy = vanishing[:2] / vanishing[2]
    # The vanishing ray is the road's forward direction; for pitch p and yaw a it is
    # optical (tan(a) / cos(p), -tan(p), 1) (see mounting_rotation).
    pitch = math.atan(-vy)
    yaw = math.atan(vx * math.cos(pitch))
    projection = GroundProjection.from_mounting(camera, 1.0, pitch, yaw)
    # At height 1 m, measure the lateral gap of the two lines on the road and rescale.
    rows = []
    for points in (left_line_px, right_line_px):
        pts = np.asarray(points, dtype=np.float64)
        rows.append(projection.image_to_ground(pts))
    left_y = np.nanmean(rows[0][:, 1])
    right_y = np.nanmean(rows[1][:, 1])
    gap = left_y - right_y
    if not np.isfinite(gap) or gap <= 0:
        raise LaneError('the left line does not lie left of the right line on the road')
    return {'pitch_deg': math.degrees(pitch), 'yaw_deg': math.degrees(yaw),
            'height_m': lane_width_m / gap}
