"""The ONNX Runtime backend: provider selection, session creation with fallback, inference."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnxruntime as ort

from av_perception.detection.config import DEFAULT_PROVIDERS
from av_perception.detection.errors import DetectorError
from av_perception.ort_options import create_session, report_providers, session_options
from av_perception.providers import (CPU, CUDA, GPU_PROVIDERS, provider_options,
                                     ProviderOptions, select_providers, TENSORRT)

LOGGER = logging.getLogger('av_perception.detection')

# Provider selection is shared with the controller (av_perception.providers); re-exported here.
__all__ = ['CPU', 'CUDA', 'GPU_PROVIDERS', 'OnnxBackend', 'provider_options', 'ProviderOptions',
           'select_providers', 'session_options', 'TENSORRT']


def _static_shape(shape: Sequence[Any]) -> tuple[int | None, ...]:
    """ONNX Runtime shapes hold ints, names or None for dynamic dims: keep ints only."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class OnnxBackend:
    """Owns one ONNX Runtime session: chooses providers, falls back to CPU, runs inference."""

    def __init__(self, model_path: str | Path, preferred: Sequence[str] = DEFAULT_PROVIDERS,
                 options: ProviderOptions = ProviderOptions(), cpu_threads: int = 0,
                 available: Sequence[str] | None = None,
                 session_factory: Callable[..., Any] | None = None) -> None:
        """Load ``model_path``; ``available``/``session_factory`` replace ONNX Runtime's in tests.

        Raises DetectorError when the file is missing or is not a loadable ONNX model.
        """
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise DetectorError(f'model file not found: {self.model_path}')
        if available is None:
            available = ort.get_available_providers()
        self.available_providers = tuple(available)
        self.requested_providers = tuple(
            select_providers(self.available_providers, preferred, options))
        skipped = [p for p in preferred if p not in self.available_providers]
        if skipped:
            LOGGER.info('execution providers not available here, skipped: %s (available: %s)',
                        skipped, list(self.available_providers))
        self._session = create_session(
            self.model_path, self.requested_providers, session_options(cpu_threads),
            engine_cache_dir=options.trt_engine_cache_path, factory=session_factory,
            logger=LOGGER, error=DetectorError)
        self._check_io()
        self.providers = report_providers(self._session, self.model_path.name,
                                          self.requested_providers, LOGGER)

    def _check_io(self) -> None:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1:
            raise DetectorError(f'model {self.model_path} has {len(inputs)} inputs '
                                f'{[i.name for i in inputs]}; a detector takes one image')
        if not outputs:
            raise DetectorError(f'model {self.model_path} has no outputs')
        self.input_name = inputs[0].name
        self.input_shape = _static_shape(inputs[0].shape)
        if len(self.input_shape) != 4 or self.input_shape[1] not in (3, None):
            raise DetectorError(f'model {self.model_path} input {self.input_name!r} has shape '
                                f'{list(inputs[0].shape)}; expected [1, 3, height, width]')
        if inputs[0].type != 'tensor(float)':
            raise DetectorError(f'model {self.model_path} input {self.input_name!r} is '
                                f'{inputs[0].type}; expected tensor(float)')
        self.output_name = outputs[0].name
        self.output_shape = _static_shape(outputs[0].shape)

    @property
    def metadata(self) -> Mapping[str, str]:
        """Return the model's ``custom_metadata_map`` (ultralytics exports fill it)."""
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on a (1, 3, H, W) float32 tensor; return its first output."""
        return self._session.run([self.output_name], {self.input_name: tensor})[0]
