"""Object detection core: ONNX Runtime YOLO-family detector, NMS, tracking (no ROS imports).

Typical use (what the ``object_detector`` node does)::

    detector = Detector.from_config(config)          # loads, checks and warms up the model
    result = detector.detect(bgr_image)              # DetectionResult: detections + timings
    detections = tracker.update(result.detections)   # optional: stable track ids
"""

from av_perception.detection.backend import OnnxBackend, ProviderOptions, select_providers
from av_perception.detection.config import (DetectorConfig, ObjectDetectorConfig,
                                            TrackerConfig)
from av_perception.detection.decode import (Candidates, decode, decode_yolov5, decode_yolov8,
                                            decode_yolox)
from av_perception.detection.detector import Detector, resolve_model_path
from av_perception.detection.drawing import draw_detections
from av_perception.detection.errors import DetectorError
from av_perception.detection.model import (coco_class_names, infer_format, load_class_names,
                                           ModelInfo)
from av_perception.detection.nms import non_max_suppression
from av_perception.detection.preprocess import letterbox, LetterboxTransform
from av_perception.detection.results import Detection, DetectionResult, StageTimings
from av_perception.detection.tracker import Tracker

__all__ = [
    'Candidates', 'coco_class_names', 'decode', 'decode_yolov5', 'decode_yolov8',
    'decode_yolox', 'Detection', 'DetectionResult', 'Detector', 'DetectorConfig',
    'DetectorError', 'draw_detections', 'infer_format', 'letterbox', 'LetterboxTransform',
    'load_class_names', 'ModelInfo', 'non_max_suppression', 'ObjectDetectorConfig',
    'OnnxBackend', 'ProviderOptions', 'resolve_model_path', 'select_providers',
    'StageTimings', 'Tracker', 'TrackerConfig',
]
