"""Execution provider selection and the ONNX Runtime backend, without a GPU."""

import logging

import numpy as np
import pytest

from av_perception.detection.backend import (CPU, CUDA, OnnxBackend, ProviderOptions,
                                             select_providers, session_options, TENSORRT)
from av_perception.detection.errors import DetectorError
from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes

ALL = (TENSORRT, CUDA, CPU)


def test_all_available_gives_tensorrt_cuda_cpu_with_options():
    options = ProviderOptions(cuda_device_id=1, trt_fp16=True, trt_engine_cache=True,
                              trt_engine_cache_path='/cache/trt', trt_workspace_bytes=1 << 28,
                              trt_timing_cache=True)
    chosen = select_providers(['AzureExecutionProvider', CPU, CUDA, TENSORRT], ALL, options)
    assert [name for name, _ in chosen] == [TENSORRT, CUDA, CPU]
    trt = chosen[0][1]
    assert trt['device_id'] == 1
    assert trt['trt_fp16_enable'] is True
    assert trt['trt_engine_cache_enable'] is True
    assert trt['trt_engine_cache_path'] == '/cache/trt'
    assert trt['trt_timing_cache_enable'] is True
    assert trt['trt_timing_cache_path'] == '/cache/trt'
    assert trt['trt_max_workspace_size'] == 1 << 28
    assert chosen[1] == (CUDA, {'device_id': 1})
    assert chosen[2] == (CPU, {})


def test_cpu_only_machine_gets_cpu():
    assert select_providers(['AzureExecutionProvider', CPU], ALL) == [(CPU, {})]


def test_preference_order_is_respected_and_cpu_is_always_last():
    chosen = select_providers([TENSORRT, CUDA, CPU], (CUDA, TENSORRT))
    assert [name for name, _ in chosen] == [CUDA, TENSORRT, CPU]
    # CPU listed first still ends up last: GPU providers would otherwise never be used.
    assert [n for n, _ in select_providers([CUDA, CPU], (CPU, CUDA))] == [CUDA, CPU]
    # Unknown and unavailable names are skipped; duplicates collapse.
    chosen = select_providers([CUDA, CPU], ('OpenVINOExecutionProvider', CUDA, CUDA))
    assert [name for name, _ in chosen] == [CUDA, CPU]


def test_tensorrt_without_caches_sets_no_cache_paths():
    options = ProviderOptions(trt_engine_cache=False, trt_timing_cache=False,
                              trt_engine_cache_path='/cache/trt', trt_fp16=False)
    trt = dict(select_providers([TENSORRT, CPU], ALL, options))[TENSORRT]
    assert trt['trt_engine_cache_enable'] is False
    assert trt['trt_fp16_enable'] is False
    assert 'trt_engine_cache_path' not in trt and 'trt_timing_cache_path' not in trt


def test_session_options_carry_the_cpu_thread_count():
    assert session_options(3).intra_op_num_threads == 3
    assert session_options(0).intra_op_num_threads == 0  # ONNX Runtime's default
    # idle threads sleep: the nodes of a graph share the cores
    assert session_options(2).get_session_config_entry('session.intra_op.allow_spinning') == '0'


@pytest.fixture
def model_file(tmp_path):
    output = yolox_output_for_boxes([[8, 8, 24, 24]], [0], [0.8], (64, 64))
    return make_constant_model(tmp_path / 'constant.onnx', output)


class FakeSession:
    """Stands in for InferenceSession; refuses GPU providers like a broken CUDA install."""

    calls = []

    def __init__(self, path, sess_options=None, providers=None):
        names = [p[0] if isinstance(p, tuple) else p for p in providers]
        FakeSession.calls.append(names)
        if any(name != CPU for name in names):
            raise RuntimeError('libcudnn.so.9: cannot open shared object file')
        import onnxruntime
        self._real = onnxruntime.InferenceSession(path, sess_options, providers=[CPU])

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_gpu_session_failure_falls_back_to_cpu_with_a_warning(model_file, caplog):
    FakeSession.calls = []
    with caplog.at_level(logging.WARNING, logger='av_perception.detection'):
        backend = OnnxBackend(model_file, available=[TENSORRT, CUDA, CPU],
                              session_factory=FakeSession)
    assert FakeSession.calls == [[TENSORRT, CUDA, CPU], [CPU]]
    assert backend.providers == (CPU,)
    assert 'falling back to CPUExecutionProvider' in caplog.text
    assert 'libcudnn' in caplog.text
    assert 'wanted TensorrtExecutionProvider first' in caplog.text
    assert backend.run(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 84, 85)


def test_tensorrt_engine_cache_directory_is_created_when_tensorrt_is_selected(model_file,
                                                                              tmp_path):
    cache = tmp_path / 'engines' / 'nested'
    OnnxBackend(model_file, available=[TENSORRT, CPU], session_factory=FakeSession,
                options=ProviderOptions(trt_engine_cache_path=str(cache)))
    assert cache.is_dir()


def test_onnx_runtime_silent_fallback_is_reported(model_file, caplog):
    # This CPU build of ONNX Runtime accepts the CUDA request and silently runs on CPU.
    with caplog.at_level(logging.INFO, logger='av_perception.detection'):
        with pytest.warns(UserWarning):
            backend = OnnxBackend(model_file, available=[CUDA, CPU])
    assert backend.providers == (CPU,)
    assert backend.requested_providers[0][0] == CUDA
    assert 'wanted CUDAExecutionProvider first' in caplog.text
    assert 'runs on' in caplog.text


def test_cpu_only_reports_skipped_providers_without_warning(model_file, caplog):
    with caplog.at_level(logging.INFO, logger='av_perception.detection'):
        backend = OnnxBackend(model_file, available=[CPU])
    assert backend.providers == (CPU,)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 'skipped' in caplog.text
    assert backend.input_name == 'images'
    assert backend.input_shape == (1, 3, 64, 64)
    assert backend.output_shape == (1, 84, 85)


def test_missing_and_corrupt_models_raise_detector_error(tmp_path, model_file):
    with pytest.raises(DetectorError, match='model file not found: .*nothing.onnx'):
        OnnxBackend(tmp_path / 'nothing.onnx')
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes(model_file.read_bytes()[:200])
    with pytest.raises(DetectorError, match='cannot load ONNX model .*truncated.onnx'):
        OnnxBackend(truncated, available=[CPU])
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_text('this is not a protobuf')
    with pytest.raises(DetectorError, match='garbage.onnx'):
        OnnxBackend(garbage, available=[CPU])


def test_corrupt_model_is_not_retried_on_cpu(tmp_path, model_file, caplog):
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes(model_file.read_bytes()[:200])
    with caplog.at_level(logging.WARNING, logger='av_perception.detection'):
        with pytest.raises(DetectorError, match='truncated.onnx'):
            with pytest.warns(UserWarning):  # CUDA requested from a CPU build
                OnnxBackend(truncated, available=[CUDA, CPU])
    assert 'falling back' not in caplog.text  # a broken file is not a provider problem


def test_model_with_two_inputs_is_rejected(tmp_path):
    import onnx
    from onnx import helper, TensorProto

    graph = helper.make_graph(
        [helper.make_node('Add', ['a', 'b'], ['c'])], 'two_inputs',
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in 'ab'],
        [helper.make_tensor_value_info('c', TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    path = tmp_path / 'two.onnx'
    onnx.save(model, str(path))
    with pytest.raises(DetectorError, match="2 inputs \\['a', 'b'\\]"):
        OnnxBackend(path, available=[CPU])
