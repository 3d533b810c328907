"""Crop, resize and normalisation of controller input frames."""

import numpy as np
import pytest

from av_perception.control.errors import ControllerError
from av_perception.control.preprocess import (crop_and_resize, crop_box, InputSpec, normalize,
                                              preprocess_frame)


def gradient_image(height=120, width=200):
    """Return a BGR image whose blue channel is the column and green channel the row."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = np.linspace(0, 255, width)[None, :]
    image[:, :, 1] = np.linspace(0, 255, height)[:, None]
    return image


def test_crop_box_in_pixels():
    assert crop_box((100, 200), (0.1, 0.5, 0.9, 1.0)) == (20, 50, 180, 100)
    with pytest.raises(ControllerError, match='empty'):
        crop_box((10, 10), (0.5, 0.5, 0.52, 0.52))


def test_crop_and_resize_takes_the_crop():
    spec = InputSpec(40, 20, (0.0, 0.5, 1.0, 1.0))
    out = crop_and_resize(gradient_image(), spec)
    assert out.shape == (20, 40, 3) and out.dtype == np.uint8
    # only the lower half: green (row) starts near the middle of the range
    assert 110 < out[0, :, 1].mean() < 150 and out[-1, :, 1].mean() > 240


def test_margin_widens_at_the_same_scale():
    spec = InputSpec(40, 20, (0.2, 0.5, 0.8, 1.0))
    plain = crop_and_resize(gradient_image(), spec).astype(int)
    wide = crop_and_resize(gradient_image(), spec, margin=4).astype(int)
    assert wide.shape == (20, 48, 3)
    assert np.abs(wide[:, 4:44] - plain).max() <= 3
    # the crop reaching past the image edge replicates the border instead of failing
    edge = crop_and_resize(gradient_image(), InputSpec(40, 20, (0.0, 0.5, 1.0, 1.0)), margin=4)
    assert edge.shape == (20, 48, 3)


def test_normalize_and_preprocess_layout():
    spec = InputSpec(40, 20, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 5.0))
    pixels = np.full((20, 40, 3), 40, np.uint8)
    values = normalize(pixels, spec)
    assert values.shape == (3, 20, 40) and values.dtype == np.float32
    assert np.allclose(values[:, 0, 0], [15.0, 5.0, 2.0])
    batch = preprocess_frame(gradient_image(), spec)
    assert batch.shape == (1, 3, 20, 40)
    rgb = crop_and_resize(gradient_image(), InputSpec(40, 20, channel_order='rgb'))
    bgr = crop_and_resize(gradient_image(), InputSpec(40, 20))
    assert np.array_equal(rgb, bgr[:, :, ::-1])


@pytest.mark.parametrize('image', [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3)),
                                   np.zeros((10, 10, 4), np.uint8), 'frame'])
def test_bad_images_are_rejected(image):
    with pytest.raises(ControllerError, match='H x W x 3 uint8'):
        preprocess_frame(image, InputSpec(16, 16))


def test_bad_specs_are_rejected():
    with pytest.raises(ControllerError, match='crop'):
        InputSpec(16, 16, (0.5, 0.0, 0.4, 1.0))
    with pytest.raises(ControllerError, match='input size'):
        InputSpec(4, 16)
    with pytest.raises(ControllerError, match='std'):
        InputSpec(16, 16, std=(1.0, 0.0, 1.0))
