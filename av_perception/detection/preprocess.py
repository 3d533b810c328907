"""Letterbox preprocessing: image -> network input tensor, and the transform back."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from av_perception.detection.config import LETTERBOX_MODES, NORMALIZATIONS
from av_perception.detection.errors import DetectorError


@dataclass(frozen=True)
class LetterboxTransform:
    """How an original image was scaled and padded into the network input.

    ``input = original * scale + pad``; :meth:`to_original` undoes it.
    """

    scale: float
    pad_x: float
    pad_y: float
    original_width: int
    original_height: int
    input_width: int
    input_height: int

    def to_original(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) input-pixel boxes to original pixels, clipped to the image."""
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        mapped = boxes - np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        mapped /= np.float32(self.scale)
        width, height = self.original_width, self.original_height
        return np.clip(mapped, 0.0, np.array([width, height, width, height], np.float32),
                       out=mapped)

    def to_input(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) original-pixel boxes into network input pixels (no clipping)."""
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        return boxes * np.float32(self.scale) + offset


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Return a 3-channel uint8 view/copy of a grey, BGR or BGRA uint8 image.

    Raises DetectorError for anything else (wrong dtype, rank, channel count or empty).
    """
    if not isinstance(image, np.ndarray):
        raise DetectorError(f'image must be a numpy array, got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise DetectorError(f'image must be uint8, got dtype {image.dtype} '
                            f'(shape {image.shape})')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.size == 0:
            raise DetectorError(f'image is empty (shape {image.shape})')
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DetectorError(f'image must be HxW, HxWx3 or HxWx4, got shape {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DetectorError(f'image is empty (shape {image.shape})')
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def letterbox(image: np.ndarray, size: tuple[int, int], mode: str = 'center',
              pad_value: int = 114,
              normalization: str = 'bgr_0_255') -> tuple[np.ndarray, LetterboxTransform]:
    """Scale ``image`` (BGR uint8) to fit ``size`` = (width, height) keeping its aspect ratio.

    ``mode`` 'top_left' pads right and bottom (YOLOX), 'center' pads both sides evenly
    (ultralytics). ``normalization`` 'bgr_0_255' keeps BGR 0-255 values (YOLOX), 'rgb_0_1'
    swaps to RGB and divides by 255 (ultralytics). Returns the (1, 3, H, W) float32 tensor and
    the transform mapping network pixels back to the image.
    """
    if mode not in LETTERBOX_MODES:
        raise DetectorError(f'letterbox mode {mode!r}: must be one of {list(LETTERBOX_MODES)}')
    if normalization not in NORMALIZATIONS:
        raise DetectorError(f'normalization {normalization!r}: must be one of '
                            f'{list(NORMALIZATIONS)}')
    input_width, input_height = int(size[0]), int(size[1])
    if input_width <= 0 or input_height <= 0:
        raise DetectorError(f'letterbox size {size!r}: must be positive')
    image = as_bgr(image)
    height, width = image.shape[:2]
    scale = min(input_width / width, input_height / height)
    if mode == 'top_left':
        # YOLOX's own preprocessing truncates the resized size.
        new_width, new_height = int(width * scale), int(height * scale)
    else:
        new_width, new_height = int(round(width * scale)), int(round(height * scale))
    new_width = min(max(new_width, 1), input_width)
    new_height = min(max(new_height, 1), input_height)
    if (new_width, new_height) != (width, height):
        image = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    extra_x, extra_y = input_width - new_width, input_height - new_height
    if mode == 'top_left':
        left, top = 0, 0
    else:
        left, top = extra_x // 2, extra_y // 2
    rgb = normalization == 'rgb_0_1'
    unit = np.float32(1.0 / 255.0)
    # Every tensor element is written once: the padding strips that exist, then the image
    # region from channel planes. cv2.split (SIMD) into planes and one contiguous cast beat a
    # transposing numpy cast (strided reads) and copyMakeBorder + blobFromImage.
    tensor = np.empty((1, 3, input_height, input_width), np.float32)
    planes = tensor[0]
    fill = pad_value * unit if rgb else np.float32(pad_value)
    bottom, right = top + new_height, left + new_width
    if top:
        planes[:, :top] = fill
    if bottom < input_height:
        planes[:, bottom:] = fill
    if left:
        planes[:, top:bottom, :left] = fill
    if right < input_width:
        planes[:, top:bottom, right:] = fill
    channels = np.empty((3, new_height, new_width), np.uint8)
    # Network channel order: RGB takes the BGR planes in reverse. The planes are contiguous
    # arrays of the right size and type, so OpenCV fills them in place.
    cv2.split(image, [channels[2], channels[1], channels[0]] if rgb else list(channels))
    region = planes[:, top:bottom, left:right]
    if rgb:
        np.multiply(channels, unit, out=region, dtype=np.float32)
    else:
        np.copyto(region, channels)
    transform = LetterboxTransform(scale=scale, pad_x=float(left), pad_y=float(top),
                                   original_width=width, original_height=height,
                                   input_width=input_width, input_height=input_height)
    return tensor, transform
