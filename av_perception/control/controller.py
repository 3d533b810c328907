"""The temporal controller: camera frame in, limited drive command out, O(1) per frame.

Per frame: crop/resize/normalise, run the CNN encoder once, run one LSTM step for the two
staggered history lanes (see :mod:`av_perception.control.history`), then the safety limits,
then the speed governor (:mod:`av_perception.control.governor`) when detections are given.
A ROS node only forwards frames (:meth:`TemporalController.step`) with the latest detections
and timer ticks (:meth:`TemporalController.check_timeout`) and publishes ``result.command``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np

from av_perception.control.config import TemporalControllerConfig
from av_perception.control.governor import (DetectionFrame, GovernorResult, LaneCorridor,
                                            SpeedGovernor)
from av_perception.control.history import StaggeredLstmState
from av_perception.control.model import ControllerModel
from av_perception.control.preprocess import preprocess_frame
from av_perception.control.safety import SafetyLimits, SafetySupervisor
from av_perception.control_types import DriveCommand

STATUS_OK = 'ok'
STATUS_TIMEOUT = 'timeout'
STATUS_INVALID = 'invalid_output'


@dataclass(frozen=True)
class ControlResult:
    """One command with its diagnostics.

    ``raw_*``: what the model asked for (NaN when it was not run); ``clipped``: the limits
    changed it; ``status``: ``ok``, ``timeout`` (stop: no frames) or ``invalid_output`` (stop:
    the model produced NaN/inf); ``message``: the warning or error text of a non-ok status;
    ``history_reset``: why the history was reset before this frame ('' if it was not);
    ``context_frames``: how many frames the LSTM state summarises; ``latency_ms``: time spent
    in :meth:`TemporalController.step` (preprocessing, both graphs, limits, governor);
    ``governor``: what the speed governor did (None when it did not run: stop commands).
    """

    command: DriveCommand
    stamp_ns: int
    raw_steering_rad: float
    raw_speed_mps: float
    clipped: bool
    status: str = STATUS_OK
    message: str = ''
    history_reset: str = ''
    context_frames: int = 0
    latency_ms: float = 0.0
    governor: GovernorResult | None = None

    @property
    def is_stop(self) -> bool:
        """Say whether this is the stop command of a timeout or an invalid model output."""
        return self.status != STATUS_OK


def safety_limits(config: TemporalControllerConfig) -> SafetyLimits:
    """Return the safety part of a controller configuration."""
    return SafetyLimits(config.steering_limit_rad, config.steering_rate_limit_rad_s,
                        config.min_speed_mps, config.max_speed_mps, config.frame_timeout_s,
                        config.max_frame_gap_s)


class TemporalController:
    """CNN + LSTM controller with bounded history and safety limits."""

    def __init__(self, model: ControllerModel,
                 config: TemporalControllerConfig | None = None) -> None:
        """Wrap a loaded model; ``config.history_length`` 0 uses the model's own."""
        self.config = config or TemporalControllerConfig()
        self.model = model
        meta = model.metadata
        self.history_length = self.config.history_length or meta.history_length
        self.supervisor = SafetySupervisor(safety_limits(self.config))
        self.governor = SpeedGovernor(self.config)
        self._state = StaggeredLstmState(self.history_length, meta.lstm_layers,
                                         meta.hidden_size)
        self._timed_out = False

    @classmethod
    def from_dir(cls, model_dir: str | Path | None = None,
                 config: TemporalControllerConfig | None = None) -> 'TemporalController':
        """Load the controller in ``model_dir`` (default: ``config.model_dir`` resolved)."""
        config = config or TemporalControllerConfig()
        directory = Path(model_dir) if model_dir else config.resolved_model_dir()
        model = ControllerModel(directory, config.providers, config.cpu_threads,
                                config.execution_provider_options())
        return cls(model, config)

    @property
    def frames_since_reset(self) -> int:
        """Frames processed since the last history reset."""
        return self._state.frame

    def reset(self) -> None:
        """Forget the frame history and the previous command (e.g. on a lifecycle restart)."""
        self._state.reset()
        self.supervisor.reset()
        self.governor.reset()
        self._timed_out = False

    def step(self, image: np.ndarray, stamp_ns: int, now_ns: int | None = None,
             detections: DetectionFrame | None = None,
             lane: LaneCorridor | None = None) -> ControlResult:
        """Process one BGR frame stamped ``stamp_ns``; ``now_ns`` is the receive time.

        ``now_ns`` (default: ``stamp_ns``) drives the timeout and the steering-rate limit;
        ``stamp_ns`` decides history resets. ``detections``: the latest detections of this
        camera (boxes in this image's pixels) for the speed governor; None: no governor input.
        ``lane``: the lane detector's latest centre line, which the governor's corridor then
        follows (None: the corridor follows the steering). Raises ControllerError for a
        malformed image.
        """
        started = time.perf_counter()
        now_ns = int(stamp_ns if now_ns is None else now_ns)
        spec = self.model.metadata.input
        frames = preprocess_frame(image, spec)  # validates the image before any state changes
        reason = self.supervisor.history_reset_reason(stamp_ns)
        if self._timed_out and not reason:
            reason = 'frames resumed after a timeout'
        self._timed_out = False
        if reason:
            self._state.reset()
            self.governor.reset()
        self.supervisor.frame_received(now_ns)
        features = self.model.encode(frames)
        h, c = self._state.inputs()
        batch = np.repeat(features[:, None, :], h.shape[1], axis=0)
        command, h_out, c_out = self.model.run_temporal(batch, h, c)
        slot, context = self._state.advance(h_out, c_out)
        raw_steering, raw_speed = (float(v) for v in command[slot, -1])
        limited = self.supervisor.limit(raw_steering, raw_speed, now_ns)
        command, status, governed = limited.command, STATUS_OK, None
        if limited.error:
            status = STATUS_INVALID
            self._state.reset()  # a NaN state would poison every later frame
        else:
            height, width = image.shape[:2]
            governed = self.governor.limit(command.speed, command.steering_angle, stamp_ns,
                                           (width, height), detections, lane)
            command = DriveCommand(command.steering_angle, governed.speed_mps)
        return ControlResult(
            command, int(stamp_ns), raw_steering, raw_speed, limited.clipped, status,
            limited.error, reason, context, (time.perf_counter() - started) * 1e3, governed)

    def check_timeout(self, now_ns: int) -> ControlResult | None:
        """Call on every watchdog tick: a stop result while frames are missing, else None."""
        message = self.supervisor.timeout_message(now_ns)
        if not message:
            return None
        if not self._timed_out:
            self._state.reset()
            self._timed_out = True
        command = self.supervisor.stop(now_ns)
        return ControlResult(command, int(now_ns), float('nan'), float('nan'), True,
                             STATUS_TIMEOUT, message, '', 0, 0.0)
