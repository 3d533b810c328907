"""Frame preprocessing of the controller: crop the road area, resize, normalise.

The same functions serve inference and training (training stores frames cropped a little wider
so that small horizontal shifts can be cut from them), so both see identical pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from av_perception.control.errors import ControllerError


@dataclass(frozen=True)
class InputSpec:
    """Network input: size, crop of the camera image, channel order and normalisation.

    ``crop`` is ``(x0, y0, x1, y1)`` as fractions of the image width and height; the crop is
    resized to ``width`` x ``height`` and each channel becomes ``(value - mean) / std``.
    """

    width: int
    height: int
    crop: tuple[float, float, float, float] = (0.05, 0.40, 0.95, 1.0)
    channel_order: str = 'bgr'
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (64.0, 64.0, 64.0)

    def __post_init__(self) -> None:
        """Reject sizes, crops and normalisations that cannot work."""
        if not (8 <= int(self.width) <= 4096 and 8 <= int(self.height) <= 4096):
            raise ControllerError(f'input size {self.width}x{self.height}: each side must be '
                                  '8..4096 pixels')
        x0, y0, x1, y1 = (float(v) for v in self.crop)
        if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
            raise ControllerError(f'crop={self.crop!r}: need 0 <= x0 < x1 <= 1 and '
                                  '0 <= y0 < y1 <= 1 (fractions of the image)')
        if self.channel_order not in ('bgr', 'rgb'):
            raise ControllerError(f'channel_order={self.channel_order!r}: bgr or rgb')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ControllerError(f'mean={self.mean!r}, std={self.std!r}: three values each, '
                                  'std > 0')
        object.__setattr__(self, 'crop', (x0, y0, x1, y1))
        object.__setattr__(self, 'mean', tuple(float(v) for v in self.mean))
        object.__setattr__(self, 'std', tuple(float(v) for v in self.std))


def check_bgr_image(image: np.ndarray) -> None:
    """Raise ControllerError unless ``image`` is an H x W x 3 uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3 or min(image.shape[:2]) < 2:
        shape = getattr(image, 'shape', None)
        dtype = getattr(image, 'dtype', type(image).__name__)
        raise ControllerError(f'expected an H x W x 3 uint8 BGR image, got shape {shape} '
                              f'dtype {dtype}')


def crop_box(image_shape: Sequence[int], crop: Sequence[float]) -> tuple[int, int, int, int]:
    """Return the crop ``(x0, y0, x1, y1)`` in pixels of an image of ``image_shape``."""
    height, width = int(image_shape[0]), int(image_shape[1])
    x0, y0, x1, y1 = crop
    box = (int(round(x0 * width)), int(round(y0 * height)), int(round(x1 * width)),
           int(round(y1 * height)))
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        raise ControllerError(f'crop {tuple(crop)} of a {width}x{height} image is empty')
    return box


def crop_and_resize(image: np.ndarray, spec: InputSpec, margin: int = 0) -> np.ndarray:
    """Cut the crop of ``spec`` and resize it to ``height x (width + 2 * margin)`` (uint8).

    ``margin`` widens the crop on both sides by that many output pixels at the same scale
    (the image border is replicated where the crop reaches past the image), so a training
    sample can be shifted sideways by up to ``margin`` pixels.
    """
    check_bgr_image(image)
    x0, y0, x1, y1 = crop_box(image.shape, spec.crop)
    out_width = spec.width + 2 * margin
    if margin:
        extra = int(round(margin * (x1 - x0) / spec.width))
        if x0 - extra < 0 or x1 + extra > image.shape[1]:
            image = cv2.copyMakeBorder(image, 0, 0, extra, extra, cv2.BORDER_REPLICATE)
            x0, x1 = x0 + extra, x1 + extra
        x0, x1 = x0 - extra, x1 + extra
    region = image[y0:y1, x0:x1]
    shrinking = region.shape[0] >= spec.height and region.shape[1] >= out_width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(region, (out_width, spec.height), interpolation=interpolation)
    if spec.channel_order == 'rgb':
        resized = resized[:, :, ::-1]
    return np.ascontiguousarray(resized)


def normalize(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Turn ``(..., H, W, 3)`` uint8 pixels into ``(..., 3, H, W)`` float32 network input."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    scale = 1.0 / np.asarray(spec.std, dtype=np.float32)
    values = (pixels.astype(np.float32) - mean) * scale
    return np.ascontiguousarray(np.moveaxis(values, -1, -3))


def preprocess_frame(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Return the ``(1, 3, H, W)`` float32 encoder input of one BGR frame."""
    return normalize(crop_and_resize(image, spec), spec)[None]
