"""benchmarks/gpu_check.py where there is no GPU: it says so and exits 0; its comparisons work."""

import importlib.util
import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest

from av_perception.assets import yolox_nano_model
from av_perception.detection.results import Detection

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'benchmarks' / 'gpu_check.py'
GPU_HERE = bool({'CUDAExecutionProvider', 'TensorrtExecutionProvider'}
                & set(onnxruntime.get_available_providers()))


def load_script():
    spec = importlib.util.spec_from_file_location('gpu_check', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(tmp_path, *args):
    # from another directory, as a GPU machine would run a copied checkout
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(GPU_HERE, reason='this ONNX Runtime has a GPU provider')
def test_without_a_gpu_provider_it_reports_skipped_and_exits_0(tmp_path):
    out = tmp_path / 'report.json'
    done = run_script(tmp_path, '--out', str(out))
    assert done.returncode == 0, done.stderr
    assert 'skipped' in done.stdout
    assert str(onnxruntime.get_available_providers()) in done.stdout
    report = json.loads(out.read_text())
    assert report['available'] == onnxruntime.get_available_providers()
    assert 'no GPU execution provider' in report['skipped']
    assert 'detector' not in report and 'controller' not in report


def test_self_test_runs_every_step_with_cpu_standing_in_for_the_gpu(tmp_path):
    out = tmp_path / 'report.json'
    done = run_script(tmp_path, '--self-test', '--repeat', '1', '--max-images', '2',
                      '--frames', '12', '--out', str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    controller = report['controller']['runs']
    assert controller['cpu_self_test']['agrees_with_cpu'] is True
    assert controller['cpu_self_test']['max_abs_steering_diff_rad'] == 0.0
    assert controller['cpu']['frames'] == 12 and controller['cpu']['median_step_ms'] > 0
    if yolox_nano_model().is_file():
        detector = report['detector']['runs']
        assert detector['cpu_self_test']['agrees_with_cpu'] is True
        assert detector['cpu']['detections'] == detector['cpu_self_test']['detections']
    else:
        assert 'not found' in report['detector']['skipped']


def test_command_comparison_uses_the_tolerances():
    check = load_script()
    reference = np.array([[0.10, 10.0], [0.20, 12.0]])
    close = reference + np.array([[5e-4, 5e-3], [-5e-4, 0.0]])
    verdict = check.compare_commands(reference, close, 1e-3, 1e-2)
    assert verdict['agrees_with_cpu'] is True
    assert verdict['max_abs_steering_diff_rad'] == pytest.approx(5e-4)
    assert check.compare_commands(reference, reference + [0.0, 0.05], 1e-3, 1e-2)[
        'agrees_with_cpu'] is False
    assert check.compare_commands(reference, np.full((2, 2), np.nan), 1.0, 1.0)[
        'agrees_with_cpu'] is False
    assert 'shapes differ' in check.compare_commands(reference, reference[:1], 1, 1)['error']


def test_detection_matching_by_class_and_iou():
    check = load_script()
    car = Detection(2, 'car', 0.8, (0.0, 0.0, 100.0, 100.0))
    shifted = Detection(2, 'car', 0.79, (1.0, 0.0, 101.0, 100.0))  # IoU 0.980
    moved = Detection(2, 'car', 0.8, (10.0, 0.0, 110.0, 100.0))  # IoU 0.818
    truck = Detection(7, 'truck', 0.8, (0.0, 0.0, 100.0, 100.0))
    faint = Detection(0, 'person', 0.2, (0.0, 0.0, 5.0, 5.0))
    assert check.unmatched([car, faint], [shifted], 0.35, 0.95) == []
    assert 'best IoU 0.818' in check.unmatched([car], [moved], 0.35, 0.95)[0]
    assert 'best IoU 0.000' in check.unmatched([car], [truck], 0.35, 0.95)[0]


def test_only_available_gpu_providers_are_compared():
    check = load_script()
    assert check.candidate_sets(['CPUExecutionProvider']) == {}
    assert list(check.candidate_sets(['CUDAExecutionProvider', 'CPUExecutionProvider'])) == \
        ['cuda']
    everything = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert list(check.candidate_sets(everything)) == ['cuda', 'tensorrt', 'tensorrt_fp16']
    assert list(check.candidate_sets(everything, fp16=False)) == ['cuda', 'tensorrt']
    assert 'cpu_self_test' in check.candidate_sets([], self_test=True)
    assert check.candidate_sets([], emulate_fp16=True) == {
        check.EMULATED: ('CPUExecutionProvider',)}
    assert [label for label in ('cuda', 'tensorrt', 'tensorrt_fp16', check.EMULATED)
            if check.uses_fp16(label)] == ['tensorrt_fp16', check.EMULATED]


def test_fp16_emulation_runs_on_cpu_and_judges_by_the_fp16_tolerances(tmp_path):
    out = tmp_path / 'report.json'
    done = run_script(tmp_path, '--emulate-fp16', '--repeat', '1', '--max-images', '3',
                      '--frames', '40', '--out', str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(out.read_text())['controller']['runs']
    emulated = runs['cpu_fp16_emulated']
    assert emulated['fp16'] is True and runs['cpu']['fp16'] is False
    assert (emulated['steering_tol_rad'], emulated['speed_tol_mps']) == (2e-3, 0.05)
    # Rounding to half floats moves the outputs, a little: not zero, within the tolerances.
    assert 0 < emulated['max_abs_speed_diff_mps'] <= 0.05
    assert emulated['agrees_with_cpu'] is True
    if yolox_nano_model().is_file():
        detector = json.loads(out.read_text())['detector']['runs']['cpu_fp16_emulated']
        assert detector['min_iou'] == 0.85 and detector['agrees_with_cpu'] is True
        assert detector['paired_detections'] > 0 and detector['largest_score_change'] > 0
