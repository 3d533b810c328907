#!/usr/bin/env python3
"""GPU check: CUDA and TensorRT give the CPU's outputs for the detector and the controller.

For each provider set (CPU alone, CUDA, TensorRT + CUDA) the same models run on the same
frames:

* detector: every CPU detection scoring >= ``--compare-score`` must be found by the GPU run
  with the same class and IoU >= ``--min-iou`` (0.95), and vice versa;
* controller: the model's raw steering and speed, frame by frame through the same sequence,
  must be within ``--steering-tol``/``--speed-tol`` of CPU (FP32 providers) or the looser
  ``--fp16-steering-tol``/``--fp16-speed-tol`` (TensorRT in FP16).

Latency per node and provider is the median of ``--repeat`` detect calls per image after
warm-up (detector) and of the controller's per-frame ``step`` (preprocessing, both graphs,
limits). Writes a JSON report (``--out``, default ``$OUT/gpu_check.json`` or ./gpu_check.json)
and prints a summary. Exit code: 0 when every available GPU provider agrees, or when there is
none (the report then says ``skipped``); 1 when one disagrees or fails to load.

Needs only numpy, onnxruntime (onnxruntime-gpu for the GPU providers), opencv-python, pyyaml
and this repository (put on sys.path here): run it from a checkout with any Python that has
those, e.g. ``python3 benchmarks/gpu_check.py``. The shared assets do not travel with a
checkout: copy the detector model and a few images into an ignored folder of the checkout
and point ``--detector-model``/``--images`` at them. TensorRT's first engine build of a model
can take minutes. ``--self-test`` runs the whole comparison with CPU standing in for the GPU
(for machines without one: it checks the script, not a GPU).

``--emulate-fp16`` adds a run, on CPU and without a GPU, of copies of both models that round
weights and every tensor to half floats (:mod:`av_perception.deploy.fp16`), judged by the FP16
tolerances: it measures how far FP16 rounding alone moves the outputs, which is what the FP16
tolerances must allow for.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CPU = 'CPUExecutionProvider'
CUDA = 'CUDAExecutionProvider'
TENSORRT = 'TensorrtExecutionProvider'
PROVIDER_SETS = {
    'cpu': (CPU,),
    'cuda': (CUDA, CPU),
    'tensorrt': (TENSORRT, CUDA, CPU),  # FP32
    'tensorrt_fp16': (TENSORRT, CUDA, CPU),
}
EMULATED = 'cpu_fp16_emulated'
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')
FRAME_PERIOD_NS = 50_000_000


def candidate_sets(available: Sequence[str], self_test: bool = False,
                   emulate_fp16: bool = False, fp16: bool = True) -> dict[str, tuple]:
    """Return the provider sets to compare with CPU: those whose first provider is available.

    TensorRT runs in FP32 and, with ``fp16``, in FP16 too. ``self_test`` adds CPU standing in
    for a GPU, ``emulate_fp16`` CPU on the FP16-emulating copies of the models.
    """
    chosen = {label: providers for label, providers in PROVIDER_SETS.items()
              if label != 'cpu' and providers[0] in available
              and (fp16 or label != 'tensorrt_fp16')}
    if self_test:
        chosen['cpu_self_test'] = (CPU,)
    if emulate_fp16:
        chosen[EMULATED] = (CPU,)
    return chosen


def uses_fp16(label: str) -> bool:
    """Return whether the run ``label`` computes in half floats (FP16 tolerances apply)."""
    return label in (EMULATED, 'tensorrt_fp16')


def emulated_detector(model: str, folder: Path) -> str:
    """Write the FP16-emulating copy of ``model`` (and its sidecar) into ``folder``."""
    import shutil

    from av_perception.deploy.fp16 import write_emulated_fp16
    from av_perception.detection.model import sidecar_path

    target = write_emulated_fp16(model, folder / Path(model).name)
    sidecar = sidecar_path(model)
    if sidecar is not None:
        shutil.copy(sidecar, folder / (target.name + '.yaml'))
    return str(target)


def emulated_controller(model_dir: Path, folder: Path) -> Path:
    """Copy the controller folder into ``folder`` with its ONNX graphs FP16-emulating."""
    import shutil

    from av_perception.deploy.fp16 import write_emulated_fp16

    target = folder / model_dir.name
    shutil.copytree(model_dir, target, dirs_exist_ok=True)
    for graph in sorted(model_dir.glob('*.onnx')):
        write_emulated_fp16(graph, target / graph.name)
    return target


def unmatched(reference: Sequence[Any], candidate: Sequence[Any], min_score: float,
              min_iou: float) -> list[str]:
    """Describe detections of ``reference`` (score >= min_score) absent from ``candidate``.

    Absent: no detection of the same class in ``candidate`` overlaps it by ``min_iou``.
    """
    from av_perception.detection.tracker import iou_matrix

    missing = []
    for det in reference:
        if det.score < min_score:
            continue
        same = [c.bbox_xyxy for c in candidate if c.class_id == det.class_id]
        best = float(iou_matrix(np.array(det.bbox_xyxy), np.array(same)).max()) if same else 0.0
        if best < min_iou:
            missing.append(f'{det.class_name} {det.score:.3f} {[round(v) for v in det.bbox_xyxy]}'
                           f' (best IoU {best:.3f})')
    return missing


def score_and_box_changes(reference: dict[str, Sequence[Any]],
                          candidate: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Pair each reference detection with its best same-class candidate; summarise the changes.

    Returns the count paired (IoU > 0.5), the lowest IoU and the largest |score change| among
    them: how much a provider moves the boxes and scores, beyond the pass/fail of the check.
    """
    from av_perception.detection.tracker import iou_matrix

    ious, score_changes = [], []
    for name, detections in reference.items():
        for det in detections:
            same = [c for c in candidate.get(name, ()) if c.class_id == det.class_id]
            if not same:
                continue
            overlaps = iou_matrix(np.array(det.bbox_xyxy), np.array([c.bbox_xyxy for c in same]))
            best = int(np.argmax(overlaps))
            if float(overlaps.reshape(-1)[best]) > 0.5:
                ious.append(float(overlaps.reshape(-1)[best]))
                score_changes.append(abs(same[best].score - det.score))
    return {'paired_detections': len(ious),
            'lowest_paired_iou': round(min(ious), 4) if ious else None,
            'largest_score_change': round(max(score_changes), 4) if score_changes else None}


def compare_commands(reference: np.ndarray, candidate: np.ndarray, steering_tol: float,
                     speed_tol: float) -> dict[str, Any]:
    """Compare per-frame ``(steering, speed)`` rows; return the largest differences, a verdict."""
    reference, candidate = np.asarray(reference, float), np.asarray(candidate, float)
    if reference.shape != candidate.shape:
        return {'agrees_with_cpu': False,
                'error': f'shapes differ: {reference.shape} vs {candidate.shape}'}
    diff = np.abs(reference - candidate)
    finite = bool(np.isfinite(candidate).all())
    steering, speed = (float(diff[:, i].max()) if len(diff) else 0.0 for i in (0, 1))
    return {'max_abs_steering_diff_rad': steering, 'max_abs_speed_diff_mps': speed,
            'steering_tol_rad': steering_tol, 'speed_tol_mps': speed_tol,
            'agrees_with_cpu': finite and steering <= steering_tol and speed <= speed_tol}


def load_frames(folder: str, limit: int) -> list[tuple[str, np.ndarray]]:
    """Read up to ``limit`` images below ``folder`` (sorted by path); [] when there are none."""
    import cv2

    root = Path(folder)
    if not root.is_dir():
        return []
    paths = sorted(p for p in root.rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    frames = [(p.name, cv2.imread(str(p))) for p in paths[:limit]]
    return [(name, image) for name, image in frames if image is not None]


def simulator_frames(count: int, preset: str = 'rural_curvy',
                     seed: int = 101) -> list[tuple[str, np.ndarray]]:
    """Frames of a simulated drive (the expert driving): the controller's own domain.

    Curves make it steer, so FP16 rounding is measured on commands of realistic size.
    """
    from av_perception.sim import Simulator

    sim = Simulator(preset, seed)
    return [(f'{preset}_{seed}_{i}', sim.step().image) for i in range(count)]


def synthetic_frames(count: int) -> list[tuple[str, np.ndarray]]:
    """Deterministic noise frames (640x480) for the controller when no images are given."""
    rng = np.random.default_rng(0)
    return [(f'noise_{i}', rng.integers(0, 256, (480, 640, 3), np.uint8)) for i in range(count)]


def check_detector(args: argparse.Namespace, sets: dict[str, tuple], cache: str,
                   frames: list) -> dict[str, Any]:
    """Run the detector per provider set; compare detections with CPU; time it."""
    from av_perception.detection import Detector, DetectorConfig, DetectorError

    if not Path(args.detector_model).is_file():
        return {'skipped': f'detector model not found: {args.detector_model}'}
    if not frames:
        return {'skipped': f'no images under {args.images}'}
    runs: dict[str, Any] = {}
    results = {}
    for label, providers in {'cpu': PROVIDER_SETS['cpu'], **sets}.items():
        start = time.perf_counter()
        try:
            model = args.detector_model
            if label == EMULATED:
                model = emulated_detector(model, Path(tempfile.mkdtemp(prefix='fp16emu_')))
            detector = Detector.from_config(DetectorConfig(
                model_path=model, providers=providers,
                trt_engine_cache_path=str(Path(cache) / label), trt_fp16=uses_fp16(label),
                warmup_runs=3))
        except DetectorError as err:
            runs[label] = {'error': str(err), 'agrees_with_cpu': False}
            continue
        load_s = time.perf_counter() - start
        total, inference, detections = [], [], {}
        for name, image in frames:
            detections[name] = detector.detect(image).detections
            for _ in range(args.repeat):
                timings = detector.detect(image).timings
                total.append(timings.total_ms)
                inference.append(timings.inference_ms)
        results[label] = detections
        runs[label] = {'fp16': uses_fp16(label),
                       'providers_requested': list(providers),
                       'providers_in_use': list(detector.providers),
                       'load_s': round(load_s, 2),
                       'median_total_ms': round(statistics.median(total), 3),
                       'median_inference_ms': round(statistics.median(inference), 3),
                       'detections': sum(len(d) for d in detections.values())}
    for label in sets:
        if label not in results or 'cpu' not in results:
            continue
        runs[label].update(score_and_box_changes(results['cpu'], results[label]))
        problems = {}
        min_iou = args.fp16_min_iou if uses_fp16(label) else args.min_iou
        runs[label]['min_iou'] = min_iou
        for name, _ in frames:
            missing = unmatched(results['cpu'][name], results[label][name], args.compare_score,
                                min_iou)
            extra = unmatched(results[label][name], results['cpu'][name], args.compare_score,
                              min_iou)
            if missing or extra:
                problems[name] = {'missing_vs_cpu': missing, 'extra_vs_cpu': extra}
        runs[label]['agrees_with_cpu'] = not problems
        runs[label]['disagreements'] = problems
    return {'model': args.detector_model, 'images': [name for name, _ in frames], 'runs': runs}


def check_controller(args: argparse.Namespace, sets: dict[str, tuple], cache: str,
                     frames: list) -> dict[str, Any]:
    """Drive the controller through the same frames per provider set; compare with CPU."""
    from av_perception.control import ControllerError, TemporalController
    from av_perception.control.model import ControllerModel
    from av_perception.providers import ProviderOptions

    model_dir = Path(args.controller_dir)
    if not (model_dir / 'controller.yaml').is_file():
        return {'skipped': f'no controller model in {model_dir}'}
    sequence = [frames[i % len(frames)][1] for i in range(args.frames)]
    runs: dict[str, Any] = {}
    commands = {}
    for label, providers in {'cpu': PROVIDER_SETS['cpu'], **sets}.items():
        start = time.perf_counter()
        try:
            folder = model_dir
            if label == EMULATED:
                folder = emulated_controller(model_dir, Path(tempfile.mkdtemp(prefix='fp16emu_')))
            options = ProviderOptions(trt_fp16=uses_fp16(label),
                                      trt_engine_cache_path=str(Path(cache) / label))
            model = ControllerModel(folder, providers, 1, options)
        except ControllerError as err:
            runs[label] = {'error': str(err), 'agrees_with_cpu': False}
            continue
        load_s = time.perf_counter() - start
        controller = TemporalController(model)
        rows, latency = [], []
        for index, image in enumerate(sequence):
            result = controller.step(image, index * FRAME_PERIOD_NS)
            rows.append((result.raw_steering_rad, result.raw_speed_mps))
            latency.append(result.latency_ms)
        commands[label] = np.array(rows)
        warm = latency[min(3, len(latency) - 1):]  # the first steps include lazy allocations
        runs[label] = {'fp16': uses_fp16(label),
                       'providers_requested': list(providers),
                       'providers_in_use': list(model.providers),
                       'temporal_providers_in_use': list(model.temporal_providers),
                       'load_s': round(load_s, 2),
                       'median_step_ms': round(statistics.median(warm), 3),
                       'frames': len(rows)}
    for label in sets:
        if label not in commands or 'cpu' not in commands:
            continue
        half = uses_fp16(label)
        runs[label].update(compare_commands(
            commands['cpu'], commands[label],
            args.fp16_steering_tol if half else args.steering_tol,
            args.fp16_speed_tol if half else args.speed_tol))
    return {'model_dir': str(model_dir), 'frames': len(sequence), 'runs': runs}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Return the command line options."""
    from av_perception.assets import asset_path, yolox_nano_model

    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--detector-model', default=str(yolox_nano_model()))
    parser.add_argument('--images', default=str(asset_path('images')),
                        help='folder searched recursively for .jpg/.png')
    parser.add_argument('--max-images', type=int, default=20)
    parser.add_argument('--controller-dir', default=str(repo / 'models' / 'controller'))
    parser.add_argument('--frames', type=int, default=200,
                        help='controller frames: a simulated drive (rural_curvy, seed 101)')
    parser.add_argument('--controller-on-images', action='store_true',
                        help='feed the controller the --images (cycled) instead')
    parser.add_argument('--repeat', type=int, default=30, help='timed detector runs per image')
    parser.add_argument('--compare-score', type=float, default=0.35,
                        help='detections above this must agree (0.3 is the detector threshold;'
                             ' a margin keeps FP16 score jitter at the threshold out)')
    parser.add_argument('--min-iou', type=float, default=0.95,
                        help='IoU each detection must keep on an FP32 provider')
    parser.add_argument('--fp16-min-iou', type=float, default=0.85,
                        help='the same in FP16 (a 1-pixel shift of a 13-pixel-high box is '
                             'IoU 0.90; FP16 emulation of YOLOX-Nano on the shared images: '
                             'lowest 0.905)')
    parser.add_argument('--fp16', action=argparse.BooleanOptionalAction, default=True,
                        help='also run TensorRT in FP16 (as config/jetson.param.yaml)')
    parser.add_argument('--steering-tol', type=float, default=1e-3,
                        help='largest |steering - CPU| in rad for FP32 providers')
    parser.add_argument('--speed-tol', type=float, default=1e-2,
                        help='largest |speed - CPU| in m/s for FP32 providers')
    parser.add_argument('--fp16-steering-tol', type=float, default=2e-3,
                        help='the same in FP16 (FP16 emulation of the shipped controller over '
                             'the 200 simulated frames: largest difference 2e-5 rad)')
    parser.add_argument('--fp16-speed-tol', type=float, default=0.05,
                        help='the same in FP16 (FP16 emulation: largest difference 0.013 m/s)')
    parser.add_argument('--cache-dir', help='TensorRT engine cache (default: a new temporary '
                                            'directory, so the build is timed too)')
    parser.add_argument('--self-test', action='store_true',
                        help='compare CPU with CPU: runs every step without a GPU')
    parser.add_argument('--emulate-fp16', action='store_true',
                        help='also run FP16-emulating copies of the models on CPU (no GPU '
                             'needed): what FP16 rounding alone does to the outputs')
    parser.add_argument('--out', default=os.path.join(os.environ.get('OUT', '.'),
                                                      'gpu_check.json'))
    return parser.parse_args(argv)


def print_summary(report: dict[str, Any]) -> None:
    """Print one line per node and provider: agreement and median latency."""
    for node in ('detector', 'controller'):
        part = report.get(node, {})
        if 'skipped' in part:
            print(f'{node:10s} skipped: {part["skipped"]}')
            continue
        for label, run in part.get('runs', {}).items():
            latency = run.get('median_total_ms', run.get('median_step_ms'))
            verdict = {True: 'agrees with CPU', False: 'DISAGREES with CPU',
                       None: 'reference'}[run.get('agrees_with_cpu')]
            if 'error' in run:
                print(f'{node:10s} {label:14s} ERROR {run["error"][:200]}')
            else:
                print(f'{node:10s} {label:14s} {verdict:18s} median {latency} ms on '
                      f'{run.get("providers_in_use")}')


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; return the exit code."""
    args = parse_args(argv)
    import onnxruntime

    available = onnxruntime.get_available_providers()
    report: dict[str, Any] = {
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'host': platform.node(), 'machine': platform.machine(),
        'onnxruntime': onnxruntime.__version__, 'device': onnxruntime.get_device(),
        'available': available, 'trt_fp16': args.fp16}
    sets = candidate_sets(available, args.self_test, args.emulate_fp16, args.fp16)
    print(f'onnxruntime {onnxruntime.__version__}; available providers: {available}')
    if not sets:
        report['skipped'] = 'no GPU execution provider (CUDA or TensorRT) in this ONNX Runtime'
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f'skipped: {report["skipped"]}; report: {args.out}')
        return 0
    cache = args.cache_dir or tempfile.mkdtemp(prefix='trt_cache_')
    images = load_frames(args.images, args.max_images)
    report['detector'] = check_detector(args, sets, cache, images)
    if args.controller_on_images:
        controller_frames = images or synthetic_frames(8)
    else:
        controller_frames = simulator_frames(args.frames)
    report['controller'] = check_controller(args, sets, cache, controller_frames)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print_summary(report)
    print(f'report: {args.out}')
    verdicts = [run.get('agrees_with_cpu') for node in ('detector', 'controller')
                for label, run in report[node].get('runs', {}).items() if label in sets]
    return 1 if any(v is False for v in verdicts) else 0


if __name__ == '__main__':
    sys.exit(main())
