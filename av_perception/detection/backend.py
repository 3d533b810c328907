"""The ONNX Runtime backend: provider selection, session creation with fallback, inference."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import onnxruntime as ort

from av_perception.detection.config import DEFAULT_PROVIDERS
from av_perception.detection.errors import DetectorError
from av_perception.ort_options import session_options

LOGGER = logging.getLogger('av_perception.detection')

TENSORRT = 'TensorrtExecutionProvider'
CUDA = 'CUDAExecutionProvider'
CPU = 'CPUExecutionProvider'
GPU_PROVIDERS = (TENSORRT, CUDA)

try:
    from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state
except ImportError:  # a build without the usual layout: every error falls back to CPU
    _ort_state = None

# ONNX Runtime errors that mean the file itself is unusable: retrying on CPU cannot help.
_MODEL_ERRORS = tuple(
    getattr(_ort_state, name) for name in ('NoSuchFile', 'InvalidProtobuf', 'InvalidGraph',
                                           'NoModel')
    if hasattr(_ort_state, name))


@dataclass(frozen=True)
class ProviderOptions:
    """Per-provider settings (CPU threads live in the session options instead)."""

    cuda_device_id: int = 0
    trt_fp16: bool = True
    trt_engine_cache: bool = True
    trt_engine_cache_path: str = ''
    trt_workspace_bytes: int = 1 << 30
    trt_timing_cache: bool = True


def select_providers(available: Sequence[str], preferred: Sequence[str] = DEFAULT_PROVIDERS,
                     options: ProviderOptions = ProviderOptions(),
                     ) -> list[tuple[str, dict[str, Any]]]:
    """Return the ``preferred`` providers that are ``available``, in preference order.

    Each entry is ``(name, provider_options)`` as ``InferenceSession(providers=...)`` takes it.
    The CPU provider is always last (appended when not preferred): ONNX Runtime needs it for
    operators the GPU providers do not take, and it is the last resort when nothing else is
    available.
    """
    available_set = set(available)
    chosen: list[tuple[str, dict[str, Any]]] = []
    for name in preferred:
        if name in available_set and name not in (n for n, _ in chosen) and name != CPU:
            chosen.append((name, provider_options(name, options)))
    chosen.append((CPU, {}))
    return chosen


def provider_options(name: str, options: ProviderOptions) -> dict[str, Any]:
    """Return the ONNX Runtime option dict of one provider."""
    if name == TENSORRT:
        values: dict[str, Any] = {
            'device_id': options.cuda_device_id,
            'trt_fp16_enable': options.trt_fp16,
            'trt_max_workspace_size': options.trt_workspace_bytes,
            'trt_engine_cache_enable': options.trt_engine_cache,
            'trt_timing_cache_enable': options.trt_timing_cache,
        }
        if options.trt_engine_cache_path and (options.trt_engine_cache
                                              or options.trt_timing_cache):
            values['trt_engine_cache_path'] = options.trt_engine_cache_path
            values['trt_timing_cache_path'] = options.trt_engine_cache_path
        return values
    if name == CUDA:
        return {'device_id': options.cuda_device_id}
    return {}


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
        factory = session_factory or ort.InferenceSession
        self._session = self._create_session(factory, session_options(cpu_threads), options)
        self.providers = tuple(self._session.get_providers())
        self._check_io()
        LOGGER.info('%s runs on %s', self.model_path.name, list(self.providers))
        wanted = self.requested_providers[0][0]
        if not self.providers or self.providers[0] != wanted:
            LOGGER.warning('%s: wanted %s first but ONNX Runtime uses %s (fallback)',
                           self.model_path.name, wanted, list(self.providers))

    def _create_session(self, factory: Callable[..., Any], options: ort.SessionOptions,
                        provider_settings: ProviderOptions) -> Any:
        requested = list(self.requested_providers)
        if any(name in GPU_PROVIDERS for name, _ in requested):
            cache_dir = provider_settings.trt_engine_cache_path
            if any(name == TENSORRT for name, _ in requested) and cache_dir:
                try:
                    Path(cache_dir).mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    raise DetectorError(f'cannot create the TensorRT engine cache {cache_dir}: '
                                        f'{err}') from err
            try:
                return factory(str(self.model_path), sess_options=options, providers=requested)
            except _MODEL_ERRORS as err:
                raise DetectorError(f'cannot load ONNX model {self.model_path}: {err}') from err
            except Exception as err:  # noqa: B902 - any provider failure falls back to CPU
                LOGGER.warning('%s: creating a session with %s failed (%s); falling back to '
                               'CPUExecutionProvider', self.model_path.name,
                               [name for name, _ in requested], err)
        try:
            return factory(str(self.model_path), sess_options=options, providers=[CPU])
        except Exception as err:  # noqa: B902 - ONNX Runtime raises plain subclasses of Exception
            raise DetectorError(f'cannot load ONNX model {self.model_path}: {err}') from err

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
