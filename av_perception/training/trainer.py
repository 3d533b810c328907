"""Training loop of the temporal controller: windows of 2N frames, truncated BPTT, export.

Deterministic for a seed: PyTorch and numpy generators are seeded, deterministic algorithms
are enforced and the thread count is fixed (``TrainConfig.threads``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from pathlib import Path
import platform
import sys
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from av_perception.control.dataset import LabelledDrive
from av_perception.control.errors import ControllerError
from av_perception.control.evaluation import open_loop_report, predict_drive
from av_perception.control.metadata import ControllerMetadata, write_metadata
from av_perception.control.model import ControllerModel
from av_perception.control.preprocess import InputSpec, normalize
from av_perception.training.augment import augment_window
from av_perception.training.config import TrainConfig
from av_perception.training.export import export_onnx
from av_perception.training.layers import layer_rows
from av_perception.training.model import ControllerNet

CURVE_FILE = 'training_curve.png'


@dataclass(frozen=True)
class EpochRecord:
    """Losses (normalised units) and validation steering RMSE (rad) after one epoch."""

    epoch: int
    train_loss: float
    val_loss: float
    val_steering_rmse_rad: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_controller` produced."""

    out_dir: Path
    metadata: ControllerMetadata
    epochs: tuple[EpochRecord, ...]
    seconds: float
    files: tuple[Path, ...] = field(default_factory=tuple)


def input_spec(config: TrainConfig, mean: Sequence[float] = (127.5, 127.5, 127.5),
               std: Sequence[float] = (64.0, 64.0, 64.0)) -> InputSpec:
    """Return the network input of a training configuration (normalisation as given)."""
    return InputSpec(config.input_width, config.input_height, tuple(config.crop),
                     mean=tuple(mean), std=tuple(std))


def pixel_statistics(drives: Sequence[LabelledDrive], samples: int = 2000,
                     seed: int = 0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of the crops (a fixed random frame sample)."""
    rng = np.random.default_rng(seed)
    picks = [(d, int(i)) for d in drives for i in range(len(d))]
    chosen = rng.choice(len(picks), size=min(samples, len(picks)), replace=False)
    values = np.stack([picks[i][0].pixels[picks[i][1]] for i in sorted(chosen)])
    values = values.reshape(-1, 3).astype(np.float64)
    return (tuple(float(v) for v in values.mean(axis=0)),
            tuple(float(max(v, 1.0)) for v in values.std(axis=0)))


def set_determinism(seed: int, threads: int) -> None:
    """Seed PyTorch, enforce deterministic kernels and fix the CPU thread count."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def split_by_time(drives: Sequence[LabelledDrive], val_fraction: float
                  ) -> tuple[list[LabelledDrive], list[LabelledDrive]]:
    """Split every drive into its first ``1 - val_fraction`` and the rest (by frame order)."""
    train, val = [], []
    for drive in drives:
        cut = len(drive) - int(round(len(drive) * val_fraction))
        train.append(drive.slice(0, cut, ':train'))
        if cut < len(drive):
            val.append(drive.slice(cut, len(drive), ':val'))
    return train, val


def window_starts(drives: Sequence[LabelledDrive], length: int, stride: int,
                  rng: np.random.Generator | None = None) -> list[tuple[int, int]]:
    """``(drive index, first frame)`` of every full window; the last window ends the drive.

    With ``rng`` the grid of starts is shifted by a random offset per drive, so successive
    epochs cut the drives at different frames.
    """
    starts = []
    for index, drive in enumerate(drives):
        if len(drive) < length:
            continue
        last = len(drive) - length
        offset = int(rng.integers(0, min(stride, last + 1))) if rng is not None else 0
        firsts = list(range(offset, last + 1, stride))
        if offset > 0:
            firsts.insert(0, 0)
        if firsts[-1] != last:
            firsts.append(last)
        starts += [(index, first) for first in firsts]
    return starts


@dataclass(frozen=True)
class LabelScaling:
    """Mean and spread of the labels; the network learns ``(label - mean) / scale``."""

    steering_mean: float
    steering_scale: float
    speed_mean: float
    speed_scale: float
    has_speed: bool

    @classmethod
    def from_drives(cls, drives: Sequence[LabelledDrive]) -> 'LabelScaling':
        """Compute from the training frames (speed: only where labelled)."""
        steering = np.concatenate([d.steering for d in drives]).astype(np.float64)
        speed = np.concatenate([d.speed for d in drives]).astype(np.float64)
        speed = speed[np.isfinite(speed)]
        has_speed = len(speed) > 0
        return cls(float(np.mean(steering)), max(float(np.std(steering)), 1e-3),
                   float(np.mean(speed)) if has_speed else 0.0,
                   max(float(np.std(speed)), 0.1) if has_speed else 1.0, has_speed)


def _batch(drives: Sequence[LabelledDrive], picks: Sequence[tuple[int, int]], length: int,
           config: TrainConfig, spec: InputSpec, scaling: LabelScaling,
           rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames ``(B, T, 3, H, W)``, normalised labels ``(B, T, 2)`` and label mask."""
    frames, labels = [], []
    for drive_index, first in picks:
        drive = drives[drive_index]
        pixels = drive.pixels[first:first + length]
        steering = drive.steering[first:first + length]
        if rng is not None:
            window, steering = augment_window(pixels, steering, drive.margin, spec.width,
                                              config, rng, drive.speed[first:first + length])
        else:
            window = pixels[:, :, drive.margin:drive.margin + spec.width].astype(np.float32)
        frames.append(normalize(window, spec))
        labels.append(np.stack([steering, drive.speed[first:first + length]], axis=-1))
    label = np.stack(labels).astype(np.float32)
    mask = np.isfinite(label)
    label = np.where(mask, label, 0.0)
    label[..., 0] = (label[..., 0] - scaling.steering_mean) / scaling.steering_scale
    label[..., 1] = (label[..., 1] - scaling.speed_mean) / scaling.speed_scale
    return (torch.from_numpy(np.stack(frames)), torch.from_numpy(label.astype(np.float32)),
            torch.from_numpy(mask))


def _loss(output: torch.Tensor, label: torch.Tensor, mask: torch.Tensor,
          speed_weight: float) -> torch.Tensor:
    error = torch.square(output - label) * mask
    steering = error[..., 0].sum() / mask[..., 0].sum().clamp(min=1)
    speed = error[..., 1].sum() / mask[..., 1].sum().clamp(min=1)
    return steering + speed_weight * speed


def staggered_outputs(net: ControllerNet, features: torch.Tensor, history: int
                      ) -> torch.Tensor:
    """Normalised ``(N, 2)`` outputs of a drive with the inference history semantics.

    Frame t uses the LSTM run from zero at frame ``r(t) = 0`` for ``t < 2N``, else
    ``N * (t // N - 1)`` (see ``av_perception.control.history``); all segments of 2N frames
    starting at multiples of N run as one batch.
    """
    total = features.shape[0]
    segments = max(1, math.ceil(total / history) - 1)
    length = 2 * history
    padded = torch.zeros(segments * history + length, features.shape[1])
    padded[:total] = features
    batch = torch.stack([padded[k * history:k * history + length] for k in range(segments)])
    h, c = net.temporal.zero_state(segments)
    out, _, _ = net.temporal.forward_normalized(batch, h, c)
    frames = torch.arange(total)
    segment = torch.clamp(frames // history - 1, min=0)
    return out[segment, frames - segment * history]


def _validate(net: ControllerNet, drives: Sequence[LabelledDrive], config: TrainConfig,
              spec: InputSpec, scaling: LabelScaling) -> tuple[float, float]:
    """Return validation loss (normalised) and steering RMSE (rad), inference semantics."""
    if not drives:
        return float('nan'), float('nan')
    net.eval()
    losses, squared, count = [], 0.0, 0
    with torch.no_grad():
        for drive in drives:
            frames, label, mask = _batch([drive], [(0, 0)], len(drive), config, spec, scaling,
                                         None)
            features = torch.cat([net.encoder(chunk) for chunk in frames[0].split(256)])
            out = staggered_outputs(net, features, config.history_length)
            losses.append(float(_loss(out[None], label, mask, config.speed_loss_weight))
                          * len(drive))
            error = (out[:, 0] - label[0, :, 0]) * scaling.steering_scale
            squared += float(torch.sum(error * error))
            count += len(drive)
    net.train()
    return sum(losses) / count, math.sqrt(squared / count)


def _plot_curve(path: Path, records: Sequence[EpochRecord], baseline_rmse: float,
                title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    epochs = [r.epoch for r in records]
    figure, (loss_axis, rmse_axis) = pyplot.subplots(1, 2, figsize=(9, 3.4))
    loss_axis.plot(epochs, [r.train_loss for r in records], 'o-', label='train')
    loss_axis.plot(epochs, [r.val_loss for r in records], 's-', label='validation')
    loss_axis.set_xlabel('epoch')
    loss_axis.set_ylabel('loss (normalised MSE)')
    loss_axis.set_yscale('log')
    loss_axis.legend()
    loss_axis.grid(alpha=0.3)
    rmse_axis.plot(epochs, [math.degrees(r.val_steering_rmse_rad) for r in records], 's-',
                   color='tab:orange', label='model')
    if math.isfinite(baseline_rmse):
        rmse_axis.axhline(math.degrees(baseline_rmse), color='grey', linestyle='--',
                          label='constant mean')
    rmse_axis.set_xlabel('epoch')
    rmse_axis.set_ylabel('validation steering RMSE (deg)')
    rmse_axis.set_ylim(bottom=0)
    rmse_axis.legend()
    rmse_axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)


def _plain(value: Any) -> Any:
    """Convert to floats, ints, strings and lists only, so the sidecar stays plain YAML."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, str):
        return str(value)  # e.g. torch.__version__ is a str subclass YAML cannot represent
    return value


@dataclass
class FittedNetwork:
    """A trained network with what it was trained on (before export)."""

    net: ControllerNet
    records: list[EpochRecord]
    scaling: LabelScaling
    train: list[LabelledDrive]
    val: list[LabelledDrive]
    windows: int
    spec: InputSpec


def fit_network(drives: Sequence[LabelledDrive], config: TrainConfig, seed: int = 0,
                progress: bool = True) -> FittedNetwork:
    """Train a network on windows of 2N frames from ``drives`` (time split for validation).

    Drives must carry crops with ``margin >= config.shift_px`` when augmenting.
    """
    from tqdm import tqdm

    set_determinism(seed, config.threads)
    rng = np.random.default_rng(seed)
    train, val = split_by_time(drives, config.val_fraction)
    spec = input_spec(config, *pixel_statistics(train, seed=seed))
    length = config.window_length
    starts = window_starts(train, length, config.stride)
    if not starts:
        raise ControllerError(f'no drive has the {length} frames of one training window '
                              f'(history_length {config.history_length}); longest: '
                              f'{max((len(d) for d in train), default=0)} frames')
    scaling = LabelScaling.from_drives(train)
    speed_weight = config.speed_loss_weight if scaling.has_speed else 0.0
    net = ControllerNet(config, (scaling.steering_mean, scaling.speed_mean),
                        (scaling.steering_scale, scaling.speed_scale))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(starts) / config.batch_windows)
    total_steps = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.05 + 0.95 * 0.5 * (
        1 + math.cos(math.pi * min(step / total_steps, 1.0))))
    records: list[EpochRecord] = []
    bar = tqdm(total=total_steps, unit='step', file=sys.stderr, disable=not progress,
               desc='train')
    net.train()
    for epoch in range(1, config.epochs + 1):
        if epoch > 1:
            starts = window_starts(train, length, config.stride, rng)
            steps_per_epoch = math.ceil(len(starts) / config.batch_windows)
        order = rng.permutation(len(starts))
        running, seen = 0.0, 0
        for step in range(steps_per_epoch):
            picks = [starts[i] for i in order[step * config.batch_windows:
                                              (step + 1) * config.batch_windows]]
            frames, label, mask = _batch(train, picks, length, config, spec, scaling, rng)
            loss = _loss(net(frames), label, mask, speed_weight)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            running += float(loss.detach()) * len(picks)
            seen += len(picks)
            bar.update(1)
            bar.set_postfix(epoch=f'{epoch}/{config.epochs}', loss=f'{running / seen:.4f}')
        val_loss, val_rmse = _validate(net, val, config, spec, scaling)
        records.append(EpochRecord(epoch, running / seen, val_loss, val_rmse))
        if progress:
            bar.write(f'epoch {epoch}/{config.epochs}: train loss {running / seen:.4f}, val '
                      f'loss {val_loss:.4f}, val steering RMSE {math.degrees(val_rmse):.3f} '
                      'deg')
    bar.close()
    net.eval()
    return FittedNetwork(net, records, scaling, train, val, len(starts), spec)


def train_controller(drives: Sequence[LabelledDrive], config: TrainConfig, out_dir: str | Path,
                     seed: int = 0, sources: Sequence[str] = (), command_line: str = '',
                     progress: bool = True) -> TrainResult:
    """Train on ``drives`` (crops with margin >= ``config.shift_px``) and write the model.

    Writes ``encoder.onnx``, ``temporal.onnx``, ``controller.yaml`` and ``training_curve.png``
    to ``out_dir``. Validation: the last ``val_fraction`` of every drive, predicted through the
    exported ONNX graphs with the inference history semantics.
    """
    started = time.monotonic()
    fitted = fit_network(drives, config, seed, progress)
    net, records, scaling = fitted.net, fitted.records, fitted.scaling
    train, val = fitted.train, fitted.val
    out_dir = Path(out_dir)
    encoder_path, temporal_path = export_onnx(net, out_dir)
    rows = layer_rows(net)
    training = {
        'command': command_line,
        'inputs': [{'name': d.name, 'frames': len(d)} for d in drives],
        'sources': list(sources),
        'frames_train': sum(len(d) for d in train),
        'frames_val': sum(len(d) for d in val),
        'windows': fitted.windows,
        'window_frames': config.window_length,
        'epochs': config.epochs,
        'seed': seed,
        'config': {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in config.__dict__.items()},
        'steering_mean_rad': scaling.steering_mean,
        'steering_std_rad': scaling.steering_scale,
        'speed_mean_mps': scaling.speed_mean if scaling.has_speed else None,
        'speed_std_mps': scaling.speed_scale if scaling.has_speed else None,
        'speed_trained': scaling.has_speed,
        'epoch_records': [r.__dict__ for r in records],
        'seconds': time.monotonic() - started,
        'torch': torch.__version__,
        'python': platform.python_version(),
    }
    spec = fitted.spec
    frame_period = float(np.median([d.frame_period_s for d in drives]))
    metadata = ControllerMetadata(
        input=spec, feature_size=config.feature_size, hidden_size=config.hidden_size,
        lstm_layers=config.lstm_layers, history_length=config.history_length,
        temporal_type=config.temporal, encoder_file=encoder_path.name,
        temporal_file=temporal_path.name, frame_period_s=frame_period,
        training=_plain(training), validation={}, layers=tuple(rows))
    write_metadata(out_dir, metadata)
    validation = validate_exported(out_dir, val, scaling)
    metadata = ControllerMetadata(**{**metadata.__dict__, 'validation': _plain(validation)})
    write_metadata(out_dir, metadata)
    baseline = validation.get('baseline_steering_rmse_rad')
    _plot_curve(out_dir / CURVE_FILE, records, baseline if baseline is not None else math.nan,
                f'{config.temporal} controller, history {config.history_length}, seed {seed}')
    return TrainResult(out_dir, metadata, tuple(records), time.monotonic() - started,
                       (encoder_path, temporal_path, out_dir / 'controller.yaml',
                        out_dir / CURVE_FILE))


def validate_exported(model_dir: Path, drives: Sequence[LabelledDrive],
                      scaling: LabelScaling) -> dict[str, Any]:
    """Open-loop metrics of the exported graphs on the validation drives (empty: none)."""
    if not drives:
        return {}
    model = ControllerModel(model_dir)
    predictions, steering, speed = [], [], []
    for drive in drives:
        crops = drive.pixels[:, :, drive.margin:drive.margin + model.metadata.input.width]
        predictions.append(predict_drive(model, crops, stamps_ns=drive.stamps_ns))
        steering.append(drive.steering)
        speed.append(drive.speed)
    report = open_loop_report(np.concatenate(predictions), np.concatenate(steering),
                              np.concatenate(speed), scaling.steering_mean,
                              scaling.speed_mean if scaling.has_speed else None)
    return {'drives': [d.name for d in drives], **report.to_dict()}
