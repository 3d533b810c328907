"""Letterbox preprocessing and the transform back to original pixels."""

import cv2
import numpy as np
import pytest

from av_perception.detection.errors import DetectorError
from av_perception.detection.preprocess import (as_bgr, letterbox, LetterboxScratch,
                                                LetterboxTransform)


def _blue_image(width, height):
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = 200  # blue in BGR
    image[:, :, 2] = 50
    return image


def test_top_left_letterbox_pads_right_and_bottom_with_bgr_values():
    tensor, transform = letterbox(_blue_image(100, 50), (64, 64), 'top_left', 114, 'bgr_0_255')
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert transform.scale == pytest.approx(0.64)
    assert (transform.pad_x, transform.pad_y) == (0.0, 0.0)
    # int(50 * 0.64) = 32 rows of image, the rest padding.
    assert np.all(tensor[0, :, :32, :] == np.array([200, 0, 50])[:, None, None])
    assert np.all(tensor[0, :, 32:, :] == 114)


def test_center_letterbox_pads_evenly_and_converts_to_rgb_unit_range():
    tensor, transform = letterbox(_blue_image(100, 50), (64, 64), 'center', 114, 'rgb_0_1')
    assert (transform.pad_x, transform.pad_y) == (0.0, 16.0)
    content = tensor[0, :, 16:48, :]
    np.testing.assert_allclose(content[:, 0, 0], [50 / 255, 0, 200 / 255], rtol=1e-6)
    np.testing.assert_allclose(tensor[0, :, :16, :], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(tensor[0, :, 48:, :], 114 / 255, rtol=1e-6)


def test_odd_padding_puts_the_extra_pixel_after_the_image():
    _, transform = letterbox(_blue_image(64, 59), (64, 64), 'center')
    assert transform.pad_y == 2.0  # 5 rows of padding: 2 above, 3 below


def test_small_images_are_scaled_up_and_pad_value_is_configurable():
    tensor, transform = letterbox(_blue_image(16, 8), (64, 64), 'top_left', pad_value=0)
    assert transform.scale == 4.0
    assert np.all(tensor[0, 0, :32, :] == 200)
    assert np.all(tensor[0, :, 32:, :] == 0)


def test_resized_content_matches_opencv_resize():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    tensor, _ = letterbox(image, (100, 100), 'top_left')
    expected = cv2.resize(image, (100, 60), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(tensor[0].transpose(1, 2, 0)[:60], expected)


def _reference_letterbox(image, size, mode, pad_value, normalization):
    """Letterbox through other OpenCV calls: resize, copyMakeBorder, blobFromImage."""
    height, width = image.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    if mode == 'top_left':
        new_size = (int(width * scale), int(height * scale))
    else:
        new_size = (int(round(width * scale)), int(round(height * scale)))
    resized = cv2.resize(image, new_size, interpolation=cv2.INTER_LINEAR)
    extra_x, extra_y = size[0] - new_size[0], size[1] - new_size[1]
    left, top = (0, 0) if mode == 'top_left' else (extra_x // 2, extra_y // 2)
    padded = cv2.copyMakeBorder(resized, top, extra_y - top, left, extra_x - left,
                                cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    rgb = normalization == 'rgb_0_1'
    return cv2.dnn.blobFromImage(padded, 1 / 255 if rgb else 1.0, swapRB=rgb)


@pytest.mark.parametrize('mode', ['top_left', 'center'])
@pytest.mark.parametrize('normalization', ['bgr_0_255', 'rgb_0_1'])
def test_letterbox_matches_an_opencv_reference(mode, normalization):
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, (73, 151, 4), dtype=np.uint8)
    # A read-only view with padded rows, as the zero-copy Image conversion returns.
    view = frame[:, :, :3]
    view.flags.writeable = False
    # Padding below, on the right / both sides (a tall crop), and none (exact size).
    for image, size in ((view, (64, 48)), (view, (61, 67)), (view[:, :40], (64, 48)),
                        (view[:48, :64], (64, 48))):
        tensor, _ = letterbox(image, size, mode, 101, normalization)
        expected = _reference_letterbox(np.ascontiguousarray(image), size, mode, 101,
                                        normalization)
        assert tensor.shape == expected.shape and tensor.flags.c_contiguous
        np.testing.assert_allclose(tensor, expected, rtol=1e-6, atol=1e-6)


def test_a_reused_scratch_gives_what_a_fresh_letterbox_gives():
    rng = np.random.default_rng(9)
    scratch = LetterboxScratch()
    frames = [rng.integers(0, 256, shape, dtype=np.uint8)
              for shape in ((73, 151, 3), (120, 40, 3), (73, 151, 3), (48, 64, 3))]
    # Same layout twice (padding kept), a new layout, another pad value, a new input size,
    # another mode and normalisation: each call must equal a letterbox into a new array.
    calls = [(frames[0], (64, 48), 'top_left', 114, 'bgr_0_255'),
             (frames[2], (64, 48), 'top_left', 114, 'bgr_0_255'),
             (frames[1], (64, 48), 'top_left', 114, 'bgr_0_255'),
             (frames[0], (64, 48), 'top_left', 114, 'bgr_0_255'),
             (frames[0], (64, 48), 'top_left', 0, 'bgr_0_255'),
             (frames[0], (96, 96), 'top_left', 0, 'bgr_0_255'),
             (frames[1], (96, 96), 'center', 114, 'rgb_0_1'),
             (frames[3], (96, 96), 'center', 114, 'rgb_0_1')]
    for image, size, mode, pad_value, normalization in calls:
        tensor, transform = letterbox(image, size, mode, pad_value, normalization, scratch)
        expected, expected_transform = letterbox(image, size, mode, pad_value, normalization)
        assert tensor is scratch.tensor
        np.testing.assert_array_equal(tensor, expected)
        assert transform == expected_transform


def test_a_failed_letterbox_does_not_mark_the_padding_as_written(monkeypatch):
    scratch = LetterboxScratch()
    image = _blue_image(100, 50)
    letterbox(image, (64, 64), 'top_left', 114, 'bgr_0_255', scratch)
    scratch.tensor[...] = -1.0  # what a half-written frame of another layout might leave

    def broken_split(*args):
        raise cv2.error('simulated failure')

    monkeypatch.setattr(cv2, 'split', broken_split)
    with pytest.raises(cv2.error):
        letterbox(image, (64, 64), 'top_left', 114, 'bgr_0_255', scratch)
    monkeypatch.undo()
    tensor, _ = letterbox(image, (64, 64), 'top_left', 114, 'bgr_0_255', scratch)
    np.testing.assert_array_equal(tensor, letterbox(image, (64, 64), 'top_left', 114)[0])


@pytest.mark.parametrize('mode', ['top_left', 'center'])
def test_transform_round_trip_and_clipping(mode):
    _, transform = letterbox(_blue_image(640, 480), (416, 416), mode)
    boxes = np.array([[10, 20, 300, 400], [600, 0, 640, 480]], np.float32)
    np.testing.assert_allclose(transform.to_original(transform.to_input(boxes)), boxes,
                               atol=1e-3)
    outside = transform.to_input(np.array([[-50, -10, 700, 500]], np.float32))
    np.testing.assert_allclose(transform.to_original(outside), [[0, 0, 640, 480]], atol=1e-3)


def test_transform_maps_input_pixels_back_exactly():
    transform = LetterboxTransform(scale=0.5, pad_x=0.0, pad_y=16.0, original_width=128,
                                   original_height=64, input_width=64, input_height=64)
    np.testing.assert_allclose(transform.to_original(np.array([[10, 20, 30, 40]])),
                               [[20, 8, 60, 48]])


def test_grey_and_bgra_images_are_accepted():
    grey = np.full((30, 40), 77, np.uint8)
    assert as_bgr(grey).shape == (30, 40, 3)
    assert as_bgr(grey[:, :, None]).shape == (30, 40, 3)
    bgra = np.zeros((30, 40, 4), np.uint8)
    assert as_bgr(bgra).shape == (30, 40, 3)
    tensor, _ = letterbox(grey, (32, 32), 'top_left')
    assert np.all(tensor[0, :, :24, :] == 77)


@pytest.mark.parametrize('image, fragment', [
    (np.zeros((10, 10, 3), np.float32), 'uint8'),
    (np.zeros((0, 10, 3), np.uint8), 'empty'),
    (np.zeros((10, 10, 5), np.uint8), 'shape'),
    (np.zeros((2, 10, 10, 3), np.uint8), 'shape'),
    ([[1, 2], [3, 4]], 'numpy'),
])
def test_bad_images_raise_detector_error(image, fragment):
    with pytest.raises(DetectorError, match=fragment):
        letterbox(image, (32, 32))


def test_bad_modes_raise_detector_error():
    with pytest.raises(DetectorError, match='letterbox mode'):
        letterbox(_blue_image(8, 8), (32, 32), 'stretch')
    with pytest.raises(DetectorError, match='normalization'):
        letterbox(_blue_image(8, 8), (32, 32), 'center', normalization='imagenet')
    with pytest.raises(DetectorError, match='size'):
        letterbox(_blue_image(8, 8), (0, 32))
