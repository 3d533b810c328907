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


class LetterboxScratch:
    """A reusable input tensor for :func:`letterbox`, for one thread at a time.

    A camera stream letterboxes every frame the same way, so the padding written into the
    tensor for one frame is still right for the next: the scratch remembers the layout it was
    written for and :func:`letterbox` rewrites only the image region while it matches. This
    halves the memory written per frame (the tensor is cache-cold after each inference) and
    saves allocating it. The tensor returned is overwritten by the next call with the same
    scratch: use it before then.
    """

    def __init__(self) -> None:
        """Start empty; the first call allocates."""
        self.tensor: np.ndarray | None = None
        self.channels: np.ndarray | None = None
        self.layout: tuple | None = None
        self.resized: np.ndarray | None = None

    def resized_buffer(self, shape: tuple[int, int, int]) -> np.ndarray:
        """Return the uint8 buffer for the resized image, (re)allocated to ``shape``."""
        if self.resized is None or self.resized.shape != shape:
            self.resized = np.empty(shape, np.uint8)
        return self.resized

    def take(self, shape: tuple[int, int, int, int], layout: tuple,
             channels_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Return (tensor, uint8 channel planes, whether its padding is already right)."""
        if self.tensor is None or self.tensor.shape != shape:
            self.tensor = np.empty(shape, np.float32)
            self.layout = None
        if self.channels is None or self.channels.shape != channels_shape:
            self.channels = np.empty(channels_shape, np.uint8)
        padded = self.layout == layout
        # Forget the layout until the frame is written: an exception half-way must not leave
        # a wrong padding marked as right.
        self.layout = None
        return self.tensor, self.channels, padded


def letterbox(image: np.ndarray, size: tuple[int, int], mode: str = 'center',
              pad_value: int = 114, normalization: str = 'bgr_0_255',
              scratch: LetterboxScratch | None = None
              ) -> tuple[np.ndarray, LetterboxTransform]:
    """Scale ``image`` (BGR uint8) to fit ``size`` = (width, height) keeping its aspect ratio.

    ``mode`` 'top_left' pads right and bottom (YOLOX), 'center' pads both sides evenly
    (ultralytics). ``normalization`` 'bgr_0_255' keeps BGR 0-255 values (YOLOX), 'rgb_0_1'
    swaps to RGB and divides by 255 (ultralytics). Returns the (1, 3, H, W) float32 tensor and
    the transform mapping network pixels back to the image. With ``scratch`` the tensor is the
    scratch's (see :class:`LetterboxScratch`); without, a new array.
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
        resized = None if scratch is None else scratch.resized_buffer((new_height, new_width, 3))
        image = cv2.resize(image, (new_width, new_height), dst=resized,
                           interpolation=cv2.INTER_LINEAR)
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
    fill = pad_value * unit if rgb else np.float32(pad_value)
    shape = (1, 3, input_height, input_width)
    if scratch is None:
        tensor, padded = np.empty(shape, np.float32), False
        channels = np.empty((3, new_height, new_width), np.uint8)
    else:
        layout = (shape, left, top, new_width, new_height, float(fill))
        tensor, channels, padded = scratch.take(shape, layout, (3, new_height, new_width))
    planes = tensor[0]
    bottom, right = top + new_height, left + new_width
    if not padded:
        if top:
            planes[:, :top] = fill
        if bottom < input_height:
            planes[:, bottom:] = fill
        if left:
            planes[:, top:bottom, :left] = fill
        if right < input_width:
            planes[:, top:bottom, right:] = fill
    # Network channel order: RGB takes the BGR planes in reverse. The planes are contiguous
    # arrays of the right size and type, so OpenCV fills them in place.
    cv2.split(image, [channels[2], channels[1], channels[0]] if rgb else list(channels))
    region = planes[:, top:bottom, left:right]
    if rgb:
        np.multiply(channels, unit, out=region, dtype=np.float32)
    else:
        np.copyto(region, channels)
    if scratch is not None:
        scratch.layout = layout
    transform = LetterboxTransform(scale=scale, pad_x=float(left), pad_y=float(top),
                                   original_width=width, original_height=height,
                                   input_width=input_width, input_height=input_height)
    return tensor, transform
