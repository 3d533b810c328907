"""The controller network in PyTorch: a slim PilotNet-like CNN per frame, an LSTM over frames.

``FrameEncoder`` becomes ``encoder.onnx`` and ``TemporalHead`` becomes ``temporal.onnx``. The
head's outputs are normalised during training; the de-normalisation (label mean and spread)
is a buffer inside the head, so the exported graph outputs radians and metres per second.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from av_perception.training.config import TrainConfig

# kernel, stride, padding of the five convolutions (PilotNet's pattern, slimmer)
CONV_LAYOUT = ((5, 2, 2), (5, 2, 2), (5, 2, 2), (3, 1, 1), (3, 2, 1))


class FrameEncoder(nn.Module):
    """Five ReLU convolutions, flatten, one fully connected layer: frame -> feature vector."""

    def __init__(self, input_height: int, input_width: int, channels: Sequence[int],
                 feature_size: int, dropout: float = 0.0, batch_norm: bool = True) -> None:
        """Build the layers for a ``3 x input_height x input_width`` input."""
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for (kernel, stride, padding), out in zip(CONV_LAYOUT, channels):
            layers.append(nn.Conv2d(previous, int(out), kernel, stride, padding,
                                    bias=not batch_norm))
            if batch_norm:
                # without it training sits on a long plateau; at inference it is an affine
                # map that ONNX Runtime folds into the convolution
                layers.append(nn.BatchNorm2d(int(out)))
            layers.append(nn.ReLU())
            previous = int(out)
        self.convs = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, 3, input_height, input_width)).numel()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(flat, feature_size)
        self.fc_relu = nn.ReLU()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` normalised frames -> ``(B, F)`` features."""
        return self.fc_relu(self.fc(self.dropout(self.flatten(self.convs(frames)))))


class TemporalHead(nn.Module):
    """LSTM (or, for the ablation, a per-frame MLP) and the steering/speed head."""

    def __init__(self, feature_size: int, hidden_size: int, layers: int, temporal: str,
                 output_mean: Sequence[float] = (0.0, 0.0),
                 output_scale: Sequence[float] = (1.0, 1.0), feature_skip: bool = False) -> None:
        """Build the temporal part; ``output_*`` undo the label normalisation.

        ``feature_skip`` (LSTM only) feeds the head the current frame's feature next to the
        LSTM output, so the LSTM only has to add what the past tells.
        """
        super().__init__()
        self.temporal = temporal
        self.hidden_size = hidden_size
        self.layers = layers
        self.feature_skip = feature_skip and temporal == 'lstm'
        if temporal == 'lstm':
            self.lstm = nn.LSTM(feature_size, hidden_size, layers, batch_first=True)
        else:
            self.mlp = nn.Linear(feature_size, hidden_size)
            self.mlp_relu = nn.ReLU()
        self.head = nn.Linear(hidden_size + (feature_size if self.feature_skip else 0), 2)
        self.register_buffer('output_mean', torch.tensor(list(output_mean), dtype=torch.float32))
        self.register_buffer('output_scale',
                             torch.tensor(list(output_scale), dtype=torch.float32))

    def forward_normalized(self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, T, F)`` features, state -> normalised ``(B, T, 2)`` outputs and new state."""
        if self.temporal == 'lstm':
            hidden, (h_out, c_out) = self.lstm(features, (h, c))
            if self.feature_skip:
                hidden = torch.cat([hidden, features], dim=-1)
        else:
            hidden, h_out, c_out = self.mlp_relu(self.mlp(features)), h, c
        return self.head(hidden), h_out, c_out

    def forward(self, features: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`forward_normalized` with outputs in rad and m/s (the exported graph)."""
        normalized, h_out, c_out = self.forward_normalized(features, h, c)
        return normalized * self.output_scale + self.output_mean, h_out, c_out

    def zero_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero ``(h, c)`` for ``batch`` sequences."""
        shape = (self.layers, batch, self.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)


class ControllerNet(nn.Module):
    """Encoder + temporal head over windows of frames."""

    def __init__(self, config: TrainConfig, output_mean: Sequence[float] = (0.0, 0.0),
                 output_scale: Sequence[float] = (1.0, 1.0)) -> None:
        """Build the network that ``config`` describes."""
        super().__init__()
        self.config = config
        self.encoder = FrameEncoder(config.input_height, config.input_width,
                                    config.conv_channels, config.feature_size, config.dropout,
                                    config.batch_norm)
        self.temporal = TemporalHead(config.feature_size, config.hidden_size,
                                     config.lstm_layers, config.temporal, output_mean,
                                     output_scale, config.feature_skip)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, H, W)`` windows from a zero state -> normalised ``(B, T, 2)``."""
        batch, steps = frames.shape[:2]
        # channels-last input lets oneDNN pick its faster CPU convolutions (~25 % here)
        flat = frames.reshape((batch * steps,) + tuple(frames.shape[2:]))
        features = self.encoder(flat.contiguous(memory_format=torch.channels_last))
        h, c = self.temporal.zero_state(batch)
        out, _, _ = self.temporal.forward_normalized(features.reshape(batch, steps, -1), h, c)
        return out
