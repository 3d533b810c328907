"""Execution providers of ONNX Runtime: choice, TensorRT/CUDA options and their parameters.

Shared by every model of the package (the detector and both controller graphs), so they choose
TensorRT > CUDA > CPU the same way and read the same ``cuda_device_id``/``trt_*`` parameters.
Pure: nothing here imports ONNX Runtime; sessions are created in
:mod:`av_perception.ort_options`.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any, Sequence

from av_perception.params import parameter

TENSORRT = 'TensorrtExecutionProvider'
CUDA = 'CUDAExecutionProvider'
CPU = 'CPUExecutionProvider'
GPU_PROVIDERS = (TENSORRT, CUDA)
ALL_PROVIDERS = (TENSORRT, CUDA, CPU)

MODEL_CACHE_ENV = 'AV_PERCEPTION_MODEL_CACHE'


def default_model_cache_dir() -> Path:
    """Return ``$AV_PERCEPTION_MODEL_CACHE`` or ``~/.cache/av_perception/models``."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path('~/.cache/av_perception/models').expanduser()


def default_engine_cache_dir() -> Path:
    """Return the default TensorRT engine and timing cache directory, ``<model cache>/tensorrt``.

    The detector and the controller share it: engine file names differ by model.
    """
    return default_model_cache_dir() / 'tensorrt'


@dataclass(frozen=True)
class ProviderOptions:
    """Per-provider settings (CPU threads live in the session options instead)."""

    cuda_device_id: int = 0
    trt_fp16: bool = True
    trt_engine_cache: bool = True
    trt_engine_cache_path: str = ''
    trt_workspace_bytes: int = 1 << 30
    trt_timing_cache: bool = True


def select_providers(available: Sequence[str], preferred: Sequence[str] = ALL_PROVIDERS,
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
    """Return the ONNX Runtime option dict of one provider.

    TensorRT writes its engines and layer timings to ``trt_engine_cache_path``: the first
    build of a model takes minutes on a Jetson, a cached engine loads in seconds
    (``av-perception model build-engine`` builds it before driving).
    """
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


def check_provider_names(owner: str, providers: Sequence[Any]) -> str:
    """Return '' when ``providers`` is a usable preference list, else the reason it is not."""
    if not providers:
        return f'{owner}.providers={providers!r}: name at least one provider'
    for provider in providers:
        if not isinstance(provider, str) or not provider.endswith('ExecutionProvider'):
            return (f'{owner}.providers={providers!r}: {provider!r} is not an ONNX Runtime '
                    'provider name (e.g. CUDAExecutionProvider)')
    return ''


@dataclass(frozen=True)
class ExecutionProviderConfig:
    """GPU settings of a node's ONNX Runtime sessions (mixed into the node configurations).

    ``providers`` and ``cpu_threads`` stay in each node's own configuration: their defaults
    differ (the detector prefers TensorRT, the small controller CPU).
    """

    cuda_device_id: int = parameter(0, 'GPU index for CUDA and TensorRT', low=0, high=64,
                                    read_only=True)
    trt_fp16: bool = parameter(True, 'let TensorRT run in FP16', read_only=True)
    trt_engine_cache: bool = parameter(
        True, 'cache built TensorRT engines (the first build can take minutes)', read_only=True)
    trt_engine_cache_path: str = parameter(
        '', 'TensorRT engine and timing cache directory; empty = <model_cache_dir>/tensorrt',
        read_only=True)
    trt_workspace_mb: int = parameter(
        1024, 'TensorRT builder workspace limit in MiB', low=16, high=65536, read_only=True)
    trt_timing_cache: bool = parameter(
        True, 'reuse TensorRT layer timings across engine builds', read_only=True)

    def resolved_engine_cache_dir(self) -> Path:
        """Return the TensorRT engine cache directory this configuration means."""
        if self.trt_engine_cache_path:
            return Path(self.trt_engine_cache_path).expanduser()
        return default_engine_cache_dir()

    def execution_provider_options(self) -> ProviderOptions:
        """Return the :class:`ProviderOptions` of these parameters."""
        return ProviderOptions(
            cuda_device_id=self.cuda_device_id, trt_fp16=self.trt_fp16,
            trt_engine_cache=self.trt_engine_cache,
            trt_engine_cache_path=str(self.resolved_engine_cache_dir()),
            trt_workspace_bytes=self.trt_workspace_mb << 20,
            trt_timing_cache=self.trt_timing_cache)
