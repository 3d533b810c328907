"""The controller's sessions choose providers like the detector: TensorRT > CUDA > CPU."""

import logging
from pathlib import Path

import onnxruntime
import pytest

from av_perception.control import TemporalController, TemporalControllerConfig
from av_perception.control.model import ControllerModel
from av_perception.detection import DetectorConfig
from av_perception.providers import (CPU, CUDA, default_engine_cache_dir, ProviderOptions,
                                     TENSORRT)

CONTROLLER_DIR = Path(__file__).resolve().parents[2] / 'models' / 'controller'
REAL_SESSION = onnxruntime.InferenceSession


class GpuRefusingSession:
    """Records each request; refuses GPU providers like a Jetson without CUDA libraries."""

    calls = []

    def __init__(self, path, sess_options=None, providers=None):
        GpuRefusingSession.calls.append((Path(path).name, providers))
        names = [p[0] if isinstance(p, tuple) else p for p in providers]
        if any(name != CPU for name in names):
            raise RuntimeError('libnvinfer.so.10: cannot open shared object file')
        self._real = REAL_SESSION(path, sess_options, providers=[CPU])

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_config_gives_the_same_tensorrt_options_as_the_detector(tmp_path):
    values = {'cuda_device_id': 1, 'trt_fp16': False, 'trt_engine_cache': True,
              'trt_engine_cache_path': str(tmp_path), 'trt_workspace_mb': 64,
              'trt_timing_cache': False}
    controller = TemporalControllerConfig(**values).execution_provider_options()
    detector = DetectorConfig(**values).execution_provider_options()
    assert controller == detector == ProviderOptions(1, False, True, str(tmp_path), 64 << 20,
                                                     False)
    assert TemporalControllerConfig().resolved_engine_cache_dir() == default_engine_cache_dir()


def test_gpu_failure_falls_back_to_cpu_for_both_graphs(tmp_path, caplog):
    GpuRefusingSession.calls = []
    options = ProviderOptions(trt_engine_cache_path=str(tmp_path / 'engines'))
    with caplog.at_level(logging.WARNING, logger='av_perception.control'):
        model = ControllerModel(CONTROLLER_DIR, (TENSORRT, CUDA, CPU), 1, options,
                                available=[TENSORRT, CUDA, CPU],
                                session_factory=GpuRefusingSession)
    requested = [names for _, names in GpuRefusingSession.calls]
    assert [name for name, _ in requested[0]] == [TENSORRT, CUDA, CPU]
    assert requested[0][0][1]['trt_engine_cache_path'] == str(tmp_path / 'engines')
    assert requested[0][0][1]['trt_fp16_enable'] is True
    assert requested[1] == [CPU]  # the encoder again, on CPU alone
    assert [name for name, _ in GpuRefusingSession.calls] == [
        'encoder.onnx', 'encoder.onnx', 'temporal.onnx', 'temporal.onnx']
    assert model.providers == (CPU,) and model.temporal_providers == (CPU,)
    assert (tmp_path / 'engines').is_dir()  # created for TensorRT before it was tried
    assert 'falling back to CPUExecutionProvider' in caplog.text and 'libnvinfer' in caplog.text
    assert 'wanted TensorrtExecutionProvider first' in caplog.text


def test_unavailable_providers_are_not_requested():
    GpuRefusingSession.calls = []
    model = ControllerModel(CONTROLLER_DIR, (TENSORRT, CUDA, CPU), available=[CPU],
                            session_factory=GpuRefusingSession)
    assert [names for _, names in GpuRefusingSession.calls] == [[CPU], [CPU]]
    assert model.requested_providers == ((CPU, {}),)


def test_from_dir_passes_the_parameters_to_the_sessions(monkeypatch, tmp_path):
    GpuRefusingSession.calls = []
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: [TENSORRT, CPU])
    monkeypatch.setattr(onnxruntime, 'InferenceSession', GpuRefusingSession)
    config = TemporalControllerConfig(providers=(TENSORRT, CPU), trt_fp16=False,
                                      trt_engine_cache_path=str(tmp_path), trt_workspace_mb=32)
    controller = TemporalController.from_dir(CONTROLLER_DIR, config)
    trt = dict(GpuRefusingSession.calls[0][1])[TENSORRT]
    assert trt['trt_fp16_enable'] is False
    assert trt['trt_max_workspace_size'] == 32 << 20
    assert trt['trt_engine_cache_path'] == str(tmp_path)
    assert controller.model.providers == (CPU,)


def test_cuda_requested_from_a_cpu_build_is_reported(caplog):
    if CUDA in onnxruntime.get_available_providers():
        pytest.skip('this ONNX Runtime has CUDA')
    with caplog.at_level(logging.WARNING, logger='av_perception.control'):
        with pytest.warns(UserWarning):  # ONNX Runtime's own warning about the missing EP
            model = ControllerModel(CONTROLLER_DIR, (CUDA, CPU), available=[CUDA, CPU])
    assert model.providers == (CPU,)
    assert 'wanted CUDAExecutionProvider first' in caplog.text
