"""Validated configuration of the detector, the tracker and the ``object_detector`` node.

``config/object_detector.param.yaml`` lists exactly the fields of :class:`ObjectDetectorConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from av_perception.params import CameraInputConfig, ConfigError, parameter, validate
from av_perception.providers import (check_provider_names, default_model_cache_dir,
                                     ExecutionProviderConfig, MODEL_CACHE_ENV)

MODEL_FORMATS = ('yolox', 'yolov5', 'yolov8')
LETTERBOX_MODES = ('top_left', 'center')
NORMALIZATIONS = ('bgr_0_255', 'rgb_0_1')
DEFAULT_PROVIDERS = ('TensorrtExecutionProvider', 'CUDAExecutionProvider',
                     'CPUExecutionProvider')
__all__ = ['default_model_cache_dir', 'DetectorConfig', 'MODEL_CACHE_ENV',
           'ObjectDetectorConfig', 'TrackerConfig']


@dataclass(frozen=True)
class DetectorConfig(ExecutionProviderConfig):
    """Model, pre/post-processing and ONNX Runtime settings of :class:`Detector`.

    The TensorRT/CUDA parameters (``cuda_device_id``, ``trt_*``) come from
    :class:`~av_perception.providers.ExecutionProviderConfig`, shared with the controller.
    """

    model_path: str = parameter(
        '', 'ONNX model file; a relative path that does not exist is looked up in '
        'model_cache_dir', read_only=True)
    model_cache_dir: str = parameter(
        '', 'directory for models given by name and for TensorRT engines; empty = '
        f'${MODEL_CACHE_ENV} or ~/.cache/av_perception/models', read_only=True)
    model_format: str = parameter(
        'auto', 'output layout; auto = from the sidecar, else from the output shape',
        choices=('auto',) + MODEL_FORMATS, read_only=True)
    labels_path: str = parameter(
        '', 'class names file, one per line; empty = model metadata, sidecar or COCO-80',
        read_only=True)
    input_width: int = parameter(
        0, 'network input width in pixels; 0 = from sidecar, metadata or the model',
        low=0, high=8192, read_only=True)
    input_height: int = parameter(
        0, 'network input height in pixels; 0 = from sidecar, metadata or the model',
        low=0, high=8192, read_only=True)
    letterbox: str = parameter(
        'auto', 'letterbox placement; auto = top_left for yolox, center otherwise',
        choices=('auto',) + LETTERBOX_MODES, read_only=True)
    normalization: str = parameter(
        'auto', 'input tensor encoding; auto = bgr_0_255 for yolox, rgb_0_1 otherwise',
        choices=('auto',) + NORMALIZATIONS, read_only=True)
    pad_value: int = parameter(114, 'grey level of the letterbox padding', low=0, high=255)
    score_threshold: float = parameter(
        0.3, 'minimum score (objectness x class probability) of a detection', low=0.0, high=1.0)
    nms_iou_threshold: float = parameter(
        0.45, 'boxes overlapping a better one by more than this IoU are suppressed',
        low=0.0, high=1.0)
    class_agnostic_nms: bool = parameter(
        True, 'suppress overlapping boxes across classes too (one box per object: a truck '
        'that also scores as a bus is reported once)')
    max_detections: int = parameter(100, 'most detections kept per frame', low=1, high=10000)
    class_ids: tuple = parameter(
        (-1,), 'keep only these class ids (COCO: 0 person, 2 car, 5 bus, 7 truck); '
        '[-1] keeps every class', low=-1)
    providers: tuple = parameter(
        DEFAULT_PROVIDERS, 'ONNX Runtime execution providers in order of preference; '
        'unavailable ones are skipped, CPU is the last resort', read_only=True)
    cpu_threads: int = parameter(
        0, 'intra-op threads of ONNX Runtime; 0 = its default (one per core)',
        low=0, high=256, read_only=True)
    warmup_runs: int = parameter(
        1, 'inferences run at load so the first frame is not slow (at least one, which '
        'also checks the output)', low=1, high=100, read_only=True)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules."""
        validate(self)
        check_detector_fields(self)

    def resolved_cache_dir(self) -> Path:
        """Return the model cache directory this configuration means."""
        if self.model_cache_dir:
            return Path(self.model_cache_dir).expanduser()
        return default_model_cache_dir()

    def resolved_engine_cache_dir(self) -> Path:
        """Return the TensorRT engine cache directory this configuration means."""
        if self.trt_engine_cache_path:
            return Path(self.trt_engine_cache_path).expanduser()
        return self.resolved_cache_dir() / 'tensorrt'

    def kept_class_ids(self) -> frozenset[int] | None:
        """Return the class ids to keep, or None for every class."""
        if -1 in self.class_ids:
            return None
        return frozenset(self.class_ids)


def check_detector_fields(config: DetectorConfig) -> None:
    """Cross-field rules of :class:`DetectorConfig` (raise ConfigError)."""
    name = type(config).__name__
    if (config.input_width == 0) != (config.input_height == 0):
        raise ConfigError(f'{name}.input_width={config.input_width}, input_height='
                          f'{config.input_height}: set both or neither')
    problem = check_provider_names(name, config.providers)
    if problem:
        raise ConfigError(problem)
    for class_id in config.class_ids:
        if isinstance(class_id, bool) or not isinstance(class_id, int):
            raise ConfigError(f'{name}.class_ids={config.class_ids!r}: ids must be integers')
    if not config.class_ids:
        raise ConfigError(f'{name}.class_ids=(): use [-1] to keep every class')


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`Tracker` (IoU + constant velocity, ByteTrack-style association)."""

    track_high_score: float = parameter(
        0.5, 'detections at or above this score are matched first and may start tracks',
        low=0.0, high=1.0)
    track_low_score: float = parameter(
        0.1, 'detections between this and track_high_score only extend existing tracks',
        low=0.0, high=1.0)
    track_match_iou: float = parameter(
        0.3, 'minimum IoU between a predicted track box and a high-score detection',
        low=0.0, high=1.0)
    track_low_match_iou: float = parameter(
        0.5, 'minimum IoU between a predicted track box and a low-score detection',
        low=0.0, high=1.0)
    track_min_hits: int = parameter(
        2, 'consecutive matched frames before a track gets an id', low=1, high=100)
    track_max_age: int = parameter(
        30, 'frames a track survives without a match before it is dropped', low=0, high=10000)
    track_class_aware: bool = parameter(
        True, 'only match detections of the class the track was started with')
    track_velocity_smoothing: float = parameter(
        0.5, 'weight of the newest velocity observation (1 = no smoothing, 0 = no motion '
        'model)', low=0.0, high=1.0)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules."""
        validate(self)
        check_tracker_fields(self)


def check_tracker_fields(config: TrackerConfig) -> None:
    """Cross-field rules of :class:`TrackerConfig` (raise ConfigError)."""
    if config.track_low_score > config.track_high_score:
        raise ConfigError(f'{type(config).__name__}.track_low_score={config.track_low_score} '
                          f'must be <= track_high_score={config.track_high_score}')


@dataclass(frozen=True)
class ObjectDetectorConfig(CameraInputConfig, TrackerConfig, DetectorConfig):
    """All parameters of the ``object_detector`` node: detector, tracker and input QoS."""

    tracking_enabled: bool = parameter(
        False, 'give detections stable track ids across frames')
    processing_thread: bool = parameter(
        True, 'run inference on its own thread so the newest frame always wins (false: in the '
        'callback, for deterministic lockstep replay)', read_only=True)
    autostart: bool = parameter(
        True, 'configure and activate at start-up (false: wait for a lifecycle manager)',
        read_only=True)

    def __post_init__(self) -> None:
        """Validate every field and the cross-field rules of detector and tracker."""
        validate(self)
        check_detector_fields(self)
        check_tracker_fields(self)
