"""Validated configuration of the temporal controller and its ``temporal_controller`` node.

``config/temporal_controller.param.yaml`` lists exactly the fields of
:class:`TemporalControllerConfig`; a unit test checks that they do not drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path

from av_perception.control.governor import check_governor_fields, SpeedGovernorConfig
from av_perception.params import CameraInputConfig, ConfigError, parameter, validate
from av_perception.providers import ExecutionProviderConfig

MODEL_DIR_ENV = 'AV_PERCEPTION_CONTROLLER_MODEL'
_REPO_MODEL_DIR = Path(__file__).resolve().parents[2] / 'models' / 'controller'


@dataclass(frozen=True)
class TemporalControllerConfig(CameraInputConfig, SpeedGovernorConfig,
                               ExecutionProviderConfig):
    """Model, history, safety limits, speed governor and input settings of the controller."""

    model_dir: str = parameter(
        '', 'directory with encoder.onnx, temporal.onnx and controller.yaml; empty = '
        f'${MODEL_DIR_ENV}, else the model shipped in the package (models/controller)',
        read_only=True)
    history_length: int = parameter(
        0, 'frames N after which the LSTM state is re-based: every command summarises the '
        'last N+1..2N frames; 0 = the N the model was trained with', low=0, high=4096,
        read_only=True)
    steering_limit_rad: float = parameter(
        0.5, 'largest commanded front-wheel angle (either side), radians', low=0.0, high=1.6)
    steering_rate_limit_rad_s: float = parameter(
        1.0, 'largest change of the commanded steering angle per second; 0 = no limit',
        low=0.0, high=100.0)
    min_speed_mps: float = parameter(
        0.0, 'smallest commanded speed (stop commands are always 0)', low=0.0, high=100.0)
    max_speed_mps: float = parameter(
        30.0, 'largest commanded speed', low=0.0, high=100.0)
    frame_timeout_s: float = parameter(
        0.5, 'no frame for longer than this: publish a stop command (speed 0) and warn',
        low=0.01, high=60.0)
    max_frame_gap_s: float = parameter(
        1.0, 'a frame stamp this much later than the previous one (or any earlier one, e.g. '
        'a bag loop or simulator reset) resets the history', low=0.0, high=3600.0)
    lane_frame_id: str = parameter(
        'base_link', 'frame the lane centre line (~/input/lane_center) must be in: the vehicle '
        'frame of the camera mounting parameters; a path in another frame is rejected',
        read_only=True)
    watchdog_period_s: float = parameter(
        0.05, 'how often the node checks the frame timeout', low=0.001, high=10.0,
        read_only=True)
    providers: tuple = parameter(
        ('CPUExecutionProvider',), 'ONNX Runtime execution providers in order of preference; '
        'unavailable ones are skipped, CPU is the last resort (the model is small: CPU avoids '
        'the transfer latency)', read_only=True)
    cpu_threads: int = parameter(
        1, 'intra-op threads of ONNX Runtime; 0 = its default (one per core)', low=0,
        high=256, read_only=True)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules."""
        validate(self)
        name = type(self).__name__
        if self.min_speed_mps > self.max_speed_mps:
            raise ConfigError(f'{name}.min_speed_mps={self.min_speed_mps} must be <= '
                              f'max_speed_mps={self.max_speed_mps}')
        check_governor_fields(self)
        if not self.providers:
            raise ConfigError(f'{name}.providers={self.providers!r}: name at least one provider')
        for provider in self.providers:
            if not isinstance(provider, str) or not provider.endswith('ExecutionProvider'):
                raise ConfigError(f'{name}.providers={self.providers!r}: {provider!r} is not an '
                                  'ONNX Runtime provider name (e.g. CPUExecutionProvider)')

    def resolved_model_dir(self) -> Path:
        """Return the model directory this configuration means (see ``model_dir``)."""
        return resolve_model_dir(self.model_dir)


def resolve_model_dir(model_dir: str | Path = '') -> Path:
    """Return ``model_dir``, else ``$AV_PERCEPTION_CONTROLLER_MODEL``, else the shipped model.

    The shipped model is ``models/controller`` of the source tree, or of the installed
    package's share directory when the package was installed with colcon.
    """
    if str(model_dir):
        return Path(model_dir).expanduser()
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    if _REPO_MODEL_DIR.is_dir():
        return _REPO_MODEL_DIR
    try:  # installed with colcon: share/av_perception/models/controller
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('av_perception')) / 'models' / 'controller'
    except Exception:  # noqa: BLE001 - ament missing or package not installed: keep the default
        return _REPO_MODEL_DIR
