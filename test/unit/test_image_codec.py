"""sensor_msgs/Image <-> numpy: every encoding, padding, byte order and bad input."""

from types import SimpleNamespace

import numpy as np
import pytest

from av_perception.image.codec import (array_to_bgr, array_to_image_fields, bgr_to_compressed,
                                       compressed_to_bgr, ENCODINGS, image_to_array,
                                       ImageConversionError, message_to_bgr, to_bgr)

RNG = np.random.default_rng(7)
DIRECT = ['mono8', 'mono16', 'bgr8', 'rgb8', 'bgra8', 'rgba8', '8UC1', '8UC3', '8UC4', '16UC1',
          '32FC1', 'yuv422', 'yuv422_yuy2', 'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8',
          'bayer_grbg8', '16SC1', '64FC1', '32FC3', 'bgr16', 'rgba16']


def make_msg(array: np.ndarray, encoding: str, padding: int = 0,
             big_endian: bool = False) -> SimpleNamespace:
    """Build an Image-like message with ``padding`` bytes at the end of every row."""
    height, width = array.shape[:2]
    dtype = array.dtype.newbyteorder('>' if big_endian else '<')
    rows = np.ascontiguousarray(array.astype(dtype)).reshape(height, -1).view(np.uint8)
    padded = np.zeros((height, rows.shape[1] + padding), np.uint8)
    padded[:, :rows.shape[1]] = rows
    return SimpleNamespace(height=height, width=width, encoding=encoding,
                           is_bigendian=int(big_endian), step=padded.shape[1],
                           data=padded.tobytes())


def sample(encoding: str, height: int = 6, width: int = 8) -> np.ndarray:
    """Random pixels in the layout of ``encoding``."""
    info = ENCODINGS[encoding]
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    if info.dtype.kind == 'f':
        return RNG.normal(size=shape).astype(info.dtype)
    limits = np.iinfo(info.dtype)
    return RNG.integers(limits.min, limits.max, size=shape, endpoint=True).astype(info.dtype)


@pytest.mark.parametrize('encoding', DIRECT)
@pytest.mark.parametrize('padding', [0, 5, 16])
@pytest.mark.parametrize('big_endian', [False, True])
def test_round_trip_every_encoding(encoding, padding, big_endian):
    itemsize = ENCODINGS[encoding].dtype.itemsize
    padding = padding - padding % itemsize  # a step must stay a multiple of the element size
    pixels = sample(encoding)
    decoded = image_to_array(make_msg(pixels, encoding, padding, big_endian))
    assert decoded.shape == pixels.shape
    assert decoded.dtype.newbyteorder('=') == pixels.dtype
    np.testing.assert_array_equal(decoded, pixels)
    # and back: the fields describe the same pixels with packed rows in host order
    fields = array_to_image_fields(decoded.copy(), encoding)
    assert fields.step == pixels.shape[1] * pixels.itemsize * ENCODINGS[encoding].channels
    assert fields.data.size == fields.step * fields.height
    again = image_to_array(SimpleNamespace(**{**fields.__dict__, 'data': fields.data.tobytes()}))
    np.testing.assert_array_equal(again, pixels)


def test_native_layout_is_a_zero_copy_read_only_view():
    pixels = sample('bgr8', 48, 64)
    msg = make_msg(pixels, 'bgr8', padding=4)
    buffer = np.frombuffer(msg.data, np.uint8)
    view = image_to_array(SimpleNamespace(**{**msg.__dict__, 'data': buffer}))
    assert np.shares_memory(view, buffer)
    assert not view.flags.writeable
    packed = make_msg(pixels, 'bgr8')
    bgr = to_bgr(packed)
    assert np.shares_memory(bgr, np.frombuffer(packed.data, np.uint8)) or bgr.base is not None


def test_big_endian_16_bit_is_swapped_to_host_order():
    pixels = np.array([[1, 256, 65535]], np.uint16)
    msg = make_msg(pixels, 'mono16', big_endian=True)
    assert msg.data[:2] == b'\x00\x01'  # really stored big-endian
    np.testing.assert_array_equal(image_to_array(msg), pixels)


@pytest.mark.parametrize('encoding', DIRECT)
def test_to_bgr_gives_uint8_three_channels(encoding):
    bgr = to_bgr(make_msg(sample(encoding), encoding))
    assert bgr.shape == (6, 8, 3) and bgr.dtype == np.uint8


def test_to_bgr_colour_orders():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 10, 20, 30
    rgb = bgr[..., ::-1].copy()
    np.testing.assert_array_equal(to_bgr(make_msg(rgb, 'rgb8')), bgr)
    rgba = np.dstack([rgb, np.full((2, 2), 255, np.uint8)])
    np.testing.assert_array_equal(to_bgr(make_msg(rgba, 'rgba8')), bgr)
    mono16 = np.full((2, 2), 0xAB00, np.uint16)
    assert (to_bgr(make_msg(mono16, 'mono16')) == 0xAB).all()


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
def test_bayer_patterns_demosaic_to_the_right_colour(pattern):
    colour = {'b': 20, 'g': 120, 'r': 220}
    mosaic = np.zeros((8, 8), np.uint8)
    for index, channel in enumerate(pattern):
        row, col = divmod(index, 2)
        mosaic[row::2, col::2] = colour[channel]
    bgr = to_bgr(make_msg(mosaic, f'bayer_{pattern}8'))
    np.testing.assert_allclose(bgr[3:5, 3:5].reshape(-1, 3).mean(axis=0),
                               [colour['b'], colour['g'], colour['r']], atol=2)


@pytest.mark.parametrize('encoding', ['yuv422', 'yuv422_yuy2'])
def test_packed_yuv_of_a_flat_colour(encoding):
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[:] = (40, 160, 200)
    b, g, r = 40, 160, 200  # BT.601 studio range, as cameras send 4:2:2
    y = round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
    u = round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255)
    v = round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255)
    if encoding == 'yuv422':  # UYVY
        packed = np.tile(np.array([u, y, v, y], np.uint8), 8).reshape(4, 4, 2)
    else:  # YUYV
        packed = np.tile(np.array([y, u, y, v], np.uint8), 8).reshape(4, 4, 2)
    np.testing.assert_allclose(to_bgr(make_msg(packed, encoding)).astype(int),
                               bgr.astype(int), atol=4)


def test_float_depth_with_nan_displays_without_garbage():
    depth = np.array([[0.5, np.nan], [np.inf, 2.5]], np.float32)
    bgr = to_bgr(make_msg(depth, '32FC1'))
    assert bgr[0, 0, 0] == 0 and bgr[1, 1, 0] == 255
    assert bgr[0, 1, 0] == 0 and bgr[1, 0, 0] == 0


@pytest.mark.parametrize('change,expected', [
    ({'encoding': 'bgr9'}, "unsupported image encoding 'bgr9'"),
    ({'width': 0}, 'zero-size image: width=0'),
    ({'height': 0}, 'zero-size image: width=8, height=0'),
    ({'step': 23}, 'step 23 is smaller than one row of 8 px x 3 ch x 1 B = 24 B'),
    ({'data': b'\x00' * 30}, 'data holds 30 B, expected step x height = 24 x 6 = 144 B'),
    ({'height': 7}, 'data holds 144 B, expected step x height = 24 x 7 = 168 B'),
])
def test_inconsistent_messages_name_the_numbers(change, expected):
    msg = make_msg(sample('bgr8'), 'bgr8')
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=expected.replace('(', r'\(')):
        image_to_array(msg)


def test_step_not_multiple_of_element_size_and_odd_yuv_width():
    msg = make_msg(sample('mono16'), 'mono16')
    msg.step, msg.data = 17, b'\x00' * 17 * 6
    with pytest.raises(ImageConversionError, match='not a multiple of the 2-byte'):
        image_to_array(msg)
    odd = make_msg(np.zeros((2, 3, 2), np.uint8), 'yuv422')
    with pytest.raises(ImageConversionError, match='even width'):
        image_to_array(odd)


def test_array_to_fields_rejects_mismatched_arrays():
    with pytest.raises(ImageConversionError, match='1 channel'):
        array_to_image_fields(np.zeros((4, 4), np.uint8), 'bgr8')
    with pytest.raises(ImageConversionError, match='dtype float32 does not match bgr8'):
        array_to_image_fields(np.zeros((4, 4, 3), np.float32), 'bgr8')
    with pytest.raises(ImageConversionError, match='zero-size'):
        array_to_image_fields(np.zeros((0, 4, 3), np.uint8), 'bgr8')
    with pytest.raises(ImageConversionError, match='cannot be a mono8'):
        array_to_image_fields(np.zeros((4, 4, 1), np.uint8), 'mono8')


def test_non_contiguous_input_is_packed():
    big = sample('bgr8', 10, 10)
    fields = array_to_image_fields(big[::2, ::2], 'bgr8')
    assert fields.step == 15 and fields.data.size == 75
    np.testing.assert_array_equal(array_to_bgr(fields.data.reshape(5, 5, 3), 'bgr8'),
                                  big[::2, ::2])


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_compressed_round_trip(fmt):
    image = np.zeros((32, 48, 3), np.uint8)
    image[8:24, 8:40] = (30, 140, 250)
    format_string, data = bgr_to_compressed(image, fmt, quality=95)
    assert format_string == f'bgr8; {fmt} compressed bgr8'
    decoded = compressed_to_bgr(SimpleNamespace(format=format_string, data=data.tobytes()))
    error = np.abs(decoded.astype(int) - image)
    if fmt == 'png':
        assert error.max() == 0
    else:  # lossy with chroma subsampling: edges blur, flat areas keep their colour
        assert error[12:20, 12:36].max() <= 6 and error.mean() < 4
    assert message_to_bgr(SimpleNamespace(format=fmt, data=data)).shape == image.shape


def test_compressed_bad_input():
    with pytest.raises(ImageConversionError, match='corrupt or not jpeg/png'):
        compressed_to_bgr(SimpleNamespace(format='jpeg', data=b'\xff\xd8garbage'))
    with pytest.raises(ImageConversionError, match='empty CompressedImage'):
        compressed_to_bgr(SimpleNamespace(format='jpeg', data=b''))
    with pytest.raises(ImageConversionError, match='compressedDepth'):
        compressed_to_bgr(SimpleNamespace(format='16UC1; compressedDepth png', data=b'x'))
    with pytest.raises(ImageConversionError, match='unsupported compression format'):
        bgr_to_compressed(np.zeros((4, 4, 3), np.uint8), 'webp')
    with pytest.raises(ImageConversionError, match='neither an Image nor a CompressedImage'):
        message_to_bgr(SimpleNamespace(data=b''))


def test_camera_frames_refuse_depth_data_and_oversized_frames():
    from av_perception.image.codec import camera_frame_to_bgr
    depth = make_msg(np.array([[np.nan, 1.0]], np.float32), '32FC1')
    with pytest.raises(ImageConversionError, match="encoding '32FC1' is not a camera image"):
        camera_frame_to_bgr(depth)
    huge = SimpleNamespace(height=4320, width=7680, encoding='bgr8', is_bigendian=0,
                           step=7680 * 3, data=b'')  # the size is refused before the data
    with pytest.raises(ImageConversionError, match=r'7680x4320 image \(33177600 px\) exceeds'):
        camera_frame_to_bgr(huge)
    with pytest.raises(ImageConversionError, match='unsupported image encoding'):
        camera_frame_to_bgr(make_msg(sample('bgr8'), 'bgr9'))
    assert camera_frame_to_bgr(make_msg(sample('bgr8'), 'bgr8')).shape == (6, 8, 3)
