"""Open-loop evaluation: the model's commands on recorded drives against the recorded labels."""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from typing import Any

import numpy as np

from av_perception.control.history import StaggeredLstmState
from av_perception.control.model import ControllerModel
from av_perception.control.preprocess import normalize


def predict_drive(model: ControllerModel, pixels: np.ndarray, history_length: int | None = None,
                  stamps_ns: np.ndarray | None = None, max_frame_gap_s: float = 1.0,
                  batch_size: int = 256) -> np.ndarray:
    """Return the raw ``(N, 2)`` commands (steering, speed) the controller gives a drive.

    ``pixels`` are crops as ``crop_and_resize`` returns them (no margin). The history works as
    in :class:`TemporalController` (same staggered lanes, reset on time jumps), without the
    safety limits; the encoder runs in batches because frames do not depend on each other.
    """
    meta = model.metadata
    spec = meta.input
    features = np.concatenate([
        model.encode(normalize(pixels[start:start + batch_size], spec))
        for start in range(0, len(pixels), batch_size)]) if len(pixels) else np.zeros((0, 1))
    state = StaggeredLstmState(history_length or meta.history_length, meta.lstm_layers,
                               meta.hidden_size)
    out = np.zeros((len(pixels), 2), np.float64)
    previous = None
    for index in range(len(pixels)):
        if stamps_ns is not None:
            stamp = int(stamps_ns[index])
            if previous is not None and not 0 <= stamp - previous <= max_frame_gap_s * 1e9:
                state.reset()
            previous = stamp
        h, c = state.inputs()
        step = np.repeat(features[index][None, None, :], h.shape[1], axis=0)
        command, h_out, c_out = model.run_temporal(step, h, c)
        lane, _ = state.advance(h_out, c_out)
        out[index] = command[lane, -1]
    return out


@dataclass(frozen=True)
class OpenLoopReport:
    """Steering and speed errors against the labels and against a constant baseline.

    The baseline predicts ``baseline_steering_rad`` / ``baseline_speed_mps`` for every frame
    (the training-set means when known). Speed entries are NaN when there are no speed labels.
    """

    frames: int
    steering_rmse_rad: float
    baseline_steering_rad: float
    baseline_steering_rmse_rad: float
    steering_rmse_ratio: float
    speed_rmse_mps: float
    baseline_speed_mps: float
    baseline_speed_rmse_mps: float

    def to_dict(self) -> dict[str, Any]:
        """Plain floats (JSON/YAML friendly), NaN as None."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def _rmse(a: np.ndarray, b: np.ndarray | float) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(a, np.float64) - b)))) if len(a) else \
        float('nan')


def open_loop_report(predicted: np.ndarray, steering: np.ndarray, speed: np.ndarray,
                     baseline_steering: float | None = None,
                     baseline_speed: float | None = None) -> OpenLoopReport:
    """Compare ``(N, 2)`` predictions with labels; baselines default to the label means."""
    steering = np.asarray(steering, np.float64)
    speed = np.asarray(speed, np.float64)
    if baseline_steering is None or not math.isfinite(baseline_steering):
        baseline_steering = float(np.mean(steering)) if len(steering) else 0.0
    has_speed = np.isfinite(speed)
    if baseline_speed is None or not math.isfinite(baseline_speed):
        baseline_speed = float(np.mean(speed[has_speed])) if np.any(has_speed) else float('nan')
    steering_rmse = _rmse(predicted[:, 0], steering)
    baseline_rmse = _rmse(steering, baseline_steering)
    if np.any(has_speed):
        speed_rmse = _rmse(predicted[has_speed, 1], speed[has_speed])
        speed_baseline = _rmse(speed[has_speed], baseline_speed)
    else:
        speed_rmse = speed_baseline = float('nan')
    ratio = steering_rmse / baseline_rmse if baseline_rmse > 0 else float('nan')
    return OpenLoopReport(len(steering), steering_rmse, float(baseline_steering), baseline_rmse,
                          ratio, speed_rmse, float(baseline_speed), speed_baseline)
