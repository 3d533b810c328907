"""Camera intrinsics (K, D), ROS camera_info YAML files, undistortion and chessboard calibration.

:class:`CameraModel` holds what a sensor_msgs/CameraInfo carries for a monocular camera. It is
read from and written to the YAML layout of ROS ``camera_calibration`` /
``camera_info_manager`` (``image_width``, ``camera_matrix: {rows, cols, data}``, ...), so a file
written by :func:`calibrate_chessboard` + :meth:`CameraModel.save_yaml` is a drop-in
``camera_info_url`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import cv2
import numpy as np
import yaml

from av_perception.lanes.errors import LaneError

# Distortion models of sensor_msgs/CameraInfo this module can apply; 'fisheye' is what some
# drivers write for 'equidistant'.
PLUMB_BOB = 'plumb_bob'
RATIONAL_POLYNOMIAL = 'rational_polynomial'
EQUIDISTANT = 'equidistant'
DISTORTION_MODELS = (PLUMB_BOB, RATIONAL_POLYNOMIAL, EQUIDISTANT)
_MODEL_ALIASES = {'fisheye': EQUIDISTANT, 'none': PLUMB_BOB, '': PLUMB_BOB}
_IDENTITY3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera at one image size, as in sensor_msgs/CameraInfo.

    ``camera_matrix`` is K row-major (9 values); ``distortion_coefficients`` is D (plumb_bob:
    k1 k2 p1 p2 [k3 [k4 k5 k6]]; equidistant: k1 k2 k3 k4). ``projection_matrix`` (P, 12 values)
    is kept for round trips; an empty one means ``[K | 0]``.
    """

    width: int
    height: int
    camera_matrix: tuple[float, ...]
    distortion_coefficients: tuple[float, ...] = ()
    distortion_model: str = PLUMB_BOB
    camera_name: str = 'camera'
    rectification_matrix: tuple[float, ...] = _IDENTITY3
    projection_matrix: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        """Normalise the sequences to float tuples and check every value."""
        for name in ('width', 'height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise LaneError(f'CameraModel.{name}={value!r}: must be a positive integer')
            object.__setattr__(self, name, int(value))
        for name, sizes in (('camera_matrix', (9,)), ('distortion_coefficients', None),
                            ('rectification_matrix', (9,)), ('projection_matrix', (0, 12))):
            values = _float_tuple(getattr(self, name), f'CameraModel.{name}')
            if sizes is not None and len(values) not in sizes:
                raise LaneError(f'CameraModel.{name}={values!r}: needs {sizes[-1]} values')
            object.__setattr__(self, name, values)
        model = _MODEL_ALIASES.get(self.distortion_model, self.distortion_model)
        if model not in DISTORTION_MODELS:
            raise LaneError(f'CameraModel.distortion_model={self.distortion_model!r}: must be one '
                            f'of {list(DISTORTION_MODELS)}')
        object.__setattr__(self, 'distortion_model', model)
        count = len(self.distortion_coefficients)
        if model == EQUIDISTANT and count not in (0, 4):
            raise LaneError(f'CameraModel.distortion_coefficients={self.distortion_coefficients!r}'
                            ': the equidistant model needs 4 values (k1..k4)')
        if model != EQUIDISTANT and count not in (0, 4, 5, 8, 12, 14):
            raise LaneError(f'CameraModel.distortion_coefficients={self.distortion_coefficients!r}'
                            f': {model} needs 4, 5, 8, 12 or 14 values')
        fx, _, cx, _, fy, cy = self.camera_matrix[:6]
        if not (fx > 0 and fy > 0):
            raise LaneError(f'CameraModel.camera_matrix={self.camera_matrix!r}: fx and fy must '
                            'be > 0')
        if not (0 <= cx <= self.width and 0 <= cy <= self.height):
            raise LaneError(f'CameraModel.camera_matrix={self.camera_matrix!r}: principal point '
                            f'({cx}, {cy}) lies outside the {self.width}x{self.height} image')

    # --- constructors -------------------------------------------------------------------------

    @classmethod
    def pinhole(cls, width: int, height: int, horizontal_fov_deg: float,
                camera_name: str = 'camera') -> 'CameraModel':
        """Return a distortion-free camera with square pixels and a centred principal point."""
        if not 1.0 <= horizontal_fov_deg <= 179.0:
            raise LaneError(f'horizontal_fov_deg={horizontal_fov_deg!r}: must be in [1, 179]')
        focal = 0.5 * width / math.tan(math.radians(horizontal_fov_deg) / 2.0)
        matrix = (focal, 0.0, width / 2.0, 0.0, focal, height / 2.0, 0.0, 0.0, 1.0)
        return cls(width, height, matrix, camera_name=camera_name)

    @classmethod
    def from_camera_info(cls, width: int, height: int, k: Sequence[float],
                         d: Sequence[float] = (), distortion_model: str = PLUMB_BOB,
                         p: Sequence[float] = (), camera_name: str = 'camera') -> 'CameraModel':
        """Build from the fields of a sensor_msgs/CameraInfo message (what a node receives)."""
        return cls(int(width), int(height), tuple(k), tuple(d), distortion_model or PLUMB_BOB,
                   camera_name, projection_matrix=tuple(p))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], source: str = 'camera info') -> 'CameraModel':
        """Build from a parsed camera_info YAML mapping (camera_calibration layout)."""
        try:
            return cls(
                width=document['image_width'], height=document['image_height'],
                camera_matrix=tuple(document['camera_matrix']['data']),
                distortion_coefficients=tuple(
                    (document.get('distortion_coefficients') or {}).get('data') or ()),
                distortion_model=document.get('distortion_model') or PLUMB_BOB,
                camera_name=str(document.get('camera_name') or 'camera'),
                rectification_matrix=tuple(
                    (document.get('rectification_matrix') or {}).get('data') or _IDENTITY3),
                projection_matrix=tuple(
                    (document.get('projection_matrix') or {}).get('data') or ()))
        except (KeyError, TypeError) as err:
            raise LaneError(f'{source}: not a camera_info document, missing or malformed '
                            f'{err}') from err

    @classmethod
    def load_yaml(cls, path: str | Path) -> 'CameraModel':
        """Read a ROS camera_info YAML file."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise LaneError(f'cannot read camera info file {path}: {err}') from err
        if not isinstance(document, dict):
            raise LaneError(f'{path}: camera info file must hold a mapping')
        return cls.from_dict(document, str(path))

    # --- views ----------------------------------------------------------------------------------

    @property
    def k(self) -> np.ndarray:
        """Return K as a new 3x3 float64 array."""
        return np.array(self.camera_matrix, dtype=np.float64).reshape(3, 3)

    @property
    def d(self) -> np.ndarray:
        """Return D as a new float64 array (five zeros for a distortion-free plumb_bob camera)."""
        if not self.distortion_coefficients:
            return np.zeros(4 if self.distortion_model == EQUIDISTANT else 5)
        return np.array(self.distortion_coefficients, dtype=np.float64)

    @property
    def has_distortion(self) -> bool:
        """Return True when any distortion coefficient is non-zero."""
        return any(abs(c) > 0.0 for c in self.distortion_coefficients)

    @property
    def image_size(self) -> tuple[int, int]:
        """Return (width, height)."""
        return self.width, self.height

    def p(self) -> np.ndarray:
        """Return P as a 3x4 array; ``[K | 0]`` when the model has none."""
        if self.projection_matrix:
            return np.array(self.projection_matrix, dtype=np.float64).reshape(3, 4)
        return np.hstack([self.k, np.zeros((3, 1))])

    def scaled(self, width: int, height: int) -> 'CameraModel':
        """Return the model for the same camera delivering ``width`` x ``height`` images.

        Resizing (binning, a resized stream) scales fx, cx by the width ratio and fy, cy by the
        height ratio; distortion coefficients are in normalised coordinates and stay. Aspect
        ratio changes larger than 1 % mean cropping, which cannot be inferred: that raises.
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) > 0.01:
            raise LaneError(f'image size {width}x{height} does not match the camera model '
                            f'{self.width}x{self.height} ({self.camera_name}) up to a scale')
        k = self.k
        k[0, :] *= sx
        k[1, :] *= sy
        p = ()
        if self.projection_matrix:
            pm = self.p()
            pm[0, :] *= sx
            pm[1, :] *= sy
            p = tuple(pm.ravel())
        return CameraModel(width, height, tuple(k.ravel()), self.distortion_coefficients,
                           self.distortion_model, self.camera_name, self.rectification_matrix,
                           p)

    def to_dict(self) -> dict[str, Any]:
        """Return the camera_info YAML mapping (camera_calibration layout)."""
        d = [float(v) for v in self.d]
        return {
            'image_width': self.width,
            'image_height': self.height,
            'camera_name': self.camera_name,
            'camera_matrix': {'rows': 3, 'cols': 3, 'data': [float(v) for v in self.k.ravel()]},
            'distortion_model': self.distortion_model,
            'distortion_coefficients': {'rows': 1, 'cols': len(d), 'data': d},
            'rectification_matrix': {'rows': 3, 'cols': 3,
                                     'data': [float(v) for v in self.rectification_matrix]},
            'projection_matrix': {'rows': 3, 'cols': 4,
                                  'data': [float(v) for v in self.p().ravel()]},
        }

    def save_yaml(self, path: str | Path) -> None:
        """Write a ROS camera_info YAML file."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        try:
            Path(path).write_text(text)
        except OSError as err:
            raise LaneError(f'cannot write camera info file {path}: {err}') from err

    # --- point operations -------------------------------------------------------------------

    def distort_normalized(self, normalized: np.ndarray) -> np.ndarray:
        """Map undistorted normalised coordinates (N, 2) to raw image pixels (N, 2)."""
        pts = np.ascontiguousarray(normalized, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return np.zeros((0, 2))
        xyz = np.hstack([pts, np.ones((len(pts), 1))])
        zero = np.zeros(3)
        if self.distortion_model == EQUIDISTANT:
            out, _ = cv2.fisheye.projectPoints(xyz.reshape(1, -1, 3), zero, zero, self.k,
                                               self.d[:4])
        else:
            out, _ = cv2.projectPoints(xyz, zero, zero, self.k, self.d)
        return out.reshape(-1, 2)

    def undistort_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Map raw image pixels (N, 2) to undistorted normalised coordinates (N, 2)."""
        pts = np.ascontiguousarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if len(pts) == 0:
            return np.zeros((0, 2))
        if self.distortion_model == EQUIDISTANT:
            out = cv2.fisheye.undistortPoints(pts, self.k, self.d[:4])
        elif self.has_distortion:
            out = cv2.undistortPoints(pts, self.k, self.d)
        else:
            k = self.k
            out = (pts - k[:2, 2]) / np.array([k[0, 0], k[1, 1]])
        return out.reshape(-1, 2)


def _float_tuple(values: Any, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    except (TypeError, ValueError) as err:
        raise LaneError(f'{name}={values!r}: must be numbers') from err
    if not all(math.isfinite(v) for v in out):
        raise LaneError(f'{name}={values!r}: must be finite')
    return out


class Undistorter:
    """Undistorts whole images of one camera with maps computed once.

    ``cv2.initUndistortRectifyMap`` + ``cv2.remap`` with fixed-point maps is several times
    faster per frame than ``cv2.undistort``, which rebuilds the maps on every call.
    ``alpha`` is as in ``cv2.getOptimalNewCameraMatrix``: 0 keeps only valid pixels, 1 keeps
    all source pixels.
    """

    def __init__(self, camera: CameraModel, alpha: float = 0.0) -> None:
        """Precompute the maps for ``camera``."""
        self.camera = camera
        size = camera.image_size
        if camera.distortion_model == EQUIDISTANT:
            new_k = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(
                camera.k, camera.d[:4], size, np.eye(3), balance=float(alpha))
            map1, map2 = cv2.fisheye.initUndistortRectifyMap(
                camera.k, camera.d[:4], np.eye(3), new_k, size, cv2.CV_16SC2)
        else:
            new_k, _ = cv2.getOptimalNewCameraMatrix(camera.k, camera.d, size, float(alpha),
                                                     size)
            map1, map2 = cv2.initUndistortRectifyMap(camera.k, camera.d, None, new_k, size,
                                                     cv2.CV_16SC2)
        self.new_camera_matrix = np.asarray(new_k, dtype=np.float64)
        self._map1, self._map2 = map1, map2

    def undistort(self, image: np.ndarray) -> np.ndarray:
        """Return the undistorted image (same size)."""
        height, width = image.shape[:2]
        if (width, height) != self.camera.image_size:
            raise LaneError(f'image {width}x{height} does not match the camera model '
                            f'{self.camera.width}x{self.camera.height}')
        return cv2.remap(image, self._map1, self._map2, cv2.INTER_LINEAR)


@dataclass(frozen=True)
class CalibrationResult:
    """A calibrated camera with its RMS reprojection error and which images were used."""

    camera: CameraModel
    rms_px: float
    used_images: tuple[str, ...]
    rejected_images: tuple[str, ...]


def find_chessboard(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Return the sub-pixel inner corners (N, 1, 2) float32 of a chessboard, or None.

    ``board`` is (columns, rows) of inner corners, e.g. (9, 6).
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    found, corners = cv2.findChessboardCorners(gray, board, flags=flags)
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3)
    refined = cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), criteria)
    return refined.reshape(-1, 1, 2).astype(np.float32)  # (N, 2) in OpenCV 5, (N, 1, 2) in 4


def board_object_points(board: tuple[int, int], square_size_m: float) -> np.ndarray:
    """Return the (N, 3) float32 board corner coordinates in metres, row by row."""
    cols, rows = board
    grid = np.zeros((rows * cols, 3), np.float32)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_size_m
    return grid


def calibrate_chessboard(images: Iterable[tuple[str, np.ndarray]], board: tuple[int, int],
                         square_size_m: float = 0.025, distortion_model: str = PLUMB_BOB,
                         camera_name: str = 'camera') -> CalibrationResult:
    """Calibrate one camera from (name, image) pairs showing a chessboard.

    Images where the board is not found are listed in ``rejected_images``; at least three
    good views are needed. The projection matrix is the ``alpha=0`` optimal new camera matrix,
    as ROS ``camera_calibration`` writes it for a monocular camera.
    """
    cols, rows = board
    if cols < 2 or rows < 2:
        raise LaneError(f'board={board!r}: needs at least 2x2 inner corners')
    if not square_size_m > 0:
        raise LaneError(f'square_size_m={square_size_m!r}: must be > 0')
    model = _MODEL_ALIASES.get(distortion_model, distortion_model)
    if model not in (PLUMB_BOB, EQUIDISTANT):
        raise LaneError(f'distortion_model={distortion_model!r}: calibration supports '
                        f'{PLUMB_BOB} and {EQUIDISTANT}')
    object_grid = board_object_points(board, square_size_m)
    size = None
    image_points, used, rejected = [], [], []
    for name, image in images:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise LaneError(f'{name}: not an image array')
        this_size = (image.shape[1], image.shape[0])
        if size is None:
            size = this_size
        elif this_size != size:
            # Some capture tools save a frame a pixel larger; cropping the right/bottom edge
            # keeps every pixel coordinate, so such views stay usable.
            extra_w, extra_h = this_size[0] - size[0], this_size[1] - size[1]
            if not (0 <= extra_w <= 2 and 0 <= extra_h <= 2):
                raise LaneError(f'{name}: image size {this_size[0]}x{this_size[1]} differs '
                                f'from the first image ({size[0]}x{size[1]})')
            image = image[:size[1], :size[0]]
        corners = find_chessboard(image, board)
        if corners is None:
            rejected.append(name)
        else:
            image_points.append(corners)
            used.append(name)
    if len(image_points) < 3:
        raise LaneError(f'chessboard {cols}x{rows} found in {len(image_points)} image(s), need '
                        f'at least 3 (rejected: {rejected})')
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    if model == EQUIDISTANT:
        objects = [object_grid.reshape(-1, 1, 3).astype(np.float64)] * len(image_points)
        flags = cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
        rms, k, d, _, _ = cv2.fisheye.calibrate(
            objects, [p.astype(np.float64) for p in image_points], size, np.eye(3),
            np.zeros(4), flags=flags, criteria=criteria)
        new_k = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(k, d, size, np.eye(3),
                                                                       balance=0.0)
    else:
        rms, k, d, _, _ = cv2.calibrateCamera([object_grid] * len(image_points), image_points,
                                              size, None, None, criteria=criteria)
        new_k, _ = cv2.getOptimalNewCameraMatrix(k, d, size, 0.0, size)
    projection = np.hstack([new_k, np.zeros((3, 1))])
    camera = CameraModel(size[0], size[1], tuple(np.asarray(k).ravel()),
                         tuple(np.asarray(d).ravel()), model, camera_name,
                         projection_matrix=tuple(projection.ravel()))
    return CalibrationResult(camera, float(rms), tuple(used), tuple(rejected))
