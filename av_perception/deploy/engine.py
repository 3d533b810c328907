"""Build TensorRT engines ahead of time through ONNX Runtime's TensorRT execution provider.

The first session of a model on TensorRT builds an engine: minutes on a Jetson. With the
engine and timing caches enabled (``trt_engine_cache_path``) ONNX Runtime writes it to disk
and later sessions load it in seconds, so ``av-perception model build-engine`` runs this once
after installing (or changing) a model, with the same provider options the nodes use, before
the car drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from av_perception.providers import ALL_PROVIDERS, ProviderOptions, select_providers, TENSORRT


class EngineBuildError(ValueError):
    """The engine could not be built; the message says why."""


class TensorRtUnavailableError(EngineBuildError):
    """This ONNX Runtime has no TensorRT execution provider (the command exits with 2)."""


@dataclass(frozen=True)
class EngineBuild:
    """What one build did: the providers the session runs on, time taken, files written."""

    model: str
    providers: tuple[str, ...]
    session_s: float
    warmup_s: float
    files: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {'model': self.model, 'providers': list(self.providers),
                'session_s': round(self.session_s, 3), 'warmup_s': round(self.warmup_s, 3),
                'files': [{'path': path, 'bytes': size} for path, size in self.files]}


def require_tensorrt(available: Sequence[str]) -> None:
    """Raise TensorRtUnavailableError naming the available providers when TensorRT is absent."""
    if TENSORRT not in available:
        raise TensorRtUnavailableError(
            f'{TENSORRT} is not available in this ONNX Runtime (available: {list(available)}). '
            "Install an onnxruntime-gpu build with TensorRT: on a Jetson, NVIDIA's wheel for "
            'your JetPack (see docs/jetson.md); nothing was built')


def snapshot(directory: str | Path) -> dict[str, tuple[int, int]]:
    """Return ``{path: (size, mtime_ns)}`` of every file below ``directory``."""
    root = Path(directory)
    if not root.is_dir():
        return {}
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob('*'))
            if p.is_file()}


def written_files(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]
                  ) -> tuple[tuple[str, int], ...]:
    """Return ``(path, size)`` of the files new or changed between two snapshots."""
    return tuple((path, stat[0]) for path, stat in sorted(after.items())
                 if before.get(path) != stat)


_NUMPY_TYPES = {'tensor(float)': np.float32, 'tensor(float16)': np.float16,
                'tensor(double)': np.float64, 'tensor(int64)': np.int64,
                'tensor(int32)': np.int32, 'tensor(int8)': np.int8, 'tensor(uint8)': np.uint8,
                'tensor(bool)': np.bool_}


def zero_feeds(inputs: Sequence[Any], dims: Mapping[str, int] | None = None,
               shapes: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """Return zero arrays for session inputs (``NodeArg``-like: name, shape, type).

    ``shapes`` gives whole inputs, ``dims`` named dynamic dimensions; other dynamic
    dimensions are 1. An engine is built for the shapes it first sees: give the shapes the
    node will run (the detector's input size, for instance) when the model's are dynamic.
    """
    dims, shapes = dict(dims or {}), dict(shapes or {})
    feeds = {}
    for arg in inputs:
        if arg.name in shapes:
            shape = tuple(int(v) for v in shapes[arg.name])
        else:
            shape = tuple(d if isinstance(d, int) and d > 0 else int(dims.get(str(d), 1))
                          for d in arg.shape)
        if arg.type not in _NUMPY_TYPES:
            raise EngineBuildError(f'input {arg.name!r} has type {arg.type}: no zero input for '
                                   'it')
        feeds[arg.name] = np.zeros(shape, _NUMPY_TYPES[arg.type])
    return feeds


def build_engine(model_path: str | Path, options: ProviderOptions,
                 dims: Mapping[str, int] | None = None,
                 shapes: Mapping[str, Sequence[int]] | None = None,
                 available: Sequence[str] | None = None,
                 session_factory: Callable[..., Any] | None = None) -> EngineBuild:
    """Create a TensorRT session of one ONNX file, run it once, report the cache files.

    ``available``/``session_factory`` replace ONNX Runtime's in tests. Raises
    TensorRtUnavailableError without TensorRT, EngineBuildError when TensorRT did not start
    or the model cannot run.
    """
    from av_perception.ort_options import create_session, session_options
    import onnxruntime as ort

    available = list(ort.get_available_providers() if available is None else available)
    require_tensorrt(available)
    requested = select_providers(available, ALL_PROVIDERS, options)
    cache = options.trt_engine_cache_path
    before = snapshot(cache) if cache else {}
    started = time.perf_counter()
    session = create_session(model_path, requested, session_options(0),
                             engine_cache_dir=cache, factory=session_factory,
                             error=EngineBuildError)
    session_s = time.perf_counter() - started
    check_tensorrt_started(session.get_providers(), Path(model_path).name)
    started = time.perf_counter()
    try:
        session.run(None, zero_feeds(session.get_inputs(), dims, shapes))
    except Exception as err:  # noqa: B902 - ONNX Runtime raises plain subclasses of Exception
        raise EngineBuildError(f'{model_path}: the warm-up inference failed: {err}') from err
    warmup_s = time.perf_counter() - started
    return EngineBuild(str(model_path), tuple(session.get_providers()), session_s, warmup_s,
                       written_files(before, snapshot(cache) if cache else {}))


def check_tensorrt_started(running: Sequence[str], what: str) -> None:
    """Raise EngineBuildError when TensorRT is not the first provider a session runs on."""
    if not running or running[0] != TENSORRT:
        raise EngineBuildError(f'{what}: TensorRT did not start (the session runs on '
                               f'{list(running)}); see the ONNX Runtime log above (missing '
                               'libnvinfer, or a CUDA/TensorRT version mismatch)')


def build_controller_engines(model_dir: str | Path, options: ProviderOptions,
                             available: Sequence[str] | None = None,
                             session_factory: Callable[..., Any] | None = None
                             ) -> EngineBuild:
    """Build the engines of both controller graphs at the node's per-frame shapes."""
    import onnxruntime as ort

    from av_perception.control.model import ControllerModel

    available = list(ort.get_available_providers() if available is None else available)
    require_tensorrt(available)
    cache = options.trt_engine_cache_path
    before = snapshot(cache) if cache else {}
    started = time.perf_counter()
    # loading warms both graphs up at the per-frame shapes (encoder batch 1, temporal 2 lanes)
    model = ControllerModel(model_dir, ALL_PROVIDERS, 1, options, available, session_factory)
    elapsed = time.perf_counter() - started
    check_tensorrt_started(model.providers, model.metadata.encoder_file)
    check_tensorrt_started(model.temporal_providers, model.metadata.temporal_file)
    return EngineBuild(str(model_dir), tuple(model.providers), elapsed, 0.0,
                       written_files(before, snapshot(cache) if cache else {}))
