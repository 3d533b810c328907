"""Temporal controller (pure core): camera frames in, Ackermann drive commands out.

A CNN encoder runs once per frame and an LSTM advances one step per frame (ONNX Runtime, no
PyTorch); the history is bounded by periodic re-basing (:mod:`av_perception.control.history`)
and a :class:`SafetySupervisor` limits and watches the output. Typical use (the ROS node)::

    controller = TemporalController.from_dir(model_dir, config)
    result = controller.step(bgr_image, stamp_ns, now_ns, detections)  # per frame
    stop = controller.check_timeout(now_ns)                 # per watchdog tick (or None)

``detections`` (a :class:`DetectionFrame` of the object detector's boxes, or None) feed the
:class:`SpeedGovernor`, which caps the model's speed behind objects in the path.
"""

from av_perception.control.config import resolve_model_dir, TemporalControllerConfig
from av_perception.control.controller import ControlResult, TemporalController
from av_perception.control.errors import ControllerError
from av_perception.control.governor import (DetectionFrame, GovernorResult, SpeedGovernor,
                                            SpeedGovernorConfig)
from av_perception.control.history import StaggeredLstmState
from av_perception.control.layer_table import format_layer_table, LayerRow
from av_perception.control.metadata import ControllerMetadata, read_metadata
from av_perception.control.model import ControllerModel
from av_perception.control.preprocess import InputSpec, preprocess_frame
from av_perception.control.safety import SafetyLimits, SafetySupervisor
from av_perception.control_types import DriveCommand

__all__ = [
    'ControllerError', 'ControllerMetadata', 'ControllerModel', 'ControlResult',
    'DetectionFrame', 'DriveCommand', 'format_layer_table', 'GovernorResult', 'InputSpec',
    'LayerRow', 'preprocess_frame', 'read_metadata', 'resolve_model_dir', 'SafetyLimits',
    'SafetySupervisor', 'SpeedGovernor', 'SpeedGovernorConfig', 'StaggeredLstmState',
    'TemporalController', 'TemporalControllerConfig',
]
