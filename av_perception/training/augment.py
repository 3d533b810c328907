"""Augmentation of training windows (numpy): brightness, sweeping shadows, shifts, noise.

One draw per window keeps a window temporally consistent (a shadow sweeps down the road, a
shift holds for the window), as the camera would see it.
"""

from __future__ import annotations

import numpy as np

from av_perception.training.config import TrainConfig


MIN_LOOKAHEAD_SPEED_MPS = 6.7  # below it a look-ahead distance stops shrinking with speed


def shift_correction(shift_px: int, speed: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Steering correction (rad) for a crop moved right by ``shift_px``, per frame.

    Moving the crop right looks like the car yawed right, so the driver steers left; a
    driver steering at a point a fixed time ahead corrects a yaw error in inverse proportion
    to the speed (frames without a speed label get the reference correction).
    """
    per_px = np.full(speed.shape, config.shift_steering_per_px, np.float32)
    if config.shift_reference_speed_mps > 0:
        known = np.isfinite(speed)
        scale = config.shift_reference_speed_mps / np.maximum(speed[known],
                                                              MIN_LOOKAHEAD_SPEED_MPS)
        per_px[known] *= scale.astype(np.float32)
    return (shift_px * per_px).astype(np.float32)


def augment_window(pixels: np.ndarray, steering: np.ndarray, margin: int, width: int,
                   config: TrainConfig, rng: np.random.Generator,
                   speed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return a ``(T, H, width, 3)`` float32 window (0-255 scale) and its steering labels.

    ``pixels`` are ``(T, H, width + 2 * margin, 3)`` uint8 crops; ``speed`` the speed labels
    (scale the shift correction). Without augmentation the centre is cut out unchanged.
    """
    if not config.augment:
        return pixels[:, :, margin:margin + width].astype(np.float32), steering
    limit = min(config.shift_px, margin)
    shift = int(rng.integers(-limit, limit + 1)) if limit else 0
    if shift:
        if speed is None:
            speed = np.full(steering.shape, np.nan, np.float32)
        steering = steering + shift_correction(shift, speed, config)
    window = pixels[:, :, margin + shift:margin + shift + width].astype(np.float32)
    low, high = config.brightness_range
    gain = rng.uniform(low, high) * rng.uniform(0.93, 1.07, size=3).astype(np.float32)
    window *= gain.astype(np.float32)
    window += np.float32(rng.uniform(-12.0, 12.0))
    if rng.random() < config.shadow_probability:
        window *= _shadow_mask(window.shape[:3], rng)[..., None]
    if config.noise_sigma > 0:
        sigma = rng.uniform(0.0, config.noise_sigma)
        window += rng.standard_normal(window.shape, dtype=np.float32) * np.float32(sigma)
    np.clip(window, 0.0, 255.0, out=window)
    return window, steering


def _shadow_mask(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Return a slanted dark band moving down the image over the window: ``(T, H, W)``."""
    steps, height, width = shape
    rows = np.arange(height, dtype=np.float32)[None, :, None]
    cols = np.arange(width, dtype=np.float32)[None, None, :]
    time = np.arange(steps, dtype=np.float32)[:, None, None]
    slope = rng.uniform(-0.4, 0.4) * height / width
    thickness = rng.uniform(0.1, 0.5) * height
    speed = rng.uniform(0.0, 2.0) * height / max(steps, 1)
    top = rng.uniform(-thickness, height) + slope * (cols - width / 2) + speed * time
    inside = (rows >= top) & (rows < top + thickness)
    darkness = np.float32(rng.uniform(0.35, 0.8))
    return np.where(inside, darkness, np.float32(1.0))
