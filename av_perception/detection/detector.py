"""The detector: letterbox -> ONNX Runtime -> decode -> NMS -> boxes in original pixels."""

from __future__ import annotations

import logging
from pathlib import Path
import threading
import time
from typing import Sequence

import numpy as np

from av_perception.detection.backend import OnnxBackend
from av_perception.detection.config import DetectorConfig
from av_perception.detection.decode import decode
from av_perception.detection.errors import DetectorError
from av_perception.detection.model import (input_size_of, load_class_names, ModelInfo,
                                           parse_metadata, read_sidecar, resolve_model_info,
                                           sidecar_path)
from av_perception.detection.nms import non_max_suppression
from av_perception.detection.preprocess import letterbox, LetterboxScratch, LetterboxTransform
from av_perception.detection.results import Detection, DetectionResult, StageTimings
from av_perception.params import field_specs

LOGGER = logging.getLogger('av_perception.detection')


def resolve_model_path(model_path: str, cache_dir: Path) -> Path:
    """Return the model file: ``model_path`` itself, else the same name in ``cache_dir``."""
    if not model_path:
        raise DetectorError('model_path is empty: name an ONNX model file')
    path = Path(model_path).expanduser()
    if path.is_file():
        return path
    if not path.is_absolute() and (cache_dir / path).is_file():
        return cache_dir / path
    where = '' if path.is_absolute() else f' (nor in the model cache {cache_dir})'
    raise DetectorError(f'model file not found: {path}{where}')


class Detector:
    """Runs one YOLO-family ONNX model on BGR images.

    Holds only per-model state (session, model description, settings): each :meth:`detect`
    call is independent, so one detector can serve any sequence of frames. The one thing
    kept between calls is a per-thread input buffer (:class:`LetterboxScratch`), which never
    changes a result: it only saves rewriting the padding and reallocating the tensor.
    """

    def __init__(self, backend: OnnxBackend, model_info: ModelInfo,
                 config: DetectorConfig) -> None:
        """Wrap a loaded backend; prefer :meth:`from_config`, which also checks the model."""
        self._backend = backend
        self._model_info = model_info
        self._config = config
        kept = config.kept_class_ids()
        self._kept_class_ids = None if kept is None else np.array(sorted(kept), np.int32)
        self._scratch = threading.local()

    @classmethod
    def from_config(cls, config: DetectorConfig, available: Sequence[str] | None = None,
                    session_factory=None) -> Detector:
        """Load the model named by ``config``, work out its format and warm it up.

        ``available``/``session_factory`` replace ONNX Runtime's in tests. Raises DetectorError
        for a missing or invalid model, an unusable output shape or non-finite output.
        """
        path = resolve_model_path(config.model_path, config.resolved_cache_dir())
        backend = OnnxBackend(path, config.providers, config.execution_provider_options(),
                              config.cpu_threads,
                              available=available, session_factory=session_factory)
        sidecar_file = sidecar_path(path)
        sidecar = read_sidecar(sidecar_file) if sidecar_file else {}
        metadata = parse_metadata(backend.metadata)
        input_size, size_source = input_size_of(config, sidecar, metadata, backend.input_shape,
                                                path)
        labels = load_class_names(config.labels_path) if config.labels_path else None
        # Warm-up doubles as the shape probe: dynamic-shape exports only reveal their output
        # layout when run.
        probe = np.full((1, 3, input_size[1], input_size[0]), float(config.pad_value),
                        np.float32)
        output = None
        for _ in range(config.warmup_runs):
            output = _checked_run(backend, probe, path)
        model_info = resolve_model_info(path, backend.input_name, input_size, size_source,
                                        output.shape, metadata, sidecar, config, labels)
        if model_info.normalization == 'rgb_0_1':
            # The probe used 0-255 values; re-run once at the real scale to check the output.
            _checked_run(backend, probe / np.float32(255.0), path)
        LOGGER.info('loaded %s', model_info.describe())
        return cls(backend, model_info, config)

    def reconfigured(self, config: DetectorConfig) -> Detector:
        """Return a detector sharing this one's session with new runtime settings.

        For the parameters a node may change while running (thresholds, class filter, NMS,
        padding); a change of a read-only (model/runtime) field raises DetectorError because it
        needs :meth:`from_config`.
        """
        changed = [f.name for f in field_specs(DetectorConfig)
                   if f.metadata.get('read_only')
                   and getattr(config, f.name) != getattr(self._config, f.name)]
        if changed:
            raise DetectorError(f'{changed} need a model reload (Detector.from_config)')
        return type(self)(self._backend, self._model_info, config)

    @property
    def providers(self) -> tuple[str, ...]:
        """Return the execution providers ONNX Runtime actually uses, best first."""
        return self._backend.providers

    @property
    def model_info(self) -> ModelInfo:
        """Return the description of the loaded model."""
        return self._model_info

    @property
    def config(self) -> DetectorConfig:
        """Return the configuration the detector was built with."""
        return self._config

    @property
    def backend(self) -> OnnxBackend:
        """Return the ONNX Runtime backend; benchmarks time its ``run`` alone."""
        return self._backend

    def preprocess(self, image: np.ndarray, reuse_buffer: bool = False
                   ) -> tuple[np.ndarray, LetterboxTransform]:
        """Letterbox a BGR (or grey/BGRA) uint8 image into the network input tensor.

        With ``reuse_buffer`` the tensor is this thread's scratch buffer, overwritten by the
        next such call in the thread (what :meth:`detect` uses); without, a new array.
        """
        info = self._model_info
        scratch = None
        if reuse_buffer:
            scratch = getattr(self._scratch, 'letterbox', None)
            if scratch is None:
                scratch = self._scratch.letterbox = LetterboxScratch()
        return letterbox(image, (info.input_width, info.input_height), info.letterbox,
                         self._config.pad_value, info.normalization, scratch)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Run the network; return its first output."""
        return self._backend.run(tensor)

    def postprocess(self, output: np.ndarray,
                    transform: LetterboxTransform) -> tuple[tuple[Detection, ...], int]:
        """Decode, filter, suppress and map back one output.

        Returns the detections (best score first) and the number of non-finite rows dropped.
        """
        info, config = self._model_info, self._config
        if output.shape != info.output_shape:
            raise DetectorError(f'model {info.path} returned shape {list(output.shape)}, '
                                f'expected {list(info.output_shape)}')
        boxes, scores, class_ids, dropped = decode(
            output, info.format, (info.input_width, info.input_height), config.score_threshold,
            info.strides)
        if dropped:
            LOGGER.warning('%s: dropped %d output rows holding NaN/inf', Path(info.path).name,
                           dropped)
        if self._kept_class_ids is not None and len(class_ids):
            wanted = np.isin(class_ids, self._kept_class_ids)
            boxes, scores, class_ids = boxes[wanted], scores[wanted], class_ids[wanted]
        kept = non_max_suppression(boxes, scores, class_ids, config.nms_iou_threshold,
                                   config.max_detections, config.class_agnostic_nms)
        mapped = transform.to_original(boxes[kept])
        names = info.class_names
        # A box lying wholly in the padding collapses to zero size when clipped.
        detections = tuple(
            Detection(class_id, names[class_id], score, tuple(box))
            for box, score, class_id in zip(mapped.tolist(), scores[kept].tolist(),
                                            class_ids[kept].tolist())
            if box[2] > box[0] and box[3] > box[1])
        return detections, dropped

    def detect(self, image: np.ndarray) -> DetectionResult:
        """Detect objects in one BGR uint8 image; boxes are in its pixels."""
        start = time.perf_counter()
        tensor, transform = self.preprocess(image, reuse_buffer=True)
        preprocessed = time.perf_counter()
        output = self.infer(tensor)
        inferred = time.perf_counter()
        detections, dropped = self.postprocess(output, transform)
        done = time.perf_counter()
        timings = StageTimings((preprocessed - start) * 1e3, (inferred - preprocessed) * 1e3,
                               (done - inferred) * 1e3)
        return DetectionResult(detections, timings, transform.original_width,
                               transform.original_height, dropped)


def _checked_run(backend: OnnxBackend, tensor: np.ndarray, path: Path) -> np.ndarray:
    """Run once at load; reject models whose output is not a float array or all NaN/inf."""
    try:
        output = backend.run(tensor)
    except Exception as err:  # noqa: B902 - ONNX Runtime raises plain subclasses of Exception
        raise DetectorError(f'model {path} failed on a {list(tensor.shape)} input: '
                            f'{err}') from err
    output = np.asarray(output)
    if output.dtype.kind != 'f':
        raise DetectorError(f'model {path} output has dtype {output.dtype} (shape '
                            f'{list(output.shape)}); expected float scores')
    finite = np.isfinite(output)
    if output.size and not finite.any():
        raise DetectorError(f'model {path} output {list(output.shape)} is entirely NaN/inf on '
                            'a blank image: the model is broken')
    if not finite.all():
        LOGGER.warning('model %s output %s holds %d NaN/inf values on a blank image', path,
                       list(output.shape), int(output.size - np.count_nonzero(finite)))
    return output
