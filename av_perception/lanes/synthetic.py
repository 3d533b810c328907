"""Synthetic road frames with exactly known lane geometry (for tests and benchmarks).

The road is painted on the ground plane in vehicle-frame metres and seen through the same
:class:`~av_perception.lanes.geometry.GroundProjection` model the detector uses: every image
pixel is cast onto the road, so markings are exact (anti-aliased over the pixel footprint),
including lens distortion when the scene's camera has it. Lane boundaries are the
polynomials ``y = c0 +- width / 2 + c1 x + c2 x^2``, so the ground truth offset, heading and
curvature are exact too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import functools
import math

import cv2
import numpy as np

from av_perception.lanes.camera import CameraModel
from av_perception.lanes.config import LaneDetectorConfig
from av_perception.lanes.errors import LaneError
from av_perception.lanes.geometry import GroundProjection

MARKINGS = ('solid', 'dashed', 'none')
_COLOURS_BGR = {'white': (235.0, 235.0, 235.0), 'yellow': (40.0, 190.0, 225.0)}


@dataclass(frozen=True)
class SceneTruth:
    """The lane of a synthetic frame: polynomials (c0, c1, c2) and the derived quantities."""

    left: tuple[float, float, float]
    right: tuple[float, float, float]
    center: tuple[float, float, float]
    lateral_offset_m: float
    heading_error_rad: float
    curvature_per_m: float


@dataclass(frozen=True)
class RoadScene:
    """Everything that defines one synthetic frame.

    ``lateral_offset_m``, ``heading_error_rad`` and ``curvature_per_m`` follow
    :class:`~av_perception.lanes.estimate.LaneEstimate`'s conventions (vehicle left of the
    centre, pointing left of the lane, turning left are positive).
    """

    width: int = 640
    height: int = 360
    horizontal_fov_deg: float = 60.0
    distortion: tuple[float, ...] = ()
    camera_height_m: float = 1.5
    camera_pitch_deg: float = 3.0
    camera_x_m: float = 0.0
    lane_width_m: float = 3.6
    lateral_offset_m: float = 0.0
    heading_error_rad: float = 0.0
    curvature_per_m: float = 0.0
    marking_width_m: float = 0.15
    paint_contrast: float = 1.0  # 1: fresh paint; lower: worn (blends towards the road)
    left_marking: str = 'solid'
    right_marking: str = 'dashed'
    left_colour: str = 'yellow'
    right_colour: str = 'white'
    dash_length_m: float = 3.0
    dash_gap_m: float = 9.0
    dash_phase_m: float = 0.0
    road_grey: float = 95.0
    texture_sigma: float = 6.0
    noise_sigma: float = 2.0
    # (x_start, x_end, brightness factor) bands of shadow across the road
    shadows: tuple[tuple[float, float, float], ...] = ()
    # extra painted lines (c0, c1, c2, x_start, x_end) e.g. a distractor
    extra_lines: tuple[tuple[float, float, float, float, float], ...] = ()
    seed: int = 0
    truth: SceneTruth = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the markings and derive the ground truth."""
        for name in ('left_marking', 'right_marking'):
            if getattr(self, name) not in MARKINGS:
                raise LaneError(f'RoadScene.{name}={getattr(self, name)!r}: one of {MARKINGS}')
        for name in ('left_colour', 'right_colour'):
            if getattr(self, name) not in _COLOURS_BGR:
                raise LaneError(f'RoadScene.{name}={getattr(self, name)!r}: one of '
                                f'{list(_COLOURS_BGR)}')
        c0 = -self.lateral_offset_m
        c1 = -math.tan(self.heading_error_rad)
        c2 = 0.5 * self.curvature_per_m * (1.0 + c1 * c1) ** 1.5
        half = self.lane_width_m / 2.0
        truth = SceneTruth((c0 + half, c1, c2), (c0 - half, c1, c2), (c0, c1, c2),
                           self.lateral_offset_m, self.heading_error_rad, self.curvature_per_m)
        object.__setattr__(self, 'truth', truth)

    def replace(self, **changes) -> 'RoadScene':
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    def camera(self) -> CameraModel:
        """Return the scene's camera model."""
        pinhole = CameraModel.pinhole(self.width, self.height, self.horizontal_fov_deg)
        if not self.distortion:
            return pinhole
        return CameraModel(self.width, self.height, pinhole.camera_matrix,
                           tuple(self.distortion))

    def projection(self) -> GroundProjection:
        """Return the scene's road-to-image projection."""
        return GroundProjection.from_mounting(self.camera(), self.camera_height_m,
                                              math.radians(self.camera_pitch_deg),
                                              x_m=self.camera_x_m)

    def detector_config(self, **overrides) -> LaneDetectorConfig:
        """Return a detector configuration with this scene's mounting (and overrides)."""
        values = {'camera_height_m': self.camera_height_m,
                  'camera_pitch_deg': self.camera_pitch_deg, 'camera_x_m': self.camera_x_m,
                  'lane_width_m': self.lane_width_m}
        values.update(overrides)
        return LaneDetectorConfig(**values)


def _line_coverage(lateral_gap: np.ndarray, half_width: float, footprint: np.ndarray
                   ) -> np.ndarray:
    """Fraction of a pixel (lateral footprint in metres) covered by a stripe."""
    return np.clip(0.5 + (half_width - np.abs(lateral_gap)) / footprint, 0.0, 1.0)


@functools.lru_cache(maxsize=8)
def _road_grid(width: int, height: int, fov_deg: float, distortion: tuple[float, ...],
               camera_height_m: float, pitch_deg: float, camera_x_m: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Road (x, y) of every pixel and the road mask, for one camera (cached: scenes share it)."""
    scene = RoadScene(width, height, fov_deg, distortion, camera_height_m, pitch_deg,
                      camera_x_m)
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.column_stack([cols.ravel(), rows.ravel()]).astype(np.float64)
    ground = scene.projection().image_to_ground(pixels)
    xs = ground[:, 0].reshape(height, width)
    ys = ground[:, 1].reshape(height, width)
    road = np.isfinite(xs) & (xs > 0.5)
    for array in (xs, ys, road):
        array.flags.writeable = False
    return np.where(road, xs, 1.0), np.where(road, ys, 0.0), road


def render_road_scene(scene: RoadScene) -> tuple[np.ndarray, SceneTruth]:
    """Return (BGR uint8 image, truth) for a scene."""
    camera = scene.camera()
    rng = np.random.default_rng(scene.seed)
    xs, ys, road = _road_grid(scene.width, scene.height, scene.horizontal_fov_deg,
                              tuple(scene.distortion), scene.camera_height_m,
                              scene.camera_pitch_deg, scene.camera_x_m)
    image = np.empty((scene.height, scene.width, 3))
    image[:] = (200.0, 160.0, 110.0)  # sky (BGR)
    # Lateral footprint of one pixel on the road: what anti-aliases a stripe edge.
    footprint = np.maximum(xs * 1.2 / camera.k[0, 0], 1e-3)
    truth = scene.truth
    c0, c1, c2 = truth.center
    centre_y = c0 + c1 * xs + c2 * xs * xs
    off_road = np.abs(ys - centre_y) > scene.lane_width_m / 2.0 + 2.5
    # road texture: fixed in road coordinates so it moves with the road, not the pixels
    grain = np.sin(xs * 7.3 + ys * 3.1) * np.cos(xs * 2.9 - ys * 5.7)
    grey = scene.road_grey + scene.texture_sigma * grain
    colour = np.repeat(grey[..., None], 3, axis=2)
    colour[off_road] = (60.0, 120.0, 80.0)  # verge
    for side, marking, paint in (('left', scene.left_marking, scene.left_colour),
                                 ('right', scene.right_marking, scene.right_colour)):
        if marking == 'none':
            continue
        b0, b1, b2 = getattr(truth, side)
        coverage = _line_coverage(ys - (b0 + b1 * xs + b2 * xs * xs),
                                  scene.marking_width_m / 2.0, footprint)
        if marking == 'dashed':
            period = scene.dash_length_m + scene.dash_gap_m
            coverage *= np.mod(xs + scene.dash_phase_m, period) < scene.dash_length_m
        coverage *= scene.paint_contrast
        colour += coverage[..., None] * (np.array(_COLOURS_BGR[paint]) - colour)
    for l0, l1, l2, x_start, x_end in scene.extra_lines:
        coverage = _line_coverage(ys - (l0 + l1 * xs + l2 * xs * xs),
                                  scene.marking_width_m / 2.0, footprint)
        coverage *= (xs >= x_start) & (xs <= x_end)
        colour += coverage[..., None] * (np.array(_COLOURS_BGR['white']) - colour)
    for x_start, x_end, factor in scene.shadows:
        colour[(xs >= x_start) & (xs <= x_end)] *= factor
    image[road] = colour[road]
    image += rng.normal(0.0, scene.noise_sigma, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def render_chessboard(camera: CameraModel, rays: np.ndarray, rvec, tvec,
                      board: tuple[int, int] = (9, 6), square_m: float = 0.03,
                      supersample: int = 2) -> np.ndarray:
    """Render a chessboard pose as ``camera`` sees it (BGR, distortion included).

    ``rays`` are the viewing rays (x, y, 1) of the supersampled pixels, from
    :func:`camera_rays` (computed once per camera). Each ray is intersected with the board
    plane; ``board`` counts inner corners, as OpenCV does.
    """
    height, width = camera.height * supersample, camera.width * supersample
    rotation, _ = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))
    normal = rotation[:, 2]
    origin = np.asarray(tvec, dtype=np.float64)
    depth = (normal @ origin) / (rays @ normal)
    board_xy = (rays * depth[:, None] - origin) @ rotation  # board frame: R^T (P - t)
    bx, by = board_xy[:, 0] / square_m, board_xy[:, 1] / square_m
    cols, rows = board
    squares = (bx >= -1) & (bx < cols) & (by >= -1) & (by < rows) & (depth > 0)
    margin = (bx >= -2) & (bx < cols + 1) & (by >= -2) & (by < rows + 1) & (depth > 0)
    dark = (np.floor(bx) + np.floor(by)) % 2 == 0
    image = np.full(len(rays), 150.0, dtype=np.float32)
    image[margin] = 245.0
    image[squares & dark] = 20.0
    image = cv2.resize(image.reshape(height, width), (camera.width, camera.height),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def camera_rays(camera: CameraModel, supersample: int = 2) -> np.ndarray:
    """Return the viewing ray (x, y, 1) of every supersampled pixel, distortion removed."""
    height, width = camera.height * supersample, camera.width * supersample
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = (np.column_stack([cols.ravel(), rows.ravel()]) + 0.5) / supersample - 0.5
    return np.hstack([camera.undistort_pixels(pixels), np.ones((len(pixels), 1))])
