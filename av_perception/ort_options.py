"""ONNX Runtime sessions of every model of the package: options, providers, CPU fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import onnxruntime as ort

from av_perception.providers import CPU, GPU_PROVIDERS, TENSORRT

try:
    from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state
except ImportError:  # a build without the usual layout: every error falls back to CPU
    _ort_state = None

# ONNX Runtime errors that mean the file itself is unusable: retrying on CPU cannot help.
MODEL_ERRORS = tuple(
    getattr(_ort_state, name) for name in ('NoSuchFile', 'InvalidProtobuf', 'InvalidGraph',
                                           'NoModel')
    if hasattr(_ort_state, name))

LOGGER = logging.getLogger('av_perception')


def session_options(cpu_threads: int = 0) -> ort.SessionOptions:
    """Return session options: full graph optimisation, sequential execution, quiet logs.

    ``cpu_threads`` 0 leaves the intra-op thread count to ONNX Runtime (one per core). Idle
    threads sleep instead of spinning: the perception nodes share a few cores (a 2-core CI box,
    a Jetson's CPU), and a spinning pool in one node steals the time another node needs.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if cpu_threads > 0:
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
    return options


def create_session(model_path: str | Path, requested: Sequence[tuple[str, dict[str, Any]]],
                   options: ort.SessionOptions, *, engine_cache_dir: str = '',
                   factory: Callable[..., Any] | None = None,
                   logger: logging.Logger = LOGGER,
                   error: Callable[[str], Exception] = ValueError) -> Any:
    """Create a session on the ``requested`` providers; fall back to CPU if they fail.

    ``requested`` is what :func:`av_perception.providers.select_providers` returns. The
    TensorRT cache directory is created first when TensorRT is requested. A file that is not
    a loadable model raises ``error(message)`` without a CPU retry (a broken file is not a
    provider problem); a GPU provider that fails to start (missing CUDA libraries, ...) is
    logged as a warning and the model is loaded on CPU alone. ``factory`` replaces
    ``ort.InferenceSession`` in tests.
    """
    path = Path(model_path)
    factory = factory or ort.InferenceSession
    requested = list(requested)
    if any(name in GPU_PROVIDERS for name, _ in requested):
        if any(name == TENSORRT for name, _ in requested) and engine_cache_dir:
            try:
                Path(engine_cache_dir).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise error(f'cannot create the TensorRT engine cache {engine_cache_dir}: '
                            f'{err}') from err
        try:
            return factory(str(path), sess_options=options, providers=requested)
        except MODEL_ERRORS as err:
            raise error(f'cannot load ONNX model {path}: {err}') from err
        except Exception as err:  # noqa: B902 - any provider failure falls back to CPU
            logger.warning('%s: creating a session with %s failed (%s); falling back to '
                           'CPUExecutionProvider', path.name, [name for name, _ in requested],
                           err)
    try:
        return factory(str(path), sess_options=options, providers=[CPU])
    except Exception as err:  # noqa: B902 - ONNX Runtime raises plain subclasses of Exception
        raise error(f'cannot load ONNX model {path}: {err}') from err


def report_providers(session: Any, model_name: str, requested: Sequence[tuple[str, Any]],
                     logger: logging.Logger = LOGGER) -> tuple[str, ...]:
    """Log which providers a session runs on; warn when the first choice did not start."""
    running = tuple(session.get_providers())
    logger.info('%s runs on %s', model_name, list(running))
    wanted = requested[0][0] if requested else CPU
    if not running or running[0] != wanted:
        logger.warning('%s: wanted %s first but ONNX Runtime uses %s (fallback)', model_name,
                       wanted, list(running))
    return running
