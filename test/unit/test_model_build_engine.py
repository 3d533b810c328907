"""``av-perception model build-engine`` without a GPU: the no-TensorRT exit and the build flow.

ONNX Runtime here has no TensorRT provider, so the flow is exercised with a stand-in session
that writes an engine file where the TensorRT provider would; the real build is the job of
benchmarks/gpu_check.py and docs/jetson.md on a GPU machine.
"""

from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from av_perception.cli.main import main
from av_perception.deploy.engine import (build_controller_engines, build_engine,
                                         EngineBuildError, snapshot, TensorRtUnavailableError,
                                         written_files, zero_feeds)
from av_perception.detection.synthetic import make_constant_model, yolox_output_for_boxes
from av_perception.providers import (CPU, CUDA, default_engine_cache_dir, ProviderOptions,
                                     TENSORRT)

REPO = Path(__file__).resolve().parents[2]
CONTROLLER_DIR = REPO / 'models' / 'controller'
GPU_HERE = TENSORRT in onnxruntime.get_available_providers()


@pytest.fixture
def model_file(tmp_path):
    output = yolox_output_for_boxes([[8, 8, 24, 24]], [0], [0.8], (64, 64))
    return make_constant_model(tmp_path / 'constant.onnx', output)


class FakeTensorRtSession:
    """Runs on CPU but reports TensorRT and writes an 'engine' where TensorRT would."""

    created = []

    def __init__(self, path, sess_options=None, providers=None):
        self.requested = providers
        FakeTensorRtSession.created.append(providers)
        self._trt = dict(providers).get(TENSORRT, {})
        self._name = Path(path).stem
        self._real = onnxruntime.InferenceSession(path, sess_options, providers=[CPU])

    def get_providers(self):
        return [TENSORRT, CUDA, CPU]

    def run(self, names, feeds):
        cache = Path(self._trt['trt_engine_cache_path'])
        engine = cache / f'TensorrtExecutionProvider_TRTKernel_{self._name}_sm87.engine'
        if not engine.exists():
            engine.write_bytes(b'engine')
        return self._real.run(names, feeds)

    def __getattr__(self, name):
        return getattr(self._real, name)


class SilentFallbackSession(FakeTensorRtSession):
    """Accepts the request but runs on CPU (what a TensorRT that fails to load looks like)."""

    def get_providers(self):
        return [CPU]


@pytest.mark.skipif(GPU_HERE, reason='this ONNX Runtime has TensorRT')
def test_without_tensorrt_the_command_exits_2_and_names_the_providers(model_file, tmp_path,
                                                                      capsys):
    cache = tmp_path / 'cache'
    code = main(['model', 'build-engine', str(model_file), '--cache-dir', str(cache)])
    assert code == 2
    err = capsys.readouterr().err
    assert 'TensorrtExecutionProvider is not available' in err
    assert str(onnxruntime.get_available_providers()) in err
    assert not cache.exists()  # nothing built, nothing created
    assert main(['model', 'build-engine', str(CONTROLLER_DIR)]) == 2


def test_missing_model_is_an_error(tmp_path, capsys):
    assert main(['model', 'build-engine', str(tmp_path / 'absent.onnx')]) == 1
    assert 'no such ONNX file' in capsys.readouterr().err


def test_no_tensorrt_is_detected_before_any_session():
    with pytest.raises(TensorRtUnavailableError, match=r"\['CUDAExecutionProvider'"):
        build_engine('does_not_matter.onnx', ProviderOptions(), available=[CUDA, CPU])


def test_build_requests_tensorrt_with_caches_and_reports_the_written_engine(
        model_file, tmp_path):
    cache = tmp_path / 'engines'
    options = ProviderOptions(trt_fp16=False, trt_engine_cache_path=str(cache),
                              trt_workspace_bytes=256 << 20)
    FakeTensorRtSession.created = []
    build = build_engine(model_file, options, available=[TENSORRT, CUDA, CPU],
                         session_factory=FakeTensorRtSession)
    requested = dict(FakeTensorRtSession.created[0])
    assert list(requested) == [TENSORRT, CUDA, CPU]
    assert requested[TENSORRT]['trt_engine_cache_enable'] is True
    assert requested[TENSORRT]['trt_timing_cache_enable'] is True
    assert requested[TENSORRT]['trt_engine_cache_path'] == str(cache)
    assert requested[TENSORRT]['trt_fp16_enable'] is False
    assert requested[TENSORRT]['trt_max_workspace_size'] == 256 << 20
    assert [Path(f).name for f, _ in build.files] == [
        'TensorrtExecutionProvider_TRTKernel_constant_sm87.engine']
    assert build.providers[0] == TENSORRT
    again = build_engine(model_file, options, available=[TENSORRT, CUDA, CPU],
                         session_factory=FakeTensorRtSession)
    assert again.files == ()  # the cached engine is reused: nothing new written


def test_tensorrt_that_does_not_start_is_an_error(model_file, tmp_path):
    with pytest.raises(EngineBuildError, match='TensorRT did not start'):
        build_engine(model_file, ProviderOptions(trt_engine_cache_path=str(tmp_path)),
                     available=[TENSORRT, CPU], session_factory=SilentFallbackSession)


def test_controller_engines_are_built_at_the_node_shapes(tmp_path):
    cache = tmp_path / 'engines'
    FakeTensorRtSession.created = []
    build = build_controller_engines(CONTROLLER_DIR,
                                     ProviderOptions(trt_engine_cache_path=str(cache)),
                                     available=[TENSORRT, CUDA, CPU],
                                     session_factory=FakeTensorRtSession)
    names = sorted(Path(f).name for f, _ in build.files)
    assert names == ['TensorrtExecutionProvider_TRTKernel_encoder_sm87.engine',
                     'TensorrtExecutionProvider_TRTKernel_temporal_sm87.engine']
    assert len(FakeTensorRtSession.created) == 2


def test_zero_feeds_fill_dynamic_dimensions():
    class Arg:
        def __init__(self, name, shape, kind='tensor(float)'):
            self.name, self.shape, self.type = name, shape, kind

    feeds = zero_feeds([Arg('frames', ['batch', 3, 8, 8]), Arg('ids', [None], 'tensor(int64)')],
                       dims={'batch': 2}, shapes={'ids': (5,)})
    assert feeds['frames'].shape == (2, 3, 8, 8) and feeds['frames'].dtype == np.float32
    assert feeds['ids'].shape == (5,) and feeds['ids'].dtype == np.int64
    with pytest.raises(EngineBuildError, match='tensor\\(string\\)'):
        zero_feeds([Arg('text', [1], 'tensor(string)')])


def test_written_files_lists_new_and_changed_files(tmp_path):
    (tmp_path / 'old').write_bytes(b'1')
    before = snapshot(tmp_path)
    (tmp_path / 'new').write_bytes(b'22')
    (tmp_path / 'old').write_bytes(b'333')
    assert [(Path(p).name, size) for p, size in written_files(before, snapshot(tmp_path))] == \
        [('new', 2), ('old', 3)]
    assert snapshot(tmp_path / 'absent') == {}


def test_engine_options_come_from_the_jetson_file_and_flags_override_them():
    import argparse

    from av_perception.cli.model import engine_options

    args = argparse.Namespace(device_id=None, fp16=None, workspace=None, cache_dir=None,
                              config=str(REPO / 'config' / 'jetson.param.yaml'))
    from av_perception.params import load_param_yaml
    jetson = load_param_yaml(REPO / 'config' / 'jetson.param.yaml', 'object_detector')
    options = engine_options(args, 'object_detector')
    assert options.trt_fp16 is jetson['trt_fp16']
    assert options.trt_engine_cache_path == (jetson['trt_engine_cache_path']
                                             or str(default_engine_cache_dir()))
    assert options.trt_workspace_bytes == jetson['trt_workspace_mb'] << 20
    args.fp16, args.workspace, args.cache_dir = False, 64, '/tmp/engines'
    options = engine_options(args, 'temporal_controller')
    assert (options.trt_fp16, options.trt_workspace_bytes, options.trt_engine_cache_path) == \
        (False, 64 << 20, '/tmp/engines')
