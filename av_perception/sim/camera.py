"""Pinhole camera on the ego vehicle: intrinsics, extrinsics, projection and CameraInfo.

Vehicle frame (ROS base_link): origin on the ground below the centre of the rear axle, x
forward, y left, z up, metres. The camera sits at ``(x_m, 0, height_m)``, looks forward and is
pitched down by ``pitch`` (no roll, no yaw). Camera frame: OpenCV optical convention, x right,
y down, z along the optical axis. Pixel coordinates: OpenCV convention, the centre of the
top-left pixel is (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraInfo:
    """The fields of a sensor_msgs/CameraInfo, without ROS types."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]
    distortion_model: str = 'plumb_bob'
    frame_id: str = 'camera'


class PinholeCamera:
    """A pinhole camera with optional plumb_bob distortion, mounted on the ego vehicle."""

    def __init__(self, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                 height_m: float, pitch_rad: float, x_m: float,
                 distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)) -> None:
        """Build from explicit intrinsics; see :meth:`from_fov` for the usual entry."""
        self.width, self.height = int(width), int(height)
        self.fx, self.fy, self.cx, self.cy = float(fx), float(fy), float(cx), float(cy)
        self.height_m, self.pitch, self.x_m = float(height_m), float(pitch_rad), float(x_m)
        self.distortion = tuple(float(v) for v in distortion)
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        # rows: camera x (right), y (down), z (optical axis) expressed in the vehicle frame
        self.rotation = np.array([[0.0, -1.0, 0.0], [-s, 0.0, -c], [c, 0.0, -s]])
        self.position = np.array([self.x_m, 0.0, self.height_m])

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float, height_m: float,
                 pitch_deg: float, x_m: float,
                 distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)) -> PinholeCamera:
        """Square pixels, principal point at the image centre, focal length from the FOV."""
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, f, f, 0.5 * width, 0.5 * height, height_m,
                   math.radians(pitch_deg), x_m, distortion)

    @property
    def distorted(self) -> bool:
        """Whether any distortion coefficient is non-zero."""
        return any(v != 0.0 for v in self.distortion)

    @property
    def k_matrix(self) -> np.ndarray:
        """Return the 3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def horizon_row(self) -> float:
        """Image row of the horizon of the ground plane (undistorted)."""
        return self.cy - self.fy * math.tan(self.pitch)

    def camera_info(self, frame_id: str = 'camera') -> CameraInfo:
        """Return the CameraInfo of this camera (rectified P equals K, R is identity)."""
        k = self.k_matrix
        p = np.hstack([k, np.zeros((3, 1))])
        return CameraInfo(self.width, self.height, tuple(float(v) for v in k.ravel()),
                          self.distortion, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
                          tuple(float(v) for v in p.ravel()), 'plumb_bob', frame_id)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Vehicle-frame points (N, 3) to camera-frame points (N, 3)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def camera_to_pixels(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (N, 3) with z > 0 to pixel coordinates (N, 2), distortion on."""
        z = points_cam[:, 2]
        xn = points_cam[:, 0] / z
        yn = points_cam[:, 1] / z
        if self.distorted:
            k1, k2, p1, p2, k3 = self.distortion
            r2 = xn * xn + yn * yn
            radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            xd = xn * radial + 2.0 * p1 * xn * yn + p2 * (r2 + 2.0 * xn * xn)
            yd = yn * radial + p1 * (r2 + 2.0 * yn * yn) + 2.0 * p2 * xn * yn
            xn, yn = xd, yd
        return np.stack([self.fx * xn + self.cx, self.fy * yn + self.cy], axis=1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project vehicle-frame points (N, 3); return pixels (N, 2) and depth (N,).

        Points at or behind the camera get NaN pixels.
        """
        cam = self.to_camera(points)
        depth = cam[:, 2]
        pixels = np.full((len(cam), 2), np.nan)
        ahead = depth > 1e-3
        if np.any(ahead):
            pixels[ahead] = self.camera_to_pixels(cam[ahead])
        return pixels, depth

    def ground_point(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Vehicle-frame ground points (N, 3) seen at undistorted pixels; NaN above horizon."""
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        a = (u - self.cx) / self.fx
        b = (v - self.cy) / self.fy
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        down = s + b * c
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(down > 1e-9, self.height_m / down, np.nan)
        x = self.x_m + t * (c - b * s)
        y = -a * t
        return np.stack([x, y, np.zeros_like(x)], axis=-1)

    def undistort_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Map distorted pixel coordinates (N, 2) to the ideal pinhole pixels (N, 2)."""
        if not self.distorted:
            return np.asarray(pixels, dtype=np.float64)
        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        out = cv2.undistortPoints(pts, self.k_matrix, np.array(self.distortion),
                                  P=self.k_matrix)
        return out.reshape(-1, 2)

    def with_canvas(self, width: int, height: int, cx: float, cy: float) -> PinholeCamera:
        """Return the same pose and focal length without distortion, at another image size."""
        return PinholeCamera(width, height, self.fx, self.fy, cx, cy, self.height_m,
                             self.pitch, self.x_m)
