"""Validated settings of ``train-controller`` (model shape, data split, augmentation, run)."""

from __future__ import annotations

from dataclasses import dataclass

from av_perception.params import ConfigError, parameter, validate


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained controller, besides the data and the seed."""

    # model
    input_width: int = parameter(160, 'network input width in pixels', low=16, high=1024)
    input_height: int = parameter(64, 'network input height in pixels', low=16, high=1024)
    crop: tuple = parameter(
        (0.05, 0.40, 0.95, 1.0), 'road area of the camera image fed to the network: x0, y0, '
        'x1, y1 as fractions of width and height', low=0.0, high=1.0)
    conv_channels: tuple = parameter(
        (12, 16, 24, 32, 32), 'output channels of the five convolutions (5x5 s2, 5x5 s2, '
        '5x5 s2, 3x3 s1, 3x3 s2; all padded)', low=1, high=1024)
    feature_size: int = parameter(64, 'size of the per-frame feature vector', low=1, high=4096)
    hidden_size: int = parameter(64, 'LSTM hidden size (MLP width when temporal is none)',
                                 low=1, high=4096)
    lstm_layers: int = parameter(1, 'stacked LSTM layers', low=1, high=4)
    temporal: str = parameter(
        'lstm', 'lstm: CNN + LSTM over the frames; none: the same CNN on single frames with '
        'an MLP head (the ablation)', choices=('lstm', 'none'))
    feature_skip: bool = parameter(
        False, 'the head sees the current frame feature next to the LSTM output (lstm only)')
    dropout: float = parameter(0.1, 'dropout on the flattened CNN output in training',
                               low=0.0, high=0.9)
    batch_norm: bool = parameter(
        True, 'batch normalisation after each convolution (folded into it at inference)')
    # data
    history_length: int = parameter(
        16, 'history N: training windows are 2N frames (truncated BPTT from a zero state); at '
        'inference the state is re-based every N frames', low=1, high=512)
    window_stride: int = parameter(
        0, 'frames between the starts of training windows (the grid moves by a random offset '
        'every epoch); 0 = 2 x history_length: each frame once per epoch', low=0,
        high=100000)
    val_fraction: float = parameter(
        0.15, 'the last part of every drive (by time) held out for validation', low=0.0,
        high=0.9)
    # optimisation
    epochs: int = parameter(6, 'passes over the training windows', low=1, high=10000)
    batch_windows: int = parameter(8, 'windows per optimisation step', low=1, high=4096)
    learning_rate: float = parameter(1.5e-3, 'Adam learning rate (cosine decay to 5 %)',
                                     low=1e-7, high=1.0)
    weight_decay: float = parameter(1e-5, 'Adam weight decay', low=0.0, high=1.0)
    speed_loss_weight: float = parameter(
        0.3, 'weight of the (normalised) speed error against the steering error', low=0.0,
        high=100.0)
    threads: int = parameter(2, 'PyTorch CPU threads (fixed for reproducibility)', low=1,
                             high=256)
    # augmentation
    augment: bool = parameter(True, 'apply the augmentations below to training windows')
    brightness_range: tuple = parameter(
        (0.6, 1.4), 'brightness gain drawn per window (min, max)', low=0.05, high=5.0)
    shadow_probability: float = parameter(
        0.35, 'chance that a window gets a dark band sweeping down the road', low=0.0,
        high=1.0)
    shift_px: int = parameter(
        3, 'largest horizontal shift of a window in network pixels', low=0, high=64)
    shift_steering_per_px: float = parameter(
        0.00215, 'steering correction (rad, positive left) per network pixel the crop moves '
        'right (the view yaws right, so the driver would steer left), at '
        'shift_reference_speed_mps; 0.00215 suits the simulator camera at 160 px and its '
        'pure-pursuit expert', low=-1.0, high=1.0)
    shift_reference_speed_mps: float = parameter(
        20.0, 'the correction scales with reference / max(speed label, 6.7 m/s), as a '
        'steering correction over a speed-proportional look-ahead does; 0 = the same '
        'correction at every speed (and always without speed labels)', low=0.0, high=100.0)
    noise_sigma: float = parameter(3.0, 'largest per-pixel noise (grey levels)', low=0.0,
                                   high=50.0)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules."""
        validate(self)
        name = type(self).__name__
        x0, y0, x1, y1 = self.crop if len(self.crop) == 4 else (0, 0, 0, 0)
        if len(self.crop) != 4 or not (x0 < x1 and y0 < y1):
            raise ConfigError(f'{name}.crop={self.crop!r}: need (x0, y0, x1, y1) with x0 < x1 '
                              'and y0 < y1')
        if len(self.conv_channels) != 5:
            raise ConfigError(f'{name}.conv_channels={self.conv_channels!r}: five values')
        low, high = self.brightness_range if len(self.brightness_range) == 2 else (1, 0)
        if low > high:
            raise ConfigError(f'{name}.brightness_range={self.brightness_range!r}: (min, max)')

    @property
    def window_length(self) -> int:
        """Frames per training window (2N)."""
        return 2 * self.history_length

    @property
    def stride(self) -> int:
        """Frames between window starts."""
        return self.window_stride or self.window_length
