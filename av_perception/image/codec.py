"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

The functions are duck-typed: a "message" is any object with the fields of sensor_msgs/Image
(``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``), so the same code
serves rclpy messages, messages read from bags with ``rosbags`` and plain test objects. No ROS
import happens here.

Decoding returns a zero-copy, read-only view of the message buffer whenever the layout allows
(native byte order; row padding is expressed with strides, not copied). Every inconsistency
between encoding, width, height, step and data length raises :class:`ImageConversionError`
with the numbers, instead of a reshape crash or garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
import sys
from typing import Any, NamedTuple

import cv2
import numpy as np


class ImageConversionError(ValueError):
    """An image message cannot be converted; the message names the offending fields."""


class EncodingInfo(NamedTuple):
    """Memory layout of one pixel encoding."""

    dtype: np.dtype
    channels: int


_U8, _U16 = np.dtype(np.uint8), np.dtype(np.uint16)
_I8, _I16 = np.dtype(np.int8), np.dtype(np.int16)
_I32, _F32, _F64 = np.dtype(np.int32), np.dtype(np.float32), np.dtype(np.float64)

ENCODINGS: dict[str, EncodingInfo] = {
    'mono8': EncodingInfo(_U8, 1),
    'mono16': EncodingInfo(_U16, 1),
    'bgr8': EncodingInfo(_U8, 3),
    'rgb8': EncodingInfo(_U8, 3),
    'bgra8': EncodingInfo(_U8, 4),
    'rgba8': EncodingInfo(_U8, 4),
    'bgr16': EncodingInfo(_U16, 3),
    'rgb16': EncodingInfo(_U16, 3),
    'bgra16': EncodingInfo(_U16, 4),
    'rgba16': EncodingInfo(_U16, 4),
    # Packed 4:2:2, two bytes per pixel: UYVY (ROS 'yuv422') and YUYV (ROS 'yuv422_yuy2').
    'yuv422': EncodingInfo(_U8, 2),
    'uyvy': EncodingInfo(_U8, 2),
    'yuv422_yuy2': EncodingInfo(_U8, 2),
    'yuyv': EncodingInfo(_U8, 2),
    'bayer_rggb8': EncodingInfo(_U8, 1),
    'bayer_bggr8': EncodingInfo(_U8, 1),
    'bayer_gbrg8': EncodingInfo(_U8, 1),
    'bayer_grbg8': EncodingInfo(_U8, 1),
    'bayer_rggb16': EncodingInfo(_U16, 1),
    'bayer_bggr16': EncodingInfo(_U16, 1),
    'bayer_gbrg16': EncodingInfo(_U16, 1),
    'bayer_grbg16': EncodingInfo(_U16, 1),
}
_DEPTHS = {'8U': _U8, '8S': _I8, '16U': _U16, '16S': _I16, '32S': _I32, '32F': _F32,
           '64F': _F64}
for _depth, _dtype in _DEPTHS.items():
    for _channels in (1, 2, 3, 4):
        ENCODINGS[f'{_depth}C{_channels}'] = EncodingInfo(_dtype, _channels)

# ROS names the Bayer pattern by its top-left 2x2 block; OpenCV's legacy constants name the
# pattern by the second row's pair, hence the shift (the same mapping as cv_bridge). A unit test
# demosaics known mosaics to hold this table to account on the installed OpenCV.
_BAYER_TO_BGR = {
    'rggb': cv2.COLOR_BayerBG2BGR,
    'bggr': cv2.COLOR_BayerRG2BGR,
    'gbrg': cv2.COLOR_BayerGR2BGR,
    'grbg': cv2.COLOR_BayerGB2BGR,
}
_TO_BGR_CODES = {
    'rgb8': cv2.COLOR_RGB2BGR, 'rgb16': cv2.COLOR_RGB2BGR,
    'bgra8': cv2.COLOR_BGRA2BGR, 'bgra16': cv2.COLOR_BGRA2BGR,
    'rgba8': cv2.COLOR_RGBA2BGR, 'rgba16': cv2.COLOR_RGBA2BGR,
    'mono8': cv2.COLOR_GRAY2BGR, 'mono16': cv2.COLOR_GRAY2BGR,
    'yuv422': cv2.COLOR_YUV2BGR_UYVY, 'uyvy': cv2.COLOR_YUV2BGR_UYVY,
    'yuv422_yuy2': cv2.COLOR_YUV2BGR_YUY2, 'yuyv': cv2.COLOR_YUV2BGR_YUY2,
}
_NATIVE_BIG_ENDIAN = sys.byteorder == 'big'


@dataclass(frozen=True)
class ImageFields:
    """The fields of a sensor_msgs/Image, ready to assign to any message implementation."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray  # contiguous uint8, length step * height


def encoding_info(encoding: str) -> EncodingInfo:
    """Return dtype and channel count of a ROS image encoding, or raise for unknown ones."""
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: '
            f'{", ".join(sorted(ENCODINGS))}') from None


def _buffer_of(data: Any) -> np.ndarray:
    """Return the message's data as a flat uint8 array without copying."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype != np.uint8 else data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        # e.g. a list of ints from a hand-made message
        return np.asarray(data, dtype=np.uint8)


def image_to_array(msg: Any) -> np.ndarray:
    """Return the pixels of an Image message as an array of shape (H, W) or (H, W, C).

    The result is a read-only view of the message's buffer when the byte order is native,
    with row padding (``step`` > row bytes) expressed through strides. Big-endian multi-byte
    data on a little-endian machine (or vice versa) is byte-swapped into a new array.
    Packed YUV 4:2:2 encodings come back as (H, W, 2) uint8, Bayer as (H, W).
    """
    encoding = str(msg.encoding)
    info = encoding_info(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    itemsize = info.dtype.itemsize
    row_bytes = width * info.channels * itemsize
    where = f'{encoding} image {width}x{height} (step {step})'
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'zero-size image: width={width}, height={height}, '
                                   f'encoding={encoding}')
    if step < row_bytes:
        raise ImageConversionError(
            f'{where}: step {step} is smaller than one row of {width} px x {info.channels} ch x '
            f'{itemsize} B = {row_bytes} B')
    if itemsize > 1 and step % itemsize:
        raise ImageConversionError(f'{where}: step {step} is not a multiple of the '
                                   f'{itemsize}-byte element size')
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv') and width % 2:
        raise ImageConversionError(f'{where}: packed YUV 4:2:2 needs an even width')
    buffer = _buffer_of(msg.data)
    expected = step * height
    if buffer.size != expected:
        raise ImageConversionError(
            f'{where}: data holds {buffer.size} B, expected step x height = {step} x {height} '
            f'= {expected} B')
    big_endian = bool(msg.is_bigendian)
    dtype = info.dtype.newbyteorder('>' if big_endian else '<') if itemsize > 1 else info.dtype
    shape: tuple[int, ...] = (height, width) if info.channels == 1 else (
        height, width, info.channels)
    strides: tuple[int, ...] = (step, itemsize) if info.channels == 1 else (
        step, info.channels * itemsize, itemsize)
    array = np.ndarray(shape=shape, dtype=dtype, buffer=buffer, strides=strides)
    if itemsize > 1 and big_endian != _NATIVE_BIG_ENDIAN:
        return array.astype(info.dtype.newbyteorder('='))
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def to_bgr(msg: Any) -> np.ndarray:
    """Return any supported Image message as a BGR uint8 array of shape (H, W, 3).

    16-bit data keeps its 8 most significant bits; float and other depth images are scaled from
    their finite min..max to 0..255 for display (NaN/inf become 0). The result is the zero-copy
    view for bgr8 without row padding, a new array otherwise.
    """
    pixels = image_to_array(msg)
    return array_to_bgr(pixels, str(msg.encoding))


def array_to_bgr(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an array laid out as ``encoding`` (see :func:`image_to_array`) to BGR uint8."""
    encoding_info(encoding)
    if encoding.startswith('bayer_'):
        code = _BAYER_TO_BGR[encoding[6:10]]
        return cv2.cvtColor(np.ascontiguousarray(_to_uint8(pixels)), code)
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'):
        return cv2.cvtColor(np.ascontiguousarray(pixels), _TO_BGR_CODES[encoding])
    if encoding in ('bgr8', 'bgr16', '8UC3', '16UC3'):
        bgr = _to_uint8(pixels)
        return bgr if bgr.flags.c_contiguous else np.ascontiguousarray(bgr)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    pixels8 = np.ascontiguousarray(_to_uint8(pixels))
    code = _TO_BGR_CODES.get(encoding)
    if code is None:
        # generic nCm encodings: 1 channel is grey, 4 channels are treated as BGRA
        code = {1: cv2.COLOR_GRAY2BGR, 4: cv2.COLOR_BGRA2BGR}.get(channels)
        if code is None:
            if channels == 3:
                return pixels8
            raise ImageConversionError(f'cannot display {encoding} with {channels} channels as '
                                       'BGR')
    return cv2.cvtColor(pixels8, code)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    values = pixels.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(pixels.shape, np.uint8)
    low, high = values[finite].min(), values[finite].max()
    scale = 255.0 / (high - low) if high > low else 0.0
    values = np.where(finite, (values - low) * scale, 0.0)
    return np.clip(values, 0, 255).astype(np.uint8)


def array_to_image_fields(array: np.ndarray, encoding: str = 'bgr8') -> ImageFields:
    """Return the Image fields describing ``array`` in ``encoding`` (host byte order).

    The array's dtype and channel count must match the encoding. Rows are packed (step =
    width x bytes per pixel); ``data`` is the array itself when it is C-contiguous, so no copy
    happens until the message implementation takes the bytes.
    """
    info = encoding_info(encoding)
    array = np.asarray(array)
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else -1)
    if array.ndim not in (2, 3) or (array.ndim == 3 and info.channels == 1):
        raise ImageConversionError(f'array of shape {array.shape} cannot be a {encoding} image '
                                   f'({info.channels} channel(s))')
    if channels != info.channels:
        raise ImageConversionError(f'array has {channels} channel(s), {encoding} needs '
                                   f'{info.channels}')
    if array.dtype.newbyteorder('=') != info.dtype:
        raise ImageConversionError(f'array dtype {array.dtype} does not match {encoding} '
                                   f'({info.dtype})')
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(f'zero-size image array of shape {array.shape}')
    if array.dtype.byteorder not in ('=', '|') and (array.dtype.byteorder == '>') != \
            _NATIVE_BIG_ENDIAN:
        array = array.astype(info.dtype)
    contiguous = np.ascontiguousarray(array)
    return ImageFields(height=height, width=width, encoding=encoding,
                       is_bigendian=int(_NATIVE_BIG_ENDIAN),
                       step=width * info.channels * info.dtype.itemsize,
                       data=contiguous.reshape(-1).view(np.uint8))


# --- CompressedImage -------------------------------------------------------------------------

def compressed_to_bgr(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg or png) to a BGR uint8 array.

    ``format`` may be a plain ``jpeg``/``png`` or image_transport's ``"<enc>; jpeg compressed
    <enc>"``. compressedDepth (a different container) is rejected with a clear error.
    """
    fmt = str(getattr(msg, 'format', '') or '').strip().lower()
    if 'compresseddepth' in fmt:
        raise ImageConversionError(f'compressedDepth images are not supported (format {fmt!r})')
    buffer = _buffer_of(msg.data)
    if buffer.size == 0:
        raise ImageConversionError(f'empty CompressedImage (format {fmt!r})')
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageConversionError(f'cannot decode CompressedImage of {buffer.size} B '
                                   f'(format {fmt!r}): corrupt or not jpeg/png')
    if decoded.ndim == 2:
        return array_to_bgr(decoded, 'mono16' if decoded.dtype == np.uint16 else 'mono8')
    if decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2BGR)
    if decoded.dtype != np.uint8:
        decoded = _to_uint8(decoded)
    # cv2 decodes to BGR. image_transport writes "rgb8; jpeg compressed bgr8" when the source was
    # rgb8 but the codec still stores BGR, so no swap is needed for either prefix.
    return decoded


def bgr_to_compressed(image: np.ndarray, fmt: str = 'jpeg',
                      quality: int = 90) -> tuple[str, np.ndarray]:
    """Encode a BGR (or mono) uint8 image; return ``(format string, data bytes as uint8)``."""
    fmt = fmt.lower()
    if fmt in ('jpg', 'jpeg'):
        ok, data = cv2.imencode('.jpg', image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
        fmt = 'jpeg'
    elif fmt == 'png':
        ok, data = cv2.imencode('.png', image, [int(cv2.IMWRITE_PNG_COMPRESSION), 3])
    else:
        raise ImageConversionError(f'unsupported compression format {fmt!r} (jpeg or png)')
    if not ok:
        raise ImageConversionError(f'cannot encode image of shape {image.shape} as {fmt}')
    encoding = 'mono8' if image.ndim == 2 else 'bgr8'
    return f'{encoding}; {fmt} compressed {encoding}', data.reshape(-1)


# Encodings a camera driver publishes (integer pixels); depth/float images are not camera frames.
CAMERA_ENCODINGS = frozenset({
    'mono8', 'mono16', 'bgr8', 'rgb8', 'bgra8', 'rgba8', 'bgr16', 'rgb16', 'bgra16', 'rgba16',
    'yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv', '8UC1', '8UC3', '8UC4', '16UC1', '16UC3',
    'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8', 'bayer_rggb16',
    'bayer_bggr16', 'bayer_gbrg16', 'bayer_grbg16'})
# 4096 x 4096: a camera frame larger than this is a mistake (or an attack), not a camera.
MAX_CAMERA_PIXELS = 4096 * 4096


def camera_frame_to_bgr(msg: Any, max_pixels: int = MAX_CAMERA_PIXELS) -> np.ndarray:
    """Return a camera frame (Image or CompressedImage) as BGR, or raise naming the problem.

    Besides every check of :func:`to_bgr`: float/depth encodings are refused (a perception
    node must not run on a depth map), and frames above ``max_pixels`` are refused before any
    pixel is touched (an 8K frame would stall the node for seconds).
    """
    if hasattr(msg, 'encoding'):
        encoding = str(msg.encoding)
        if encoding not in CAMERA_ENCODINGS:
            encoding_info(encoding)  # unknown encodings get the full list in the message
            raise ImageConversionError(f'encoding {encoding!r} is not a camera image (float or '
                                       'depth data); expected one of '
                                       f'{", ".join(sorted(CAMERA_ENCODINGS))}')
        pixels = int(msg.width) * int(msg.height)
        if pixels > max_pixels:
            raise ImageConversionError(f'{msg.width}x{msg.height} image ({pixels} px) exceeds '
                                       f'the {max_pixels} px a camera frame may have')
        return to_bgr(msg)
    image = message_to_bgr(msg)
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageConversionError(f'{image.shape[1]}x{image.shape[0]} compressed image exceeds '
                                   f'the {max_pixels} px a camera frame may have')
    return image


def message_to_bgr(msg: Any) -> np.ndarray:
    """Return a BGR array from either an Image or a CompressedImage message."""
    if hasattr(msg, 'encoding'):
        return to_bgr(msg)
    if hasattr(msg, 'format'):
        return compressed_to_bgr(msg)
    raise ImageConversionError(f'{type(msg).__name__} is neither an Image nor a CompressedImage')
